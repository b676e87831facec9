"""The examples in samples/python run and check their own results (small sizes here)."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

SAMPLES = Path(__file__).resolve().parents[2] / "samples" / "python"


def run(name, *args):
    r = subprocess.run([sys.executable, str(SAMPLES / name), *args], capture_output=True, text=True, timeout=240)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


def test_out_of_core_sum():
    out = run("out_of_core_sum.py", "--device-memory", str(16 << 20), "--factor", "4", "--tile", str(2 << 20))
    assert "(ok)" in out and "64 MiB over a 16 MiB device" in out


def test_map_file_larger_than_host_budget(tmp_path):
    out = run("map_file_stats.py", "--file-size", str(48 << 20), "--host-memory", str(16 << 20),
              "--path", str(tmp_path / "data.u32"))
    assert "(ok)" in out


def test_oversub_table_and_plot(tmp_path):
    plot = tmp_path / "o.svg"
    out = run("oversub.py", "--device-memory", str(16 << 20), "--factors", "0.5,2", "--passes", "1",
              "--plot", str(plot))
    assert out.count(" ok") == 10, out
    assert plot.read_text().startswith("<svg")


def test_sum_vs_scan():
    bench = os.environ.get("UMPAGER_BENCH")
    if not bench:
        pytest.skip("UMPAGER_BENCH (the umpager-bench binary) is set by ctest")
    out = run("sum_vs_scan.py", "--size", str(32 << 20), "--bench", bench)
    assert "ratio" in out and "33554432 bytes home" in out


def test_small_arrays_no_leak():
    out = run("small_arrays.py", "--count", "2000", "--rounds", "3")
    assert out.strip().endswith("no leak"), out
