"""One record of the sessions a task opened and has not confirmed closed (they are paid for).

The runner writes to it as sessions open and close and as lost creates leave candidates; the
operator reads it for XCom (``session_ids``, ``orphan_candidates``), for ``on_kill`` and for the
transcript; and every change of what is unclosed is written to the task's :class:`SessionLedger`,
so that a SIGKILLed try's next try can close what it left.
"""

from __future__ import annotations

from collections.abc import Iterable

from airflow_provider_akool.sessions.ledger import SessionLedger

__all__ = ["SessionBook"]


class SessionBook:
    """Sessions of one task try, and what earlier tries left.

    ``opened``: every session this try opened, in order. ``open_ids``: those not yet confirmed
    closed. ``carried``: earlier tries' sessions that could not be confirmed closed. ``candidates``:
    sessions a lost create may have opened, that could not be attributed (never closed here).
    """

    def __init__(self) -> None:
        self.opened: list[str] = []
        self.carried: list[str] = []
        self.candidates: list[str] = []
        self._open: dict[str, None] = {}
        self._ledger: SessionLedger | None = None

    def track(self, ledger: SessionLedger, carried: Iterable[str] = ()) -> None:
        """Keep ``ledger`` up to date with the unclosed sessions, starting with ``carried``."""
        self._ledger = ledger
        self.carried = list(dict.fromkeys(carried))
        self.save()

    @property
    def open_ids(self) -> list[str]:
        """This try's sessions not yet confirmed closed (what to close if the task is killed)."""
        return list(self._open)

    @property
    def unclosed(self) -> list[str]:
        """What the ledger holds: the carried ids, then this try's open ones."""
        return list(dict.fromkeys([*self.carried, *self._open]))

    @property
    def orphan_ids(self) -> list[str]:
        """What the sweeper must close as it may be left open: carried ids, then candidates."""
        return list(dict.fromkeys([*self.carried, *self.candidates]))

    def session_opened(self, session_id: str) -> None:
        """A session now exists and is paid for: recorded (and in the ledger) before it is used."""
        self.opened.append(session_id)
        self._open[session_id] = None
        self.save()

    def session_closed(self, session_id: str) -> None:
        """The close of ``session_id`` was confirmed."""
        self._open.pop(session_id, None)
        self.save()

    def add_candidates(self, session_ids: Iterable[str]) -> list[str]:
        """Record sessions a lost create may have opened; return those not known before."""
        new = [i for i in dict.fromkeys(session_ids) if i not in self.candidates]
        self.candidates.extend(new)
        return new

    def save(self) -> None:
        """Write the unclosed ids to the ledger (best effort; no ledger: nothing to do)."""
        if self._ledger is not None:
            self._ledger.save(self.unclosed)

    def finish(self) -> None:
        """The try succeeded: what is still unclosed was handed on (XCom); clear the ledger entry."""
        if self._ledger is not None:
            self._ledger.finish()
