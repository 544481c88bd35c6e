#!/usr/bin/env bash
# Regenerates the workbench screenshots in screenshots/ from the real window under Xvfb.
#
#   scripts/screenshots.sh DEMO_DIR
#
# DEMO_DIR is the output of `unseen demo` (its data/, eval-data/, runs/ and report/ are used).
# Each shot opens the workbench on one workspace, starts its task (--start), waits until there
# is something to show, saves the window (--screenshot) and closes. The first-start shots need
# no demo: the welcome banner (no trained run in the workspaces' default folders) and the quick
# demo run from the window to its end, in a folder of its own (a few minutes).
set -euo pipefail
demo=${1:?usage: scripts/screenshots.sh DEMO_DIR}
out=${2:-screenshots}
mkdir -p "$out"
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-$(mktemp -d)}
run() { xvfb-run -a -s "-screen 0 1600x1000x24" cargo run --quiet -- gui "$@"; }
mkdir -p "$out"

run --workspace design --start --screenshot "$out/workbench-design.png" --screenshot-after 4
run --workspace train --data "$demo/data" --run "$(mktemp -d)/run" --start \
    --screenshot "$out/workbench-train.png" --screenshot-after 45 --frame-stats
test_image=$(ls "$demo"/eval-data/cap/test/bulge/*.png | head -n 3 | tail -n 1)
run --workspace inspect --run "$demo/runs/gan" --data "$demo/data" --image "$test_image" --start \
    --screenshot "$out/workbench-inspect.png" --screenshot-after 5
# Mid-refinement: the product rendered at the third accepted pose, still turning into place
# (when the calibrated detector renders; a descent's third step otherwise).
run --workspace inspect --run "$demo/runs/gan" --data "$demo/data" --image "$test_image" --start \
    --inspect-frame 2 --screenshot "$out/workbench-inspect-refining.png" --screenshot-after 5
run --workspace evaluate --run "$demo/runs/gan" --report "$demo/report/report.json" \
    --screenshot "$out/workbench-evaluate.png" --screenshot-after 3

run --workspace design --screenshot "$out/workbench-welcome.png" --screenshot-after 4
quick=$(mktemp -d)/quick-demo
run --workspace evaluate --quick-demo --demo-dir "$quick" \
    --screenshot "$out/workbench-quick-demo-evaluate.png" --screenshot-after 4
# The second run finds every stage done but the evaluation, which it redoes.
run --workspace inspect --quick-demo --demo-dir "$quick" \
    --screenshot "$out/workbench-quick-demo-inspect.png" --screenshot-after 4
