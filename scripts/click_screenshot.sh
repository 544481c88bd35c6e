#!/usr/bin/env bash
# A defect placed by a real mouse click, in the real window under Xvfb:
#
#   scripts/click_screenshot.sh [OUT.png]
#
# Opens the Design workspace on the bracket's recipe in a 1500×940 window, picks "bulge" in
# "Show defect", clicks the upright below its hole (xdotool) and grabs the screen (xwd). Needs
# xvfb, xdotool, x11-apps and imagemagick (apt-get). The pixel positions are those of this
# commit's layout at that window size; look at the result.
set -euo pipefail
out=${1:-screenshots/workbench-design-click-placed.png}
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-$(mktemp -d)}
display=:$((90 + RANDOM % 9))
Xvfb "$display" -screen 0 1600x1000x24 >/dev/null 2>&1 &
xvfb=$!
trap 'kill $xvfb $app 2>/dev/null || true' EXIT
export DISPLAY=$display
sleep 2
cargo run --quiet -- gui --workspace design --recipe assets/datasets/bracket.toml \
    --width 1500 --height 940 &
app=$!
sleep 25                                   # the window, the orbit view and the samples
xdotool mousemove 56 781 click 1; sleep 3  # open "Show defect"
xdotool mousemove 39 639 click 1; sleep 6  # "bulge": drawn where the recipe samples it
xdotool mousemove 622 420 click 1; sleep 8 # the upright, below its hole
xwd -root -silent | convert xwd:- -crop 1500x940+0+0 "$out"
echo "saved $out"
