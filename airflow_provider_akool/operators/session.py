"""AkoolRetellingSessionOperator: speak scripts verbatim through Akool streaming-avatar sessions."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from airflow_provider_akool._compat import AirflowException, AirflowFailException

# The default cost cap (4 h of pre-charged session time), from a light module shared with
# streaming.planning: parsing a DAG does not import the streaming package.
from airflow_provider_akool._session_caps import (
    CONFIRMATION_RULES,
    DEFAULT_MAX_TOTAL_SESSION_SECONDS,
    RetellingInputError,
    check_session_cap,
)
from airflow_provider_akool.operators._session_inputs import (
    _final_errors,
    _first,
    _parse_json,
    _sim_time_scale,
    _transport_extra,
)
from airflow_provider_akool.operators._session_progress import TaskProgress
from airflow_provider_akool.operators._worker_runtime import (
    PROCESS_STOPPING,
    install_sigterm,
    restore_sigterm,
    run_coroutine,
)
from airflow_provider_akool.sessions.keys import ORPHANS_KEY, TRANSCRIPT_KEY

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_akool.client import AkoolClient
    from airflow_provider_akool.client.config import ClientConfig
    from airflow_provider_akool.hooks.akool import AkoolHook
    from airflow_provider_akool.sessions.book import SessionBook
    from airflow_provider_akool.streaming.runner import RetellingFailedError, RetellingRunner
    from airflow_provider_akool.streaming.transcript import RetellingResult

__all__ = ["ORPHANS_KEY", "TRANSCRIPT_KEY", "AkoolRetellingSessionOperator"]


class AkoolRetellingSessionOperator(BaseOperator):
    """Have an Akool streaming avatar speak ``scripts`` verbatim (retelling mode) and return a transcript.

    The scripts are spoken in order in one session, or in several when they do not fit the 3600 s
    limit. Each session is closed when the task ends, fails, times out or is killed (``on_kill``,
    SIGTERM), and the close is confirmed. A try killed with SIGKILL closes nothing; its ids are kept
    per task instance in a store every try shares (the task state store, or a Variable before
    Airflow 3.3), and the next try first closes those still open - Airflow deletes the XCom of the
    killed try when the retry, or a clear by hand, starts (see ``operators/_session_ledger.py``). A
    successful try deletes its entry.

    Timing (``docs/guides/retelling.md``): the run measures the avatar's real speaking rate from its
    audio events; before each segment it checks that the segment will finish before the session runs
    out, else it goes on in a new session sized from the measured rate. A segment cut short (the
    session ended, the avatar left, the channel closed) is spoken again, whole, in a new session, in
    at most ``max_segment_attempts`` sessions. Without audio events, the avatar's echo of the text or
    a conservative bound tells when a segment is over; segments known by the bound alone are
    *unconfirmed* (``require_confirmation``).

    Cost cap: a plan needing more than ``max_sessions`` sessions or more than
    ``max_total_session_seconds`` of pre-charged session time in total is refused before any API
    call (AirflowFailException naming the cap, the planned and the allowed numbers). Sessions opened
    later, to roll over or to recover a cut segment, count too: one that would exceed a cap is not
    opened, and the task fails without retry.

    XCom: ``session_ids`` (every session opened so far) and ``session_id`` (the latest) are pushed
    the moment a session exists; ``orphan_candidates`` when a lost create response could not be
    attributed (close them with :class:`AkoolCloseStaleSessionsOperator`). The return value is the
    transcript manifest (JSON; ``status``, ``sessions``, ``segments`` with timings and the text the
    avatar said back, ``totals``); a failed run pushes it as ``transcript`` before failing. Ids of
    earlier tries that could not be confirmed closed are pushed as ``orphan_candidates`` too.

    :param avatar_id: streaming avatar to use (templated).
    :param scripts: strings or ``{"text": ..., "id": ...}`` objects, spoken in order (templated).
    :param voice_id: voice (templated); the avatar's default when None.
    :param language: language code (templated), e.g. ``en``.
    :param background_url: background image/video URL (templated).
    :param speed: speaking speed, 0.8-1.2 (templated).
    :param pron_map: word -> pronunciation (templated).
    :param stream_type: ``agora``, ``livekit`` or ``sim`` (templated); default: the connection's
        ``stream_type`` extra, else ``agora``. ``trtc`` has no Python SDK and is refused.
    :param duration: ``"auto"`` (sized from the estimated speaking time) or seconds, at most 3600
        (templated).
    :param segment_timeout: seconds to wait for one segment to be spoken; None derives it from the
        segment's length.
    :param ready_timeout: seconds to wait for the avatar to join the session.
    :param max_message_bytes: opt-in budget for one data-channel message (encoded JSON), e.g. up to
        15360 on LiveKit; default: the transport's (960 bytes on Agora, LiveKit and the sim), else
        the connection's ``max_message_bytes`` extra. See docs/guides/transports.md.
    :param bytes_per_second: opt-in data-channel send rate; default: the transport's (6000 on Agora,
        5760 on LiveKit), else the connection's ``bytes_per_second`` extra.
    :param speech_rates: speaking rates to plan with, per character class, in characters per second
        at speed 1.0 (``{"han": 4.2, "letter": 13}``), or a transcript's measured ``speech_rates``
        block as it is (templated). They override the connection extra ``speech_rates`` for the
        task's ``language``, which overrides the defaults (``docs/guides/speech-rates.md``).
    :param max_sessions: most sessions one task may open; None: no cap (the default).
    :param max_total_session_seconds: most pre-charged session time (the sum of the session
        durations) one task may use; default 14400 (4 h, about 160,000 characters of English or 48,000
        of Chinese at speed 1.0); None: no cap.
    :param max_segment_attempts: most sessions one segment may be tried in (a cut segment is spoken
        again, whole, in a new session); default 3.
    :param require_confirmation: what a segment spoken by estimate alone (no ``audio_end``, no echo)
        does: ``"warn"`` (default: a task-log warning, counted in the transcript's ``totals``),
        ``"fail"`` (the task fails without retry after its sessions are closed), ``"off"``.
    :param akool_conn_id: Airflow connection of type ``akool``.
    """

    template_fields: Sequence[str] = (
        "avatar_id",
        "scripts",
        "voice_id",
        "language",
        "background_url",
        "speed",
        "pron_map",
        "stream_type",
        "duration",
        "speech_rates",
        "akool_conn_id",
    )
    template_fields_renderers = {"scripts": "json", "pron_map": "json", "speech_rates": "json"}
    ui_color = "#e8dcff"

    def __init__(
        self,
        *,
        avatar_id: str,
        scripts: Any,
        voice_id: str | None = None,
        language: str | None = None,
        background_url: str | None = None,
        speed: float | str = 1.0,
        pron_map: dict[str, str] | None = None,
        stream_type: str | None = None,
        duration: int | str = "auto",
        segment_timeout: float | None = None,
        ready_timeout: float = 90.0,
        max_message_bytes: int | None = None,
        bytes_per_second: int | None = None,
        max_sessions: int | None = None,
        max_total_session_seconds: int | None = DEFAULT_MAX_TOTAL_SESSION_SECONDS,
        speech_rates: dict[str, Any] | str | None = None,
        max_segment_attempts: int = 3,
        require_confirmation: str = "warn",
        akool_conn_id: str = "akool_default",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.max_sessions = check_session_cap("max_sessions", max_sessions)
        self.max_total_session_seconds = check_session_cap("max_total_session_seconds", max_total_session_seconds)
        self.max_segment_attempts = check_session_cap("max_segment_attempts", max_segment_attempts)
        if self.max_segment_attempts is None:
            raise RetellingInputError("max_segment_attempts: must be a whole number >= 1 (got None)")
        rule = require_confirmation.strip().lower() if isinstance(require_confirmation, str) else None
        if rule not in CONFIRMATION_RULES:
            raise RetellingInputError(
                f"require_confirmation: must be one of {', '.join(CONFIRMATION_RULES)} (got {require_confirmation!r})"
            )
        self.require_confirmation = rule
        self.avatar_id = avatar_id
        self.scripts = scripts
        self.voice_id = voice_id
        self.language = language
        self.background_url = background_url
        self.speed = speed
        self.pron_map = pron_map
        self.stream_type = stream_type
        self.duration = duration
        self.segment_timeout = segment_timeout
        self.ready_timeout = ready_timeout
        self.speech_rates = speech_rates
        self.max_message_bytes = max_message_bytes
        self.bytes_per_second = bytes_per_second
        self.akool_conn_id = akool_conn_id
        self._runner: RetellingRunner | None = None
        self._kill_client: AkoolClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._main: asyncio.Task[Any] | None = None

    # -- execute -------------------------------------------------------------------------------

    def _build_runner(self, context: Context, hook: AkoolHook) -> RetellingRunner:
        """Validated, planned and within the cost caps; else AirflowFailException naming the field,
        before anything is created."""
        from airflow_provider_akool.sessions.book import SessionBook
        from airflow_provider_akool.streaming.runner import RetellingRunner, RetellingSettings
        from airflow_provider_akool.streaming.speech import language_rates

        def blank_to_none(value: Any) -> Any:
            return None if isinstance(value, str) and not value.strip() else value

        try:
            default_stream_type = hook.default_stream_type
            transport_extra = _transport_extra(hook)
            from_connection = language_rates(
                hook.speech_rates_by_language,
                blank_to_none(self.language),
                f"connection {self.akool_conn_id!r} extra speech_rates",
            )
            given = _parse_json(blank_to_none(self.speech_rates), "speech_rates")
            if isinstance(given, dict) and isinstance(given.get("rates"), dict):
                given = given["rates"]  # a transcript's measured block
            speech_rates = {**{str(k): v for k, v in from_connection.items()}, **(given or {})} or None
            settings = RetellingSettings(
                avatar_id=self.avatar_id,
                stream_type=blank_to_none(self.stream_type) or default_stream_type or "agora",
                voice_id=blank_to_none(self.voice_id),
                language=blank_to_none(self.language),
                background_url=blank_to_none(self.background_url),
                speed=self.speed,  # type: ignore[arg-type]  # checked (and converted) by the runner
                pron_map=blank_to_none(self.pron_map),
                duration=self.duration,  # type: ignore[arg-type]
                segment_timeout=self.segment_timeout,
                ready_timeout=self.ready_timeout,
                speech_rates=speech_rates,
                max_message_bytes=_first(self.max_message_bytes, transport_extra.get("max_message_bytes")),
                bytes_per_second=_first(self.bytes_per_second, transport_extra.get("bytes_per_second")),
                max_sessions=self.max_sessions,
                max_total_session_seconds=self.max_total_session_seconds,
                max_segment_attempts=int(self.max_segment_attempts or 1),
                require_confirmation=self.require_confirmation,  # type: ignore[arg-type]  # checked above
                time_scale=_sim_time_scale(hook.sim_time_scale, self.akool_conn_id),
            )
            # Plans, and refuses a plan over the caps, before anything is created.
            book = SessionBook()
            scripts = _parse_json(self.scripts, "scripts")
            runner = RetellingRunner(settings, scripts, observer=TaskProgress(self, context, book), book=book)
        except ValueError as exc:
            raise AirflowFailException(f"{self.task_id}: invalid input: {exc}") from None
        plans = runner.plans
        self.log.info(
            "Retelling %d segment(s) with avatar %s over %s in %d session(s) (duration %s)",
            len(runner.segments),
            runner.settings.avatar_id,
            runner.settings.stream_type,
            len(plans),
            ", ".join(f"{p.duration} s" for p in plans),
        )
        return runner

    def _close_earlier_tries(self, context: Context, book: SessionBook, config: ClientConfig) -> None:
        """Close what earlier (SIGKILLed) tries of this task instance left open, before opening new
        sessions; ids still unconfirmed go to the sweeper, and ``book`` keeps the ledger from here on."""
        from airflow_provider_akool.operators._session_ledger import close_left_by_earlier_tries, ledger_for_context

        ledger = ledger_for_context(context, self.log)
        carried = close_left_by_earlier_tries(ledger, config, self.akool_conn_id, self.log)
        if carried:
            context["ti"].xcom_push(key=ORPHANS_KEY, value=list(carried))
        book.track(ledger, carried)

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow_provider_akool.hooks.akool import AkoolHook
        from airflow_provider_akool.streaming.runner import RetellingFailedError

        if PROCESS_STOPPING.is_set():
            raise AirflowException("this worker process is being stopped (SIGTERM); not opening new sessions")
        hook = AkoolHook(akool_conn_id=self.akool_conn_id)
        runner = self._build_runner(context, hook)
        config = hook.get_config()
        self._close_earlier_tries(context, runner.book, config)
        self._kill_client = self._client_for_on_kill(config)
        self._runner = runner
        previous = install_sigterm(self)
        try:
            result = run_coroutine(self._run(runner, config))
        except RetellingFailedError as exc:
            self._report_failure(context, runner.book, exc.result)
            raise self._failure(exc) from None
        except asyncio.CancelledError:
            self._report_failure(context, runner.book, runner.result)
            left = runner.open_session_ids
            state = f"session(s) {', '.join(left)} may still be open" if left else "every session it opened was closed"
            raise AirflowException(f"{self.task_id}: killed; {state}") from None
        finally:
            restore_sigterm(previous)
            runner.book.save()
            self._runner = None
            with contextlib.suppress(Exception):
                self._kill_client.close()
        self._push_orphans(context, runner.book)
        # Success: no later try reads the ledger; what is left in it is in XCom (session_ids, orphan_candidates).
        runner.book.finish()
        return self._summarise(result)

    @staticmethod
    def _client_for_on_kill(config: ClientConfig) -> AkoolClient:
        """Built before the run, used only by on_kill: closing must not depend on the (maybe busy) event loop."""
        from airflow_provider_akool.client import AkoolClient

        return AkoolClient(
            dataclasses.replace(config, max_attempts=3, timeout=10.0, max_retry_time=20.0, max_retry_wait=2.0)
        )

    def _failure(self, exc: RetellingFailedError) -> AirflowException:
        """The Airflow exception for a failed run: no retry when a retry cannot fix the cause."""
        from airflow_provider_akool.client.errors import ACCOUNT_ERRORS
        from airflow_provider_akool.fail_fast import account_error_message

        cause = exc.__cause__
        if isinstance(cause, ACCOUNT_ERRORS):  # wrong key, no permission, no credit
            message = account_error_message(self.akool_conn_id, type(cause).__name__, str(cause))
            return AirflowFailException(f"{self.task_id}: retelling failed: {message}")
        # Akool refused the request itself (unknown avatar, bad voice, ...): no retry.
        error_cls = AirflowFailException if isinstance(cause, _final_errors()) else AirflowException
        return error_cls(f"{self.task_id}: retelling failed: {exc}")

    def _summarise(self, result: RetellingResult) -> dict[str, Any]:
        """Log the totals and return the transcript manifest."""
        manifest: dict[str, Any] = result.to_manifest()
        totals = manifest["totals"]
        self.log.info(
            "Done: %d/%d segment(s) spoken in %d session(s), %.1f s; completion %s; %d cut and spoken again, "
            "%d rollover(s)",
            totals["spoken"],
            totals["segments"],
            totals["sessions"],
            manifest["wall_seconds"] or 0.0,
            totals["by_completion"],
            totals["recovered"],
            totals["rollovers"],
        )
        if totals["unconfirmed"] and self.require_confirmation == "warn":
            self.log.warning(
                "%d segment(s) are UNCONFIRMED: the avatar sent no audio_end and no echo for them, so their "
                "end was estimated (require_confirmation='fail' fails the task instead)",
                totals["unconfirmed"],
            )
        return manifest

    async def _run(self, runner: RetellingRunner, config: ClientConfig) -> RetellingResult:
        from airflow_provider_akool.client import AsyncAkoolClient

        self._loop = asyncio.get_running_loop()
        self._main = asyncio.current_task()
        try:
            async with AsyncAkoolClient(config) as client:
                return await runner.run(client)
        finally:
            self._loop = self._main = None

    def _report_failure(self, context: Context, book: SessionBook, result: RetellingResult) -> None:
        ti = context["ti"]
        manifest = result.to_manifest()
        with contextlib.suppress(Exception):
            ti.xcom_push(key=TRANSCRIPT_KEY, value=manifest)
        self._push_orphans(context, book)
        for segment in manifest["segments"]:
            if segment["status"] != "spoken":
                self.log.info("Segment %s: %s %s", segment["id"], segment["status"], segment["error"] or "")

    def _push_orphans(self, context: Context, book: SessionBook) -> None:
        """Hand sessions a lost create may have opened to the sweeper (on success too: they are still open)."""
        if book.candidates:
            self.log.warning(
                "A lost create response left possible orphan session(s) %s; pushed as %r for the sweeper",
                book.candidates,
                ORPHANS_KEY,
            )
            with contextlib.suppress(Exception):  # keeps the earlier tries' unconfirmed ids, pushed at start
                context["ti"].xcom_push(key=ORPHANS_KEY, value=book.orphan_ids)

    # -- kill ----------------------------------------------------------------------------------

    def on_kill(self) -> None:
        """Close every open session now (blocking, bounded), then cancel the run (it closes again, idempotently)."""
        from airflow_provider_akool.sessions.close import close_session

        runner, client = self._runner, self._kill_client
        if runner is None:
            return
        for session_id in runner.open_session_ids:
            if client is None:
                break
            try:  # one confirmed attempt: the run's own close retries once it is cancelled
                outcome = close_session(client, session_id, attempts=1, fatal=())
            except Exception as exc:
                self.log.error("on_kill: closing session %s failed: %s", session_id, exc)
                continue
            if outcome.closed:
                self.log.warning("on_kill: closed session %s (already closed: %s)", session_id, outcome.already_closed)
            else:
                self.log.error("on_kill: closing session %s failed: %s", session_id, outcome.error)
        loop, main = self._loop, self._main
        if loop is not None and main is not None and not main.done():
            with contextlib.suppress(RuntimeError):  # loop already closed
                loop.call_soon_threadsafe(main.cancel)
