#!/usr/bin/env bash
# Re-measures every quality table of docs/ (results.md, tiny-mnist.md) with the current engine, into
# docs/results/ and benchmarks/results/: run after a change that is meant to move the random stream.
#   bash scripts/remeasure_docs.sh [STATIC_T4_POLICY]
# STATIC_T4_POLICY: the --static T = 4 policy of docs/results.md (trained by
# `adanat train-policy --steps 4 --static --out runs/static-T4`); its row is skipped without it.
# SKIP_SWEEPS=1 leaves the two guidance sweeps (the longest part) as they are.
set -euo pipefail
cd "$(dirname "$0")/.."
R=docs/results
common=(--device cpu --overwrite)
sweep() {  # T
  adanat compare --schedulers cosine,autonat,adanat --steps "$1" -a cosine:guidance=0,0.25,0.5,0.75,1,1.5 \
    --num 5000 --batch-size 250 -x tiny-mnist,tiny-mnist-heldout --out "$R/sweep-T$1" "${common[@]}"
}
if [ -z "${SKIP_SWEEPS:-}" ]; then
  sweep 2
  sweep 4
  sweep 8
fi
for T in 4 8; do
  adanat compare --schedulers cosine,linear,square,root,arccos,autonat,adanat --steps "$T" --num 5000 --batch-size 500 \
    -a linear:guidance=1.0 -a square:guidance=1.0 -a root:guidance=1.0 -a arccos:guidance=1.0 \
    -a autonat:file=$R/adanat-baseline-T$T.json --out "$R/compare-T$T" "${common[@]}"
  adanat compare --schedulers autonat --steps "$T" --num 5000 --batch-size 500 --out "$R/compare-searched-T$T" "${common[@]}"
done
adanat compare --schedulers cosine,linear,square,root,arccos,autonat,adanat --steps 2 --num 5000 --batch-size 500 \
  -a linear:guidance=1.0 -a square:guidance=1.0 -a root:guidance=1.0 -a arccos:guidance=1.0 --out "$R/compare-T2" "${common[@]}"
adanat compare --model tiny-mnist-enat --schedulers cosine,adanat --steps 8 --num 5000 --batch-size 500 \
  --out "$R/compare-enat-T8" "${common[@]}"
adanat compare --model tiny-mnist-enat --schedulers cosine,adanat --steps 8 -a cosine:guidance=0,0.25,0.5,0.75,1,1.5 \
  --num 5000 --batch-size 250 -x tiny-mnist,tiny-mnist-heldout --out "$R/sweep-enat-T8" "${common[@]}"
if [ -n "${1:-}" ]; then
  adanat compare -s adanat -T 4 -a "adanat:policy=$1" --num 5000 --batch-size 250 -x tiny-mnist,tiny-mnist-heldout \
    --out "$R/sweep-static-T4" "${common[@]}"
fi
python benchmarks/fid_vs_steps.py $R/compare-T{2,4,8}/report.json $R/sweep-T{4,8}/report.json \
  --rename compare-T4:autonat=adanat-baseline --rename compare-T8:autonat=adanat-baseline \
  --rename compare-T2:autonat=autonat-searched --rename sweep-T4:autonat=autonat-searched \
  --rename sweep-T8:autonat=autonat-searched --rename 'sweep-T4:cosine[guidance=1]=cosine' \
  --rename 'sweep-T8:cosine[guidance=1]=cosine' --rename 'sweep-T4:cosine[guidance=0.5]=cosine, w 0.5 (tuned)' \
  --rename 'sweep-T8:cosine[guidance=0.5]=cosine, w 0.5 (tuned)' \
  $(for T in 4 8; do for w in 0 0.25 0.75 1.5; do echo "--skip sweep-T$T:cosine[guidance=$w]"; done; done) \
  --skip compare-T4:cosine --skip compare-T4:adanat --skip compare-T8:cosine --skip compare-T8:adanat \
  --out $R/fid-vs-steps.png
python benchmarks/enat_vs_uvit.py
python benchmarks/tiny_mnist_quality.py
