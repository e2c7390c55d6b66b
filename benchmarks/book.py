"""Whole-book wall time and peak memory per notebook, for one profile or across cohort sizes.

    .venv/bin/python benchmarks/book.py --record runs/default/run_manifest.json   # an existing run
    .venv/bin/python benchmarks/book.py --record runs/scaling/880/run_manifest.json --as default
    .venv/bin/python benchmarks/book.py --sizes 220 440 880 1760                  # fresh runs, each size

``--record`` copies a finished run's per-notebook times (from its run_manifest.json) into
benchmarks/results/book_<profile>.json. ``--sizes`` runs params/default.yaml (without the book
build) at each cohort size in a run directory under runs/scaling/ and writes
benchmarks/results/book_scaling.json after each size, so an interrupted sweep keeps what it
finished; sizes measured earlier stay in the file unless measured again. Each size starts
from an empty run folder (a folder left by an earlier sweep is deleted first), so no cohort,
extraction cache or preprocessing cache is reused. The performance page (python -m
helpers.report.performance) renders both.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
from pathlib import Path

import psutil
import yaml

from helpers.pipeline.runner import main as run_book

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def machine() -> dict:
    """The machine the numbers were measured on."""
    return {
        "cpus": psutil.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "processor": platform.processor() or platform.machine(),
        "python": platform.python_version(),
    }


def summarise(manifest: dict) -> dict:
    """Per-notebook status, wall seconds and peak MB of one run, with the totals."""
    notebooks = [
        {
            "notebook": r["notebook"],
            "status": r["status"],
            "wall_seconds": r["wall_seconds"],
            "peak_memory_mb": r["peak_memory_mb"],
        }
        for r in manifest["notebooks"]
    ]
    return {
        "notebooks": notebooks,
        "total_wall_seconds": round(sum(r["wall_seconds"] for r in notebooks), 1),
        "peak_memory_mb": max(r["peak_memory_mb"] for r in notebooks),
    }


def scaling(sizes: list[int], profile_path: Path) -> None:
    """Run the profile at each cohort size (second reader on the same share of patients) and record it."""
    profile = yaml.safe_load(profile_path.read_text(encoding="utf-8"))
    out = RESULTS / "book_scaling.json"
    earlier = json.loads(out.read_text(encoding="utf-8"))["sizes"] if out.exists() else {}
    report = {"machine": machine(), "profile": str(profile_path.relative_to(ROOT)), "sizes": earlier}
    for size in sizes:
        sized = {
            **profile,
            "name": f"scaling_{size}",
            "n_patients": size,
            "n_reader2": max(2, round(profile["n_reader2"] * size / profile["n_patients"])),
        }
        run_dir = ROOT / "runs" / "scaling" / str(size)
        shutil.rmtree(run_dir, ignore_errors=True)  # cold start: caches would make a size look cheap
        sized_profile = run_dir.with_suffix(".yaml")  # kept beside the run, named in its run_manifest.json
        sized_profile.parent.mkdir(parents=True, exist_ok=True)
        sized_profile.write_text(yaml.safe_dump(sized), encoding="utf-8")
        status = run_book([str(sized_profile.relative_to(ROOT)), "--no-book", "--run-dir", str(run_dir)])
        manifest = json.loads((run_dir / "run_manifest.json").read_text(encoding="utf-8"))
        report["sizes"][str(size)] = {"exit_status": status, **summarise(manifest)}
        report["sizes"] = dict(sorted(report["sizes"].items(), key=lambda item: int(item[0])))
        out.write_text(json.dumps(report, indent=2) + "\n")
        print(f"[book benchmark] {size} patients: {report['sizes'][str(size)]['total_wall_seconds']} s", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--record", type=Path, help="run_manifest.json of a finished run to record")
    parser.add_argument("--sizes", type=int, nargs="+", help="cohort sizes to run afresh")
    parser.add_argument(
        "--as",
        dest="record_as",
        help="with --record: save as book_<name>.json (default: the "
        "run's profile name), e.g. 'default' for the 880-patient run of a sweep",
    )
    parser.add_argument("--profile", type=Path, default=ROOT / "params" / "default.yaml")
    args = parser.parse_args()
    if args.record:
        manifest = json.loads(args.record.read_text(encoding="utf-8"))
        name = args.record_as or Path(manifest["profile"]).stem
        report = {"machine": machine(), "profile": manifest["profile"], **summarise(manifest)}
        (RESULTS / f"book_{name}.json").write_text(json.dumps(report, indent=2) + "\n")
        print(json.dumps(report, indent=2))
    if args.sizes:
        scaling(args.sizes, args.profile)


if __name__ == "__main__":
    main()
