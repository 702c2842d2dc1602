"""Sans-IO description of API calls, shared by the sync and async clients.

Every endpoint is declared once, as a generator function decorated with :class:`operation`: it
yields :class:`Call` objects and receives the decoded JSON reply of each. Multi-step logic
(adopt an existing avatar on 1222, reconcile a lost session-create response) is written once and
driven by either client: the sync client runs the generator with blocking I/O, the async client
awaits each call. Errors raised by a call are thrown into the generator, so an operation can
react to them (``except AkoolAlreadyExistsError``) exactly where the call was made. An operation
that has to wait between calls (polling for a session a lost create may still open) yields a
:class:`Pause`; the drivers sleep (blocking or awaited) and resume it with an empty reply.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Coroutine, Generator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Concatenate, Generic, ParamSpec, TypeVar, overload

if TYPE_CHECKING:
    from airflow_provider_akool.client.aio import AsyncAkoolClient
    from airflow_provider_akool.client.sync import AkoolClient

P = ParamSpec("P")
T = TypeVar("T")

Reply = dict[str, Any]
Steps = Generator["Call | Pause", Reply, T]


@dataclass(frozen=True)
class Call:
    """One HTTP request to Akool, described without doing I/O.

    ``idempotent``: safe to repeat after an ambiguous failure (the request may have taken effect).
    ``accept_codes``: business codes returned to the operation as a reply instead of raised.
    ``authenticated``: False only for getToken. ``name`` labels logs and errors.
    """

    method: str
    path: str
    name: str
    params: dict[str, Any] | None = None
    json: dict[str, Any] | None = None
    idempotent: bool = True
    authenticated: bool = True
    accept_codes: frozenset[int] = field(default_factory=frozenset)


@dataclass(frozen=True)
class Pause:
    """Wait ``seconds`` before the next step (no I/O); the operation is resumed with ``{}``."""

    seconds: float


def drive_sync(steps: Steps[T], send: Callable[[Call], Reply], sleep: Callable[[float], object] = time.sleep) -> T:
    """Run an operation's steps with a blocking ``send`` (``sleep`` serves each :class:`Pause`)."""
    try:
        step = next(steps)
        while True:
            if isinstance(step, Pause):
                sleep(max(0.0, step.seconds))
                step = steps.send({})
                continue
            try:
                reply = send(step)
            except Exception as exc:
                step = steps.throw(exc)
            else:
                step = steps.send(reply)
    except StopIteration as stop:
        result: T = stop.value
        return result


async def drive_async(
    steps: Steps[T],
    send: Callable[[Call], Coroutine[Any, Any, Reply]],
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
) -> T:
    """Run an operation's steps with an awaitable ``send`` (``sleep`` serves each :class:`Pause`)."""
    try:
        step = next(steps)
        while True:
            if isinstance(step, Pause):
                await sleep(max(0.0, step.seconds))
                step = steps.send({})
                continue
            try:
                reply = await send(step)
            except Exception as exc:
                step = steps.throw(exc)
            else:
                step = steps.send(reply)
    except StopIteration as stop:
        result: T = stop.value
        return result


class operation(Generic[P, T]):
    """Descriptor turning a step generator into a method of both clients.

    On :class:`AkoolClient` it is a plain method returning ``T``; on :class:`AsyncAkoolClient`
    a coroutine method returning ``T``.
    """

    def __init__(self, steps: Callable[Concatenate[Any, P], Steps[T]]) -> None:
        self.steps = steps
        self.__doc__ = steps.__doc__
        self.__name__ = steps.__name__

    @overload
    def __get__(self, obj: None, owner: type[Any]) -> operation[P, T]: ...

    @overload
    def __get__(self, obj: AkoolClient, owner: type[Any]) -> Callable[P, T]: ...

    @overload
    def __get__(self, obj: AsyncAkoolClient, owner: type[Any]) -> Callable[P, Coroutine[Any, Any, T]]: ...

    def __get__(self, obj: Any, owner: type[Any]) -> Any:
        if obj is None:
            return self
        steps = self.steps

        if getattr(obj, "is_async", False):

            async def run_async(*args: P.args, **kwargs: P.kwargs) -> T:
                return await drive_async(steps(obj, *args, **kwargs), obj.send)

            run_async.__doc__ = steps.__doc__
            run_async.__name__ = steps.__name__
            return run_async

        def run(*args: P.args, **kwargs: P.kwargs) -> T:
            return drive_sync(steps(obj, *args, **kwargs), obj.send)

        run.__doc__ = steps.__doc__
        run.__name__ = steps.__name__
        return run
