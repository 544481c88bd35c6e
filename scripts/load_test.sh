#!/usr/bin/env bash
# Load test of `unseen inspect` over one folder of many images: peak resident memory and the
# throughput of each block of 1,000 images, measured from outside the program (wall clock per
# result line as it is printed).
#
#   scripts/load_test.sh RUN_DIR DATA_DIR [COUNT=10000] [ITERATIONS=0]
#
# RUN_DIR is a trained run and DATA_DIR its training dataset (the run is calibrated on its
# validation split when needed, which rewrites RUN_DIR/calibration.json); the dataset's test
# images are linked over and over into a scratch folder of COUNT images.
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
mapfile -t sources < <(find "$data" -path '*/test/*' -name '*.png' -not -path '*/parts/*' -not -path '*/depth/*' | sort)
if [ "${#sources[@]}" -eq 0 ]; then
    echo "no test images under $data" >&2
    exit 1
fi
for ((i = 0; i < count; i++)); do
    ln -s "$(realpath "${sources[i % ${#sources[@]}]}")" "$work/images/$(printf '%06d' "$i").png"
done
echo "inspecting $count images (${#sources[@]} distinct) at $iterations iterations with $bin" >&2

# Calibrate first (when the run has no calibration at this budget), so the measured run
# below is inspection alone.
"$bin" inspect --device cpu --model "$run" --data "$data" --iterations "$iterations" \
    --format csv "${sources[0]}" >/dev/null
/usr/bin/time -v "$bin" inspect --device cpu --model "$run" \
    --iterations "$iterations" --format csv "$work/images" 2>"$work/stderr" |
    python3 -c '
import sys, time
start = last = time.monotonic()
n = 0
verdicts = {}
sys.stdin.readline()  # the CSV header
for line in sys.stdin:
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
if ! grep -q "Exit status: 0" "$work/stderr"; then
    grep -v "^\s" "$work/stderr" | tail -5 >&2
    exit 1
fi
