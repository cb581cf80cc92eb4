"""The pose engine: models, the OpenPose loss, ``fit``, batched ``predict`` (results, heatmap peaks,
maps, features), PAF decoding to COCO results, and checkpoints.

Owns everything about networks and their outputs. It takes image ids and a data source and must not
know about labeled sets, rounds, strategies or tracking: the loop decides what to train on and what to
predict, ``evaluate`` scores the results.
"""
