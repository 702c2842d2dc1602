"""The data channel of stream_type "sim": a WebSocket where the sim plays the avatar (akool-api.md §4).

One text frame is one data-channel packet (UTF-8 JSON, protocol v2). The avatar joins after a
delay, acks commands, reassembles chat chunks, speaks them (audio_start, bot text, audio_end after
a speaking time derived from length and speed), honours interrupt and leaves when the session ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import math
from typing import Any

from fastapi import APIRouter, WebSocket

from . import netdrop
from .channel_limits import ChannelLimiter
from .sessions import Session
from .state import SimState

AVATAR_IDENTITY = "akool-avatar"
BOT_PIECE_CHARS = 300
_CLOSE_NORMAL, _CLOSE_UNAUTHORIZED, _CLOSE_NOT_FOUND, _CLOSE_GONE, _CLOSE_REPLACED = 1000, 4401, 4404, 4410, 4409


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _peek_mid(data: bytes) -> Any:
    try:
        value = json.loads(data)
    except ValueError:
        return None
    return value.get("mid") if isinstance(value, dict) else None


def split_pieces(text: str) -> list[str]:
    """Bot text in several pieces (at least 3 when long enough), each at most BOT_PIECE_CHARS."""
    if len(text) <= 1:
        return [text]
    count = max(min(3, len(text)), math.ceil(len(text) / BOT_PIECE_CHARS))
    step = math.ceil(len(text) / count)
    return [text[i : i + step] for i in range(0, len(text), step)]


class AvatarPeer:
    """One connected client of one session."""

    def __init__(self, ws: WebSocket, session: Session, state: SimState) -> None:
        self.ws = ws
        self.session = session
        self.state = state
        cfg = state.config
        self.limiter = ChannelLimiter(
            lambda: cfg.max_message_bytes, lambda: cfg.bytes_per_second, lambda: cfg.messages_per_second
        )
        self.closed = False
        self.joined = asyncio.Event()
        self.inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.speech: asyncio.Queue[tuple[Any, str]] = asyncio.Queue()
        self.partial: dict[str, dict[int, str]] = {}
        self.final_idx: dict[str, int] = {}
        self.params: dict[str, Any] = {}
        self.speaking = False
        self.interrupted = asyncio.Event()
        self.segment: dict[str, Any] | None = None
        self._send_lock = asyncio.Lock()
        self._fallback_close: asyncio.Task[None] | None = None

    # ---- lifecycle ---------------------------------------------------------------------------

    async def run(self) -> None:
        tasks = [asyncio.create_task(c) for c in (self._join(), self._process(), self._speak(), self._lifetime())]
        try:
            await self._read()
        finally:
            self.closed = True
            self._finish_segment(interrupted=True)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def shutdown(self, code: int, reason: str) -> None:
        """The avatar leaves (if it had joined) and the sim closes the socket."""
        if self.closed:
            return
        self._finish_segment(interrupted=True)
        if self.joined.is_set():
            await self.send({"v": 2, "type": "sim-participant", "pld": {"event": "left", "identity": AVATAR_IDENTITY}})
        self.closed = True
        with contextlib.suppress(Exception):
            await self.ws.close(code=code, reason=reason)

    def drop(self) -> None:
        """Cut the connection without a close frame, like a network failure."""
        if self.closed:
            return
        self.session.channel["drops"] += 1
        self.closed = True
        if not netdrop.abort(self.ws.scope):  # not under the sim's own server: close as an error
            self._fallback_close = asyncio.get_running_loop().create_task(
                self.ws.close(code=1011, reason="dropped")
            )

    async def send(self, message: dict[str, Any]) -> None:
        if self.closed:
            return
        text = json.dumps(message, ensure_ascii=False, separators=(",", ":"))
        async with self._send_lock:
            try:
                await self.ws.send_text(text)
            except Exception:  # the peer is gone; the reader will notice too
                self.closed = True

    async def _join(self) -> None:
        await self.state.clock.sleep(self.state.config.join_delay_seconds)
        if self.state.config.never_join:
            return
        await self.send({"v": 2, "type": "sim-participant", "pld": {"event": "published", "identity": AVATAR_IDENTITY}})
        self.session.channel["joined"] = True
        self.joined.set()

    async def _lifetime(self) -> None:
        ended = asyncio.create_task(self.session.ended.wait())
        expiry = asyncio.create_task(self.state.clock.sleep_until(self.session.end_time))
        try:
            await asyncio.wait({ended, expiry}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            ended.cancel()
            expiry.cancel()
        self.state.sessions.settle(self.session)
        await self.shutdown(_CLOSE_NORMAL, "session ended")

    # ---- receiving ---------------------------------------------------------------------------

    async def _read(self) -> None:
        while not self.closed:
            try:
                message = await self.ws.receive()
            except Exception:  # disconnected under us
                return
            if message["type"] == "websocket.disconnect":
                return
            text, raw = message.get("text"), message.get("bytes")
            data = text.encode() if isinstance(text, str) else (raw or b"")
            reason = self.limiter.check(len(data))
            if reason is not None:
                mid = _peek_mid(data)
                self.state.record_violation(self.session.session_id, reason, mid, len(data))
                await self.send({"v": 2, "type": "sim-error", "pld": {"reason": reason, "mid": mid}})
                continue
            packet = self._parse(data)
            if packet is None:
                continue
            if not self.joined.is_set() and self.state.config.pre_join_messages == "drop":
                self._ignore("before_join", data)
                continue
            self.inbox.put_nowait(packet)

    def _parse(self, data: bytes) -> dict[str, Any] | None:
        try:
            packet = json.loads(data.decode("utf-8"))
        except ValueError:
            self._ignore("not_json", data)
            return None
        if not isinstance(packet, dict) or packet.get("v") != 2:
            self._ignore("not_v2", data)
            return None
        return packet

    def _ignore(self, reason: str, data: bytes) -> None:
        self.state.record_ignored(self.session.session_id, reason, data.decode("utf-8", "replace"))

    async def _process(self) -> None:
        # Nothing reaches the avatar before it is in the room; buffered packets go in arrival order.
        await self.joined.wait()
        while True:
            packet = await self.inbox.get()
            kind = packet.get("type")
            if kind == "command":
                await self._command(packet)
            elif kind == "chat":
                self._chat(packet)
            else:
                self._ignore("unknown_type", json.dumps(packet).encode())

    async def _command(self, packet: dict[str, Any]) -> None:
        pld = _obj(packet.get("pld"))
        cmd = pld.get("cmd")
        code, msg = self.state.config.ack_code, "OK"
        if cmd == "set-params":
            data = _obj(pld.get("data"))
            problem = _check_params(data)
            if problem:
                code, msg = 1003, problem
            if code == 1000:
                self.params.update(data)
        elif cmd == "interrupt":
            self._interrupt()
        elif cmd != "set-action":
            code, msg = 1003, f"unknown command {cmd!r}"
        if code != 1000 and msg == "OK":
            msg = "set-params failed" if cmd == "set-params" else "command failed"
        ack_type = self.state.config.ack_type
        await self.send({"v": 2, "type": ack_type, "mid": packet.get("mid"),
                         "pld": {"cmd": cmd, "code": code, "msg": msg}})

    def _chat(self, packet: dict[str, Any]) -> None:
        mid, idx, fin = packet.get("mid"), packet.get("idx"), packet.get("fin")
        text = _obj(packet.get("pld")).get("text")
        valid = isinstance(mid, str | int) and isinstance(fin, bool) and isinstance(text, str)
        if not valid or not isinstance(idx, int) or isinstance(idx, bool) or idx < 0:
            self._ignore("invalid_chat", json.dumps(packet).encode())
            return
        assert isinstance(text, str)
        key = str(mid)
        chunks = self.partial.setdefault(key, {})
        chunks[idx] = text
        if fin:
            self.final_idx[key] = idx
        last = self.final_idx.get(key)
        if last is not None and all(i in chunks for i in range(last + 1)):
            whole = "".join(chunks[i] for i in range(last + 1))
            del self.partial[key], self.final_idx[key]
            self.speech.put_nowait((mid, whole))

    def _interrupt(self) -> None:
        while not self.speech.empty():
            self.speech.get_nowait()
        if self.speaking:
            self.interrupted.set()

    # ---- speaking ----------------------------------------------------------------------------

    async def _speak(self) -> None:
        while True:
            mid, text = await self.speech.get()
            mode = self.params.get("mode", self.session.mode_type)
            reply = text if mode != 2 else f"(sim answer) You said: {text}"
            self.speaking = True
            self.interrupted.clear()
            self.segment = {"mid": mid, "text": reply, "started_at": self.state.clock.now_ms(),
                            "ended_at": None, "interrupted": False}
            self.session.segments.append(self.segment)
            events = self.state.config.emit_audio_events
            if events:
                await self.send({"v": 2, "type": "event", "mid": mid, "pld": {"event": "audio_start"}})
            pieces = split_pieces(reply)
            for i, piece in enumerate(pieces):
                await self.send({"v": 2, "type": "chat", "mid": mid, "idx": i, "fin": i == len(pieces) - 1,
                                 "pld": {"from": "bot", "text": piece}})
            seconds = max(0.5, len(reply) / (15 * self._speed()))
            interrupted = await self._wait_speaking(seconds)
            self._finish_segment(interrupted)
            self.speaking = False
            if events:
                await self.send({"v": 2, "type": "event", "mid": mid, "pld": {"event": "audio_end"}})

    async def _wait_speaking(self, seconds: float) -> bool:
        done = asyncio.create_task(self.state.clock.sleep(seconds))
        stop = asyncio.create_task(self.interrupted.wait())
        try:
            await asyncio.wait({done, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            done.cancel()
            stop.cancel()
        return self.interrupted.is_set()

    def _speed(self) -> float:
        vparams = self.params.get("vparams")
        for source in (vparams if isinstance(vparams, dict) else {}, self.session.voice_params):
            speed = source.get("speed")
            if isinstance(speed, int | float) and not isinstance(speed, bool) and speed > 0:
                return float(speed)
        return 1.0

    def _finish_segment(self, interrupted: bool) -> None:
        if self.segment is not None and self.segment["ended_at"] is None:
            self.segment["ended_at"] = self.state.clock.now_ms()
            self.segment["interrupted"] = interrupted
        self.segment = None


def _check_params(data: dict[str, Any]) -> str | None:
    vparams = data.get("vparams")
    if vparams is not None and not isinstance(vparams, dict):
        return "vparams must be an object"
    speed = (vparams or {}).get("speed")
    if speed is not None and (not isinstance(speed, int | float) or not 0.8 <= speed <= 1.2):
        return "vparams.speed must be between 0.8 and 1.2"
    mode = data.get("mode")
    if mode is not None and mode not in (1, 2):
        return "mode must be 1 or 2"
    return None


def build_channel_router(state: SimState) -> APIRouter:
    router = APIRouter()

    @router.websocket("/_sim/channel/{session_id}")
    async def channel(ws: WebSocket, session_id: str) -> None:
        await ws.accept()  # accept first so the close code reaches the client
        session = state.sessions.find(session_id)
        token = ws.query_params.get("token") or ""
        if session is None:
            await ws.close(code=_CLOSE_NOT_FOUND, reason="session not found")
            return
        expected = session.sim_token
        if expected is None or not hmac.compare_digest(token.encode(), expected.encode()):
            await ws.close(code=_CLOSE_UNAUTHORIZED, reason="bad token")
            return
        if session.closed_at is not None:
            await ws.close(code=_CLOSE_GONE, reason="session ended")
            return
        previous = state.peers.get(session_id)
        if previous is not None:
            await previous.shutdown(_CLOSE_REPLACED, "replaced by a new connection")
        peer = AvatarPeer(ws, session, state)
        state.peers[session_id] = peer
        session.channel["connects"] += 1
        session.channel["connected"] = True
        try:
            await peer.run()
        finally:
            if state.peers.get(session_id) is peer:
                del state.peers[session_id]
                session.channel["connected"] = False

    return router
