"""Transfer: GPT-1 fine-tuning (inputs, head, recipe, data, the loop, GLUE metrics) and iGPT
linear probes (probe)."""
