"""Scaling ladders (DESIGN.md §10): a paper's recipe trained at several sizes on the same
unique tokens, power-law fits of loss against size and compute, and the zero-shot trend.

- ladder.py: the ladder as data (shapes per scale), its rule for heads and learning rate,
  and the --set pairs that make one size an ordinary run of the recipe;
- jobs.py: the sizes' runs and evaluations as concurrent subprocesses, skipping finished ones;
- gather.py: the finished runs of a ladder folder as plain rows;
- fit.py: L(N) with a bootstrap interval, the compute frontier L(C), rank correlations.
"""
