"""Benchmarks: scripts that print figures; run by hand (`make bench`), never as timed tests."""
