"""AkoolAvatarSensor: wait until an existing streaming avatar is usable."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator, PokeReturnValue

from airflow_provider_akool._compat import AirflowFailException, AirflowSensorTimeout, AirflowSkipException, conf
from airflow_provider_akool.avatar_wait import Clock, avatar_record, describe_avatar, failure_message, read_event
from airflow_provider_akool.links import AVATAR_PREVIEW_XCOM_KEY, AkoolAvatarPreviewLink

if TYPE_CHECKING:
    from airflow.sdk import Context


class AkoolAvatarSensor(BaseSensorOperator):
    """Wait until the avatar ``avatar_id`` is ready (status 3, or ``available`` without a status).

    Works in ``poke`` and ``reschedule`` mode, or deferred to the triggerer with
    ``deferrable=True`` (then ``timeout`` becomes a wall-clock deadline carried by the trigger).
    An avatar Akool marks failed (status 4) or that does not exist fails the task at once with
    Akool's message instead of waiting for the timeout; with ``soft_fail=True`` the task is skipped
    instead. An account-level error (wrong key, no permission, no credit: the message names
    ``akool_conn_id``; no retry) fails the task even with ``soft_fail=True``: a wrong key is not a
    condition to skip past, and a skip would end the run green. Returns the same record as
    :class:`AkoolCreateAvatarOperator`.

    :param avatar_id: the avatar to wait for (templated).
    :param akool_conn_id: Airflow connection of type ``akool``.
    :param deferrable: wait in the triggerer instead of a worker slot.
    """

    template_fields: Sequence[str] = ("avatar_id", "akool_conn_id")
    operator_extra_links = (AkoolAvatarPreviewLink(),)
    ui_color = "#d9e7ff"
    clock = Clock()  # sets the deferred wait's deadline; tests replace it

    def __init__(
        self,
        *,
        avatar_id: str,
        akool_conn_id: str = "akool_default",
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.avatar_id = avatar_id
        self.akool_conn_id = akool_conn_id
        self.deferrable = deferrable
        self._account_failure: AirflowFailException | None = None

    def _account_error(self, message: str) -> AirflowFailException:
        """Fails the task whatever ``soft_fail`` says (BaseSensorOperator turns it into a skip; undone below)."""
        self._account_failure = AirflowFailException(message)
        return self._account_failure

    def _account_failure_in(self, skip: AirflowSkipException) -> AirflowFailException | None:
        """The account failure a ``soft_fail`` skip wraps (``never_fail`` is left to skip), else None."""
        failure = self._account_failure
        if failure is not None and skip.__cause__ is failure and not getattr(self, "never_fail", False):
            return failure
        return None

    def _failure(self, message: str, *, timed_out: bool = False) -> Exception:
        """The exception that ends the task: fail (no retry helps), or skip when ``soft_fail`` is set."""
        if self.soft_fail:
            return AirflowSkipException(f"{message} (soft_fail: skipping)")
        if timed_out:
            return AirflowSensorTimeout(message)
        return AirflowFailException(message)

    def _checked_avatar_id(self) -> str:
        # Any existing id is accepted: official avatars have ids such as dvp_Tristan_cloth2_1080P,
        # outside the ^[a-zA-Z0-9]+$ pattern that only applies to uploads (docs/reference/akool-api.md §2.1-2.2).
        avatar_id = self.avatar_id.strip() if isinstance(self.avatar_id, str) else ""
        if not avatar_id or not avatar_id.isprintable() or any(c.isspace() for c in avatar_id):
            raise self._failure(
                f"{self.task_id}: invalid input: avatar_id: must be a non-empty id without spaces or control "
                f"characters (got {self.avatar_id!r})"
            )
        return avatar_id

    def poke(self, context: Context) -> bool | PokeReturnValue:
        from airflow_provider_akool.client import AkoolNotFoundError
        from airflow_provider_akool.fail_fast import account_error_message, account_error_types
        from airflow_provider_akool.hooks.akool import AkoolHook

        avatar_id = self._checked_avatar_id()
        client = AkoolHook(akool_conn_id=self.akool_conn_id).get_client()
        try:
            avatar = client.read_avatar(avatar_id)
            self.log.info("Avatar %s: status=%s available=%s", avatar_id, avatar.status, avatar.available)
            if avatar.state == "failed":
                raise self._failure(failure_message(describe_avatar(avatar)))
            if avatar.state != "ready":
                return False
            avatar = client.complete_avatar(avatar, want=("create_time",))
        except AkoolNotFoundError as exc:
            raise self._failure(f"Akool has no avatar {avatar_id!r}: {exc}") from None
        except account_error_types() as exc:  # a wrong key: no retry, no waiting for the timeout
            message = account_error_message(self.akool_conn_id, type(exc).__name__, str(exc))
            raise self._account_error(message) from None
        if avatar.url:
            context["ti"].xcom_push(key=AVATAR_PREVIEW_XCOM_KEY, value=avatar.url)
        return PokeReturnValue(is_done=True, xcom_value=avatar_record(describe_avatar(avatar)))

    def execute(self, context: Context) -> Any:
        if not self.deferrable:
            try:
                return super().execute(context)
            except AirflowSkipException as skip:
                if (failure := self._account_failure_in(skip)) is None:
                    raise
                raise failure from None
        outcome = self.poke(context)  # already ready (or failed): no deferral needed
        if outcome:
            return outcome.xcom_value if isinstance(outcome, PokeReturnValue) else None
        from airflow_provider_akool.triggers.avatar import AkoolAvatarTrigger

        self.defer(
            trigger=AkoolAvatarTrigger(
                avatar_id=self._checked_avatar_id(),
                deadline=self.clock.now() + self.timeout,
                akool_conn_id=self.akool_conn_id,
                poll_interval=self.poke_interval,
            ),
            method_name="execute_complete",
            timeout=None,
        )
        return None  # not reached: defer() raises

    def resume_execution(self, next_method: str, next_kwargs: dict[str, Any] | None, context: Context) -> Any:
        try:
            return super().resume_execution(next_method, next_kwargs, context)
        except AirflowSkipException as skip:
            if (failure := self._account_failure_in(skip)) is None:
                raise
            raise failure from None

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> dict[str, Any]:
        """Resume after the trigger fired: success returns the record, anything else fails (or skips)."""
        outcome = read_event(event, task_id=self.task_id, conn_id=self.akool_conn_id)
        if outcome.kind == "account":
            raise self._account_error(outcome.message)
        if outcome.kind == "ready" and outcome.record is not None:
            if outcome.preview_url:
                context["ti"].xcom_push(key=AVATAR_PREVIEW_XCOM_KEY, value=outcome.preview_url)
            return outcome.record
        raise self._failure(outcome.message, timed_out=outcome.kind == "timeout")
