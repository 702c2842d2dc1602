"""The data channel of stream_type "sim": a WebSocket where the sim plays the avatar (docs/reference/akool-api.md §4).

One text frame is one data-channel packet (UTF-8 JSON, protocol v2). The avatar joins after a
delay, acks commands, reassembles chat chunks, speaks them (audio_start, bot text, audio_end after
a speaking time from the sim's own model, sim/speaking.py), honours interrupt and leaves when the
session ends. Where the docs leave the behaviour open, the config's profile fields choose it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
from typing import Any

from fastapi import APIRouter, WebSocket

from . import netdrop
from .channel_limits import ChannelLimiter
from .delivery import LossyDelivery
from .sessions import Session
from .speaking import check_params, plan_utterance, split_pieces
from .state import SimState

AVATAR_IDENTITY = "akool-avatar"
_CLOSE_NORMAL, _CLOSE_UNAUTHORIZED, _CLOSE_NOT_FOUND, _CLOSE_GONE, _CLOSE_REPLACED = 1000, 4401, 4404, 4410, 4409


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _peek_mid(data: bytes) -> Any:
    try:
        value = json.loads(data)
    except ValueError:
        return None
    return value.get("mid") if isinstance(value, dict) else None


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
        self.cut_by: str | None = None  # why the current segment is being stopped
        self.ending = False  # session over, the avatar finishes its segment (session_end="finish")
        self.segment_done = asyncio.Event()
        self.delivery = LossyDelivery(cfg.seed, session.session_id, session.channel["connects"])
        self._held: bytes | None = None  # a packet that arrives after the next one
        self._release: asyncio.Task[None] | None = None
        self._send_lock = asyncio.Lock()
        self._fallback_close: asyncio.Task[None] | None = None

    # ---- lifecycle ---------------------------------------------------------------------------

    async def run(self) -> None:
        tasks = [asyncio.create_task(c) for c in (self._join(), self._process(), self._speak(), self._lifetime())]
        try:
            await self._read()
        finally:
            self.closed = True
            self._finish_segment("disconnect")
            self._discard_queued("disconnect")
            if self._release is not None:
                tasks.append(self._release)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def shutdown(self, code: int, reason: str) -> None:
        """The avatar leaves (if it had joined) and the sim closes the socket."""
        if self.closed:
            return
        cut_by = "session_end" if code == _CLOSE_NORMAL else "disconnect"
        self._finish_segment(cut_by)
        self._discard_queued(cut_by)
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
            self._fallback_close = asyncio.get_running_loop().create_task(self.ws.close(code=1011, reason="dropped"))

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
        if self.state.config.session_end == "finish" and self.speaking:
            self.ending = True  # nothing new is started; the current segment ends with audio_end
            self._discard_queued("session_end")
            await self.segment_done.wait()
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
            await self._transit(data)

    async def _transit(self, data: bytes) -> None:
        """The (possibly lossy) trip from the client to the avatar; a loss is never reported."""
        cfg = self.state.config
        verdict = self.delivery.verdict(
            cfg.packet_drop_rate,
            cfg.packet_reorder_rate,
            cfg.max_lost_packets,
            cfg.max_reordered_packets,
            holding=self._held is not None,
        )
        if verdict == "lose":
            self.session.channel["lost"] += 1
            self._ignore("lost_in_transit", data)
            return
        if verdict == "hold":
            self.session.channel["reordered"] += 1
            self._held = data
            self._release = asyncio.create_task(self._release_held())
            return
        await self._accept(data)
        held, self._held = self._held, None
        if held is not None:
            await self._accept(held)

    async def _release_held(self) -> None:
        """A held packet with nothing behind it still arrives, just late."""
        await self.state.clock.sleep(self.state.config.reorder_hold_seconds)
        held, self._held = self._held, None
        if held is not None:
            await self._accept(held)

    async def _accept(self, data: bytes) -> None:
        reason = self.limiter.check(len(data))
        if reason is not None:
            mid = _peek_mid(data)
            self.state.record_violation(self.session.session_id, reason, mid, len(data))
            await self.send({"v": 2, "type": "sim-error", "pld": {"reason": reason, "mid": mid}})
            return
        packet = self._parse(data)
        if packet is None:
            return
        if not self.joined.is_set() and self.state.config.pre_join_messages == "drop":
            self._ignore("before_join", data)
            return
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
            problem = check_params(data)
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
        await self.send(
            {"v": 2, "type": ack_type, "mid": packet.get("mid"), "pld": {"cmd": cmd, "code": code, "msg": msg}}
        )

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
            if self.state.config.busy_chat == "interrupt":
                self._stop_speaking("chat")  # the new chat cuts off the current one
            self.speech.put_nowait((mid, whole))

    def _interrupt(self) -> None:
        self._stop_speaking("interrupt")

    def _stop_speaking(self, cause: str) -> None:
        self._discard_queued(cause)
        if self.speaking and (cause == "interrupt" or not self.ending):  # finishing: only an explicit interrupt
            self.cut_by = cause
            self.interrupted.set()

    def _discard_queued(self, cause: str) -> None:
        """Chats taken in but never begun; listed in the state so a test sees what was lost."""
        while not self.speech.empty():
            mid, text = self.speech.get_nowait()
            self.session.unspoken.append({"mid": mid, "text": text, "reason": cause, "at": self.state.clock.now_ms()})

    # ---- speaking ----------------------------------------------------------------------------

    async def _speak(self) -> None:
        cfg = self.state.config
        while True:
            mid, text = await self.speech.get()
            if self.ending:
                self.session.unspoken.append(
                    {"mid": mid, "text": text, "reason": "session_end", "at": self.state.clock.now_ms()}
                )
                continue
            mode = self.params.get("mode", self.session.mode_type)
            reply = text if mode != 2 else f"(sim answer) You said: {text}"
            index = len(self.session.segments)
            plan = plan_utterance(reply, self.params, self.session, cfg, index)
            own_mid = f"sim-{self.session.session_id[-6:]}-{index}"  # the avatar's own id for its reply
            event_mid = mid if cfg.event_mid == "client" else own_mid
            echo_mid = mid if cfg.bot_echo == "mid" else own_mid
            self.speaking = True
            self.cut_by = None
            self.interrupted.clear()
            self.segment_done.clear()
            self.segment = {
                "index": index,
                "mid": mid,
                "text": reply,
                "started_at": self.state.clock.now_ms(),
                "ended_at": None,
                "interrupted": False,
                "cut_by": None,
                "planned_seconds": round(plan.seconds, 3),
                "language": plan.language,
                "speed": plan.speed,
                "voice": plan.voice,
                "voice_factor": round(plan.voice_factor, 4),
                "event_mid": event_mid if cfg.emit_audio_events else None,
                "echo_mid": echo_mid if cfg.bot_echo != "none" else None,
            }
            self.session.segments.append(self.segment)
            events = cfg.emit_audio_events
            if events:
                await self.send({"v": 2, "type": "event", "mid": event_mid, "pld": {"event": "audio_start"}})
            if cfg.bot_echo != "none":
                pieces = split_pieces(reply)
                for i, piece in enumerate(pieces):
                    await self.send(
                        {
                            "v": 2,
                            "type": "chat",
                            "mid": echo_mid,
                            "idx": i,
                            "fin": i == len(pieces) - 1,
                            "pld": {"from": "bot", "text": piece},
                        }
                    )
            interrupted = await self._wait_speaking(plan.seconds)
            self._finish_segment((self.cut_by or "interrupt") if interrupted else None)
            self.speaking = False
            if events:
                await self.send({"v": 2, "type": "event", "mid": event_mid, "pld": {"event": "audio_end"}})
            self.segment_done.set()

    async def _wait_speaking(self, seconds: float) -> bool:
        done = asyncio.create_task(self.state.clock.sleep(seconds))
        stop = asyncio.create_task(self.interrupted.wait())
        try:
            await asyncio.wait({done, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            done.cancel()
            stop.cancel()
        return self.interrupted.is_set()

    def _finish_segment(self, cut_by: str | None) -> None:
        """Close the record of the current segment: whole (``cut_by`` None) or cut, and why."""
        if self.segment is not None and self.segment["ended_at"] is None:
            self.segment["ended_at"] = self.state.clock.now_ms()
            self.segment["interrupted"] = cut_by is not None
            self.segment["cut_by"] = cut_by
        self.segment = None


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
