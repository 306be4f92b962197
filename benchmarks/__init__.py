"""Benchmark harness for streaming_obs (issue #8): the stream against the daily batch design.

`python -m benchmarks.run --quick` (`make bench`) or `--full` (`make bench-full`); results go to
`benchmarks/results/` (JSON, Markdown, PNG). See docs/performance.md.
"""
