"""Allocation, zero-copy views, kernels, prefetch, query, advise, attach, declare, stats."""
import os

import numpy as np
import pytest

import umpager


def test_empty_zeros_allocate_shapes(rt):
    a = rt.empty((3, 5), "float32")
    assert a.shape == (3, 5) and a.dtype == np.float32 and a.flags.c_contiguous and a.flags.writeable
    z = rt.zeros(1000, np.int64)
    assert z.shape == (1000,) and not z.any()
    b = rt.allocate(10000)
    assert b.dtype == np.uint8 and b.shape == (10000,)
    e = rt.zeros((0, 4), "float64")
    assert e.size == 0 and e.shape == (0, 4)


def test_zero_copy_addresses(rt):
    a = rt.zeros((4096,), "float64")
    buf = umpager.buffer_of(a)
    assert isinstance(buf, umpager.Buffer)
    assert a.ctypes.data == buf.address
    assert buf.nbytes == a.nbytes and buf.allocated_bytes >= a.nbytes
    v = a[10:20]
    assert v.ctypes.data == buf.address + 10 * 8
    v[:] = 3.0
    assert a[10] == 3.0 and umpager.buffer_of(v) is buf
    # The __array__ of the Buffer is the same memory again.
    assert np.asarray(buf).ctypes.data == buf.address
    assert np.asarray(buf, dtype="float64").ctypes.data == buf.address
    assert np.asarray(buf, dtype="float32")[10] == 3.0  # a conversion NumPy asked for: a copy


def test_kernels_run_on_device_and_fault_back(rt):
    a = rt.zeros(1 << 20, "uint32")
    rt.fill_index(a, seed=5)
    info = rt.query(a)
    assert (info.pages != umpager.PAGE_HOST).all(), "the kernel wrote on the device"
    before = rt.stats()
    assert a[0] == 5 and a[-1] == (1 << 20) - 1 + 5
    rt.add(a, 2)
    expect = np.arange(1 << 20, dtype=np.uint32) + 7
    np.testing.assert_array_equal(a, expect)
    after = rt.stats()
    assert after["read_faults"] + after["write_faults"] > before["read_faults"] + before["write_faults"]
    assert after["bytes_to_host"] > before["bytes_to_host"]


def test_triad_on_a_stream(rt):
    s = rt.stream()
    n = 100_000
    a, b, c = rt.empty(n, "float32"), rt.empty(n, "float32"), rt.empty(n, "float32")
    b[:] = 1.5
    c[:] = np.arange(n, dtype=np.float32)
    rt.triad(a, b, c, 2.0, stream=s)
    s.synchronize()
    np.testing.assert_allclose(a, 1.5 + 2.0 * c)
    d = rt.empty(n, "float64")
    e, f = rt.zeros(n, "float64"), rt.zeros(n, "float64")
    e[:] = 1
    f[:] = 2
    rt.triad(d, e, f, 0.5)
    assert (d == 2.0).all()


def test_prefetch_and_query(rt):
    a = rt.zeros(256 * 1024, "float32")  # 1 MiB, 256 pages
    assert (rt.query(a).pages == umpager.PAGE_HOST).all()
    done = rt.prefetch(a, to="device")
    assert done.query() and done.done
    info = rt.query(a)
    assert info.pages.shape == (256,) and info.pages.dtype == np.uint8
    assert (info.pages != umpager.PAGE_HOST).all()
    assert info.last_prefetch == ("device", 0)
    s = rt.stream()
    c = rt.prefetch(a, to="host", stream=s)
    c.synchronize()
    # Home again: the host copy is valid (the device copy may be kept: shared).
    assert (rt.query(a).pages != umpager.PAGE_DEVICE).all()
    assert rt.query(a).last_prefetch == "host"
    # An unaligned view is widened to whole pages.
    v = a[1000:1001]
    assert rt.query(v).pages.shape == (1,)
    rt.prefetch(v, "device")
    rt.device_synchronize()


def test_advise_and_attach(rt):
    a = rt.zeros(1 << 20, "uint8")
    rt.advise(a, "read_mostly")
    assert rt.query(a).read_mostly
    rt.advise(a, "unset_read_mostly")
    assert not rt.query(a).read_mostly
    rt.advise(a, "preferred_location", location="host")
    assert rt.query(a).preferred_location == "host"
    s = rt.stream()
    rt.attach(a, "single", stream=s)
    rt.attach(a, "global")


def test_declare_context_manager(rt):
    s = rt.stream()
    r = rt.zeros(1 << 16, "float32")
    w = rt.zeros(1 << 16, "float32")
    w[:] = 1
    decl = rt.declare(reads=[r], writes=[w], stream=s)
    assert not decl.is_open
    with decl as d:
        assert d.is_open
        assert (rt.query(w).pages != umpager.PAGE_HOST).all()
    assert not decl.is_open
    s.synchronize()
    with pytest.raises(umpager.InvalidArgument):
        with decl:
            pass


def test_stats_and_config(rt):
    st = rt.stats()
    assert isinstance(st, dict) and "read_faults" in st and "managed_bytes" in st
    assert all(isinstance(v, int) for v in st.values())
    cfg = rt.config
    assert cfg["driver"] == "sim" and cfg["device_memory"] == 64 << 20
    assert rt.devices == 1 and rt.driver_name == "sim"


def test_config_keywords():
    with umpager.Runtime(driver="sim", device_memory=32 << 20, policy="lru", block_size="64K",
                         tracking="sync", resolvers=1) as r:
        cfg = r.config
        assert cfg["policy"] == "lru" and cfg["block_size"] == 64 << 10 and cfg["resolvers"] == 1
        assert cfg["device_memory"] == 32 << 20
    assert r.closed


def test_workload(rt):
    res = rt.run_workload("triad", data_bytes=8 << 20, tile_bytes=2 << 20, passes=1)
    assert res["correct"], res["error"]
    assert res["launches"] > 0


def test_map_file(rt, tmp_path):
    p = tmp_path / "data.bin"
    data = np.arange(300_000, dtype=np.float32)
    data.tofile(p)
    a = rt.map_file(p, "r", dtype="float32")
    assert not a.flags.writeable and a.shape == data.shape
    np.testing.assert_array_equal(a, data)
    c = rt.map_file(p, "c", dtype="float32")
    c[0] = -1
    w = rt.map_file(str(p), "r+", dtype="float32", shape=(1000, 300))
    w[0, 0] = 42
    rt.flush(w)
    assert np.fromfile(p, dtype=np.float32)[0] == 42
    assert np.fromfile(p, dtype=np.float32)[1] == 1


def test_map_file_of_a_descriptor_and_a_range(rt, tmp_path):
    p = tmp_path / "sized.bin"
    fd = os.open(p, os.O_RDWR | os.O_CREAT, 0o600)
    os.ftruncate(fd, 64 << 10)  # sized by the program, then mapped by descriptor
    a = rt.map_file(fd, "r+", dtype="uint32", offset=8 << 10, length=16 << 10)
    os.close(fd)  # umpager keeps its own
    assert a.shape == (4096,) and not a.any()
    a[:] = np.arange(4096, dtype=np.uint32) + 1
    rt.flush(a)
    on_disk = np.fromfile(p, dtype=np.uint32)
    assert on_disk.size == (64 << 10) // 4
    np.testing.assert_array_equal(on_disk[2048:6144], np.arange(4096) + 1)
    assert not on_disk[:2048].any() and not on_disk[6144:].any(), "only the range was written"
    part = rt.map_file(p, "r", dtype="uint32", offset=12 << 10, length=4 << 10)  # a range of a path
    np.testing.assert_array_equal(part, np.arange(1024, 2048) + 1)
    with pytest.raises(umpager.InvalidArgument, match="multiple of 4096"):
        rt.map_file(p, "r", offset=100)
    ro = os.open(p, os.O_RDONLY)
    try:
        with pytest.raises(umpager.InvalidArgument, match="O_RDONLY"):
            rt.map_file(ro, "r+")
    finally:
        os.close(ro)

