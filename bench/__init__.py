"""Benchmarks (make bench): the connector against the straightforward approach, at scale."""
