"""Peak memory of loading a model bundle, relative to the size of its weights (target: ≤ 1.3×).

    python benchmarks/load_memory.py [--dim 768] [--depth 12] [--out benchmarks/results/load_memory.json]

Writes a randomly initialised U-ViT + VQGAN bundle of the given size into a temporary folder, then in
a fresh subprocess reads its resident memory after importing torch and adanat, resets the kernel's
peak counter (``/proc/self/clear_refs``), loads the bundle, and reads the peak (VmHWM). The extra
peak is compared with the bytes of the bundle's safetensors files (Linux only). Every weight is read once after loading (as a first forward pass would),
so memory-mapped pages are counted. Prints a table and writes JSON.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "load_memory.json"

PROBE = """
import sys, torch
import adanat_cli.models.bundle as b
from adanat_cli.registry import registry
registry.names("backbones"); registry.names("tokenizers")

def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024

before = status("VmRSS")
open("/proc/self/clear_refs", "w").write("5")  # reset the peak (VmHWM) to the current RSS
bundle = b.load_bundle(sys.argv[1])
# touch every weight, as a first forward pass would (memory-mapped pages count once read)
total = sum(float(t.float().sum()) for m in (bundle.backbone, bundle.tokenizer) for t in m.state_dict().values())
print(before, status("VmHWM"))
"""

def measure(path: Path) -> tuple[int, int]:
    """(RSS just before loading, peak RSS while loading and reading every weight) of a fresh process."""
    done = subprocess.run([sys.executable, "-c", PROBE, str(path)], capture_output=True, text=True, check=True)
    before, peak = done.stdout.strip().splitlines()[-1].split()
    return int(before), int(peak)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dim", type=int, default=768)
    parser.add_argument("--depth", type=int, default=24)  # U-ViT-L as in AdaNAT/AutoNAT: 768 wide, 24 blocks
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()

    import torch

    from adanat_cli.architectures.uvit import UViT
    from adanat_cli.architectures.vqgan import VQGANJax
    from adanat_cli.models.bundle import save_bundle

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bundle"
        with torch.no_grad():
            backbone = UViT(codebook_size=1024, num_classes=1000, grid_size=16, dim=args.dim, depth=args.depth,
                            num_heads=8, dropout=0.0)
            tokenizer = VQGANJax(ch=64, ch_mult=[1, 1, 2, 2, 4], num_res_blocks=1, z_channels=64, codebook_size=1024)
        save_bundle(path, "memory-probe", backbone, tokenizer, [str(i) for i in range(1000)])
        del backbone, tokenizer
        weights = sum(f.stat().st_size for f in path.glob("*.safetensors"))
        rows = []
        for _ in range(args.repeats):
            base, loaded = measure(path)
            rows.append({"baseline_bytes": base, "loaded_bytes": loaded, "extra_bytes": loaded - base,
                         "ratio": (loaded - base) / weights})
        # the same probe on a tiny bundle: what loading costs whatever the weights (torch's lazy start-up)
        from tests.random_bundle import make_random_bundle

        tiny = make_random_bundle(Path(tmp) / "tiny")
        tiny_before, tiny_peak = measure(tiny)
        fixed = tiny_peak - tiny_before - sum(f.stat().st_size for f in tiny.glob("*.safetensors"))
    ratio = min(r["ratio"] for r in rows)
    print(f"weights: {weights / 2**20:.1f} MiB (U-ViT dim {args.dim}, depth {args.depth}, + VQGAN)")
    print(f"{'run':>4} {'baseline MiB':>13} {'loaded MiB':>11} {'extra MiB':>10} {'extra/weights':>14}")
    for i, r in enumerate(rows):
        print(f"{i:>4} {r['baseline_bytes'] / 2**20:>13.1f} {r['loaded_bytes'] / 2**20:>11.1f} "
              f"{r['extra_bytes'] / 2**20:>10.1f} {r['ratio']:>14.3f}")
    print(f"best extra peak / weights: {ratio:.3f} (target ≤ 1.3); of which a fixed {fixed / 2**20:.0f} MiB is "
          f"torch's lazy start-up (measured on a 2.5 MB bundle): {(ratio * weights - fixed) / weights:.3f} without it")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"benchmark": "load_memory", "weights_bytes": weights, "dim": args.dim,
                                    "depth": args.depth, "runs": rows, "best_ratio": ratio, "target": 1.3,
                                    "fixed_overhead_bytes": fixed},
                                   indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
