"""The Performance page is rendered from the benchmark results, never typed by hand."""

from __future__ import annotations

import json
from pathlib import Path

from helpers.report import performance

ROOT = Path(__file__).resolve().parents[1]


def test_the_committed_page_matches_the_results():
    assert performance.main(["--check"]) == 0, f"book/performance.md is stale: run {performance.REGENERATE}"


def _book(minutes: float, peak_mb: float) -> dict:
    return {
        "machine": {"cpus": 2},
        "notebooks": [
            {"notebook": "01_cohort.ipynb", "status": "ok", "wall_seconds": minutes * 60, "peak_memory_mb": peak_mb}
        ],
        "total_wall_seconds": minutes * 60,
        "peak_memory_mb": peak_mb,
    }


def test_book_section_states_whether_the_goals_are_met():
    fast = performance.book_section(_book(12, 2048))
    assert "**12.0 min**" in fast and "15 min: met)" in fast and "6 GB: met)" in fast and "not met" not in fast
    slow = performance.book_section(_book(20, 7 * 1024))
    assert "15 min: not met" in slow and "6 GB: not met" in slow and "| 01_cohort.ipynb | ok | 1200 | 7168 |" in slow
    assert "The three longest notebooks (01) take 100% of it." in slow
    compared = performance.book_section(_book(12, 2048), _book(20, 7 * 1024) | {"note": "commit abc."})
    assert "*Before:* 20.0 min, peak 7.0 GB. commit abc." in compared
    assert "| 01_cohort.ipynb | ok | 720 | 2048 | 1200 | 7168 |" in compared


def test_scaling_section_lays_sizes_side_by_side():
    report = {
        "machine": {"cpus": 2},
        "sizes": {"440": {"exit_status": 0, **_book(5, 900)}, "220": {"exit_status": 0, **_book(2, 600)}},
    }
    text = performance.scaling_section(report)
    assert "| notebook | 220 patients | 440 patients |" in text
    assert "| 01_cohort.ipynb | 120 s / 600 MB | 300 s / 900 MB |" in text
    assert "| seconds per patient | 0.55 | 0.68 |" in text and "patients^1.32" in text
    report["sizes"]["440"]["note"] = "shared the machine."
    assert performance.scaling_section(report).endswith("*440 patients:* shared the machine.")


def test_a_missing_result_names_the_command_that_measures_it(tmp_path):
    (tmp_path / "benchmarks" / "results").mkdir(parents=True)
    (tmp_path / "book").mkdir()
    page = performance.render(tmp_path)
    assert page.count("Not measured yet") == 8 and "benchmarks/densenet_settings.py runs/default" in page
    assert performance.main(["--check", "--root", str(tmp_path)]) == 1
    assert (
        performance.main(["--root", str(tmp_path)]) == 0 and performance.main(["--check", "--root", str(tmp_path)]) == 0
    )


def test_settings_section_reports_out_of_fold_training_auc_and_no_test_auc(tmp_path):
    report = {
        "machine": {},
        "cohort": {"train": 616, "folds": 3},
        "settings": {
            "small": {
                "input_size": 32,
                "field_of_view_mm": 80.0,
                "anti_aliasing": True,
                "roi_margin_mm": 3.0,
                "heads": "multitask",
                "epochs": 15,
                "kept_epochs": [{"12": 9}],
                "oof_auc": {"12": 0.7, "24": 0.71, "36": 0.72},
                "wall_seconds": 300,
            }
        },
    }
    text = performance.settings_section(json.loads(json.dumps(report)))
    assert "| small | 32³ | 80 mm | on | 3 mm | multitask | 15 | 0.700/0.710/0.720 | 0.710 | 5.0 |" in text
    assert "test AUC" not in text and "the test split is never read" in text


def _budget(oof_auc: tuple[float, float, float], seconds: float) -> dict:
    return {
        "input_size": 32,
        "blocks": [2, 2, 2],
        "growth_rate": 8,
        "epochs": 15,
        "oof_auc": dict(zip(("12", "24", "36"), oof_auc, strict=True)),
        "wall_seconds": seconds,
    }


def test_tradeoff_section_names_the_cheapest_setting_within_the_goal_or_says_none_is():
    report = {
        "machine": {"cpus": 2},
        "cohort": {"train": 616, "folds": 3},
        "ceiling": {"12": 0.8, "24": 0.85, "36": 0.86},
        "notebook_06_factor": 1.5,
        "settings": {
            "slow_close": _budget((0.76, 0.81, 0.82), 1200),
            "fast_close": _budget((0.751, 0.80, 0.811), 600),
            "cheap_far": _budget((0.7, 0.84, 0.85), 60),
        },
    }
    text = performance.tradeoff_section(json.loads(json.dumps(report)))
    assert "| fast_close | 32³ | 2/2/2 × 8 | 15 | 0.751/0.800/0.811 | 0.049/0.050/0.049 | 10.0 | 15.0 |" in text
    assert "every horizon: **fast_close**" in text and "0.800/0.850/0.860" in text
    del report["settings"]["fast_close"], report["settings"]["slow_close"]
    assert "the goal is not met on this CPU budget" in performance.tradeoff_section(json.loads(json.dumps(report)))
