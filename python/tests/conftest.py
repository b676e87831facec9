"""Shared fixtures: every test gets its own simulated-device runtime."""
import os

import pytest

import umpager

# CI sets UMPAGER_TEST_REQUIRE=torch so that the PyTorch tests fail, not skip, there.
REQUIRED = set(filter(None, os.environ.get("UMPAGER_TEST_REQUIRE", "").split(",")))


def need(module):
    """Imports `module`, or skips the test unless UMPAGER_TEST_REQUIRE names it."""
    if module in REQUIRED:
        return __import__(module)
    return pytest.importorskip(module)


@pytest.fixture
def rt():
    r = umpager.Runtime(driver="sim", device_memory="64M", host_memory=0)
    yield r
    r.close()
