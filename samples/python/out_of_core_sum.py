#!/usr/bin/python3
"""An out-of-core NumPy reduction: an allocation 4x the device budget, filled tile by
tile on the device by declared launches, then summed by NumPy on the CPU (the pages
fault home as the sum reaches them; the device evicts as the tiles go by).

usage: out_of_core_sum.py [--device-memory BYTES] [--factor N] [--tile BYTES]
"""
import argparse

import numpy as np

import umpager


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device-memory", type=int, default=64 << 20)
    ap.add_argument("--factor", type=int, default=4)
    ap.add_argument("--tile", type=int, default=8 << 20)
    args = ap.parse_args(argv)

    with umpager.Runtime(device_memory=args.device_memory) as rt:
        n = args.factor * args.device_memory // 4
        a = rt.empty(n, "uint32")
        per_tile = args.tile // 4
        s = rt.stream()
        for start in range(0, n, per_tile):
            tile = a[start:start + per_tile]
            rt.fill_index(tile, seed=start, stream=s)  # tile[i] = start + i, on the device
        s.synchronize()
        total = int(a.sum(dtype=np.uint64))  # NumPy on the CPU: every page faults home
        expect = n * (n - 1) // 2
        st = rt.stats()
        print(f"{a.nbytes >> 20} MiB over a {args.device_memory >> 20} MiB device: sum {total} "
              f"({'ok' if total == expect else 'WRONG, expected %d' % expect})")
        print(f"chunks evicted {st['chunks_evicted']}, bytes to host {st['bytes_to_host']}, "
              f"faults {st['read_faults'] + st['write_faults']}")
        del a, tile
        return 0 if total == expect else 1


if __name__ == "__main__":
    raise SystemExit(main())
