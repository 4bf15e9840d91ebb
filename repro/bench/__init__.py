"""Training-step throughput of our GPT against the Hugging Face model of the same shape (or
against a variant of ours), and the largest size that trains on one device.

    pairs.py        what is compared: shapes and contenders, given by the caller
    timing.py       how a step is timed: alternating rounds, GPU kernel time, matmul peak
    one_process.py  the pairs of one process, results appended as JSON lines
    fresh.py        each pair in several fresh processes, a dying one costing one pair
    document.py     median and range over the processes; markdown and JSON
    largest.py      the largest size per family that trains, with the memory options on
"""
