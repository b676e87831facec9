"""Every exception type, and bad input raising them rather than crashing or copying."""
import errno
import os

import numpy as np
import pytest

import umpager
from umpager import _umpager


@pytest.mark.parametrize("kind,cls,builtin", [
    ("invalid_argument", umpager.InvalidArgument, ValueError),
    ("out_of_memory", umpager.OutOfMemory, MemoryError),
    ("bad_alloc", umpager.OutOfMemory, MemoryError),
    ("system_error", umpager.SystemError, OSError),
    ("enoent", umpager.FileNotFound, FileNotFoundError),
    ("unsupported", umpager.Unsupported, NotImplementedError),
    ("driver_error", umpager.DriverError, RuntimeError),
    ("closed_error", umpager.ClosedError, RuntimeError),
    ("runtime_error", umpager.Error, Exception),
])
def test_each_cpp_exception_maps_to_its_class(kind, cls, builtin):
    with pytest.raises(cls) as e:
        _umpager._throw(kind, "the message")
    assert isinstance(e.value, umpager.Error) and isinstance(e.value, builtin)
    assert type(e.value) is cls
    if kind != "bad_alloc":
        assert "the message" in str(e.value)
    if kind == "system_error":
        assert e.value.errno == errno.EACCES


def test_hierarchy():
    assert issubclass(umpager.FileNotFound, umpager.SystemError)
    for c in (umpager.InvalidArgument, umpager.OutOfMemory, umpager.SystemError, umpager.Unsupported,
              umpager.DriverError, umpager.ClosedError):
        assert issubclass(c, umpager.Error)


def test_out_of_memory_from_runtime():
    with umpager.Runtime(driver="sim", device_memory="8M") as rt:
        a = rt.zeros(32 << 20, "uint8")
        with pytest.raises(umpager.OutOfMemory):
            with rt.declare(reads=[a]):
                pass
        with pytest.raises(umpager.OutOfMemory):
            rt.add(a.view(np.uint32))


def test_missing_file_and_system_errors(rt, tmp_path):
    with pytest.raises(umpager.FileNotFound) as e:
        rt.map_file(tmp_path / "nope.bin")
    assert e.value.errno == errno.ENOENT and "nope.bin" in str(e.value)
    with pytest.raises(umpager.SystemError) as e:
        rt.map_file("/etc/passwd/not-a-dir")
    assert e.value.errno == errno.ENOTDIR
    with pytest.raises(umpager.InvalidArgument):
        rt.map_file(tmp_path)  # a directory
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    with pytest.raises(umpager.InvalidArgument):
        rt.map_file(empty)
    odd = tmp_path / "odd"
    odd.write_bytes(b"12345")
    with pytest.raises(umpager.InvalidArgument, match="whole number"):
        rt.map_file(odd, dtype="float32")
    with pytest.raises(umpager.InvalidArgument, match="bytes"):
        rt.map_file(odd, shape=(10,))
    with pytest.raises(umpager.InvalidArgument, match="mode"):
        rt.map_file(odd, mode="w")


def test_accessed_by_a_device_that_does_not_exist(rt):
    a = rt.zeros(4096, "uint8")
    rt.advise(a, "accessed_by")
    with pytest.raises(umpager.InvalidArgument, match="device 7"):
        rt.advise(a, "accessed_by", device=7)


def test_bad_sizes_shapes_dtypes(rt):
    for bad in (-1, 0):
        with pytest.raises(umpager.InvalidArgument):
            rt.allocate(bad)
    with pytest.raises(umpager.InvalidArgument):
        rt.allocate(1.5)
    with pytest.raises(umpager.InvalidArgument, match="negative"):
        rt.empty((3, -2))
    with pytest.raises(umpager.InvalidArgument):
        rt.empty("12")
    with pytest.raises(umpager.InvalidArgument):
        rt.zeros((2, 2.0))
    with pytest.raises(umpager.InvalidArgument, match="Python objects"):
        rt.empty(4, object)
    with pytest.raises(umpager.InvalidArgument):
        rt.empty(4, "not-a-dtype")
    with pytest.raises(umpager.InvalidArgument, match="too large"):
        rt.empty((1 << 40, 1 << 40), "float64")


def test_bad_kernel_arguments(rt):
    f = rt.zeros(1024, "float32")
    with pytest.raises(umpager.InvalidArgument, match="dtype"):
        rt.add(f)
    u = rt.zeros((64, 64), "uint32")
    with pytest.raises(umpager.InvalidArgument, match="contiguous"):
        rt.add(u[:, ::2])
    a, b = rt.zeros(10, "float32"), rt.zeros(11, "float32")
    with pytest.raises(umpager.InvalidArgument, match="size"):
        rt.triad(a, b, b, 1.0)
    with pytest.raises(umpager.InvalidArgument):
        rt.triad(a, rt.zeros(10, "float64"), a, 1.0)
    with pytest.raises(umpager.InvalidArgument):
        rt.run_workload("nope")


def test_foreign_arrays_refused(rt):
    foreign = np.zeros(4096, np.float32)
    copy = rt.zeros(4096, "float32").copy()  # a NumPy copy is not umpager memory
    for arr in (foreign, copy, [1, 2, 3], "text"):
        with pytest.raises(umpager.InvalidArgument):
            rt.prefetch(arr)
        with pytest.raises(umpager.InvalidArgument):
            rt.declare(reads=[arr])
        with pytest.raises(umpager.InvalidArgument):
            rt.query(arr)
        with pytest.raises(umpager.InvalidArgument):
            rt.add(arr)
    with pytest.raises(umpager.InvalidArgument, match="list"):
        rt.declare(reads=rt.zeros(3))
    with pytest.raises(umpager.InvalidArgument, match="nothing declared"):
        rt.declare()
    with umpager.Runtime(driver="sim", device_memory="16M") as other:
        theirs = other.zeros(1024, "uint32")
        s = other.stream()
        with pytest.raises(umpager.InvalidArgument, match="another Runtime"):
            rt.prefetch(theirs)
        with pytest.raises(umpager.InvalidArgument, match="another Runtime"):
            rt.declare(writes=[theirs])
        with pytest.raises(umpager.InvalidArgument, match="another Runtime"):
            rt.prefetch(rt.zeros(10), stream=s)
    with pytest.raises(umpager.InvalidArgument, match="Stream"):
        rt.prefetch(rt.zeros(10), stream=5)
    with pytest.raises(umpager.InvalidArgument):
        rt.prefetch(rt.zeros(10), to="gpu")
    with pytest.raises(umpager.InvalidArgument):
        rt.attach(rt.zeros(10), to="everywhere")
    with pytest.raises(umpager.InvalidArgument):
        rt.advise(rt.zeros(10), "fast")


def test_bad_config():
    with pytest.raises(umpager.InvalidArgument, match="unknown config field"):
        umpager.Runtime(device_memry="64M")
    with pytest.raises(umpager.InvalidArgument):
        umpager.Runtime(device_memory=-5)
    with pytest.raises(umpager.InvalidArgument):
        umpager.Runtime(policy="random")
    with pytest.raises(umpager.InvalidArgument):
        umpager.Runtime(driver="tpu")
    with pytest.raises(umpager.InvalidArgument):
        umpager.Runtime(block_size="3K")


def test_bad_env(monkeypatch):
    monkeypatch.setenv("UMPAGER_POLICY", "bogus")
    with pytest.raises(umpager.InvalidArgument, match="UMPAGER_POLICY"):
        umpager.Runtime()
