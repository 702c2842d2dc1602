"""Running the async retelling runner inside a worker: an event loop of its own, and SIGTERM noted.

Kept apart from the operator: this is about the worker process (threads, signals), not about sessions.
"""

from __future__ import annotations

import asyncio
import signal
import threading
from types import FrameType
from typing import Any

from airflow.sdk import BaseOperator

# Set when this process received SIGTERM while a session task ran. `airflow dags test` keeps going
# with the next task after a SIGTERM; no later task of a process being stopped may open a paid session.
PROCESS_STOPPING = threading.Event()


def run_coroutine(coroutine: Any) -> Any:
    """``asyncio.run`` here, or in a helper thread when this thread already runs an event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = asyncio.run(coroutine)
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=target, name="akool-retelling")
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]


_Handler = Any


def install_sigterm(operator: BaseOperator) -> _Handler:
    """Note SIGTERM for PROCESS_STOPPING, then defer to the previous handler (Airflow's calls on_kill)."""
    if threading.current_thread() is not threading.main_thread():
        return None
    previous = signal.getsignal(signal.SIGTERM)

    def handler(signum: int, frame: FrameType | None) -> None:
        PROCESS_STOPPING.set()
        if callable(previous):
            previous(signum, frame)
        else:  # not under Airflow's task runner: do what it would do
            operator.on_kill()

    signal.signal(signal.SIGTERM, handler)
    return previous


def restore_sigterm(previous: _Handler) -> None:
    if previous is not None and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, previous)
