#!/usr/bin/env bash
# Load test of `unseen inspect` over one folder of many images: peak resident memory, the
# throughput of each block of 1,000 images, and the resident memory of the process sampled
# every 10,000 images (from /proc/PID/status), all measured from outside the program (wall
# clock per result line as it is printed).
#
#   scripts/load_test.sh RUN_DIR DATA_DIR [COUNT=10000] [ITERATIONS=0]
#
# RUN_DIR is a trained run and DATA_DIR its training dataset (the run is calibrated on its
# validation split when needed, which rewrites RUN_DIR/calibration.json); the dataset's test
# images are linked over and over into a scratch folder of COUNT images.
# UNSEEN_BIN overrides the binary (default: $CARGO_TARGET_DIR/debug/unseen or target/debug/unseen).
# The last line says how much the resident memory grew from the sample at 10,000 images to
# the last one; the script fails when it grew by 10 % or more.
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
# One link per image, made by one process (a fork per link took minutes for 100,000).
python3 -c '
import os, sys
work, count, sources = sys.argv[1], int(sys.argv[2]), [os.path.realpath(p) for p in sys.argv[3:]]
for i in range(count):
    os.symlink(sources[i % len(sources)], os.path.join(work, "images", f"{i:06d}.png"))
' "$work" "$count" "${sources[@]}"
echo "inspecting $count images (${#sources[@]} distinct) at $iterations iterations with $bin" >&2

# Calibrate first (when the run has no calibration at this budget), so the measured run
# below is inspection alone.
"$bin" inspect --device cpu --model "$run" --data "$data" --iterations "$iterations" \
    --format csv "${sources[0]}" >/dev/null
mkfifo "$work/lines"
/usr/bin/time -v "$bin" inspect --device cpu --model "$run" \
    --iterations "$iterations" --format csv "$work/images" >"$work/lines" 2>"$work/stderr" &
time_pid=$!
python3 -c '
import os, sys, time

time_pid = sys.argv[1]

def inspect_pid():
    """The process /usr/bin/time started: the one to sample."""
    try:
        with open(f"/proc/{time_pid}/task/{time_pid}/children") as f:
            children = f.read().split()
        return children[0] if children else None
    except OSError:
        return None

def rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except (OSError, TypeError):
        return None

start = last = time.monotonic()
n = 0
verdicts = {}
samples = []
pid = None
sys.stdin.readline()  # the CSV header
for line in sys.stdin:
    n += 1
    verdict = line.split(",")[1]  # the scratch paths hold no commas
    verdicts[verdict] = verdicts.get(verdict, 0) + 1
    if n % 1000 == 0:
        now = time.monotonic()
        print(f"images {n - 999:>6}-{n:<6} {1000 / (now - last):8.1f} images/s", flush=True)
        last = now
    if n % 10000 == 0:
        pid = pid or inspect_pid()
        rss = rss_kib(pid)
        if rss is not None:
            samples.append((n, rss))
            print(f"resident memory at {n:>7} images: {rss / 1024:8.1f} MiB", flush=True)
total = time.monotonic() - start
print(f"{n} images in {total:.1f} s: {n / total:.1f} images/s overall; verdicts {verdicts}")
if len(samples) >= 2:
    first, last_rss = samples[0][1], samples[-1][1]
    most = max(r for _, r in samples)
    growth = 100.0 * (last_rss - first) / first
    peak = 100.0 * (most - first) / first
    print(f"resident memory from {samples[0][0]} to {samples[-1][0]} images: "
          f"{first / 1024:.1f} -> {last_rss / 1024:.1f} MiB ({growth:+.1f} %, highest sample {peak:+.1f} %)")
    if peak >= 10.0:
        print("resident memory grew by 10 % or more after the first 10,000 images", file=sys.stderr)
        sys.exit(2)
' "$time_pid" <"$work/lines"
wait "$time_pid" || true
grep -E "Maximum resident set size|Elapsed \(wall clock\)|Exit status" "$work/stderr"
if ! grep -q "Exit status: 0" "$work/stderr"; then
    grep -v "^\s" "$work/stderr" | tail -5 >&2
    exit 1
fi
