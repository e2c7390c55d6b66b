"""Evaluation of predictions against outcomes: discrimination, DeLong, survival scores, calibration,
bootstrap intervals and the cut-point with its log-rank test.

Below the models in the layers, because the models choose checkpoints and tune on these metrics.
"""
