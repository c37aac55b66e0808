"""Shared pytest setup: the import path and a watchdog that ends a hung run."""

import faulthandler
import os
import sys

import pytest

# The package lives in python/, one folder up from the tests.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# A test that runs longer than this many seconds is taken as hung: the
# watchdog prints every thread's traceback and ends the pytest process.
TEST_TIMEOUT = 120


@pytest.fixture(autouse=True)
def hang_watchdog():
    faulthandler.dump_traceback_later(TEST_TIMEOUT, exit=True)
    yield
    faulthandler.cancel_dump_traceback_later()
