#!/usr/bin/python3
"""Creating and freeing many small arrays (issue 23): the time per array, and that
nothing leaks (managed and device bytes back to 0, RSS flat after the first round).

usage: small_arrays.py [--count N] [--rounds R]
"""
import argparse
import gc
import time

import umpager


def rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=10_000)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args(argv)

    leaks = False
    with umpager.Runtime(device_memory="64M") as rt:
        rss = []
        for r in range(args.rounds):
            rss.append(rss_bytes())
            t0 = time.perf_counter()
            arrays = [rt.empty(16, "float64") for _ in range(args.count)]
            for a in arrays:
                a[0] = 1.0  # touch each once (one fault)
            t1 = time.perf_counter()
            del arrays, a
            gc.collect()
            t2 = time.perf_counter()
            st = rt.stats()
            print(f"round {r}: {args.count} arrays, create+touch {(t1 - t0) / args.count * 1e6:.1f} us each, "
                  f"free {(t2 - t1) / args.count * 1e6:.1f} us each; managed {st['managed_bytes']}, "
                  f"device {rt.device_bytes_in_use()}, rss {rss_bytes() >> 20} MiB")
            leaks |= st["managed_bytes"] != 0 or rt.device_bytes_in_use() != 0
        rss.append(rss_bytes())
        growth = rss[-1] - rss[1] if args.rounds > 1 else 0
        print(f"rss after round 0 to the end: {growth / 2**20:+.1f} MiB")
        leaks |= growth > 16 << 20
    print("leak" if leaks else "no leak")
    return 1 if leaks else 0


if __name__ == "__main__":
    raise SystemExit(main())
