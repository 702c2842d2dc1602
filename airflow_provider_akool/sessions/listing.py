"""The account's open sessions (status 1 queueing, 2 processing), every page of both listings.

Used before and after a session create (``reconcile``) and by the sweeper (``sweep``). docs/reference/akool-api.md
§2.7: the list takes at most 100 per page and reports ``count``; pages are read until the items
seen reach it, or a page comes back empty.
"""

from __future__ import annotations

from airflow_provider_akool.client.calls import Steps
from airflow_provider_akool.client.models import Session
from airflow_provider_akool.client.models.sessions import OPEN_SESSION_STATUSES
from airflow_provider_akool.client.operations import AkoolOperations

__all__ = ["PAGE_SIZE", "open_sessions"]

PAGE_SIZE = 100  # the most one page of the list may hold


def open_sessions(ops: AkoolOperations, page_size: int = PAGE_SIZE) -> Steps[dict[str, Session]]:
    """Every open session by id (a session listed under both statuses counts once)."""
    found: dict[str, Session] = {}
    for status in OPEN_SESSION_STATUSES:
        page, seen = 1, 0
        while True:
            listing = yield from AkoolOperations.list_sessions.steps(ops, page=page, size=page_size, status=int(status))
            for session in listing.result:
                found.setdefault(session.id, session)
            seen += len(listing.result)
            # A page shorter than asked is not the end while ``count`` says more are left (a server
            # may cap the page size below ours); an empty page is, whatever ``count`` says.
            if not listing.result or seen >= listing.count:
                break
            page += 1
    return found
