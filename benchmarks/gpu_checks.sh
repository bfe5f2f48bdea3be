#!/usr/bin/env bash
# The GPU checks, as one prepared script for a lent device: about 6-8 minutes on an H200 once the package is installed,
# plus at most 4 minutes of the low-label science check (SCIENCE=0 skips it). Results (logs, JSON) go to ${OUT:-gpu_results}/
#   bash benchmarks/gpu_checks.sh
# Needs: the package installed with its test extras (pip install -e ".[test]" ./examples/plugins/galzoo-fm-example).
# Goals to read off the results: embed_*.json "end_to_end[auto]/model_only" >= 0.85 (GPU data path: pinned reads,
# preprocessing on the GPU); pytest_gpu.log all passed (CUDA path = CPU path; no per-batch synchronisation).
set -u
out=${OUT:-gpu_results}
mkdir -p "$out"
work=${WORK:-/tmp/galzoo-gpu-bench}  # one 224-px cutout store shared by the embed runs
run() { local name=$1 limit=$2; shift 2; echo "== $name (limit ${limit}s): $*"; local t0=$SECONDS
        timeout "$limit" "$@" > "$out/$name.log" 2>&1; echo "rc $? after $((SECONDS - t0)) s" >> "$out/$name.log"
        tail -20 "$out/$name.log"; }
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv > "$out/gpu.txt" 2>&1
python -c "import torch; print(torch.__version__, torch.version.cuda, torch.cuda.get_device_name())" >> "$out/gpu.txt" 2>&1
cat "$out/gpu.txt"
run pytest_gpu 150 python -m pytest -m gpu -q -p no:cacheprovider -rs tests
common=(--image-size 224 --batch-size 256 --rows 8192 --workers 8 --repeats 3 --device cuda --work "$work")
run embed_convnext_nano_224 120 python benchmarks/embed_throughput.py --model convnext_nano "${common[@]}" \
    --preprocess-on auto,threads --json "$out/embed_convnext_nano_224.json"
run embed_convnext_nano_224_compile 200 python benchmarks/embed_throughput.py --model convnext_nano "${common[@]}" \
    --compile --json "$out/embed_convnext_nano_224_compile.json"
run embed_resnet18_224 90 python benchmarks/embed_throughput.py --model resnet18 "${common[@]}" \
    --json "$out/embed_resnet18_224.json"
# goal: images_convnext_nano_224.json "end_to_end_per_s" >= 7.2k galaxies/s = 10x Zoobot 2.9 predict's 723/s, measured
# by a peer on an H200 with convnext_nano, 224 px, bf16, 16 loader workers, 30k JPGs of 424x424
run images_convnext_nano_224 150 python benchmarks/images_throughput.py --model convnext_nano --rows 16384 \
    --batch-size 256 --workers 16 --repeats 2 --device cuda --work "$work/images" \
    --json "$out/images_convnext_nano_224.json"
run preprocess_64_224 60 python benchmarks/preprocess_throughput.py --sizes 64,224 --repeats 3 --no-augment --device cuda
rm -rf "$work"
# the cost of the D4 average (Encoder(symmetry="d4"), the demo encoder's setting): embed/raw with and without it
run encoder_64_plain 60 python benchmarks/encoder_throughput.py --image-size 64 --batch-size 512 --device cuda
run encoder_64_d4 60 python benchmarks/encoder_throughput.py --image-size 64 --batch-size 512 --device cuda --symmetry d4
# the science check (issue 15), last and optional: the low-label benchmark's gpu setting for one seed and the methods
# of the paper's claim (hybrid vs dirichlet vs direct training); the full setting (3 seeds, 5 methods) needs longer
if [ "${SCIENCE:-1}" = 1 ]; then
    run low_label_gpu 240 python benchmarks/low_label.py --setting gpu --seeds 0 --methods hybrid,dirichlet,byol,random \
        --device cuda --workers 8 --out "$out/low_label_gpu"
fi
