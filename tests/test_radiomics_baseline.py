"""The installed PyRadiomics reproduces its own published baseline on real CT cases."""

from __future__ import annotations

import ast

import numpy as np
import pandas as pd
import pytest
from radiomics import featureextractor

CLASSES = ("firstorder", "glcm", "gldm", "glrlm", "glszm", "ngtdm", "shape")


def baseline(shared_data, case: str) -> tuple[dict, pd.Series]:
    """The baseline column of ``case``: its settings and its 107 original-feature values."""
    frames = [
        pd.read_csv(shared_data / "pyradiomics_testcases" / "baseline" / f"baseline_{c}.csv", index_col=0)
        for c in CLASSES
    ]
    settings = ast.literal_eval(frames[0].loc["diagnostics_Configuration_Settings", case])
    values = pd.concat([f.loc[f.index.str.startswith("original_"), case] for f in frames]).astype(float)
    return settings, values


@pytest.mark.parametrize("case", ["lung1", "lung2"])
def test_pyradiomics_reproduces_baseline(shared_data, case):
    settings, expected = baseline(shared_data, case)
    assert len(expected) == 107
    extractor = featureextractor.RadiomicsFeatureExtractor(**settings)
    extractor.disableAllFeatures()
    for name in CLASSES:
        extractor.enableFeatureClassByName(name)
    folder = shared_data / "pyradiomics_testcases"
    result = extractor.execute(str(folder / f"{case}_image_crop.nrrd"), str(folder / f"{case}_label_crop.nrrd"))
    got = pd.Series({k: float(v) for k, v in result.items() if k.startswith("original_")})
    assert set(got.index) == set(expected.index)
    close = np.isclose(got[expected.index], expected, rtol=1e-6, atol=0)
    assert close.all(), expected.index[~close].tolist()
