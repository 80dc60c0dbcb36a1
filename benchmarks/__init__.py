"""helmforge benchmarks, run by `make bench`; each compares against Helm's own implementation."""
