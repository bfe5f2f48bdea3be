#!/usr/bin/env bash
# The GPU checks no development step has run yet, as one prepared script for a lent device (about 10 minutes
# on an H200 once the environment is installed). Results go to ${OUT:-gpu_results}/.
#   bash benchmarks/gpu_checks.sh
# Needs: the package installed with its test extras (pip install -e ".[test]" ./examples/plugins/galzoo-fm-example).
set -u
out=${OUT:-gpu_results}
mkdir -p "$out"
run() { local name=$1; shift; echo "== $name: $*"; timeout "${LIMIT:-240}" "$@" > "$out/$name.log" 2>&1; echo "rc $?" >> "$out/$name.log"; tail -25 "$out/$name.log"; }
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv > "$out/gpu.txt" 2>&1
run pytest_gpu python -m pytest -m gpu -q -p no:cacheprovider tests
run encoder_resnet18_224 python benchmarks/encoder_throughput.py --backbone resnet18 --image-size 224 --batch-size 256 --device cuda
run encoder_convnext_nano_224 python benchmarks/encoder_throughput.py --backbone convnext_nano --image-size 224 --batch-size 256 --device cuda
run embed_convnext_nano_224 python benchmarks/embed_throughput.py --backbone convnext_nano --image-size 224 --batch-size 256 --rows 8192 --workers 14 --device cuda
run embed_resnet18_64 python benchmarks/embed_throughput.py --backbone resnet18 --image-size 64 --batch-size 512 --rows 32768 --workers 14 --device cuda
run preprocess_aug_224 python benchmarks/preprocess_throughput.py --image-size 224 --batch-size 256 --device cuda
run train_hybrid python benchmarks/train_throughput.py --device cuda
