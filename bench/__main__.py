"""``python -m bench`` (``make bench``): run the decision-core benchmarks in one go."""

from __future__ import annotations

from bench import cli_walltime, decide

decide.main()
cli_walltime.main()
