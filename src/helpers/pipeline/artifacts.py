"""The artifact contract: every file one notebook hands to another, declared once with its producer.

A notebook reads another's output only through ``Stage.input`` / ``read_parquet`` /
``read_json``, which look the file up here, require the producing stage's manifest and check
the hash it recorded; a file missing from this table cannot be read that way at all. A
stage's headline numbers, ``metrics/<stage>.json``, are produced by the stage of that name.
Files a notebook shows but no other reads (figures, most tables) need no declaration.
"""

from __future__ import annotations

from helpers.errors import UndeclaredArtifactError

PRODUCERS: dict[str, str] = {
    "cohort.parquet": "01_cohort",
    "table1.parquet": "01_cohort",
    "ceilings.parquet": "01_cohort",  # in-silico cohorts only: AUC of E[lp | information set] per split
    "insilico/spec.json": "01_cohort",  # in-silico cohorts only: the generator's settings
    "insilico/truth.parquet": "01_cohort",  # in-silico cohorts only: the latent truth per patient
    "stable_features.json": "02_icc",
    "features.parquet": "03_extraction",
    "reducer.joblib": "04_pca_lasso",
    "components.parquet": "04_pca_lasso",
    "predictions_radiomics.parquet": "05_rsf",
    "predictions_radiomics_oof.parquet": "05_rsf",  # protocol rigorous only
    "metrics_radiomics.parquet": "05_rsf",
    "densenet.pt": "06_densenet",
    "densenet.last.pt": "06_densenet",
    "predictions_densenet.parquet": "06_densenet",
    "predictions_densenet_crossfit.parquet": "06_densenet",  # the rigorous arm's DenseNet: out-of-fold + fold mean
    "densenet_folds.pt": "06_densenet",  # its fold networks (notebook 10 predicts the external cohort with them)
    "fusion.json": "07_fusion",
    "predictions_fusion.parquet": "07_fusion",  # both arms (column arm)
    "predictions_fusion_oof.parquet": "07_fusion",  # the rigorous arm's out-of-fold training predictions
    "metrics_fusion.parquet": "07_fusion",  # both arms (column arm)
}
METRICS_FOLDER = "metrics"


def metrics_file(stage: str) -> str:
    """The run-relative name of a stage's headline numbers."""
    return f"{METRICS_FOLDER}/{stage}.json"


def producer_of(relative: str) -> str:
    """The stage that produces a declared artifact; an undeclared one is an error naming the table."""
    if relative.startswith(f"{METRICS_FOLDER}/") and relative.endswith(".json"):
        return relative.removeprefix(f"{METRICS_FOLDER}/").removesuffix(".json")
    if relative not in PRODUCERS:
        raise UndeclaredArtifactError(
            f"{relative} is not a declared artifact: add it, with the stage that produces it, to "
            "helpers.pipeline.artifacts.PRODUCERS"
        )
    return PRODUCERS[relative]
