"""The study's shared vocabulary: horizons, model labels, prediction columns and every closed choice.

Every layer of ``helpers`` may import this module and it imports nothing of the package, so a
name that two layers share (a horizon, a model label, a protocol) is defined once. The
``Literal`` types are also what the runner checks a profile's closed choices against
(``PARAMETER_CHOICES``), so a typo fails before the first notebook runs.
"""

from __future__ import annotations

from typing import Any, Literal, get_args

Horizon = Literal[12, 24, 36]
HORIZONS_MONTHS: tuple[int, ...] = get_args(Horizon)
LabelPolicy = Literal["paper", "known_status", "ipcw"]

Splitting = Literal["exhaustive", "random"]

PREDICTION_COLUMNS = ["patient_id", "horizon_months", "probability"]

Protocol = Literal["paper", "rigorous"]
ARMS: tuple[Protocol, ...] = ("paper", "rigorous")  # every run fits both; the profile's protocol is the headline
RIGOROUS_LABEL_POLICY: LabelPolicy = "ipcw"  # the rigorous arm's labels, whatever the profile's label_policy
FUSION_CV_FOLDS = 5  # folds that tune the fusion models (and so a minimum of deaths and survivors per horizon)

# Table 2 rows, in the paper's order: the two base models, then the four fusion algorithms.
MODEL_LABELS = {
    "radiomics": "Radiomics",
    "densenet": "3D-DenseNet",
    "logistic_regression": "Fusion LR",
    "random_forest": "Fusion RF",
    "svm": "Fusion SVM",
    "decision_tree": "Fusion DT",
}

LambdaRule = Literal["min", "1se"]
IfEmpty = Literal["raise", "first_to_enter"]
Harmonise = Literal["none", "combat"]  # radiomic features across centres, before the scaler and PCA
UnseenCentre = Literal["error", "own_features"]

Heads = Literal["multitask", "separate"]
DlLoss = Literal["cross_entropy", "cox"]
Metric = Literal["accuracy", "auc"]

PMethod = Literal["Lau92", "Lau94"]

IccForm = Literal["ICC1", "ICC2", "ICC3", "ICC1k", "ICC2k", "ICC3k"]
CohortSource = Literal["insilico", "manifest"]
ExtractionFailures = Literal["raise", "exclude"]

# Profile keys whose value is one of a closed set, with the Literal that sets it.
PARAMETER_CHOICES: dict[str, Any] = {
    "protocol": Protocol,
    "label_policy": LabelPolicy,
    "cohort_source": CohortSource,
    "icc_form": IccForm,
    "extraction_failures": ExtractionFailures,
    "lasso_rule": LambdaRule,
    "harmonise": Harmonise,
    "rsf_splitting": Splitting,
    "dl_heads": Heads,
    "dl_loss": DlLoss,
    "risk_horizon": Horizon,
    "p_method": PMethod,
}


def choices(key: str) -> tuple[Any, ...]:
    """The values a closed-choice profile key accepts."""
    return get_args(PARAMETER_CHOICES[key])
