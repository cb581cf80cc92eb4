"""The active-learning loop: rounds of train -> evaluate -> select -> label for one strategy x seed.

Owns the labeled set (global ids and the round each was added in), the resume state and run key, seeds
per round, the run's MLflow bookkeeping and the end-of-sweep report. It reaches data, the pose engine
and strategies only through ``pieces.Pieces`` (their contracts in docs/ARCHITECTURE.md), never their
insides; no other package imports the loop (``figures`` reads only its non-result key list).
"""
