"""Benchmarks: `make bench` runs `python -m bench.run` and writes bench/results.md."""
