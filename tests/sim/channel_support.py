"""WebSocket helpers for the sim data-channel tests: plain httpx and websockets, no client package."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection

from airflow_provider_akool.sim import SimServer

CREATE = "/api/open/v4/liveAvatar/session/create"


def _session(sim: SimServer, **fields: Any) -> dict[str, Any]:
    body = {"avatar_id": "dvp_Tristan_cloth2_1080P", "duration": 600, "stream_type": "sim", "mode_type": 1}
    reply = httpx.post(sim.url + CREATE, json={**body, **fields}, headers={"x-api-key": "sim-api-key"}).json()
    assert reply["code"] == 1000, reply
    data: dict[str, Any] = reply["data"]
    return data


def _ws_url(session: dict[str, Any], token: str | None = None) -> str:
    creds = session["credentials"]
    return f"{creds['sim_url']}?token={token or creds['sim_token']}"


async def _next(ws: ClientConnection, within: float = 2.0) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), within))
    return message


async def _until(
    ws: ClientConnection, pred: Callable[[dict[str, Any]], bool], within: float = 3.0
) -> list[dict[str, Any]]:
    """Messages up to and including the first one matching ``pred``."""
    seen: list[dict[str, Any]] = []
    async with asyncio.timeout(within):
        while True:
            seen.append(json.loads(await ws.recv()))
            if pred(seen[-1]):
                return seen


def _event(name: str) -> Callable[[dict[str, Any]], bool]:
    return lambda m: m.get("type") == "event" and m["pld"]["event"] == name


def _chat(mid: str, text: str, idx: int = 0, fin: bool = True) -> str:
    return json.dumps({"v": 2, "type": "chat", "mid": mid, "idx": idx, "fin": fin, "pld": {"text": text}})


def _cmd(mid: str, cmd: str, data: dict[str, Any] | None = None) -> str:
    pld: dict[str, Any] = {"cmd": cmd} if data is None else {"cmd": cmd, "data": data}
    return json.dumps({"v": 2, "type": "command", "mid": mid, "pld": pld})


PUBLISHED = {"v": 2, "type": "sim-participant", "pld": {"event": "published", "identity": "akool-avatar"}}
LEFT = {"v": 2, "type": "sim-participant", "pld": {"event": "left", "identity": "akool-avatar"}}
