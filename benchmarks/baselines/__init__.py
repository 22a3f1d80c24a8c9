"""Baselines the benchmarks compare the agent against, measured in the same run."""
