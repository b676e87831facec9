"""Threads faulting at once, with and without the GIL held."""
import threading

import numpy as np

import umpager


def test_threads_fault_at_once():
    with umpager.Runtime(driver="sim", device_memory="64M") as rt:
        n = 8 << 20  # 32 MiB of uint32
        a = rt.zeros(n, "uint32")
        rt.fill_index(a)  # now every page is on the device
        before = rt.stats()
        parts = 8
        step = n // parts
        errors = []
        start = threading.Barrier(parts)

        def work(k):
            try:
                start.wait()
                part = a[k * step:(k + 1) * step]
                np.add(part, 1, out=part)  # NumPy releases the GIL in the loop: faults in parallel
            except BaseException as e:  # noqa: BLE001 - reported below
                errors.append(e)

        threads = [threading.Thread(target=work, args=(k,)) for k in range(parts)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors
        np.testing.assert_array_equal(a, np.arange(n, dtype=np.uint32) + 1)
        after = rt.stats()
        assert after["read_faults"] + after["write_faults"] > before["read_faults"] + before["write_faults"]
        assert (rt.query(a).pages != umpager.PAGE_DEVICE).all()


def test_fault_with_gil_held():
    with umpager.Runtime(driver="sim", device_memory="64M") as rt:
        a = rt.zeros(1 << 20, "uint32")
        rt.fill_index(a, seed=1)
        # Element reads from Python code hold the GIL while they fault.
        assert [int(a[i]) for i in range(0, a.size, 4096)] == list(range(1, a.size + 1, 4096))


def test_kernels_from_threads():
    with umpager.Runtime(driver="sim", device_memory="64M") as rt:
        arrays = [rt.zeros(1 << 18, "uint32") for _ in range(4)]
        errors = []

        def work(arr):
            try:
                s = rt.stream()
                for _ in range(5):
                    rt.add(arr, 1, stream=s)
                s.synchronize()
            except BaseException as e:  # noqa: BLE001
                errors.append(e)

        threads = [threading.Thread(target=work, args=(x,)) for x in arrays]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors
        for x in arrays:
            assert (x == 5).all()


def test_close_while_other_threads_call_in():
    rt = umpager.Runtime(driver="sim", device_memory="64M")
    arrays = [rt.zeros(1 << 20, "uint32") for _ in range(3)]
    outcomes = []
    go = threading.Event()

    def work(arr):
        go.wait()
        try:
            while True:  # until close() makes the calls raise
                rt.prefetch(arr, "device")
                rt.query(arr)
                rt.add(arr, 1)
                arr.sum()
        except umpager.ClosedError:
            outcomes.append("closed")
        except BaseException as e:  # noqa: BLE001
            outcomes.append(e)

    threads = [threading.Thread(target=work, args=(a,)) for a in arrays]
    for t in threads:
        t.start()
    go.set()
    import time
    time.sleep(0.3)
    rt.close()
    for t in threads:
        t.join(60)
    assert outcomes == ["closed"] * 3
    for a in arrays:  # the memory is still valid after close()
        a[:] = 1
        assert int(a.sum()) == a.size
