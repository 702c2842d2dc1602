"""The REST session lifecycle: the sessions a task opened and has not confirmed closed (paid for).

Airflow-free, written once as sans-IO steps (``client/calls.py``) and driven by the sync or the
async client (``drive``):

- ``opening``: open a session, with the lost-create reconciliation (``reconcile``) and, in async
  code, a ``CreateWatch`` that keeps looking for a session a given-up create may still open;
- ``close``: close-and-confirm, one declaration for both drivers;
- ``listing``: the open sessions of the account (status 1 and 2, every page);
- ``sweep``: close open sessions, optionally only known ids and only old ones;
- ``ledger``: where a task keeps, across tries, the ids it has not confirmed closed (a ``LedgerStore``
  protocol; the Airflow-backed stores live in ``operators/_session_ledger.py``);
- ``book``: the one record of a task's sessions (opened, still open, earlier tries', candidates);
- ``keys``: the XCom keys the session operator pushes and the sweeper reads.

This module only re-exports the XCom keys, so that importing it at DAG parse stays light.
"""

from airflow_provider_akool.sessions.keys import (
    ORPHANS_KEY,
    SESSION_ID_KEY,
    SESSION_IDS_KEY,
    SWEEP_REPORT_KEY,
    TRANSCRIPT_KEY,
)

__all__ = ["ORPHANS_KEY", "SESSION_IDS_KEY", "SESSION_ID_KEY", "SWEEP_REPORT_KEY", "TRANSCRIPT_KEY"]
