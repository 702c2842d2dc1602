"""akool-sim: a local, in-memory emulator of the Akool streaming-avatar API and its data channel.

Independent of ``airflow_provider_akool.client`` and ``.streaming`` on purpose: it is a second
reading of the API reference, so a misreading on either side shows up as a failing test.
"""

from __future__ import annotations

from .app import create_app
from .config import FAULT_KINDS, SimConfig
from .profiles import PROFILES
from .runner import SimServer

__all__ = ["FAULT_KINDS", "PROFILES", "SimConfig", "SimServer", "create_app"]
