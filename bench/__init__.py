"""Reproducible benchmarks. Each module runs on its own: ``python -m bench.<name>``.

Results, with the machine and the date, go in docs/benchmarks.md. Tests never time anything.
"""
