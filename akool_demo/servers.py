"""akool-sim with config fields the ``akool-sim`` command has no option for, as its own process
until SIGTERM/SIGINT (the S3 of the demo and the e2e runs is SeaweedFS: ``seaweedfs.py``).

``python -m akool_demo.servers sim --url-file F --time-scale 20
--set avatar_queue_seconds=86400`` writes its URL to ``--url-file`` once it accepts connections.
"""

from __future__ import annotations

import argparse
import signal
import threading
from pathlib import Path
from typing import Any


def _write_url(path: Path, url: str) -> None:
    partial = path.with_name(path.name + ".tmp")
    partial.write_text(url + "\n", encoding="utf-8")
    partial.replace(path)  # readers never see half a URL
    print(f"listening on {url}", flush=True)


def _wait_for_signal() -> None:
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()


def _value(text: str) -> Any:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(text.lower(), text)


def serve_sim(url_file: Path, time_scale: float, settings: list[str]) -> None:
    from airflow_provider_akool.sim.runner import SimServer

    overrides: dict[str, Any] = {"time_scale": time_scale}
    for item in settings:
        key, _, value = item.partition("=")
        overrides[key.strip()] = _value(value.strip())
    with SimServer(**overrides) as sim:
        _write_url(url_file, sim.url)
        _wait_for_signal()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="akool-sim with config overrides, for the e2e runs.")
    parser.add_argument("kind", choices=["sim"])
    parser.add_argument("--url-file", type=Path, required=True)
    parser.add_argument("--time-scale", type=float, default=1.0)
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", help="sim config field")
    args = parser.parse_args(argv)
    serve_sim(args.url_file, args.time_scale, args.set)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
