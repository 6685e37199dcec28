"""Race tests: several workers, each with its own application (its own connection pool), released together.

The applications are built one after another in the calling thread (building one is not meant to be
thread-safe); each worker runs in a daemon thread and waits at a barrier with a timeout, so a worker
that fails before the start line aborts the race instead of leaving the others waiting forever.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from app import create_app
from conftest import app_settings


def separate_apps(count: int, tmp_path, database_url: str) -> list:
    return [create_app("config.Config", **app_settings(tmp_path, database_url)) for _ in range(count)]


def race(workers: list[Callable[[Callable[[], None]], Any]], timeout: float = 60) -> list[Any]:
    """Run each worker in its own thread; a worker calls the `go` it is given at the start line.

    Returns the workers' results in order; re-raises the first error a worker raised; fails when a
    worker is still running after `timeout` seconds.
    """
    barrier = threading.Barrier(len(workers), timeout=timeout)
    results: list[Any] = [None] * len(workers)
    errors: list[BaseException] = []

    def run(index: int, work: Callable) -> None:
        try:
            results[index] = work(barrier.wait)
        except BaseException as error:  # noqa: BLE001 - re-raised by the calling thread
            errors.append(error)
            barrier.abort()

    threads = [threading.Thread(target=run, args=(i, work), daemon=True) for i, work in enumerate(workers)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    stuck = sum(thread.is_alive() for thread in threads)
    assert not stuck, f"{stuck} of {len(threads)} workers still running after {timeout} s"
    real = [e for e in errors if not isinstance(e, threading.BrokenBarrierError)]
    if real or errors:
        raise (real or errors)[0]
    return results
