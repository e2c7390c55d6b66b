"""Where a run's patients come from: a real manifest read and pseudonymised, or the in-silico cohort."""

from __future__ import annotations

import re

import pandas as pd
import pytest
import SimpleITK as sitk
from builders import CLINICAL, make_ct, make_mask, write_manifest

from helpers.errors import ProfileError
from helpers.study import sources
from helpers.synthetic.spec import CohortSpec


@pytest.fixture
def manifest(tmp_path):
    """Two patients with hospital-style ids, their CT and mask as NRRD."""
    rows = []
    for i, patient in enumerate(("HOSP-000123", "HOSP-000456")):
        ct = make_ct(seed=i)
        sitk.WriteImage(ct, str(tmp_path / f"{patient}_ct.nrrd"))
        sitk.WriteImage(make_mask(ct), str(tmp_path / f"{patient}_mask.nrrd"))
        rows.append({"patient_id": patient, "image": f"{patient}_ct.nrrd", "mask": f"{patient}_mask.nrrd", **CLINICAL})
    return write_manifest(tmp_path / "manifest.csv", rows)


def test_a_manifest_cohort_is_pseudonymised_and_the_key_stays_private(manifest, tmp_path):
    run_dir = tmp_path / "run"
    loaded = sources.load_manifest(run_dir, str(manifest), check_images=True, allow_missing=())
    assert loaded.source == "manifest" and loaded.truth is None
    assert not loaded.table["patient_id"].str.contains("HOSP").any()
    assert all(re.fullmatch(r"PT-[0-9a-f]+", pid) for pid in loaded.table["patient_id"])
    mapping = pd.read_parquet(run_dir / "private" / "id_map.parquet")
    assert sorted(mapping["original_id"]) == ["HOSP-000123", "HOSP-000456"]
    assert set(mapping["patient_id"]) == set(loaded.table["patient_id"])
    assert (run_dir / "private" / "pseudonym.key").stat().st_mode & 0o077 == 0  # readable by its owner only
    again = sources.load_manifest(run_dir, str(manifest), check_images=False, allow_missing=())
    assert again.table["patient_id"].tolist() == loaded.table["patient_id"].tolist()  # the run's key is reused
    other = sources.load_manifest(tmp_path / "other_run", str(manifest), check_images=False, allow_missing=())
    assert set(other.table["patient_id"]).isdisjoint(loaded.table["patient_id"])  # another run, another key


def test_source_files_lists_every_image_and_mask_once(manifest, tmp_path):
    table = sources.load_manifest(tmp_path / "run", str(manifest), check_images=False, allow_missing=()).table
    files = sources.source_files(table)
    assert len(files) == 4 and files == sorted(set(files))
    assert {f.rsplit("_", 1)[-1] for f in files} == {"ct.nrrd", "mask.nrrd"}


def test_load_cohort_follows_the_profiles_source_and_refuses_another(manifest, tmp_path):
    spec = CohortSpec(n_patients=4, seed=1)
    loaded = sources.load_cohort(
        tmp_path / "run", "manifest", spec=spec, manifest=str(manifest), check_images=False, allow_missing=(), n_jobs=1
    )
    assert loaded.source == "manifest" and len(loaded.table) == 2
    with pytest.raises(ProfileError, match="cohort_source must be one of insilico, manifest, not 'pacs'"):
        sources.load_cohort(
            tmp_path / "run", "pacs", spec=spec, manifest="", check_images=False, allow_missing=(), n_jobs=1
        )
