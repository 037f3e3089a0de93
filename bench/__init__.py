"""Benchmarks: `python -m bench` (or `make bench`) prints figures measured on this machine."""
