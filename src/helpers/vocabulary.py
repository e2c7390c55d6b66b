"""The study's shared vocabulary: horizons, model labels, prediction columns and every closed choice.

Every layer of ``helpers`` may import this module and it imports nothing of the package, so a
name that two layers share (a horizon, a model label, a protocol) is defined once. The
``Literal`` types are also what the runner checks a profile's closed choices against.
"""

from __future__ import annotations

from typing import Literal

HORIZONS_MONTHS: tuple[int, ...] = (12, 24, 36)
LabelPolicy = Literal["paper", "known_status"]

Splitting = Literal["exhaustive", "random"]

PREDICTION_COLUMNS = ["patient_id", "horizon_months", "probability"]

Protocol = Literal["paper", "rigorous"]

# Table 2 rows, in the paper's order: the two base models, then the four fusion algorithms.
MODEL_LABELS = {"radiomics": "Radiomics", "densenet": "3D-DenseNet", "logistic_regression": "Fusion LR",
                "random_forest": "Fusion RF", "svm": "Fusion SVM", "decision_tree": "Fusion DT"}

LambdaRule = Literal["min", "1se"]
IfEmpty = Literal["raise", "first_to_enter"]

Heads = Literal["multitask", "separate"]
Metric = Literal["accuracy", "auc"]

PMethod = Literal["Lau92", "Lau94"]
