#!/usr/bin/env bash
# The deep model's GPU check (issue 15), one short command on a machine with a CUDA GPU and PyTorch but no
# package registry:
#
#   bash benchmarks/gpu_check.sh [OUT_DIR]
#
# Network-mode benchmarks/densenet.py needs PyTorch, MONAI, pandas and psutil. Where MONAI is missing, carry
# its pure-Python wheel in .whl/ first (on a machine with pip: python3 -m pip download --no-deps
# --only-binary=:all: -d .whl monai==1.6.1). Measures training and inference samples/s of the paper-size
# network (96³, DenseNet-121, batch 8, mixed precision) and of the CPU profiles, with peak GPU memory and the
# minutes 100 paper-protocol epochs of 616 patients would take; writes OUT_DIR/densenet_gpu.json.
set -euo pipefail
out=${1:-${OUT:-benchmarks/results}}
mkdir -p "$out"
if ! python3 -c "import monai" 2>/dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/monai-*.whl
    export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
export PYTHONPATH=src${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
python3 benchmarks/densenet.py --device cuda --profiles paper default --seconds 60 --iterations 200 \
    --out "$out/densenet_gpu.json"
