#!/usr/bin/env python3
"""Folded stacks -> a flame graph SVG (no dependencies).

    flamegraph.py IN.folded OUT.svg [--title T]

IN: one stack per line, "frame;frame;...;leaf COUNT" (the format of Brendan
Gregg's stackcollapse-perf.pl, which bench/costs.py writes from `perf script`).
OUT: widths proportional to samples, root at the bottom, each box titled with
its frame, samples and share (hover in a browser). Frames narrower than
--min-width pixels are left out (as flamegraph.pl does)."""
import argparse
import hashlib
import html

ROW = 16
WIDTH = 1200


def load(path):
    root = {"n": 0, "kids": {}}
    for line in open(path, errors="replace"):
        line = line.rstrip("\n")
        if not line or " " not in line:
            continue
        stack, _, count = line.rpartition(" ")
        try:
            c = int(count)
        except ValueError:
            continue
        root["n"] += c
        node = root
        for fr in stack.split(";"):
            node = node["kids"].setdefault(fr, {"n": 0, "kids": {}})
            node["n"] += c
    return root


def color(name):
    h = int(hashlib.md5(name.encode()).hexdigest()[:6], 16)
    if name.endswith("_[k]") or "[kernel" in name:
        return "rgb(%d,%d,%d)" % (200 + h % 55, 120 + (h >> 8) % 60, 40 + (h >> 16) % 40)
    return "rgb(%d,%d,%d)" % (220 + h % 35, 80 + (h >> 8) % 120, 30 + (h >> 16) % 50)


def render(root, out, title, min_width):
    total = root["n"] or 1
    boxes = []
    depth_max = [0]

    def walk(node, name, x, depth):
        w = node["n"] / total * WIDTH
        if w < min_width:
            return
        depth_max[0] = max(depth_max[0], depth)
        if name is not None:
            boxes.append((x, depth, w, name, node["n"]))
        cx = x
        for k, kid in sorted(node["kids"].items()):
            walk(kid, k, cx, depth + 1)
            cx += kid["n"] / total * WIDTH

    walk(root, None, 0.0, 0)
    height = (depth_max[0] + 3) * ROW
    with open(out, "w") as f:
        f.write('<?xml version="1.0" standalone="no"?>\n')
        f.write('<svg version="1.1" width="%d" height="%d" xmlns="http://www.w3.org/2000/svg" '
                'font-family="Verdana" font-size="11">\n' % (WIDTH, height))
        f.write('<rect x="0" y="0" width="100%%" height="100%%" fill="#f8f8f8"/>\n')
        f.write('<text x="%d" y="14" text-anchor="middle" font-size="14">%s (%d samples)</text>\n'
                % (WIDTH // 2, html.escape(title), total))
        for x, depth, w, name, n in boxes:
            y = height - (depth + 1) * ROW
            label = html.escape(name)
            f.write('<g><title>%s (%d samples, %.2f%%)</title><rect x="%.2f" y="%d" width="%.2f" '
                    'height="%d" fill="%s" rx="1"/>' % (label, n, 100.0 * n / total, x, y, w, ROW - 1,
                                                        color(name)))
            chars = int(w / 7)
            if chars >= 3:
                txt = name if len(name) <= chars else name[:chars - 2] + ".."
                f.write('<text x="%.2f" y="%d">%s</text>' % (x + 2, y + ROW - 4, html.escape(txt)))
            f.write("</g>\n")
        f.write("</svg>\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folded")
    ap.add_argument("svg")
    ap.add_argument("--title", default="flame graph")
    ap.add_argument("--min-width", type=float, default=0.1)
    a = ap.parse_args()
    render(load(a.folded), a.svg, a.title, a.min_width)


if __name__ == "__main__":
    main()
