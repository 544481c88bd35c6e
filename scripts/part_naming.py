#!/usr/bin/env python3
"""How often inspection names the part a defect was injected on.

    scripts/part_naming.py RUN_DIR TRAIN_DATA EVAL_DATA [--bin PATH] [--iterations N|auto]

Inspects every defective test image of EVAL_DATA (a dataset whose manifest records
`defect_part`, as unseen's own datasets do) with the run, its part atlas taken from TRAIN_DATA,
and counts per defect class: images given any region, the first (strongest) region named after
a part the defect changes (`defect_parts`: the injected part, and the other side of an edge it
sits on; the injected part alone in manifests without them), the first region named after the
injected part itself ("label"), any region named right, and whether the first region overlaps
the ground-truth mask. Prints a table and the wall time.
"""
import argparse
import collections
import json
import os
import subprocess
import sys
import time

import struct
import zlib


def read_grey_png(path):
    """Rows of an 8-bit grey (or grey + alpha / RGB: first channel) non-interlaced PNG."""
    data = open(path, "rb").read()
    pos, idat, width, height, channels = 8, b"", 0, 0, 1
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", body[:10])
            if depth != 8 or body[12] != 0:
                raise ValueError(f"{path}: only 8-bit non-interlaced PNGs are read here")
            channels = {0: 1, 2: 3, 4: 2, 6: 4}[colour]
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw, stride, rows, prev = zlib.decompress(idat), width * channels, [], bytearray(width * channels)
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1:start + 1 + stride])
        for i in range(stride):
            left = line[i - channels] if i >= channels else 0
            up, corner = prev[i], prev[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + left) & 255
            elif kind == 2:
                line[i] = (line[i] + up) & 255
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 255
            elif kind == 4:
                pa, pb, pc = abs(up - corner), abs(left - corner), abs(left + up - 2 * corner)
                pred = left if pa <= pb and pa <= pc else up if pb <= pc else corner
                line[i] = (line[i] + pred) & 255
        rows.append(line[::channels])
        prev = line
    return rows


def main():
    p = argparse.ArgumentParser()
    p.add_argument("run")
    p.add_argument("train_data")
    p.add_argument("eval_data")
    target = os.environ.get("CARGO_TARGET_DIR", "target")
    p.add_argument("--bin", default=os.path.join(target, "debug", "unseen"))
    p.add_argument("--iterations", default="auto")
    a = p.parse_args()

    manifest = json.load(open(os.path.join(a.eval_data, "manifest.json")))
    samples = [s for s in manifest["samples"] if s["split"] == "test" and s.get("defect_part")]
    by_path = {os.path.join(a.eval_data, s["image"]): s for s in samples}
    started = time.monotonic()
    out = subprocess.run(
        [a.bin, "inspect", "--device", "cpu", "--model", a.run, "--data", a.train_data,
         "--iterations", a.iterations, "--format", "json", *by_path],
        check=False, capture_output=True, text=True)
    elapsed = time.monotonic() - started
    if not out.stdout.strip():
        sys.exit(out.stderr)
    rows = collections.defaultdict(collections.Counter)
    for line in out.stdout.splitlines():
        r = json.loads(line)
        s = by_path[r["path"]]
        c = rows[s["class"]]
        c["images"] += 1
        regions = r["regions"]
        if not regions:
            continue
        c["with region"] += 1
        first = regions[0]
        truth = s.get("defect_parts") or [s["defect_part"]]
        c["first named right"] += first.get("part") in truth
        c["first is label"] += first.get("part") == s["defect_part"]
        c["any named right"] += any(g.get("part") in truth for g in regions)
        c["first: " + str(first.get("part"))] += 1
        if s.get("mask"):
            mask = read_grey_png(os.path.join(a.eval_data, s["mask"]))
            x0, y0, x1, y1 = first["bbox"]
            c["first on mask"] += any(v > 127 for row in mask[y0:y1 + 1] for v in row[x0:x1 + 1])
    for cls, c in sorted(rows.items()):
        n = c["images"]
        named = ", ".join(f"{k[7:]} {v}" for k, v in sorted(c.items()) if k.startswith("first: "))
        print(f"{cls:12} {n:4} images  region {c['with region']:4}  first right {c['first named right']:4} "
              f"({c['first named right'] / max(n, 1):.2f})  label {c['first is label']:4}  "
              f"any right {c['any named right']:4}  "
              f"first on mask {c['first on mask']:4}  [{named}]")
    total = sum(c["images"] for c in rows.values())
    right = sum(c["first named right"] for c in rows.values())
    label = sum(c["first is label"] for c in rows.values())
    print(f"all          {total:4} images  first right {right} ({right / max(total, 1):.3f}), "
          f"label {label} ({label / max(total, 1):.3f}); "
          f"{elapsed:.1f} s wall")


if __name__ == "__main__":
    main()
