"""umpager: user-space unified memory for GPU programs, from Python.

A :class:`Runtime` hands out NumPy arrays over managed memory: the CPU uses them as
ordinary arrays (pages fault home on touch), declared launches and prefetches move
them to the device, and the data may exceed device memory (and, with
``host_memory=``, host memory). See docs/python.md.

    import umpager
    with umpager.Runtime(device_memory="64M") as rt:
        a = rt.zeros((1 << 20,), "uint32")
        rt.add(a, 1)          # a declared launch on the device
        assert a.sum() == a.size
"""

from ._umpager import (  # noqa: F401  (the public names)
    PAGE_DEVICE,
    PAGE_HOST,
    PAGE_SHARED,
    PAGE_SIZE,
    PAGE_STORAGE,
    Buffer,
    ClosedError,
    Completion,
    Declaration,
    DriverError,
    Error,
    FileNotFound,
    InvalidArgument,
    OutOfMemory,
    RangeInfo,
    Runtime,
    Stream,
    SystemError,
    Unsupported,
)

__version__ = "0.1.0"

__all__ = [
    "Runtime", "Buffer", "Stream", "Completion", "Declaration", "RangeInfo",
    "Error", "InvalidArgument", "OutOfMemory", "SystemError", "FileNotFound",
    "Unsupported", "DriverError", "ClosedError",
    "PAGE_HOST", "PAGE_SHARED", "PAGE_DEVICE", "PAGE_STORAGE", "PAGE_SIZE",
    "buffer_of",
]


def buffer_of(a):
    """The :class:`Buffer` an array over umpager memory is a view of (its base), else None."""
    base = a
    while base is not None and not isinstance(base, Buffer):
        base = getattr(base, "base", None)
    return base
