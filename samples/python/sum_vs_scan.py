#!/usr/bin/python3
"""The Python layer's cost per page (issue 23): the first numpy.sum over a device-resident
float32 array against `umpager-bench scan` of the same size, in one run.

usage: sum_vs_scan.py [--size BYTES] [--bench PATH]
Prints both runs' faults, bytes moved home and times, and the ratio
python_first_sum / (scan + numpy.sum of the array once it is all on the host).
"""
import argparse
import json
import subprocess
import time

import numpy as np

import umpager


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=1 << 30)
    ap.add_argument("--bench", default="build/tools/bench/umpager-bench")
    args = ap.parse_args()
    size = args.size

    out = subprocess.run([args.bench, "scan", "--size", str(size), "--format", "json"],
                         check=True, capture_output=True, text=True).stdout
    scan = json.loads(out)

    with umpager.Runtime(device_memory=size + (64 << 20)) as rt:
        a = rt.empty(size // 4, "float32")
        a[:] = 1.0
        rt.prefetch(a, "device")
        before = rt.stats()
        t0 = time.perf_counter()
        first = a.sum(dtype=np.float64)
        t1 = time.perf_counter()
        after = rt.stats()
        again = a.sum(dtype=np.float64)
        t2 = time.perf_counter()
        assert first == again == a.size
        faults = sum(after[k] - before[k] for k in ("read_faults", "write_faults"))
        home = after["bytes_to_host"] - before["bytes_to_host"]
        py = {"first_sum_s": t1 - t0, "host_sum_s": t2 - t1, "faults": faults, "bytes_to_host": home}
        del a
    ratio = py["first_sum_s"] / (scan["seconds"] + py["host_sum_s"])
    print(f"size {size >> 20} MiB, driver {scan['driver']}")
    print(f"umpager-bench scan: {scan['faults']} faults, {scan['bytes_to_host']} bytes home, {scan['seconds']:.4f} s")
    print(f"numpy.sum (first):  {py['faults']} faults, {py['bytes_to_host']} bytes home, {py['first_sum_s']:.4f} s")
    print(f"numpy.sum (host):   {py['host_sum_s']:.4f} s")
    print(f"ratio first / (scan + host) = {ratio:.3f} (issue 23 asks <= 1.1)")
    return scan, py


if __name__ == "__main__":
    main()
