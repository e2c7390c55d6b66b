"""The Performance page: ``benchmarks/results/*.json`` rendered to ``book/performance.md``.

The benchmark scripts in ``benchmarks/`` measure; this module only formats what they wrote,
so the page never holds a hand-typed number. A result file that does not exist yet gives a
section that says which command measures it. ``python -m helpers.report.performance`` writes the
page, ``--check`` exits 1 when the committed page differs from the results.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

from helpers.pipeline.files import repo_root, write_generated_page

RESULTS = Path("benchmarks/results")
PAGE_PATH = Path("book/performance.md")
REGENERATE = ".venv/bin/python -m helpers.report.performance"
GOALS = {"book_minutes": 15, "book_peak_gb": 6, "extraction_speedup": 1.8, "densenet_ceiling_gap": 0.05}


def _table(header: list[str], rows: list[list[Any]]) -> str:
    """A GitHub-style markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def _missing(script: str) -> str:
    """The line shown where a benchmark has not been run."""
    return f"Not measured yet: run `.venv/bin/python {script}`."


def _machine(report: dict[str, Any]) -> str:
    """One line describing the machine of a result file."""
    m = report.get("machine", {})
    parts = [
        f"{m['cpus']} CPU cores" if "cpus" in m else None,
        f"{m['memory_gb']} GiB" if "memory_gb" in m else None,
        m.get("processor"),
        f"Python {m['python']}" if "python" in m else None,
        f"torch {m['torch']}" if "torch" in m else None,
        m.get("gpu"),
    ]
    return ", ".join(p for p in parts if p)


def book_section(report: dict[str, Any] | None, before: dict[str, Any] | None = None) -> str:
    """Per-notebook wall time and peak memory of the default book, against the goals and an earlier run.

    ``before`` (``book_before.json``, optional) is the same measurement before a round of speed work; its
    per-notebook numbers stand beside today's and its ``note`` says what it was.
    """
    if report is None:
        return _missing("benchmarks/book.py --record runs/default/run_manifest.json")
    earlier = {r["notebook"]: r for r in before["notebooks"]} if before else {}
    rows = []
    for r in report["notebooks"]:
        row = [r["notebook"], r["status"], f"{r['wall_seconds']:.0f}", f"{r['peak_memory_mb']:.0f}"]
        if before:
            old = earlier.get(r["notebook"])
            row += [f"{old['wall_seconds']:.0f}", f"{old['peak_memory_mb']:.0f}"] if old else ["-", "-"]
        rows.append(row)
    minutes, peak_gb = report["total_wall_seconds"] / 60, report["peak_memory_mb"] / 1024
    verdict = (
        f"Total **{minutes:.1f} min** of notebook execution (goal ≤ {GOALS['book_minutes']} min: "
        f"{'met' if minutes <= GOALS['book_minutes'] else 'not met'}); peak memory **{peak_gb:.1f} GB** "
        f"(goal ≤ {GOALS['book_peak_gb']} GB: {'met' if peak_gb <= GOALS['book_peak_gb'] else 'not met'}); "
        f"the book build adds about half a minute. Machine: {_machine(report)}."
    )
    longest = sorted(report["notebooks"], key=lambda r: r["wall_seconds"], reverse=True)[:3]
    share = sum(r["wall_seconds"] for r in longest) / report["total_wall_seconds"]
    verdict += (
        f" The three longest notebooks ({', '.join(r['notebook'].split('_')[0] for r in longest)}) "
        f"take {share:.0%} of it."
    )
    if report.get("note"):
        verdict += f" {report['note']}"
    header = ["notebook", "status", "wall (s)", "peak (MB)"]
    if before:
        verdict += (
            f"\n\n*Before:* {before['total_wall_seconds'] / 60:.1f} min, peak "
            f"{before['peak_memory_mb'] / 1024:.1f} GB. {before.get('note', '')}".rstrip()
        )
        header += ["before: wall (s)", "before: peak (MB)"]
    return verdict + "\n\n" + _table(header, rows)


def scaling_section(report: dict[str, Any] | None) -> str:
    """Wall time and peak memory of every notebook at each cohort size."""
    if report is None:
        return _missing("benchmarks/book.py --sizes 220 440 880 1760")
    sizes = sorted(report["sizes"], key=int)
    notebooks = [r["notebook"] for r in report["sizes"][sizes[0]]["notebooks"]]
    rows = []
    for name in notebooks:
        cells = []
        for size in sizes:
            found = [r for r in report["sizes"][size]["notebooks"] if r["notebook"] == name]
            cells.append(f"{found[0]['wall_seconds']:.0f} s / {found[0]['peak_memory_mb']:.0f} MB" if found else "-")
        rows.append([name, *cells])
    totals = [report["sizes"][s]["total_wall_seconds"] for s in sizes]
    rows.append(
        [
            "**total**",
            *(f"{t / 60:.1f} min / {report['sizes'][s]['peak_memory_mb']:.0f} MB" for s, t in zip(sizes, totals)),
        ]
    )
    rows.append(["seconds per patient", *(f"{t / int(s):.2f}" for s, t in zip(sizes, totals))])
    growth = ""
    if len(sizes) > 1:
        exponent = math.log(totals[-1] / totals[0]) / math.log(int(sizes[-1]) / int(sizes[0]))
        growth = (
            f"From {sizes[0]} to {sizes[-1]} patients the total time grows as patients^{exponent:.2f} "
            "(1.00 would be linear; fixed costs such as notebook 10's external cohort keep it below). "
        )
    notes = "".join(
        f"\n\n*{s} patients:* {report['sizes'][s]['note']}" for s in sizes if report["sizes"][s].get("note")
    )
    return (
        growth
        + f"Machine: {_machine(report)}.\n\n"
        + _table(["notebook", *(f"{s} patients" for s in sizes)], rows)
        + notes
    )


def extraction_section(report: dict[str, Any] | None) -> str:
    """Extraction throughput: bare PyRadiomics, this project's wrapper at 1 and 2 processes, Dask."""
    if report is None:
        return _missing("benchmarks/extraction.py")
    rows = [
        [name.replace("_", " "), f"{report['seconds'][name]:.1f}", f"{rate:.2f}"]
        for name, rate in report["cases_per_second"].items()
    ]
    return (
        f"{report['cases']} default-cohort cases with the paper's 1,037-feature settings. Speed-up at 2 "
        f"processes **{report['speedup_2_processes']:.2f}×** (goal ≥ {GOALS['extraction_speedup']}×), on Dask "
        f"with 2 workers {report['speedup_dask_2_workers']:.2f}×; overhead of the wrapper against a bare "
        f"PyRadiomics loop {report['overhead_vs_bare_pct']:.1f} %. Machine: {_machine(report)}.\n\n"
        + _table(["run", "seconds", "cases/s"], rows)
    )


def densenet_section(report: dict[str, Any] | None) -> str:
    """Training and inference samples/s of the deep model at each profile's size (random tensors, no loading)."""
    if report is None:
        return _missing("benchmarks/densenet.py")
    rows = [
        [
            name,
            p["input_size"],
            ",".join(map(str, p["block_config"])),
            f"{p['parameters']:,}",
            p["train_samples_per_s"],
            p["eval_samples_per_s"],
        ]
        for name, p in report["profiles"].items()
    ]
    return (
        f"Device: {report['device']} (mixed precision: {'yes' if report['mixed_precision'] else 'no'}). "
        f"Machine: {_machine(report)}.\n\n"
        + _table(["setting", "input", "dense blocks", "parameters", "train samples/s", "eval samples/s"], rows)
    )


def epoch_section(report: dict[str, Any] | None) -> str:
    """End-to-end training samples/s of real epochs (loading, augmentation, batching) per version of the trainer,
    each against the first measurement."""
    if report is None:
        return _missing("benchmarks/densenet.py --epochs-of runs/default --label <name> --note <what changed>")
    first = {row["input_size"]: row["train_samples_per_s"] for row in next(iter(report.values()))["sizes"]}
    rows = [
        [
            label,
            entry.get("note", ""),
            f"{row['input_size']}³",
            row["patients"],
            row["epochs"],
            f"{row['train_samples_per_s']:.1f}",
            f"{row['train_samples_per_s'] / first[row['input_size']]:.2f}×",
        ]
        for label, entry in report.items()
        for row in entry["sizes"]
    ]
    machine = _machine(next(iter(report.values())))
    return (
        "The default profile's network trained for real epochs on the default run's training split through "
        "`train_densenet`, as notebook 06 trains it; samples/s over the epochs, preprocessing into the cache "
        f"excluded. Machine: {machine}.\n\n"
        + _table(
            ["measurement", "trainer", "input", "patients", "epochs", "train samples/s", "against the first"], rows
        )
    )


def settings_section(report: dict[str, Any] | None) -> str:
    """Which deep-model setting to use: each setting's out-of-fold training AUC (the test split unread) and time."""
    if report is None:
        return _missing("benchmarks/densenet_settings.py runs/default")
    rows = []
    for name, s in report["settings"].items():
        fov = "whole scan" if s["field_of_view_mm"] is None else f"{s['field_of_view_mm']:.0f} mm"
        aucs = list(s["oof_auc"].values())
        rows.append(
            [
                name,
                f"{s['input_size']}³",
                fov,
                "on" if s["anti_aliasing"] else "off",
                f"{s['roi_margin_mm']:g} mm",
                s["heads"],
                s["epochs"],
                "/".join(f"{v:.3f}" for v in aucs),
                f"{sum(aucs) / len(aucs):.3f}",
                f"{s['wall_seconds'] / 60:.1f}",
            ]
        )
    cohort = report["cohort"]
    return (
        f"Each setting cross-fitted over the {cohort['train']} training patients as notebook 06 cross-fits the "
        f"rigorous arm's DenseNet ({cohort['folds']} fold networks, each choosing its epoch on a validation split "
        "of its own folds) and scored by the IPCW AUC of its out-of-fold predictions; the test split is never "
        f"read. Minutes include preprocessing a new input size into the cache. Machine: {_machine(report)}.\n\n"
        + _table(
            [
                "setting",
                "input",
                "field of view",
                "anti-aliasing",
                "ROI margin",
                "heads",
                "epochs",
                "out-of-fold AUC 1/2/3 y",
                "mean",
                "minutes",
            ],
            rows,
        )
    )


def objectives_section(report: dict[str, Any] | None) -> str:
    """The deep model's two objectives on the same budget: validation AUC of the kept epoch, external AUC and C."""
    if report is None:
        return _missing("benchmarks/densenet_objectives.py runs/default")
    rows = [
        [
            o["loss"],
            o["epochs"],
            o["kept_epoch"],
            "/".join(f"{v:.3f}" for v in o["val_auc"].values()),
            "/".join(f"{v:.3f}" for v in o["external_auc"].values()),
            f"{o['external_harrell_c']:.3f}",
            f"{o['wall_seconds'] / 60:.1f}",
        ]
        for o in report["objectives"].values()
    ]
    cohort = report["cohort"]
    return (
        f"Both objectives train the default profile's network on 80 % of the {cohort['train']} training patients "
        "for the same epochs, keep the epoch with the best validation AUC on the other 20 % and predict the "
        f"{cohort['external']} patients of the external in-silico cohort once (IPCW AUC; Harrell's C of the "
        f"3-year risk). The run's test split is not read. Machine: {_machine(report)}.\n\n"
        + _table(
            ["objective", "epochs", "kept epoch", "val AUC 1/2/3 y", "external AUC 1/2/3 y", "external C", "minutes"],
            rows,
        )
    )


def tradeoff_section(report: dict[str, Any] | None) -> str:
    """AUC against minutes: each budget's out-of-fold training AUC beside the training split's image ceiling, and
    the cheapest setting within the goal's 0.05 of it at every horizon (or the statement that none was)."""
    if report is None:
        return _missing("benchmarks/densenet_settings.py runs/default --curve")
    ceiling, factor, goal = report["ceiling"], report["notebook_06_factor"], GOALS["densenet_ceiling_gap"]
    rows, reaching = [], []
    for name, s in report["settings"].items():
        gaps = [ceiling[h] - auc for h, auc in s["oof_auc"].items()]
        minutes = s["wall_seconds"] / 60
        if max(gaps) <= goal:
            reaching.append((minutes, name))
        rows.append(
            [
                name,
                f"{s['input_size']}³",
                f"{'/'.join(map(str, s['blocks']))} × {s['growth_rate']}",
                s["epochs"],
                "/".join(f"{v:.3f}" for v in s["oof_auc"].values()),
                "/".join(f"{g:.3f}" for g in gaps),
                f"{minutes:.1f}",
                f"{minutes * factor:.1f}",
            ]
        )
    verdict = (
        f"The cheapest setting within {goal} of the ceiling at every horizon: **{min(reaching)[1]}**."
        if reaching
        else f"**No measured setting comes within {goal} of the ceiling at every horizon**; the goal is not met on "
        "this CPU budget."
    )
    return (
        "The default network given more epochs, a larger input or a wider trunk, each cross-fitted over the "
        f"{report['cohort']['train']} training patients as notebook 06 cross-fits it and set against the training "
        "split's image ceiling (E[lp | ROI + context], notebook 01; the same patients and IPCW labels). Out-of-fold "
        "networks learn from two thirds of the training split, so they sit below what the final network reaches. "
        f"Notebook 06's training is about {factor:.2f} × the cross-fit (its final network adds "
        f"{factor - 1:.0%} of the cross-fit's samples per epoch). The test split is never read. Image ceiling 1/2/3 y: "
        + "/".join(f"{v:.3f}" for v in ceiling.values())
        + f". Machine: {_machine(report)}.\n\n"
        + _table(
            [
                "setting",
                "input",
                "blocks × growth",
                "epochs",
                "out-of-fold AUC 1/2/3 y",
                "gap to ceiling",
                "cross-fit minutes",
                "≈ notebook 06 training minutes",
            ],
            rows,
        )
        + "\n\n"
        + verdict
    )


def _load(root: Path, name: str) -> dict[str, Any] | None:
    """A result file, or None when the benchmark has not been run."""
    path = root / RESULTS / name
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def render(root: Path) -> str:
    """The whole page from the result files under ``root``."""
    sections = [
        ("The default book", book_section(_load(root, "book_default.json"), _load(root, "book_before.json"))),
        ("Growth with cohort size", scaling_section(_load(root, "book_scaling.json"))),
        ("Radiomics extraction", extraction_section(_load(root, "extraction.json"))),
        ("Deep-model throughput", densenet_section(_load(root, "densenet.json"))),
        ("Deep-model training epochs, end to end", epoch_section(_load(root, "densenet_epoch.json"))),
        ("Deep-model settings, chosen on the training split", settings_section(_load(root, "densenet_settings.json"))),
        ("Deep-model objectives: cross-entropy or Cox", objectives_section(_load(root, "densenet_objectives.json"))),
        ("Deep-model AUC against minutes", tradeoff_section(_load(root, "densenet_tradeoff.json"))),
    ]
    body = "\n\n".join(f"## {title}\n\n{text}" for title, text in sections)
    return (
        f"<!-- Generated by `{REGENERATE}` from {RESULTS.as_posix()}/*.json; do not edit by hand. -->\n\n"
        "# Performance\n\nWhat the benchmark scripts in `benchmarks/` measured, and on which machine. Numbers "
        "are wall-clock times of one run each; rerun a script to refresh its section.\n\n" + body + "\n"
    )


def main(argv: list[str] | None = None) -> int:
    """Write the page, or with ``--check`` exit 1 when it is stale."""
    parser = argparse.ArgumentParser(prog="python -m helpers.report.performance", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check that the committed page is up to date")
    parser.add_argument("--root", type=Path, default=None, help="project root (default: the one holding _config.yml)")
    args = parser.parse_args(argv)
    root = args.root or repo_root()
    return write_generated_page(root, PAGE_PATH, render(root), REGENERATE, args.check)


if __name__ == "__main__":
    raise SystemExit(main())
