"""Pacing: close to the cap, never above it in any one-second window (fake clock, no real waiting)."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from airflow_provider_akool.streaming import (
    AGORA_LIMITS,
    LIVEKIT_LIMITS,
    TRTC_LIMITS,
    RateLimiter,
    TransportLimits,
    chunk_text,
    encode,
)
from airflow_provider_akool.streaming.limits import transport_limits


class FakeClock:
    """Time that only moves when someone sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        assert seconds > 0
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


async def send_all(limiter: RateLimiter, clock: FakeClock, sizes: list[int]) -> list[tuple[float, int]]:
    sent = []
    for size in sizes:
        await limiter.acquire(size)
        sent.append((clock.now, size))
    return sent


def max_in_any_window(sent: list[tuple[float, int]], window: float = 1.0) -> tuple[int, int]:
    """Most bytes and most messages in any closed window [t, t + window] (t = a send time)."""
    worst_bytes = worst_count = 0
    for i, (start, _) in enumerate(sent):
        in_window = [size for t, size in sent[i:] if t <= start + window]
        worst_bytes = max(worst_bytes, sum(in_window))
        worst_count = max(worst_count, len(in_window))
    return worst_bytes, worst_count


def average_rate(sent: list[tuple[float, int]]) -> float:
    """Bytes per second over the run (the last send's bytes go out at its start, so leave them out)."""
    duration = sent[-1][0] - sent[0][0]
    return sum(size for _, size in sent[:-1]) / duration


LONG_TEXT = (
    "The avatar greets the audience. It explains the quarterly figures in plain words! "
    "Revenue grew by nine percent, driven by subscriptions. Costs stayed flat? Mostly, yes. "
    "The team thanks everyone for their patience, and promises a shorter report next time. "
) * 300


@pytest.mark.parametrize("limits", [AGORA_LIMITS, TRTC_LIMITS], ids=["agora", "trtc"])
async def test_long_text_runs_near_the_byte_cap_and_never_above_it(limits: TransportLimits) -> None:
    clock = FakeClock()
    limiter = RateLimiter.for_limits(limits, clock=clock, sleep=clock.sleep)
    sizes = [len(encode(c)) for c in chunk_text(LONG_TEXT, max_message_bytes=limits.max_message_bytes)]
    assert len(sizes) > 50

    sent = await send_all(limiter, clock, sizes)

    worst_bytes, worst_count = max_in_any_window(sent)
    assert worst_bytes <= limits.bytes_per_second
    assert worst_count <= limits.messages_per_second
    assert average_rate(sent) >= 0.9 * limits.bytes_per_second


@pytest.mark.parametrize("size", [894, 700, 333, 960])
async def test_limiter_reaches_what_message_sizes_allow(size: int) -> None:
    """Whole messages only: at most floor(cap / size) fit in a window, the limiter must get close."""
    clock = FakeClock()
    limiter = RateLimiter.for_limits(AGORA_LIMITS, clock=clock, sleep=clock.sleep)
    sent = await send_all(limiter, clock, [size] * 200)
    per_window = min(AGORA_LIMITS.bytes_per_second // size, AGORA_LIMITS.messages_per_second)
    assert max_in_any_window(sent)[0] <= AGORA_LIMITS.bytes_per_second
    assert average_rate(sent) >= 0.97 * per_window * size


async def test_small_messages_run_near_the_message_cap_and_never_above_it() -> None:
    clock = FakeClock()
    limiter = RateLimiter.for_limits(AGORA_LIMITS, clock=clock, sleep=clock.sleep)
    sent = await send_all(limiter, clock, [40] * 600)
    _, worst_count = max_in_any_window(sent)
    assert worst_count <= AGORA_LIMITS.messages_per_second
    messages_per_second = (len(sent) - 1) / (sent[-1][0] - sent[0][0])
    assert messages_per_second >= 0.9 * AGORA_LIMITS.messages_per_second


async def test_mixed_sizes_respect_both_caps() -> None:
    clock = FakeClock()
    limiter = RateLimiter.for_limits(AGORA_LIMITS, clock=clock, sleep=clock.sleep)
    sizes = [960, 12, 500, 3, 960, 960, 80, 700] * 60
    sent = await send_all(limiter, clock, sizes)
    worst_bytes, worst_count = max_in_any_window(sent)
    assert worst_bytes <= AGORA_LIMITS.bytes_per_second
    assert worst_count <= AGORA_LIMITS.messages_per_second


async def test_first_send_after_idle_is_immediate() -> None:
    clock = FakeClock()
    limiter = RateLimiter.for_limits(AGORA_LIMITS, clock=clock, sleep=clock.sleep)
    await send_all(limiter, clock, [960] * 20)
    clock.now += 5.0
    sleeps_before = len(clock.sleeps)
    await limiter.acquire(960)
    assert len(clock.sleeps) == sleeps_before


async def test_sends_are_spread_out_not_burst() -> None:
    clock = FakeClock()
    limiter = RateLimiter.for_limits(AGORA_LIMITS, clock=clock, sleep=clock.sleep)
    sent = await send_all(limiter, clock, [960] * 6)
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(sent)]
    assert all(gap == pytest.approx(960 / 6000) for gap in gaps)


async def test_concurrent_senders_share_the_budget() -> None:
    clock = FakeClock()
    limiter = RateLimiter.for_limits(AGORA_LIMITS, clock=clock, sleep=clock.sleep)
    sent: list[tuple[float, int]] = []

    async def sender(count: int) -> None:
        for _ in range(count):
            await limiter.acquire(900)
            sent.append((clock.now, 900))

    await asyncio.gather(sender(30), sender(30), sender(30))
    sent.sort()
    worst_bytes, _ = max_in_any_window(sent)
    assert len(sent) == 90
    assert worst_bytes <= AGORA_LIMITS.bytes_per_second


async def test_livekit_defaults_pace_like_akools_demo_and_larger_rates_are_opt_in() -> None:
    clock = FakeClock()
    limiter = RateLimiter.for_limits(LIVEKIT_LIMITS, clock=clock, sleep=clock.sleep)
    sent = await send_all(limiter, clock, [960] * 12)
    assert max_in_any_window(sent)[0] <= 5760
    assert sent[-1][0] - sent[0][0] > 1.0  # 11,520 bytes at 5,760 B/s
    opted_in = transport_limits("livekit", max_message_bytes=2000, bytes_per_second=1_000_000)
    clock = FakeClock()
    fast = RateLimiter.for_limits(opted_in, clock=clock, sleep=clock.sleep)
    sent = await send_all(fast, clock, [2000] * 10)
    assert sent[-1][0] - sent[0][0] < 0.5  # only the 30 msg/s spacing; 20 KB at 5,760 B/s would take 3 s


async def test_message_larger_than_a_second_of_budget_is_refused() -> None:
    limiter = RateLimiter(1000, 10)
    with pytest.raises(ValueError, match="1001-byte"):
        await limiter.acquire(1001)


def test_limits_are_validated() -> None:
    with pytest.raises(ValueError, match="max_message_bytes"):
        TransportLimits(max_message_bytes=2000, bytes_per_second=1000, messages_per_second=5)
    with pytest.raises(ValueError, match="messages_per_second"):
        TransportLimits(max_message_bytes=10, bytes_per_second=1000, messages_per_second=0)
