#!/usr/bin/python3
"""map_file of a file larger than the host budget (UMPAGER_HOST_MEMORY), processed with
NumPy: the pages are read from the file on first touch and spilled past the budget.

usage: map_file_stats.py [--file-size BYTES] [--host-memory BYTES] [--path FILE]
"""
import argparse
import os
import tempfile

import numpy as np

import umpager


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--file-size", type=int, default=256 << 20)
    ap.add_argument("--host-memory", type=int, default=64 << 20)
    ap.add_argument("--path", default=None, help="the data file (default: a temporary one)")
    args = ap.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        path = args.path or os.path.join(tmp, "data.u32")
        n = args.file_size // 4
        with open(path, "wb") as f:  # the data: 0, 1, 2, ... as uint32, written in pieces
            step = 1 << 20
            for i in range(0, n, step):
                np.arange(i, min(i + step, n), dtype=np.uint32).tofile(f)

        with umpager.Runtime(host_memory=args.host_memory, spill_dir=tmp) as rt:
            a = rt.map_file(path, "r", dtype="uint32")
            chunk = 4 << 20
            total = 0
            peak = 0
            for i in range(0, a.size, chunk):
                total += int(a[i:i + chunk].sum(dtype=np.uint64))
                peak = max(peak, rt.stats()["host_bytes_in_use"])
            expect = n * (n - 1) // 2
            st = rt.stats()
            ok = total == expect
            print(f"{a.nbytes >> 20} MiB file, host budget {args.host_memory >> 20} MiB: sum {total} "
                  f"({'ok' if ok else 'WRONG, expected %d' % expect})")
            print(f"bytes from storage {st['bytes_from_storage']}, peak host bytes {peak}, "
                  f"bytes to storage {st['bytes_to_storage']}")
            del a
            return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
