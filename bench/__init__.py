"""Benchmarks for hookpost: ceilings and end-to-end figures, measured in one run.
Not part of the test suite; run `bench/run` (see bench/README.md).
"""
