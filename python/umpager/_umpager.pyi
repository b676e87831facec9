"""Type stub of umpager._umpager, the compiled layer (see umpager/__init__.py)."""

from os import PathLike
from typing import Any, Literal, Optional, Sequence, Tuple, Union

import numpy as np
import numpy.typing as npt

PAGE_HOST: int
"""RangeInfo.pages code: only the host copy is valid."""
PAGE_SHARED: int
"""RangeInfo.pages code: host and device copies are both valid."""
PAGE_DEVICE: int
"""RangeInfo.pages code: only the device copy is valid."""
PAGE_STORAGE: int
"""RangeInfo.pages code: only the storage copy (file, spill) is valid."""
PAGE_SIZE: int
"""4096: the page query() reports and prefetch/advise round to."""

Shape = Union[int, Sequence[int]]
Placement = Union[None, Literal["host"], Tuple[Literal["device"], int]]

class Error(Exception):
    """Base of every error umpager raises."""

class InvalidArgument(Error, ValueError):
    """Bad input: a wrong size, dtype, shape, mode or name, or an array that is not umpager memory."""

class OutOfMemory(Error, MemoryError):
    """Device or host memory could not be provided (a set larger than the device budget)."""

class SystemError(Error, OSError):
    """A kernel interface failed; .errno is the error code."""

class FileNotFound(SystemError, FileNotFoundError):
    """map_file of a path that does not exist."""

class Unsupported(Error, NotImplementedError):
    """The kernel or driver lacks a feature (the message says what to change)."""

class DriverError(Error, RuntimeError):
    """A device operation failed (copy error, no device)."""

class ClosedError(Error, RuntimeError):
    """The runtime was closed (Runtime.close()) or shut down after a failure."""

class Buffer:
    """One managed allocation: the ``base`` of every NumPy array over it.

    It holds the allocation and its runtime: the memory stays valid while any array
    (or DLPack consumer) over it is alive, even after ``Runtime.close()``.
    """
    @property
    def nbytes(self) -> int:
        """Bytes the array shows (the allocation is rounded up to whole blocks)."""
    @property
    def allocated_bytes(self) -> int:
        """Bytes of the allocation (rounded up to its block size)."""
    @property
    def address(self) -> int:
        """The CPU address."""
    @property
    def device_address(self) -> int:
        """The device address on device 0 (valid in kernels while resident there)."""
    @property
    def dtype(self) -> np.dtype[Any]:
        """The dtype it was made with."""
    @property
    def shape(self) -> Tuple[int, ...]:
        """The shape it was made with."""
    @property
    def closed(self) -> bool:
        """True once its Runtime is closed (the memory itself stays valid)."""
    def __array__(self, dtype: Optional[npt.DTypeLike] = None) -> npt.NDArray[Any]:
        """A NumPy array over the whole allocation (zero-copy unless dtype converts)."""
    def __dlpack__(self, stream: Optional[int] = None) -> Any:
        """DLPack export of the CPU view (kDLCPU, zero-copy); keeps the allocation alive."""
    def __dlpack_device__(self) -> Tuple[int, int]:
        """(kDLCPU, 0): the CPU view."""

class Stream:
    """A stream of one device (Runtime.stream()): work on it runs in order, asynchronously.

    The buffers its queued work uses stay alive until synchronize().
    """
    def synchronize(self) -> None:
        """Waits for the stream's work (the GIL is released)."""
    @property
    def device(self) -> int:
        """The device index."""
    @property
    def native(self) -> int:
        """The native stream handle (cudaStream_t as an int; 0 on the simulated device)."""
    @property
    def valid(self) -> bool:
        """False once the runtime that made it is shut down."""

class Completion:
    """One stream-ordered operation (an asynchronous prefetch). Dropping it does not wait."""
    def synchronize(self) -> None:
        """Waits until the stream has passed the operation (the GIL is released)."""
    def query(self) -> bool:
        """True once the stream has passed the operation."""
    @property
    def done(self) -> bool:
        """Same as query()."""

class Declaration:
    """A launch declaration (Runtime.declare), used with ``with``.

    Inside the block the declared arrays are resident on the device and pinned;
    leaving it records the stream's point, after which the written ranges are device
    copies (a CPU touch brings them back).
    """
    def __enter__(self) -> "Declaration":
        """Makes the set resident and pins it (the GIL is released meanwhile)."""
    def __exit__(self, *exc: Any) -> bool:
        """Closes the declaration (never suppresses an exception)."""
    def close(self) -> None:
        """Leaves the declaration (what __exit__ does); a second call does nothing."""
    @property
    def is_open(self) -> bool:
        """True between __enter__ and __exit__."""

class RangeInfo:
    """What Runtime.query reports about the pages an array spans."""
    pages: npt.NDArray[np.uint8]
    """One PAGE_* code per 4 KiB page."""
    devices: npt.NDArray[np.uint32]
    """The device of each shared or device page."""
    last_prefetch: Placement
    """The last prefetch's target, if every chunk agrees."""
    preferred_location: Placement
    """The preferred location, if every chunk has the same one."""
    read_mostly: bool
    """Read-mostly advice is in force on every page."""

class Runtime:
    """Runtime(**config): one umpager runtime (driver, resolver threads, device budget).

    With no keywords the configuration is the UMPAGER_* variables; keywords override
    them and are umpager::config's field names (device_memory="64M", driver="sim",
    host_memory=..., policy="lru", trace_file=..., ...). A context manager: leaving
    ``with`` calls close().

    close() is deferred for memory still in use: the Runtime refuses every call from
    then on (ClosedError), arrays still alive keep their memory valid, and the C++
    runtime shuts down when the last of them is gone.
    """
    def __init__(self, **config: Any) -> None:
        """Starts a runtime; unknown keywords and bad values raise InvalidArgument."""
    def close(self) -> None:
        """Closes: later calls raise ClosedError; live arrays' memory stays valid until they are gone."""
    @property
    def closed(self) -> bool:
        """True after close()."""
    def __enter__(self) -> "Runtime":
        """Returns the runtime itself."""
    def __exit__(self, *exc: Any) -> bool:
        """Calls close()."""
    @property
    def config(self) -> dict[str, Any]:
        """The configuration in force, as a dict of config fields."""
    @property
    def devices(self) -> int:
        """How many devices this runtime drives."""
    @property
    def driver_name(self) -> str:
        """"sim" or "cuda"."""
    def empty(self, shape: Shape, dtype: npt.DTypeLike = "float64") -> npt.NDArray[Any]:
        """A NumPy array over new managed memory; contents unspecified (use zeros for zeros)."""
    def zeros(self, shape: Shape, dtype: npt.DTypeLike = "float64") -> npt.NDArray[Any]:
        """Like empty, filled with zeros."""
    def allocate(self, nbytes: int) -> npt.NDArray[np.uint8]:
        """A 1-D uint8 array over nbytes of new managed memory (contents unspecified)."""
    def map_file(self, path: Union[str, PathLike[str], int], mode: Literal["r", "c", "r+"] = "r",
                 dtype: npt.DTypeLike = "uint8", shape: Optional[Shape] = None, offset: int = 0,
                 length: Optional[int] = None) -> npt.NDArray[Any]:
        """A NumPy array over a file made managed memory (read on first touch; may exceed RAM).

        path: a path or an open descriptor (umpager keeps a duplicate: close yours at
        will). "r": read-only array; "c": writable, writes stay in memory; "r+": writes
        go back to the file on flush() and when the memory is freed (a descriptor must
        be open O_RDWR). offset (a multiple of 4096) and length (None: to the end) map
        part of the file; only that part is read or written. A missing file raises
        FileNotFound.
        """
    def flush(self, a: npt.NDArray[Any]) -> None:
        """Writes the written pages of a map_file(mode="r+") array to its file (durable on return)."""
    def prefetch(self, a: npt.NDArray[Any], to: Literal["device", "host"] = "device",
                 stream: Optional[Stream] = None, device: int = 0) -> Completion:
        """Moves the pages an array spans; asynchronous on a Stream, done on return with stream=None."""
    def advise(self, a: npt.NDArray[Any], advice: str, location: Literal["device", "host"] = "device",
               device: int = 0) -> None:
        """cudaMemAdvise over the pages an array spans: read_mostly, preferred_location, accessed_by and unset_*."""
    def attach(self, a: npt.NDArray[Any], to: Literal["global", "host", "single"] = "global",
               stream: Optional[Stream] = None) -> None:
        """cudaStreamAttachMemAsync for the allocation an array is over."""
    def query(self, a: npt.NDArray[Any]) -> RangeInfo:
        """Where each 4 KiB page an array spans is."""
    def synchronize(self) -> None:
        """Waits for the runtime's default streams."""
    def device_synchronize(self) -> None:
        """Waits for every stream of every device (cudaDeviceSynchronize)."""
    def stream(self, device: int = 0) -> Stream:
        """A new Stream of device `device`."""
    def declare(self, *, reads: Optional[Sequence[npt.NDArray[Any]]] = None,
                writes: Optional[Sequence[npt.NDArray[Any]]] = None,
                read_writes: Optional[Sequence[npt.NDArray[Any]]] = None,
                stream: Optional[Stream] = None, device: int = 0) -> Declaration:
        """A Declaration for ``with``, around work the caller launches itself on `stream`."""
    def device_pointer(self, a: npt.NDArray[Any], device: int = 0) -> int:
        """The device address of an array's first byte."""
    def stats(self) -> dict[str, int]:
        """The runtime's counters (umpager::stats' fields)."""
    def device_bytes_in_use(self, device: int = 0) -> int:
        """Device memory mapped on `device` now."""
    def fill_index(self, a: npt.NDArray[np.uint32], seed: int = 0, stream: Optional[Stream] = None) -> None:
        """Device kernel a[i] = i + seed, as a declared launch; stream=None waits for it."""
    def add(self, a: npt.NDArray[np.uint32], delta: int = 1, stream: Optional[Stream] = None) -> None:
        """Device kernel a[i] += delta, as a declared launch; stream=None waits for it."""
    def triad(self, a: npt.NDArray[Any], b: npt.NDArray[Any], c: npt.NDArray[Any], scalar: float,
              stream: Optional[Stream] = None) -> None:
        """Device kernel a = b + scalar * c (float32/float64), a declared launch; simulated device only."""
    def run_workload(self, name: str, *, data_bytes: int = ..., tile_bytes: int = ..., passes: int = 3,
                     seed: int = 1, in_flight: int = 1) -> dict[str, Any]:
        """Runs one oversubscription workload (triad, gups, stencil, spmv, matmul); its result as a dict."""
