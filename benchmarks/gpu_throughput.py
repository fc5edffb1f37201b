"""Sampling throughput and MFU of the full-size U-ViT-L and ENAT-L on a GPU: fp32, bf16, bf16+compile.

    python benchmarks/gpu_throughput.py [--device cuda] [--batch 256] [--repeats 3]
                                        [--out benchmarks/results/gpu_throughput.json]
    python benchmarks/gpu_throughput.py --device cpu --small   # a dry run of the script itself

The configs are those of the public checkpoints (checkpoint manifests): U-ViT-L (AdaNAT / AutoNAT,
width 768, depth 24) and ENAT-L (22 encoder + 2 decoder blocks, width 1024), random weights, a 16×16
grid, codebook 1,024. ``generate_images`` runs T = 8, cosine, guidance w = 1; tokens are turned into
pictures by a flat-colour stand-in decoder, so the figures are the NAT's (the VQGAN decoder is
measured by nobody here). Each variant gets one warm-up run (compilation, reported apart), then
``--repeats`` timed runs. MFU = analytic FLOPs per image (``engine.flops``) × images/s ÷ the device's
dense peak for that precision (fp32 peaks are the CUDA-core figures: PyTorch's default fp32 matmul
does not use TF32).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

from adanat_cli.architectures.enat import ENAT
from adanat_cli.architectures.uvit import UViT
from adanat_cli.engine.sampling import generate_images
from adanat_cli.registry import registry
from reference_loop import Case, PaletteTokenizer, PeakMemory

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "gpu_throughput.json"
STEPS, GUIDANCE = 8, 1.0
VARIANTS = (("fp32", False), ("bf16", False), ("bf16", True))
# Dense peaks in TFLOP/s from the vendors' data sheets (no sparsity): (fp32, bf16).
PEAKS = {"H200": (66.9, 989.4), "H100 80GB HBM3": (66.9, 989.4), "H100 SXM": (66.9, 989.4),
         "H100 PCIe": (51.2, 756.0), "H100 NVL": (60.0, 835.0), "A100": (19.5, 312.0)}
TARGET_MFU, TARGET_SPEEDUP = 0.35, 2.0  # U-ViT-L, bf16, batch 256, on an H100/H200


def models(small: bool) -> dict:
    shapes = {"codebook_size": 1024, "num_classes": 1000, "grid_size": 16}
    if small:  # the dry run: the same code on sizes a CPU does in seconds
        return {"uvit-L": lambda: UViT(**shapes, dim=64, depth=2, num_heads=2),
                "enat-L": lambda: ENAT(**shapes, dim=64, encoder_depth=2, decoder_depth=1, num_heads=2)}
    return {"uvit-L": lambda: UViT(**shapes, dim=768, depth=24, num_heads=8, mlp_ratio=4.0, qkv_bias=False),
            "enat-L": lambda: ENAT(**shapes, dim=1024, encoder_depth=22, decoder_depth=2, num_heads=16)}


def peak_tflops(device: torch.device) -> tuple[str, tuple[float, float] | None]:
    if device.type != "cuda":
        return "cpu", None
    name = torch.cuda.get_device_name(device)
    for key, peaks in PEAKS.items():
        if key in name:
            return name, peaks
    return name, None


def measure(name: str, build, batch: int, repeats: int, device: torch.device, peaks) -> dict:
    torch.manual_seed(0)
    case = Case(name, build().eval().to(device), PaletteTokenizer().eval().to(device), batch, {})
    scheduler = registry.get("schedulers", "cosine")(sample_temp=1.0, remask_temp=4.5, guidance=GUIDANCE)
    labels = [i % 1000 for i in range(batch)]
    rows = {}
    for precision, compile in VARIANTS:
        label = precision + ("+compile" if compile else "")

        def run(count_flops: bool = False):
            with PeakMemory(device) as memory:
                start = time.perf_counter()
                samples = generate_images(case.bundle, scheduler, labels, STEPS, batch_size=batch, device=device,
                                          precision=precision, compile=compile, count_flops=count_flops)
                if device.type == "cuda":
                    torch.cuda.synchronize(device)
                seconds = time.perf_counter() - start - samples.compile_seconds
            return samples, seconds, memory.peak

        warm, warm_seconds, _ = run(count_flops=True)  # FLOPs counted once, outside the timed runs
        flops_per_image = float(warm.flops.double().mean())
        timed = [run() for _ in range(repeats)]
        seconds = statistics.median(t[1] for t in timed)
        images_per_s = batch / seconds
        peak = None if peaks is None else peaks[0 if precision == "fp32" else 1] * 1e12
        rows[label] = {
            "seconds": [round(t[1], 4) for t in timed],
            "median_s": round(seconds, 4),
            "images_per_s": round(images_per_s, 2),
            "gflops_per_image": round(flops_per_image / 1e9, 2),
            "achieved_tflops": round(flops_per_image * images_per_s / 1e12, 2),
            "mfu": None if peak is None else round(flops_per_image * images_per_s / peak, 4),
            "peak_mib": round(max(t[2] for t in timed) / 2**20, 1),
            "compile_s": round(warm.compile_seconds, 2),
        }
        print(f"  {name} {label}: {images_per_s:.1f} img/s", file=sys.stderr, flush=True)
    base = rows["fp32"]["median_s"]
    for row in rows.values():
        row["speedup_vs_fp32"] = round(base / row["median_s"], 3)
    return {"config": dict(case.backbone.config), "batch": batch, "steps": STEPS, "variants": rows}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--small", action="store_true", help="tiny widths: check the script, not the GPU")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("no CUDA device here: run this on a GPU machine (or --device cpu --small as a dry run)")
    name, peaks = peak_tflops(device)
    results = {m: measure(m, build, args.batch, args.repeats, device, peaks) for m, build in models(args.small).items()}
    print(f"device: {name}; peaks (fp32, bf16 TFLOP/s): {peaks}")
    print(f"{'model':<8} {'variant':<14} {'img/s':>9} {'× fp32':>7} {'TFLOP/s':>8} {'MFU':>7} {'peak MiB':>9} {'compile s':>9}")
    for model, result in results.items():
        for label, row in result["variants"].items():
            mfu = "–" if row["mfu"] is None else f"{row['mfu']:.1%}"
            print(f"{model:<8} {label:<14} {row['images_per_s']:9.1f} {row['speedup_vs_fp32']:7.2f} "
                  f"{row['achieved_tflops']:8.1f} {mfu:>7} {row['peak_mib']:9.0f} {row['compile_s']:9.1f}")
    uvit = results["uvit-L"]["variants"]
    verdict = {"mfu_bf16_compile": uvit["bf16+compile"]["mfu"], "target_mfu": TARGET_MFU,
               "speedup_bf16_compile": uvit["bf16+compile"]["speedup_vs_fp32"], "target_speedup": TARGET_SPEEDUP}
    document = {"command": "python benchmarks/gpu_throughput.py " + " ".join(argv if argv is not None else sys.argv[1:]),
                "device": name, "peak_tflops_fp32_bf16": peaks, "torch": torch.__version__, "small": args.small,
                "results": results, "uvit_L_targets": verdict}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
