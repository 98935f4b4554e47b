"""Offline evaluation: metrics, dataset adapters, baselines, the harness and benchmarks."""
