"""Apache Airflow provider for Akool streaming avatars."""

from __future__ import annotations

__version__ = "0.1.0"
