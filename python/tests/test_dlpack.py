"""The CPU view through DLPack: numpy.from_dlpack and torch.from_dlpack without a copy."""
import gc

import numpy as np
import pytest

import umpager
from conftest import need

KDLCPU = 1


def test_dlpack_device(rt):
    a = rt.zeros(16, "float32")
    assert umpager.buffer_of(a).__dlpack_device__() == (KDLCPU, 0)
    assert a.__dlpack_device__() == (KDLCPU, 0)


def test_numpy_from_dlpack_zero_copy(rt):
    a = rt.zeros((64, 32), "float64")
    for src in (a, umpager.buffer_of(a)):
        b = np.from_dlpack(src)  # NumPy 1.24 marks what it imports read-only
        assert b.ctypes.data == a.ctypes.data and b.shape == a.shape and b.dtype == a.dtype
        a[3, 4] += 1.0
        assert b[3, 4] == a[3, 4]


def test_dlpack_refuses_a_cuda_stream(rt):
    buf = umpager.buffer_of(rt.zeros(4, "float32"))
    with pytest.raises(umpager.InvalidArgument):
        buf.__dlpack__(stream=1)


def test_torch_from_dlpack_zero_copy():
    torch = need("torch")
    rt = umpager.Runtime(driver="sim", device_memory="64M")
    a = rt.zeros((1 << 16,), "float32")
    t = torch.from_dlpack(umpager.buffer_of(a))
    assert t.device.type == "cpu" and t.dtype == torch.float32
    assert t.data_ptr() == a.ctypes.data
    t2 = torch.from_dlpack(a)  # NumPy's own export of the same memory
    assert t2.data_ptr() == a.ctypes.data
    t += 1
    assert a[0] == 1.0 and t2[5].item() == 1.0
    rt.add(a.view(np.uint32), 0)  # a round trip through the device keeps the data
    assert float(t.sum()) == a.size
    # The tensor keeps the allocation alive past the array and a closed runtime.
    rt.close()
    del a, t2
    gc.collect()
    t *= 2
    assert float(t.sum()) == 2 * t.numel()
    del t
    gc.collect()


def test_torch_dtypes():
    torch = need("torch")
    with umpager.Runtime(driver="sim", device_memory="16M") as rt:
        for dt, tt in (("float64", torch.float64), ("int32", torch.int32), ("int64", torch.int64),
                       ("uint8", torch.uint8), ("int16", torch.int16)):  # torch 1.13 knows no kDLBool, no uint32
            a = rt.zeros((4, 5), dt)
            t = torch.from_dlpack(umpager.buffer_of(a))
            assert t.dtype == tt and tuple(t.shape) == (4, 5) and t.data_ptr() == a.ctypes.data
