"""The shared cache outside the run folders: its keyed folders, its lock, and the external cohort reused from it."""

from __future__ import annotations

import threading
import time

import pytest

from helpers.pipeline import shared_cache
from helpers.study import protocols
from helpers.synthetic.spec import CohortSpec

FIRST_ORDER = "setting:\n  binWidth: 25\n  label: 1\nimageType:\n  Original: {}\nfeatureClass:\n  firstorder:\n"


def test_a_key_names_one_folder_under_the_configured_root(tmp_path, monkeypatch):
    monkeypatch.setenv(shared_cache.CACHE_ENV, str(tmp_path))
    first = shared_cache.keyed_folder("external", {"a": 1, "b": [2, 3]})
    assert first == shared_cache.keyed_folder("external", {"b": [2, 3], "a": 1})  # key order does not matter
    assert first.parent == tmp_path / "external" and len(first.name) == 16
    assert shared_cache.keyed_folder("external", {"a": 2, "b": [2, 3]}) != first


def test_without_the_variable_the_cache_is_the_projects_ignored_folder(monkeypatch):
    monkeypatch.delenv(shared_cache.CACHE_ENV, raising=False)
    root = shared_cache.shared_cache_root()
    assert root.name == ".cache" and (root.parent / "pyproject.toml").exists()
    assert ".cache/" in (root.parent / ".gitignore").read_text(encoding="utf-8").splitlines()


def test_a_claimed_folder_is_held_by_one_user_at_a_time(tmp_path):
    spans: list[tuple[float, float]] = []

    def hold() -> None:
        with shared_cache.claim(tmp_path / "folder", {"k": 1}):
            start = time.monotonic()
            time.sleep(0.3)
            spans.append((start, time.monotonic()))

    threads = [threading.Thread(target=hold) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    (a_start, a_end), (b_start, _) = sorted(spans)
    assert b_start >= a_end  # the second waited for the first
    assert (tmp_path / "folder" / "key.json").read_text(encoding="utf-8").strip().startswith("{")


@pytest.fixture
def tiny_params(tmp_path) -> str:
    path = tmp_path / "first_order.yaml"
    path.write_text(FIRST_ORDER, encoding="utf-8")
    return str(path)


def test_the_external_cohort_is_generated_and_extracted_once_per_key(tmp_path, monkeypatch, tiny_params):
    monkeypatch.setenv(shared_cache.CACHE_ENV, str(tmp_path / "cache"))
    spec = CohortSpec(n_patients=8, matrix=48, n_slices=8, n_reader2=2, seed=3)
    first = protocols.external_cohort(spec, 4, 11, tiny_params)
    volumes = sorted((tmp_path / "cache" / "external").rglob("*.nii.gz"))
    written = {p: p.stat().st_mtime_ns for p in volumes}
    cached = sorted((tmp_path / "cache" / "external").rglob("cache/radiomics/*"))
    assert len(volumes) == 8 and len(cached) == 4  # 4 CT and 4 reader-1 masks; one extraction per case

    again = protocols.external_cohort(spec, 4, 11, tiny_params)  # a second run: nothing generated or extracted
    assert {p: p.stat().st_mtime_ns for p in volumes} == written
    assert sorted((tmp_path / "cache" / "external").rglob("cache/radiomics/*")) == cached
    assert again.features.equals(first.features) and again.truth.equals(first.truth)
    assert (
        list(first.table["patient_id"]) == list(first.features.index)
        and first.table["patient_id"].str.startswith("EXT-").all()
    )
    assert set(first.table["split"]) == {"external"}

    other = protocols.external_cohort(spec, 4, 12, tiny_params)  # another seed: other patients, another folder
    assert len(list((tmp_path / "cache" / "external").iterdir())) == 4  # two folders and their two locks
    assert not other.truth.drop(columns="patient_id").equals(first.truth.drop(columns="patient_id"))
