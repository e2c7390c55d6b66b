"""The benchmark and tool scripts import cleanly: a moved or renamed helper breaks a test, not a benchmark run."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = sorted([*(ROOT / "benchmarks").glob("*.py"), *(ROOT / "tools").glob("*.py")])


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_a_script_imports_without_running(script):
    spec = importlib.util.spec_from_file_location(f"script_{script.stem}", script)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    try:
        spec.loader.exec_module(module)  # each script runs only under __main__
    finally:
        del sys.modules[spec.name]
    assert callable(getattr(module, "main", None))


def test_the_gpu_benchmark_needs_only_torch_monai_pandas_and_psutil():
    """benchmarks/densenet.py's network mode runs on a GPU machine without SimpleITK, scikit-learn or
    scikit-survival (benchmarks/gpu_check.sh): importing it, in a fresh interpreter where those imports fail,
    must work."""
    blocked = ("SimpleITK", "sklearn", "sksurv", "radiomics", "lifelines")
    code = (
        "import runpy, sys\n"
        f"sys.modules.update(dict.fromkeys({blocked!r}))\n"
        f"module = runpy.run_path({str(ROOT / 'benchmarks' / 'densenet.py')!r})\n"
        "assert callable(module['measure'])\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]


def test_make_test_finds_an_installed_chromium_or_says_in_one_line_what_to_install(tmp_path):
    """tools/install_chromium.sh, which ``make test`` runs first: nothing to do when a Chromium is on PATH; with
    none and no apt-get, one line naming the package and the fallback, and exit 1 before any test starts."""
    script = ROOT / "tools" / "install_chromium.sh"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    bare = subprocess.run(["/bin/bash", str(script)], env={"PATH": str(bin_dir)}, capture_output=True, text=True)
    assert bare.returncode == 1 and bare.stdout == ""
    assert (
        bare.stderr.count("\n") == 1 and "apt-get install chromium" in bare.stderr and "make test-fast" in bare.stderr
    )
    (bin_dir / "chromium").write_text("#!/bin/sh\n", encoding="utf-8")
    (bin_dir / "chromium").chmod(0o755)
    found = subprocess.run(["/bin/bash", str(script)], env={"PATH": str(bin_dir)}, capture_output=True, text=True)
    assert found.returncode == 0 and found.stderr == ""
