"""Experiments: configs, runs, chunked and resumable sweeps, the benchmark suite, result files."""
