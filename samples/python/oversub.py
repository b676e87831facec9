#!/usr/bin/python3
"""The oversubscription suite from Python: each workload (docs/bench.md) on managed
memory at several multiples of the device budget, a table printed and a plot written
(an SVG of its own, no plotting library needed).

usage: oversub.py [--device-memory BYTES] [--factors 0.5,1,2] [--plot FILE] [--passes N]
"""
import argparse

import umpager

KINDS = ("triad", "gups", "stencil", "spmv", "matmul")


def svg(rows, factors, path):
    w, h, pad = 640, 360, 50
    top = max(r["gbps"] for r in rows) or 1.0
    colors = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd"]
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}">',
             f'<text x="{w / 2}" y="20" text-anchor="middle">umpager oversubscription (GB/s by data / device)</text>']
    x = lambda i: pad + i * (w - 2 * pad) / max(1, len(factors) - 1)  # noqa: E731
    y = lambda v: h - pad - v / top * (h - 2 * pad)  # noqa: E731
    for k, kind in enumerate(KINDS):
        pts = [(x(i), y(r["gbps"])) for i, f in enumerate(factors) for r in rows
               if r["kind"] == kind and r["factor"] == f]
        path_d = " ".join(f"{px:.1f},{py:.1f}" for px, py in pts)
        parts.append(f'<polyline fill="none" stroke="{colors[k]}" points="{path_d}"/>')
        parts.append(f'<text x="{w - pad + 5}" y="{40 + 15 * k}" fill="{colors[k]}">{kind}</text>')
    for i, f in enumerate(factors):
        parts.append(f'<text x="{x(i):.1f}" y="{h - pad + 20}" text-anchor="middle">{f}x</text>')
    parts.append("</svg>")
    with open(path, "w") as out:
        out.write("\n".join(parts))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device-memory", type=int, default=64 << 20)
    ap.add_argument("--factors", default="0.5,1,2")
    ap.add_argument("--passes", type=int, default=2)
    ap.add_argument("--plot", default="oversub.svg")
    args = ap.parse_args(argv)
    factors = [float(f) for f in args.factors.split(",")]

    rows = []
    with umpager.Runtime(device_memory=args.device_memory) as rt:
        print(f"{'workload':<9} {'data/dev':>8} {'MiB':>6} {'launches':>8} {'seconds':>8} {'GB/s':>7}  check")
        for kind in KINDS:
            for f in factors:
                data = int(args.device_memory * f)
                r = rt.run_workload(kind, data_bytes=data, tile_bytes=min(8 << 20, args.device_memory // 4),
                                    passes=args.passes)
                gbps = r["data_bytes"] * args.passes / r["seconds"] / 1e9 if r["seconds"] > 0 else 0.0
                rows.append({"kind": kind, "factor": f, "gbps": gbps, **r})
                print(f"{kind:<9} {f:>7}x {r['data_bytes'] >> 20:>6} {r['launches']:>8} {r['seconds']:>8.3f} "
                      f"{gbps:>7.2f}  {'ok' if r['correct'] else r['error']}")
    svg(rows, factors, args.plot)
    print(f"plot: {args.plot}")
    return 0 if all(r["correct"] for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
