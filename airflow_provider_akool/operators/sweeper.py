"""AkoolCloseStaleSessionsOperator: close Akool sessions left open, so no pre-charged credit is wasted."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from airflow_provider_akool._compat import AirflowException, AirflowFailException
from airflow_provider_akool.sessions.keys import PRIOR_RUN_SWEEP_KEYS, SWEEP_KEYS, SWEEP_REPORT_KEY

if TYPE_CHECKING:
    from airflow.sdk import Context

# The XCom keys the session operator pushes, read by default from this run and from earlier runs.
DEFAULT_XCOM_KEYS = SWEEP_KEYS
PRIOR_RUN_XCOM_KEYS = PRIOR_RUN_SWEEP_KEYS


def _flatten(values: Any) -> list[str]:
    """Session ids out of XCom values: strings, lists of strings, lists of those (mapped tasks)."""
    found: list[str] = []
    if isinstance(values, str):
        if values.strip():
            found.append(values.strip())
    elif isinstance(values, Iterable) and not isinstance(values, bytes | dict):
        for value in values:
            found.extend(_flatten(value))
    return found


def _parse_ids(value: Any) -> list[str] | None:
    """None, a list of ids, a JSON list, or a comma-separated string (templated values arrive as text)."""
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                value = json.loads(text)
            except ValueError:
                raise AirflowFailException("session_ids: looks like JSON but does not parse") from None
        else:
            value = [part for part in text.split(",") if part.strip()]
    if not isinstance(value, Iterable):
        raise AirflowFailException("session_ids: must be a list of session ids")
    return _flatten(value)


class AkoolCloseStaleSessionsOperator(BaseOperator):
    """Close Akool sessions still open (status 1 queueing or 2 processing) and report them.

    By default every open session of the account is closed. Narrow it down with ``session_ids``
    and/or ``from_task_ids`` (ids pushed to XCom by those tasks, every map index, under
    ``xcom_keys``): then only those are closed - the sessions this deployment opened. With both
    empty at run time nothing is closed. ``older_than_minutes`` closes only sessions the API says
    are older; Akool's documented list has no creation time, so such sessions are skipped and
    reported. ``dry_run`` reports what would be closed. Typical use: last task of a DAG, with
    ``trigger_rule="all_done"``.

    ``include_prior_runs=True`` reads the ``from_task_ids`` XCom of the EARLIER runs of the DAG
    instead (``xcom_pull(include_prior_dates=True)``, minus the ids the current run pushed, pulled
    separately: those are its own sweeper's, and may be sessions still speaking): as the first task
    of a DAG it closes what an earlier run left open - a run whose retelling task was SIGKILLed
    together with its worker and whose own sweeper never ran, or ran before the session ids reached
    it. Only the ``session_ids`` key is read from earlier runs unless ``xcom_keys`` is given:
    ``orphan_candidates`` may be other callers' sessions and are left to their own run's sweeper
    (pass ``xcom_keys=("session_ids", "orphan_candidates")`` to close them too). Only ids Akool still
    lists as open (status 1 or 2) are closed; the others are counted as ``not_open`` (closed
    already, or ended by their ``duration``). XCom rows live until ``airflow db clean`` removes
    them; the pull reads one small list per task instance and run, and closing costs one list of
    the account's open sessions whatever the number of known ids. Earlier runs still running would
    have their sessions closed too: use it in DAGs with ``max_active_runs=1`` (a warning is logged
    otherwise). In a backfill run (not limited by ``max_active_runs``) earlier runs are not read
    (logged), only ``session_ids`` given explicitly are closed.

    Account-level errors (wrong key, no permission) fail the task without a retry; the message
    names ``akool_conn_id``.

    Returns ``{"dry_run", "considered", "closed", "would_close", "skipped", "failed", "known",
    "not_open"}`` (lists of ``{"session_id", "status", ...}``; ``known`` and ``not_open`` are counts
    of the ids given or pulled, None when every open session was swept); fails after reporting if
    any close failed.

    :param session_ids: ids to consider (templated): list, JSON list or comma-separated string.
    :param from_task_ids: task ids whose XCom holds session ids (e.g. the retelling task).
    :param xcom_keys: XCom keys read from ``from_task_ids``; default ``session_ids`` and
        ``orphan_candidates``, only ``session_ids`` with ``include_prior_runs``.
    :param include_prior_runs: read ``from_task_ids`` XCom of earlier runs of this DAG, not this run's.
    :param older_than_minutes: only close sessions at least this old (needs a creation time).
    :param dry_run: list, do not close.
    :param akool_conn_id: Airflow connection of type ``akool``.
    """

    template_fields: Sequence[str] = ("session_ids", "akool_conn_id")
    ui_color = "#ffe2d6"

    def __init__(
        self,
        *,
        session_ids: list[str] | str | None = None,
        from_task_ids: Sequence[str] | None = None,
        xcom_keys: Sequence[str] | None = None,
        older_than_minutes: float | None = None,
        dry_run: bool = False,
        include_prior_runs: bool = False,
        akool_conn_id: str = "akool_default",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if older_than_minutes is not None and older_than_minutes < 0:
            raise ValueError(f"older_than_minutes: must be >= 0 (got {older_than_minutes!r})")
        if isinstance(from_task_ids, str):
            from_task_ids = [from_task_ids]
        self.session_ids = session_ids
        self.from_task_ids = list(from_task_ids or [])
        if isinstance(xcom_keys, str):
            xcom_keys = [xcom_keys]
        if xcom_keys is None:
            xcom_keys = PRIOR_RUN_XCOM_KEYS if include_prior_runs else DEFAULT_XCOM_KEYS
        self.xcom_keys = list(xcom_keys)
        self.older_than_minutes = older_than_minutes
        self.include_prior_runs = include_prior_runs
        # Not `self.dry_run`: that name is BaseOperator's method (render templates, run nothing).
        self.sweep_dry_run = dry_run
        self.akool_conn_id = akool_conn_id

    def _wanted(self, context: Context) -> set[str] | None:
        explicit = _parse_ids(self.session_ids)
        if explicit is None and not self.from_task_ids:
            return None
        wanted = set(explicit or [])
        if not self.from_task_ids:
            return wanted
        ti = context["ti"]
        if not self.include_prior_runs:
            for key in self.xcom_keys:
                values = ti.xcom_pull(task_ids=list(self.from_task_ids), key=key, include_prior_dates=False)
                wanted.update(_flatten(values))
            return wanted
        run_type = getattr(context.get("dag_run"), "run_type", None)
        if str(getattr(run_type, "value", run_type)) == "backfill":
            self.log.warning(
                "Backfill run: earlier runs' sessions are not closed (backfill runs are not limited by "
                "max_active_runs, so an earlier run may still be speaking)"
            )
            return wanted
        # Earlier runs first, then this run: an id this run pushes in between is in the second pull.
        prior: set[str] = set()
        for key in self.xcom_keys:
            values = ti.xcom_pull(task_ids=list(self.from_task_ids), key=key, include_prior_dates=True)
            prior.update(_flatten(values))
        current: set[str] = set()
        for key in dict.fromkeys([*self.xcom_keys, *DEFAULT_XCOM_KEYS]):
            values = ti.xcom_pull(task_ids=list(self.from_task_ids), key=key, include_prior_dates=False)
            current.update(_flatten(values))
        if prior & current:
            self.log.info("Leaving %d session id(s) of this run to its own sweeper", len(prior & current))
        return wanted | (prior - current)

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow_provider_akool.fail_fast import fail_fast_on_account_errors
        from airflow_provider_akool.hooks.akool import AkoolHook
        from airflow_provider_akool.sessions.sweep import sweep_open_sessions

        dag = context.get("dag")
        if self.include_prior_runs and getattr(dag, "max_active_runs", 1) != 1:
            self.log.warning(
                "include_prior_runs with max_active_runs=%s: a session of another run still speaking would be "
                "closed too; use max_active_runs=1",
                getattr(dag, "max_active_runs", None),
            )
        wanted = self._wanted(context)
        scope = "every open session" if wanted is None else f"{len(wanted)} known session id(s)"
        prior = " of earlier runs" if self.include_prior_runs and wanted is not None else ""
        self.log.info("Sweeping %s%s%s", scope, prior, " (dry run)" if self.sweep_dry_run else "")
        client = AkoolHook(akool_conn_id=self.akool_conn_id).get_client()
        older = None if self.older_than_minutes is None else self.older_than_minutes * 60.0
        with fail_fast_on_account_errors(self.akool_conn_id):
            report = sweep_open_sessions(client, only_ids=wanted, older_than_seconds=older, dry_run=self.sweep_dry_run)
        for verb, entries in (
            ("closed", report.closed),
            ("would close", report.would_close),
            ("skipped", report.skipped),
            ("FAILED to close", report.failed),
        ):
            for entry in entries:
                reason = f" ({entry['reason']})" if entry.get("reason") else ""
                self.log.info("%s session %s (status %s)%s", verb, entry["session_id"], entry["status"], reason)
        self.log.info(
            "Sweep done: %d open considered, %d closed, %d would close, %d skipped, %d failed",
            report.considered,
            len(report.closed),
            len(report.would_close),
            len(report.skipped),
            len(report.failed),
        )
        result: dict[str, Any] = report.to_dict()
        result["known"] = None if wanted is None else len(wanted)
        result["not_open"] = None if wanted is None else len(wanted) - report.considered
        if wanted:
            self.log.info("%d known session id(s) are not open (closed already, or ended)", result["not_open"])
        if report.failed:
            context["ti"].xcom_push(key=SWEEP_REPORT_KEY, value=result)
            raise AirflowException(
                f"could not close {len(report.failed)} session(s): " + ", ".join(e["session_id"] for e in report.failed)
            )
        return result
