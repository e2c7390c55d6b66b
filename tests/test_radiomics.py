"""Paper-configured extraction on real CT: feature count, determinism, cache, resume, Dask."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk

from helpers.features import radiomics

ROOT = Path(__file__).resolve().parents[1]
PARAMS = ROOT / "params" / "pyradiomics_paper.yaml"


def lung_jobs(shared_data: Path, copies: int = 1) -> list[radiomics.CaseJob]:
    """Jobs over the two real lung CT cases, repeated under distinct patient ids."""
    folder = shared_data / "pyradiomics_testcases"
    return [
        radiomics.CaseJob(
            f"{case}-{i}", "reader1", str(folder / f"{case}_image_crop.nrrd"), str(folder / f"{case}_label_crop.nrrd")
        )
        for i in range(copies)
        for case in ("lung1", "lung2")
    ]


def test_paper_configuration_gives_1037_features(shared_data, tmp_path):
    result = radiomics.extract_cohort(lung_jobs(shared_data), PARAMS, tmp_path, n_jobs=1, progress=False)
    assert result.features.shape == (2, 1037) and result.failures.empty
    counts = radiomics.count_by_family(result.features.columns)
    assert counts.loc["original", "total"] == 107
    assert counts.loc["log-sigma", "total"] == 2 * 93 and counts.loc["wavelet", "total"] == 8 * 93
    assert counts.loc["original", "shape"] == 14 and counts.loc["wavelet", "shape"] == 0
    assert np.isfinite(result.features.to_numpy()).all()
    # 3 mm resampling of 0.57-0.63 mm x 5 mm voxels: lung1's 837 ROI voxels become ~55.
    original = result.diagnostics["diagnostics_Mask-original_VoxelNum"].astype(int)
    resampled = result.diagnostics["diagnostics_Mask-interpolated_VoxelNum"].astype(int)
    assert original.tolist() == [837, 24644]
    assert 40 < resampled.iloc[0] < 70 and (resampled < original / 10).all()


def test_extraction_is_deterministic_and_cached(shared_data, tmp_path):
    jobs = lung_jobs(shared_data)
    first = radiomics.extract_cohort(jobs, PARAMS, tmp_path / "a", n_jobs=1, progress=False)
    second = radiomics.extract_cohort(jobs, PARAMS, tmp_path / "b", n_jobs=2, progress=False)
    pd.testing.assert_frame_equal(first.features, second.features, check_exact=True)
    again = radiomics.extract_cohort(jobs, PARAMS, tmp_path / "a", n_jobs=2, progress=False)
    assert again.cached == 2
    pd.testing.assert_frame_equal(first.features, again.features, check_exact=True)


def test_changed_parameters_invalidate_the_cache(shared_data, tmp_path):
    jobs = lung_jobs(shared_data)[:1]
    radiomics.extract_cohort(jobs, PARAMS, tmp_path / "cache", progress=False)
    changed = tmp_path / "params.yaml"
    changed.write_text(PARAMS.read_text(encoding="utf-8").replace("binWidth: 25", "binWidth: 20"))
    rerun = radiomics.extract_cohort(jobs, changed, tmp_path / "cache", progress=False)
    assert rerun.cached == 0


def test_failures_name_patient_file_and_reason(shared_data, tmp_path):
    folder = shared_data / "pyradiomics_testcases"
    tiny = sitk.ReadImage(str(folder / "lung1_label_crop.nrrd")) * 0
    tiny[76, 77, 11] = 1  # a single voxel: nothing survives 3 mm resampling
    sitk.WriteImage(tiny, str(tmp_path / "tiny.nrrd"))
    jobs = [
        radiomics.CaseJob(
            "P-geom", "reader1", str(folder / "lung1_image_crop.nrrd"), str(folder / "lung2_label_crop.nrrd")
        ),
        radiomics.CaseJob("P-tiny", "reader1", str(folder / "lung1_image_crop.nrrd"), str(tmp_path / "tiny.nrrd")),
        *lung_jobs(shared_data)[:1],
    ]
    result = radiomics.extract_cohort(jobs, PARAMS, tmp_path / "cache", n_jobs=2, progress=False)
    assert len(result.features) == 1
    failures = result.failures.set_index("patient_id")
    assert "geometry mismatch" in failures.loc["P-geom", "error"]
    assert failures.loc["P-tiny", "error"]
    with pytest.raises(radiomics.ExtractionError) as error:
        radiomics.raise_on_failures(result.failures)
    message = str(error.value)
    assert "2 case(s) failed" in message and "patient P-geom (reader1), mask" in message
    assert "tiny.nrrd" in message


def test_killed_run_resumes_without_losing_or_repeating_a_case(shared_data, tmp_path):
    jobs = lung_jobs(shared_data, copies=4)
    reference = radiomics.extract_cohort(jobs, PARAMS, tmp_path / "reference", n_jobs=2, progress=False)
    cache = tmp_path / "killed"
    script = (
        "import sys, pickle; from pathlib import Path; from helpers.features import radiomics\n"
        "jobs = pickle.load(open(sys.argv[1], 'rb'))\n"
        "radiomics.extract_cohort(jobs, Path(sys.argv[2]), Path(sys.argv[3]), n_jobs=2, progress=False)\n"
    )
    pd.to_pickle(jobs, tmp_path / "jobs.pkl")
    process = subprocess.Popen(
        [sys.executable, "-c", script, str(tmp_path / "jobs.pkl"), str(PARAMS), str(cache)], start_new_session=True
    )
    deadline = time.monotonic() + 120
    while len(list(cache.glob("*.json"))) < 2 and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    done_before = len(list(cache.glob("*.json")))
    assert 2 <= done_before < len(jobs), "the kill must land mid-run"
    resumed = radiomics.extract_cohort(jobs, PARAMS, cache, n_jobs=2, progress=False)
    assert resumed.cached == done_before
    assert len(resumed.features) == len(jobs) and resumed.features.index.is_unique
    pd.testing.assert_frame_equal(resumed.features, reference.features, check_exact=True)


def test_dask_cluster_gives_the_same_table_as_processes(shared_data, tmp_path):
    distributed = pytest.importorskip("dask.distributed")
    jobs = lung_jobs(shared_data)
    local = radiomics.extract_cohort(jobs, PARAMS, tmp_path / "local", n_jobs=2, progress=False)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        on_dask = radiomics.extract_cohort(
            jobs, PARAMS, tmp_path / "dask", scheduler_address=cluster.scheduler_address, progress=False
        )
    assert on_dask.cached == 0
    pd.testing.assert_frame_equal(local.features, on_dask.features, check_exact=True)


def test_jobs_from_cohort_adds_reader2_only_where_given(tmp_path):
    cohort = pd.DataFrame(
        {
            "patient_id": ["A", "B"],
            "image": ["a.nii", "b.nii"],
            "mask": ["am.nii", "bm.nii"],
            "mask_reader2": ["am2.nii", None],
            "mask_label": [pd.NA, 2],
            "segment": [None, None],
        }
    )
    jobs = radiomics.jobs_from_cohort(cohort)
    assert [(j.patient_id, j.reader, j.mask, j.label) for j in jobs] == [
        ("A", "reader1", "am.nii", None),
        ("B", "reader1", "bm.nii", 2),
        ("A", "reader2", "am2.nii", None),
    ]


def test_reader_table_of_a_reader_without_cases_is_empty_with_the_feature_columns():
    index = pd.MultiIndex.from_tuples([("P1", "reader1"), ("P2", "reader1")], names=["patient_id", "reader"])
    features = pd.DataFrame({"original_firstorder_Mean": [1.0, 2.0]}, index=index)
    assert radiomics.reader_table(features, "reader1")["original_firstorder_Mean"].tolist() == [1.0, 2.0]
    second = radiomics.reader_table(features, "reader2")
    assert second.empty and list(second.columns) == ["original_firstorder_Mean"] and second.index.name == "patient_id"
