"""Benchmark statistics and the HTTP load generator."""
