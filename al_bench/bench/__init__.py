"""Benchmarks of the pieces themselves: ANN vs exact k-NN (``search_bench``, ``al-bench-search``) and the
time of one AL round's parts (``round_profile``).

Owns the benchmark grids, their timing and their CSV / MLflow output. It uses ``search``, ``strategies``
and the loop's ``Pieces`` as a client does, and must not be imported by them: nothing in a run depends
on a benchmark.
"""
