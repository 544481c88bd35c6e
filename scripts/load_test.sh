#!/usr/bin/env bash
# Load test of `unseen inspect` over one folder of many images: peak resident memory and the
# throughput of each block of 1,000 images, measured from outside the program (wall clock per
# result line as it is printed).
#
#   scripts/load_test.sh RUN_DIR DATA_DIR [COUNT=10000] [ITERATIONS=0]
#
# RUN_DIR is a trained, calibrated run (or give its dataset as DATA_DIR so it calibrates
# first); DATA_DIR's test images are linked COUNT times over into a scratch folder.
# UNSEEN_BIN overrides the binary (default: $CARGO_TARGET_DIR/debug/unseen or target/debug/unseen).
set -euo pipefail

run=${1:?usage: $0 RUN_DIR DATA_DIR [COUNT] [ITERATIONS]}
data=${2:?usage: $0 RUN_DIR DATA_DIR [COUNT] [ITERATIONS]}
count=${3:-10000}
iterations=${4:-0}
bin=${UNSEEN_BIN:-${CARGO_TARGET_DIR:-target}/debug/unseen}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir "$work/images"
mapfile -t sources < <(find "$data" -path '*/test/*' -name '*.png' | sort)
if [ "${#sources[@]}" -eq 0 ]; then
    echo "no test images under $data" >&2
    exit 1
fi
for ((i = 0; i < count; i++)); do
    ln -s "$(realpath "${sources[i % ${#sources[@]}]}")" "$work/images/$(printf '%06d' "$i").png"
done
echo "inspecting $count images (${#sources[@]} distinct) at $iterations iterations with $bin" >&2

/usr/bin/time -v "$bin" inspect --device cpu --model "$run" --data "$data" \
    --iterations "$iterations" --format csv "$work/images" 2>"$work/stderr" |
    python3 -c '
import sys, time
start = last = time.monotonic()
n = 0
verdicts = {}
for line in sys.stdin:
    if line.startswith("path,"):
        continue
    n += 1
    verdict = line.split(",")[1]  # the scratch paths hold no commas
    verdicts[verdict] = verdicts.get(verdict, 0) + 1
    if n % 1000 == 0:
        now = time.monotonic()
        print(f"images {n - 999:>6}-{n:<6} {1000 / (now - last):8.1f} images/s")
        last = now
total = time.monotonic() - start
print(f"{n} images in {total:.1f} s: {n / total:.1f} images/s overall; verdicts {verdicts}")
'
grep -E "Maximum resident set size|Elapsed \(wall clock\)|Exit status" "$work/stderr"
