#!/usr/bin/env bash
# Create (or complete) the project's virtual environment: the one install step that
# `make book`, `make test` and CI share.
#
# PyRadiomics is the awkward package. PyPI has no wheel for Python 3.11, only sdists:
#  * 3.1.0's sdist cannot be built at all: it lacks radiomics/src/cmatrices.h and
#    cshape.h, and its metadata says 3.0.1a1, so pip also rejects it by version;
#  * 3.0.1's sdist builds, but its setup.py imports numpy (and versioneer) at build time
#    without declaring them, so they must be installed first and the build must see
#    them: --no-build-isolation.
# 3.0.1 is also the release that reproduces the baseline values shipped with the test
# data (tests/test_radiomics_baseline.py checks it).
set -euo pipefail

venv="${1:-.venv}"
python="${PYTHON:-}"
if [ -z "$python" ]; then
  if command -v python3.11 >/dev/null 2>&1; then python=python3.11; else python=python3; fi
fi

if [ ! -x "$venv/bin/python" ]; then
  echo "[install] creating $venv with $($python --version)"
  "$python" -m venv "$venv"
fi
pip=("$venv/bin/python" -m pip --disable-pip-version-check)

"${pip[@]}" install -q --upgrade "pip>=24"
echo "[install] PyRadiomics build prerequisites"
"${pip[@]}" install -q "numpy==2.3.5" "setuptools>=68" "wheel" "versioneer==0.29"
if ! "$venv/bin/python" -c "import radiomics" >/dev/null 2>&1; then
  echo "[install] PyRadiomics 3.0.1 from its sdist (--no-build-isolation)"
  "${pip[@]}" install -q --no-build-isolation "pyradiomics==3.0.1"
fi
echo "[install] the helpers package and its pinned dependencies"
"${pip[@]}" install -q -e ".[dev]"
# rt-utils writes the tests' RTSTRUCT files; it declares opencv-python (the GUI build, which needs libGL),
# so it is installed without dependencies beside the headless OpenCV that the dev extra pins.
"${pip[@]}" install -q --no-deps "rt-utils==1.2.7"
"$venv/bin/python" -c "import radiomics, torch, monai, sksurv, lifelines, helpers; print('[install] ok: pyradiomics', radiomics.__version__, '| torch', torch.__version__, '| monai', monai.__version__)"
