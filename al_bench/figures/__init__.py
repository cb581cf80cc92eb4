"""Figures and tables from MLflow runs (``al-bench-figures``, the analysis notebook).

Owns reading runs back (``runs.load_runs``: one row per run x round, conditions, complete vs incomplete
runs), one module per figure family, and the look of every plot (``style``). It reads only the tracking
store (and, for the image figures, the pool files and checkpoints the runs name); it must not know how
a run is executed: no import of the runner, and the statistics come from ``al_bench.stats``.
"""
