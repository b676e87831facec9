"""Who keeps what alive: arrays, Buffers, the runtime, close() under live arrays, GC."""
import gc
import json
import weakref

import numpy as np
import pytest

import umpager


def make_runtime(**kw):
    return umpager.Runtime(driver="sim", device_memory="64M", **kw)


def test_array_outlives_buffer_and_runtime_names():
    rt = make_runtime()
    a = rt.zeros(1 << 18, "float32")
    buf = umpager.buffer_of(a)
    del buf, rt
    gc.collect()
    a[:] = 2.0  # the memory is still managed and valid
    assert float(a.sum()) == 2.0 * a.size
    assert not umpager.buffer_of(a).closed


def test_view_keeps_allocation_alive():
    rt = make_runtime()
    a = rt.zeros(1 << 16, "int32")
    a[:] = np.arange(a.size)
    v = a[100:200]
    managed = rt.stats()["managed_bytes"]
    del a
    gc.collect()
    assert rt.stats()["managed_bytes"] == managed
    assert v[0] == 100 and v[-1] == 199
    del v
    gc.collect()
    assert rt.stats()["managed_bytes"] == 0
    rt.close()


def test_close_under_live_array_raises_never_crashes(tmp_path):
    trace = tmp_path / "trace.json"
    rt = make_runtime(trace_file=str(trace))
    a = rt.zeros(1 << 20, "uint32")
    rt.add(a, 1)  # the data is on the device when the runtime closes
    s = rt.stream()
    rt.close()
    assert rt.closed and umpager.buffer_of(a).closed
    # Plain NumPy use still works: the runtime shuts down only after the last array.
    assert int(a.sum(dtype=np.uint64)) == a.size
    a[:] = 3
    # Every umpager call raises ClosedError.
    for call in (lambda: rt.prefetch(a), lambda: rt.query(a), lambda: rt.zeros(4), lambda: rt.stats(),
                 lambda: rt.add(a), lambda: rt.declare(reads=[a]), lambda: rt.stream(),
                 lambda: umpager.buffer_of(a).__dlpack__(), lambda: s.synchronize()):
        with pytest.raises(umpager.ClosedError):
            call()
    rt.close()  # a second close does nothing
    # The trace is written at the real shutdown: when the last holder is gone.
    unwritten = trace.stat().st_size if trace.exists() else 0
    del a, s
    gc.collect()
    assert trace.stat().st_size > unwritten
    json.loads(trace.read_text())


def test_context_manager_closes():
    with make_runtime() as rt:
        a = rt.zeros(10)
    assert rt.closed
    with pytest.raises(umpager.ClosedError):
        rt.empty(3)
    assert a.sum() == 0


def test_gc_cycle_frees_allocation():
    rt = make_runtime()

    class Holder:
        pass

    h = Holder()
    h.self = h
    h.arr = rt.zeros(1 << 20, "uint8")
    assert rt.stats()["managed_bytes"] >= 1 << 20
    ref = weakref.ref(h)
    del h
    gc.collect()
    assert ref() is None
    assert rt.stats()["managed_bytes"] == 0
    rt.close()


def test_many_small_arrays_no_leak():
    rt = make_runtime()
    base = rt.stats()
    for _ in range(2000):
        a = rt.empty(16, "float64")
        a[0] = 1
    del a
    gc.collect()
    after = rt.stats()
    assert after["managed_bytes"] == base["managed_bytes"] == 0
    assert rt.device_bytes_in_use() == 0
    rt.close()


def test_stream_and_completion_keep_arrays_alive():
    rt = make_runtime()
    s = rt.stream()
    a = rt.zeros(1 << 20, "uint32")
    done = rt.prefetch(a, "device", stream=s)
    rt.add(a, 5, stream=s)
    del a  # the stream's queued work still holds it
    gc.collect()
    assert rt.stats()["managed_bytes"] > 0
    s.synchronize()
    done.synchronize()
    del done
    gc.collect()
    assert rt.stats()["managed_bytes"] == 0
    rt.close()
