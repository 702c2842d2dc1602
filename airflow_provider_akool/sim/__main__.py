"""The akool-sim command: serve the emulator until SIGTERM or SIGINT."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from pathlib import Path

from .config import SimConfig
from .runner import bind_socket, make_uvicorn_server


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="akool-sim", description="Local emulator of the Akool streaming-avatar API.")
    defaults = SimConfig()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (printed on start)")
    parser.add_argument(
        "--time-scale", type=float, default=defaults.time_scale, help="simulated seconds per real second"
    )
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument(
        "--profile",
        default=defaults.profile,
        help="data-channel behaviour preset (default, hostile, no_audio_events, ...; see docs/sim.md)",
    )
    parser.add_argument("--fault-rate", type=float, default=defaults.fault_rate)
    parser.add_argument("--fault-kinds", default=None, help="comma-separated subset of the fault kinds")
    parser.add_argument("--api-key", default=defaults.api_key)
    parser.add_argument("--client-id", default=defaults.client_id)
    parser.add_argument("--client-secret", default=defaults.client_secret)
    parser.add_argument("--credits", type=float, default=defaults.credits)
    parser.add_argument("--url-file", type=Path, default=None, help="write the URL here once listening")
    parser.add_argument("--log-level", default="warning")
    return parser


async def _serve(args: argparse.Namespace, config: SimConfig) -> None:
    sock = bind_socket(args.host, args.port)
    host, port = sock.getsockname()[:2]
    server = make_uvicorn_server(config, log_level=args.log_level)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, lambda: setattr(server, "should_exit", True))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started and not task.done():  # noqa: ASYNC110 - uvicorn only offers a flag
        await asyncio.sleep(0.01)
    if server.started:
        url = f"http://{host}:{port}" if ":" not in host else f"http://[{host}]:{port}"
        if args.url_file is not None:  # written (atomically) before the line, so both are there at once
            partial = args.url_file.with_name(args.url_file.name + ".tmp")
            partial.write_text(url + "\n", encoding="utf-8")
            partial.replace(args.url_file)
        print(f"akool-sim listening on {url}", flush=True)
    await task
    sock.close()


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    overrides: dict[str, object] = {
        "time_scale": args.time_scale,
        "seed": args.seed,
        "profile": args.profile,
        "fault_rate": args.fault_rate,
        "api_key": args.api_key,
        "client_id": args.client_id,
        "client_secret": args.client_secret,
        "credits": args.credits,
    }
    if args.fault_kinds:
        overrides["fault_kinds"] = [k.strip() for k in args.fault_kinds.split(",") if k.strip()]
    try:
        config = SimConfig.model_validate(overrides)
    except ValueError as exc:
        print(f"akool-sim: {exc}", file=sys.stderr)
        return 2
    try:
        asyncio.run(_serve(args, config))
    except OSError as exc:  # typically the port is taken
        print(f"akool-sim: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
