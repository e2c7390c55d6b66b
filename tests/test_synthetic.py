"""Tests of the in-silico cohort generator: files, determinism, caching, AJCC rule, calibration."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk
import yaml
from builders import ROOT
from scipy import stats
from sklearn.metrics import roc_auc_score

from helpers.synthetic import page
from helpers.synthetic.clinical import population_cuts, simulate_clinical
from helpers.synthetic.oracle import oracle_scores
from helpers.synthetic.phantom import _noise, synthesise_patient
from helpers.synthetic.spec import CohortSpec, random_streams
from helpers.synthetic.writer import MANIFEST_COLUMNS, generate_cohort

SMALL = CohortSpec(n_patients=12, n_reader2=4, matrix=96, n_slices=12, seed=11)
HORIZONS = (12, 24, 36)
CALIBRATION_SEEDS = (CohortSpec().seed, 7)


@pytest.fixture(scope="module")
def small_cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The small cohort generated once with two worker processes."""
    return generate_cohort(tmp_path_factory.mktemp("small") / "cohort", SMALL, n_jobs=2, progress=False)


def _voxels(path: Path) -> np.ndarray:
    return sitk.GetArrayFromImage(sitk.ReadImage(str(path)))


def _all_volumes(manifest: Path) -> dict[str, np.ndarray]:
    table = pd.read_csv(manifest, keep_default_na=False)
    paths = [p for column in ("image", "mask", "mask_reader2") for p in table[column] if p]
    return {p: _voxels(manifest.parent / p) for p in paths}


# ---------------------------------------------------------------- files and determinism


def test_same_spec_gives_identical_files_whatever_n_jobs(small_cohort: Path, tmp_path: Path) -> None:
    again = generate_cohort(tmp_path / "again", SMALL, n_jobs=1, progress=False)
    assert again.read_bytes() == small_cohort.read_bytes()
    pd.testing.assert_frame_equal(
        pd.read_parquet(again.parent / "truth.parquet"), pd.read_parquet(small_cohort.parent / "truth.parquet")
    )
    first, second = _all_volumes(small_cohort), _all_volumes(again)
    assert first.keys() == second.keys()
    for path, voxels in first.items():
        np.testing.assert_array_equal(voxels, second[path], err_msg=path)


def test_manifest_format(small_cohort: Path) -> None:
    table = pd.read_csv(small_cohort, keep_default_na=False)
    assert tuple(table.columns) == MANIFEST_COLUMNS
    assert table["patient_id"].tolist() == [f"SYN-{i:04d}" for i in range(1, 13)]
    assert set(table["gender"]) <= {"male", "female"}
    assert set(table["T"]) <= {"T1", "T2", "T3", "T4"}
    assert set(table["N"]) <= {"N0", "N1", "N2"}
    assert set(table["M"]) <= {"M0", "M1"}
    assert set(table["event"]) <= {0, 1}
    assert set(table["centre"]) <= {"C1", "C2"}
    assert (table["time_months"] > 0).all()
    dates = pd.to_datetime(table["diagnosis_date"], format="%Y-%m-%d")
    assert dates.between("2013-01-01", "2023-12-31").all()
    truth = pd.read_parquet(small_cohort.parent / "truth.parquet")
    assert np.allclose(truth["lp_total"], truth[["lp_clinical", "lp_roi", "lp_context"]].sum(axis=1))
    assert json.loads((small_cohort.parent / "spec.json").read_text(encoding="utf-8"))["n_patients"] == 12


def test_geometry_and_masks(small_cohort: Path) -> None:
    table = pd.read_csv(small_cohort, keep_default_na=False)
    for row in table.itertuples():
        image = sitk.ReadImage(str(small_cohort.parent / row.image))
        pixel = SMALL.pixel_mm * SMALL.centre_pixel_scale[0 if row.centre == "C1" else 1]
        assert image.GetSize() == (96, 96, 12)
        assert np.allclose(image.GetSpacing(), (pixel, pixel, SMALL.slice_mm), atol=1e-5)
        assert np.allclose(image.GetDirection(), np.eye(3).ravel())
        assert image.GetPixelID() == sitk.sitkInt16
        ct = sitk.GetArrayFromImage(image)
        masks = [row.mask] + ([row.mask_reader2] if row.mask_reader2 else [])
        for mask_path in masks:
            mask_image = sitk.ReadImage(str(small_cohort.parent / mask_path))
            assert mask_image.GetPixelID() == sitk.sitkUInt8
            assert mask_image.GetSize() == image.GetSize()
            assert np.allclose(mask_image.GetOrigin(), image.GetOrigin())
            assert np.allclose(mask_image.GetSpacing(), image.GetSpacing())
            mask = sitk.GetArrayFromImage(mask_image)
            assert set(np.unique(mask)) == {0, 1}
            assert ct[mask == 1].min() > -1024, "mask reaches the scanner's padding"
        tumour = sitk.GetArrayFromImage(sitk.ReadImage(str(small_cohort.parent / row.mask))) == 1
        assert -40 < ct[tumour].mean() < 140, "the tumour should look like soft tissue"


def test_reader2_only_for_the_subset(small_cohort: Path) -> None:
    table = pd.read_csv(small_cohort, keep_default_na=False)
    with_reader2 = table["mask_reader2"] != ""
    assert with_reader2.sum() == SMALL.n_reader2
    assert len(list((small_cohort.parent / "masks").glob("*_reader2.nii.gz"))) == SMALL.n_reader2
    truth = pd.read_parquet(small_cohort.parent / "truth.parquet")
    dice = truth.loc[with_reader2.to_numpy(), "reader_dice"]
    assert dice.between(0.6, 0.999).all()
    assert truth.loc[~with_reader2.to_numpy(), "reader_dice"].isna().all()


def test_reuses_a_complete_cohort_and_regenerates_on_change(tmp_path: Path) -> None:
    spec = replace(SMALL, n_patients=4, n_reader2=2)
    manifest = generate_cohort(tmp_path, spec, n_jobs=1, progress=False)
    image = tmp_path / "images" / "SYN-0001_ct.nii.gz"
    stamp = image.stat().st_mtime_ns
    assert generate_cohort(tmp_path, spec, n_jobs=1, progress=False) == manifest
    assert image.stat().st_mtime_ns == stamp

    changed = replace(spec, n_patients=3, seed=12)
    generate_cohort(tmp_path, changed, n_jobs=1, progress=False)
    assert image.stat().st_mtime_ns != stamp
    assert json.loads((tmp_path / "spec.json").read_text(encoding="utf-8"))["seed"] == 12
    assert len(pd.read_csv(manifest)) == 3
    assert not (tmp_path / "images" / "SYN-0004_ct.nii.gz").exists(), "stale volume left behind"


def test_an_interrupted_run_is_not_taken_as_complete(tmp_path: Path) -> None:
    spec = replace(SMALL, n_patients=2, n_reader2=1)
    generate_cohort(tmp_path, spec, n_jobs=1, progress=False)
    (tmp_path / "spec.json").unlink()  # what a run killed before its last write leaves
    (tmp_path / "images" / ".SYN-0002_ct.partial.nii.gz").write_bytes(b"half a file")
    generate_cohort(tmp_path, spec, n_jobs=1, progress=False)
    assert (tmp_path / "spec.json").exists()
    assert not list(tmp_path.glob("*/.*partial*"))


# ---------------------------------------------------------------- clinical table


def test_t_stage_follows_ajcc_8th_from_truth() -> None:
    table = simulate_clinical(CohortSpec())
    diameter, arterial = table["diameter_mm"], table["sma_contact_deg"] > 180
    expected = np.select([arterial, diameter <= 20, diameter <= 40], ["T4", "T1", "T2"], "T3")
    assert (table["T"] == expected).all()
    assert diameter.between(8, 65).all()


def test_liver_lesions_only_with_m1() -> None:
    table = simulate_clinical(CohortSpec())
    m1 = table["M"] == "M1"
    assert (table.loc[m1, "liver_lesions"] >= 1).all()
    assert (table.loc[~m1, "liver_lesions"] == 0).all()


def test_simulate_clinical_is_deterministic() -> None:
    pd.testing.assert_frame_equal(simulate_clinical(SMALL), simulate_clinical(SMALL))


def test_oracle_scores_keep_the_index() -> None:
    truth = simulate_clinical(SMALL).set_index("patient_id")
    scores = oracle_scores(truth)
    assert list(scores.columns) == ["full", "clinical", "roi", "context"]
    assert scores.index.equals(truth.index)
    assert np.allclose(scores["full"], scores[["clinical", "roi", "context"]].sum(axis=1))


PAPER = yaml.safe_load((ROOT / "book" / "dou2025_reported.yaml").read_text(encoding="utf-8"))
SHARE_TARGETS = {
    ("gender", "male"): 0.57,
    ("T", "T1"): 0.09,
    ("T", "T2"): 0.47,
    ("T", "T3"): 0.23,
    ("T", "T4"): 0.21,
    ("N", "N0"): 0.43,
    ("N", "N1"): 0.38,
    ("N", "N2"): 0.18,
    ("M", "M1"): 0.25,
    ("centre", "C1"): 520 / 880,
}


@pytest.fixture(scope="module")
def population() -> pd.DataFrame:
    """40,000 patients of the default spec: the population every cohort is drawn from."""
    return simulate_clinical(replace(CohortSpec(), n_patients=40_000, n_reader2=0, seed=3))


def _shares(table: pd.DataFrame) -> dict[tuple[str, str], float]:
    return {(column, level): float((table[column] == level).mean()) for column, level in SHARE_TARGETS}


def test_population_has_the_papers_marginals(population: pd.DataFrame) -> None:
    for key, share in _shares(population).items():
        assert share == pytest.approx(SHARE_TARGETS[key], abs=0.01), key
    assert population["age"].mean() == pytest.approx(68, abs=0.5)
    assert population["age"].between(35, 90).all()


def test_population_has_the_papers_follow_up_and_deaths(population: pd.DataFrame) -> None:
    table1 = PAPER["table1"]
    pooled = {
        "mean": (616 * table1["follow_up_months"]["train_mean"] + 264 * table1["follow_up_months"]["test_mean"]) / 880,
        "median": (616 * table1["follow_up_months"]["train_median"] + 264 * table1["follow_up_months"]["test_median"])
        / 880,
        "deaths": (table1["deaths"]["train"] + table1["deaths"]["test"]) / 880,
    }
    assert population["time_months"].mean() == pytest.approx(pooled["mean"], abs=1.0)
    assert population["time_months"].median() == pytest.approx(pooled["median"], abs=1.0)
    assert population["event"].mean() == pytest.approx(pooled["deaths"], abs=0.01)


@pytest.mark.parametrize("seed", CALIBRATION_SEEDS)
def test_a_paper_sized_cohort_deviates_from_the_marginals_by_sampling_noise_only(seed: int) -> None:
    table = simulate_clinical(replace(CohortSpec(), seed=seed))
    assert len(table) == 880
    for key, share in _shares(table).items():
        target = SHARE_TARGETS[key]
        assert abs(share - target) <= 3.5 * np.sqrt(target * (1 - target) / 880), key
    assert 0.70 <= table["event"].mean() <= 0.80


def test_cohorts_are_iid_draws_not_normalised_to_themselves() -> None:
    """Thresholds and the Weibull scale belong to the population: nothing is pinned per draw."""
    small, large = (simulate_clinical(replace(CohortSpec(), n_patients=n, seed=s)) for n, s in ((300, 5), (3000, 6)))
    assert population_cuts(replace(CohortSpec(), n_patients=300, seed=5)) is population_cuts(CohortSpec())
    # The old generator rescaled every draw to a median true survival of exactly 12 months and
    # cut categories at each draw's own ranks; a draw's statistics now vary around the population's.
    assert small["true_event_time_months"].median() != pytest.approx(large["true_event_time_months"].median(), abs=0.1)
    assert (small["T"] == "T4").sum() != round(0.21 * 300) or (large["T"] == "T4").sum() != round(0.21 * 3000)
    hazard = np.exp(small["lp_total"] + small["frailty"])
    unit_exponential = (
        hazard * (small["true_event_time_months"] / CohortSpec().baseline_scale_months) ** CohortSpec().weibull_shape
    )
    assert stats.kstest(unit_exponential, "expon").pvalue > 0.01


def _auc_died_by(table: pd.DataFrame, score: pd.Series, horizon: float) -> float:
    died = (table["event"] == 1) & (table["time_months"] <= horizon)
    known = died | (table["time_months"] > horizon)
    return roc_auc_score(died[known], score[known])


@pytest.mark.parametrize("seed", CALIBRATION_SEEDS)
def test_oracle_is_high_and_every_part_is_lower(seed: int) -> None:
    table = simulate_clinical(replace(CohortSpec(), seed=seed))
    scores = oracle_scores(table)
    subset = np.random.default_rng(0).permutation(len(table))[: round(0.3 * len(table))]
    for rows in (np.arange(len(table)), subset):
        part, part_scores = table.iloc[rows], scores.iloc[rows]
        for horizon in HORIZONS:
            full = _auc_died_by(part, part_scores["full"], horizon)
            assert 0.85 <= full <= 0.95, (horizon, full)
            for component in ("clinical", "roi", "context"):
                assert _auc_died_by(part, part_scores[component], horizon) <= full - 0.03, (horizon, component)


def test_the_pages_constants_are_generated_from_the_default_spec() -> None:
    assert page.main(["--check"]) == 0  # book/insilico_spec.md is what the spec renders
    fragment = (ROOT / "book" / "insilico_spec.md").read_text(encoding="utf-8")
    rows = re.findall(r"\| `(log_hr_\w+)(?:\[(\d)\])?` \| ([-\d.]+) \| ([-\d.]+) \|", fragment)
    spec = CohortSpec()
    for field, index, log_hr, hr in rows:
        value = getattr(spec, field)[int(index)] if index else getattr(spec, field)
        assert float(log_hr) == pytest.approx(value, abs=0.005) and float(hr) == pytest.approx(np.exp(value), abs=0.005)
    assert {field for field, *_ in rows} == {name for name in vars(spec) if name.startswith("log_hr_")}
    assert f"| `baseline_scale_months` | {spec.baseline_scale_months:g} months |" in fragment
    page_text = (ROOT / "book" / "data_insilico.md").read_text(encoding="utf-8")
    assert "```{include} insilico_spec.md" in page_text


def test_a_tumour_larger_than_a_small_test_grid_fills_the_scan_instead_of_falling_outside_it():
    """On tests' 48 x 48 x 8 grids (38 mm across) the tumours of 44-61 mm once fell outside the scan, leaving
    reader 1's mask empty; the scan now centres on a tumour that cannot fit."""
    spec = CohortSpec(n_patients=60, matrix=48, n_slices=8, n_reader2=0)
    table = simulate_clinical(spec).set_index("patient_id")
    _, seeds = random_streams(spec)
    for index in (5, 13, 40):  # SYN-0006, SYN-0014, SYN-0041: 55, 61 and 44 mm
        row = table.iloc[index]
        assert row["diameter_mm"] > 40
        volumes = synthesise_patient(spec, row.to_dict(), seeds[index].spawn(2))
        assert volumes.reader1.sum() >= 400  # 0, 2 and 0 voxels before


@pytest.mark.parametrize("centre", [0, 1])
def test_each_scanners_noise_has_its_centres_sd_and_grain(centre: int) -> None:
    """C1's iterative-reconstruction noise is correlated over its grain (lag-1 correlation exp(-1/(4 g^2)) for a
    Gaussian grain of g pixels), C2's filtered-back-projection noise is white; both have the spec's SD."""
    spec = CohortSpec()
    grain = spec.centre_noise_grain_mm[centre] / spec.pixel_mm
    noise = _noise((4, 256, 256), spec.centre_noise_sd_hu[centre], grain, np.random.default_rng(0))
    assert noise.std() == pytest.approx(spec.centre_noise_sd_hu[centre], rel=0.02)
    lag1 = np.corrcoef(noise[..., :-1].ravel(), noise[..., 1:].ravel())[0, 1]
    expected = np.exp(-1 / (4 * grain**2)) if grain > 0 else 0.0
    assert lag1 == pytest.approx(expected, abs=0.02)
    across = np.corrcoef(noise[:-1].ravel(), noise[1:].ravel())[0, 1]
    assert abs(across) < 0.02  # slices are reconstructed independently
