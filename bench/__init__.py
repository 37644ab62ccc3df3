"""Segscope benchmarks: `python -m bench` prints figures and ratios measured in one run."""
