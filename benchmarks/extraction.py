"""Extraction throughput: cases/s with 1 and 2 processes, a 2-worker Dask LocalCluster,
and the overhead of helpers.features.radiomics over a bare PyRadiomics loop on the same cases.

    .venv/bin/python benchmarks/extraction.py --run-dir runs/default --cases 40

Reads the cohort of a finished run (notebook 01) and writes a JSON result next to this file.
Every mode starts from an empty cache, so nothing is served from a previous mode.
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import tempfile
import time
from pathlib import Path

import pandas as pd
import psutil

from helpers.features import radiomics

ROOT = Path(__file__).resolve().parents[1]


def bare_loop(jobs: list[radiomics.CaseJob], params: Path) -> float:
    """Seconds for PyRadiomics alone: one extractor, file paths in, no cache, no checks."""
    import radiomics as pyradiomics
    from radiomics import featureextractor

    pyradiomics.setVerbosity(logging.ERROR)
    extractor = featureextractor.RadiomicsFeatureExtractor(str(params))
    start = time.perf_counter()
    for job in jobs:
        extractor.execute(job.image, job.mask)
    return time.perf_counter() - start


def helpers_run(jobs: list[radiomics.CaseJob], params: Path, **kwargs) -> float:
    """Seconds for helpers.features.radiomics.extract_cohort from an empty cache."""
    with tempfile.TemporaryDirectory() as cache:
        start = time.perf_counter()
        result = radiomics.extract_cohort(jobs, params, Path(cache), progress=False, **kwargs)
        elapsed = time.perf_counter() - start
    assert result.failures.empty, result.failures
    return elapsed


def dask_run(jobs: list[radiomics.CaseJob], params: Path, workers: int) -> float:
    """Seconds on a local Dask cluster (cluster start-up excluded, as on a standing cluster)."""
    from dask.distributed import LocalCluster

    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        return helpers_run(jobs, params, scheduler_address=cluster.scheduler_address)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run-dir", type=Path, default=ROOT / "runs" / "default")
    parser.add_argument("--cases", type=int, default=40)
    parser.add_argument("--params", type=Path, default=ROOT / "params" / "pyradiomics_paper.yaml")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "extraction.json")
    args = parser.parse_args()

    cohort = pd.read_parquet(args.run_dir / "cohort.parquet").head(args.cases)
    jobs = [job for job in radiomics.jobs_from_cohort(cohort) if job.reader == "reader1"]
    radiomics.extract_case(jobs[0], str(args.params), tempfile.mkdtemp())  # warm imports once

    seconds = {
        "bare_pyradiomics_1_process": bare_loop(jobs, args.params),
        "helpers_1_process": helpers_run(jobs, args.params, n_jobs=1),
        "helpers_2_processes": helpers_run(jobs, args.params, n_jobs=2),
        "helpers_dask_2_workers": dask_run(jobs, args.params, workers=2),
    }
    result = {
        "cases": len(jobs),
        "machine": {
            "cpus": psutil.cpu_count(),
            "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
            "processor": platform.processor() or platform.machine(),
            "python": platform.python_version(),
        },
        "seconds": {k: round(v, 2) for k, v in seconds.items()},
        "cases_per_second": {k: round(len(jobs) / v, 3) for k, v in seconds.items()},
        "speedup_2_processes": round(seconds["helpers_1_process"] / seconds["helpers_2_processes"], 2),
        "speedup_dask_2_workers": round(seconds["helpers_1_process"] / seconds["helpers_dask_2_workers"], 2),
        "overhead_vs_bare_pct": round(
            100 * (seconds["helpers_1_process"] / seconds["bare_pyradiomics_1_process"] - 1), 1
        ),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
