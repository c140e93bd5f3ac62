"""Whole-scene jobs: read in blocks, run an estimator, write products."""
