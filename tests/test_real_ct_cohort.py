"""The book on real CT through the manifest (issue 16 §4): the PyRadiomics lung crops as NRRD and as DICOM series
with RTSTRUCT and SEG masks, artificial clinical values. Notebooks 01-03 run (cohort, inter-reader agreement on
five second readings, extraction); every later notebook stops at once with the project's message naming the
notebook, the method, the minimum and the cohort's size."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk
import yaml
from builders import export_dicom_seg, export_rtstruct, write_dicom_series, write_manifest

from helpers.pipeline.runner import main as run_main
from helpers.study.minimum_cohort import REQUIREMENTS, unmet

ROOT = Path(__file__).resolve().parents[1]
IN_SILICO_KEYS = ("name", "cohort_source", "n_patients", "image_matrix", "image_slices", "n_reader2")
# patient: (case, image format, reader 1's mask, reader 2's mask or None)
PATIENTS = {
    "R01": ("lung1", "nrrd", "nrrd", "nrrd_dilated"),
    "R02": ("lung2", "nrrd", "nrrd", "nrrd_eroded"),
    "R03": ("lung1", "dicom", "rtstruct", "seg"),
    "R04": ("lung2", "dicom", "seg", "rtstruct"),
    "R05": ("lung1", "dicom", "seg", "rtstruct"),
    "R06": ("lung2", "dicom", "rtstruct", None),
}
LATER = ["04", "05", "06", "07", "08", "10", "11", "12"]  # 09 has no method of its own


def case_files(shared_data: Path, out: Path, case: str, number: int) -> dict[str, Path]:
    """One lung crop's image as NRRD and as a DICOM series, and its mask in every format the manifest reads."""
    folder = shared_data / "pyradiomics_testcases"
    image, mask = folder / f"{case}_image_crop.nrrd", folder / f"{case}_label_crop.nrrd"
    original = sitk.ReadImage(str(mask))
    files = {"nrrd_image": image, "nrrd": mask, "dicom": out / case / "ct"}
    write_dicom_series(sitk.ReadImage(str(image)), files["dicom"], f"1.2.826.0.1.3680043.2.1125.80{number}")
    files["seg"] = export_dicom_seg(files["dicom"], original, out / case / "seg.dcm", "tumour")
    files["rtstruct"] = export_rtstruct(files["dicom"], original, out / case / "rtstruct.dcm", "tumour")
    in_plane = [1, 1, 0]  # one voxel in-plane: a second reader's slightly different outline
    for name, operation in {"nrrd_dilated": sitk.BinaryDilate, "nrrd_eroded": sitk.BinaryErode}.items():
        files[name] = out / case / f"{name}.nrrd"
        sitk.WriteImage(operation(sitk.Cast(original, sitk.sitkUInt8), in_plane), str(files[name]))
    return files


@pytest.fixture(scope="module")
def real_run(shared_data: Path, tmp_path_factory) -> Path:
    """Notebooks 01-03 on the six-patient real CT manifest, then each later notebook on its own."""
    base = tmp_path_factory.mktemp("real_ct")
    files = {case: case_files(shared_data, base, case, n) for n, case in enumerate(("lung1", "lung2"), start=1)}
    rng = np.random.default_rng(3)
    rows = []
    for index, (patient, (case, image, mask, second)) in enumerate(PATIENTS.items()):
        rows.append(
            {
                "patient_id": patient,
                "image": str(files[case]["nrrd_image" if image == "nrrd" else "dicom"]),
                "mask": str(files[case][mask]),
                "mask_reader2": "" if second is None else str(files[case][second]),
                "segment": "" if image == "nrrd" else "tumour",
                "age": str(int(rng.integers(45, 80))),
                "gender": ("male", "female")[index % 2],
                "T": f"T{1 + index % 4}",
                "N": f"N{index % 3}",
                "M": "M0",
                "time_months": f"{rng.uniform(4, 60):.1f}",
                "event": str(int(index % 3 != 2)),
                "centre": ("C1", "C2")[index % 2],
            }
        )
    manifest = write_manifest(base / "manifest.csv", rows)
    smoke = yaml.safe_load((ROOT / "params" / "smoke.yaml").read_text(encoding="utf-8"))
    profile = {key: value for key, value in smoke.items() if key not in IN_SILICO_KEYS}
    profile.update(name="real_ct", cohort_source="manifest", manifest=str(manifest))
    (base / "real_ct.yaml").write_text(yaml.safe_dump(profile), encoding="utf-8")
    run_dir = base / "run"
    arguments = [str(base / "real_ct.yaml"), "--no-book", "--run-dir", str(run_dir)]
    assert run_main([*arguments, "--only", "01", "02", "03"]) == 0
    for notebook in LATER:
        run_main([*arguments, "--only", notebook])
    return run_dir


def records(run_dir: Path) -> dict[str, dict]:
    """The run manifest's record of each notebook, by notebook file name."""
    return {
        r["notebook"]: r for r in json.loads((run_dir / "run_manifest.json").read_text(encoding="utf-8"))["notebooks"]
    }


@pytest.mark.slow
def test_notebooks_01_to_03_run_on_real_ct_in_every_mask_format(real_run):
    features = pd.read_parquet(real_run / "features.parquet")
    cohort = pd.read_parquet(real_run / "cohort.parquet")  # pseudonymised ids, in manifest order
    assert len(cohort) == len(PATIENTS) and not cohort["patient_id"].isin(list(PATIENTS)).any()
    assert set(features.index.get_level_values("patient_id")) == set(cohort["patient_id"])
    stable = json.loads((real_run / "stable_features.json").read_text(encoding="utf-8"))
    assert stable["assessable"] is True and stable["patients"] == 5
    reader1 = features.rename(index=dict(zip(cohort["patient_id"], PATIENTS)))  # reader 1, whom the models use
    # the same lung crop read as NRRD, as a DICOM series with its RTSTRUCT, and with its SEG: the same features
    pd.testing.assert_series_equal(reader1.loc["R03"], reader1.loc["R01"], check_names=False, rtol=1e-6)
    pd.testing.assert_series_equal(reader1.loc["R05"], reader1.loc["R01"], check_names=False, rtol=1e-6)
    pd.testing.assert_series_equal(reader1.loc["R06"], reader1.loc["R04"], check_names=False, rtol=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("number", [n for n in LATER if n not in ("08", "12")])
def test_every_later_notebook_stops_naming_notebook_method_minimum_and_cohort_size(real_run, number):
    name = next(n for n in REQUIREMENTS if n.startswith(number))
    record = records(real_run)[f"{name}.ipynb"]
    assert record["status"] == "failed" and record["cell"] <= 4  # at once: the cell that opens the stage
    assert record["error"].startswith(f"CohortTooSmallError: notebook {name} cannot run on this cohort of 6 patients")
    assert "needs at least" in record["error"] and "(the cohort has " in record["error"]
    assert any(need.method in record["error"] for need in REQUIREMENTS[name])


@pytest.mark.slow
def test_a_notebook_whose_own_methods_fit_the_cohort_names_the_missing_earlier_notebook(real_run):
    # the cut-off search needs 2 training patients and the log-rank test a test death: this cohort has both
    cohort = pd.read_parquet(real_run / "cohort.parquet")
    assert unmet("08_stratification", cohort, {"max_prop": 0.9}) == []
    record = records(real_run)["08_stratification.ipynb"]
    assert record["error"].startswith("StaleInputError: 08_stratification needs fusion.json (an output of 07_fusion)")


@pytest.mark.slow
def test_the_seed_study_needs_nothing_of_a_real_cohort_and_names_the_missing_reducer(real_run):
    # on a real cohort notebook 12 draws no external cohort, so it has no minimum; notebook 04 stopped earlier
    cohort = pd.read_parquet(real_run / "cohort.parquet")
    assert unmet("12_optimism_seeds", cohort, {"oof_folds": 3, "lasso_folds": 5}, in_silico=False) == []
    record = records(real_run)["12_optimism_seeds.ipynb"]
    assert record["error"].startswith("StaleInputError: 12_optimism_seeds needs ")
    assert "04_pca_lasso" in record["error"]
