#!/usr/bin/env bash
# Every GPU check of the speed work in one call, for a machine with an NVIDIA GPU:
#   bash benchmarks/gpu.sh [RESULTS_FOLDER]      (default: benchmarks/results)
# 1. the engine's tests on the CUDA path (precision plumbing, batch-size invariance in bf16);
# 2. U-ViT-L and ENAT-L, batch 256, T = 8: fp32 vs bf16 vs bf16+compile (images/s, MFU, peak memory);
# 3. the reference-loop comparison of benchmarks/reference_loop.py, on the GPU.
set -euo pipefail
cd "$(dirname "$0")/.."
RESULTS=${1:-benchmarks/results}
mkdir -p "$RESULTS"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$RESULTS/gpu_device.txt"
python -m pytest tests/test_precision.py tests/test_randomness.py -q -p no:cacheprovider 2>&1 | tail -3 | tee "$RESULTS/gpu_tests.txt"
python benchmarks/gpu_throughput.py --device cuda --batch 256 --out "$RESULTS/gpu_throughput.json" | tee "$RESULTS/gpu_throughput.txt"
python benchmarks/reference_loop.py --device cuda --rounds 3 --out "$RESULTS/reference_loop_cuda.json" | tee "$RESULTS/reference_loop_cuda.txt"
