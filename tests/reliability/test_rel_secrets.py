"""Secret scan: distinctive credentials never reach logs, XCom, manifests, reprs or exception texts.

akool-sim is configured with a distinctive API key and client secret, and made to issue distinctive
bearer tokens and RTC (sim data-channel) tokens; every value it issues is recorded. Representative
operators, the sensor and the trigger then run in both auth modes, on success and on failure paths
(wrong key, wrong secret, expired token, avatar never joins, set-params refused, channel dropped,
wrong RTC token). Everything a user or a log shipper can see is collected and scanned:

- everything written to stdout/stderr (the operators' structlog task log lines) and every stdlib log
  record at DEBUG (client, streaming, httpx, websockets), message and traceback;
- every exception's ``str``, ``repr`` and full chained traceback;
- every XCom value pushed and every return value;
- every object (body and metadata) in the archive bucket: manifests and archived resources;
- ``repr``/dumps of hooks, clients, configs, operators, session models and trigger kwargs.

The check is 0 occurrences of each value, and of its first 16 characters (a truncated secret is
still a leak). Runs in about 20-30 s; the DAG-run variant (logs under AIRFLOW_HOME, the XCom
table) is in ``test_rel_secrets_dag.py`` (``chaos``: it runs ``airflow dags test``).
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import secrets
import traceback
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from conftest import SECRET_SIM_TIME_SCALE
from rel_support import AVATAR, SecretSet, bucket_objects, secret_kind
from task_support import make_context, set_akool_conn

from airflow_provider_akool.sim.runner import SimServer


class Collector:
    """Texts to scan, by where they came from."""

    def __init__(self) -> None:
        self.texts: dict[str, str] = {}

    def add(self, where: str, value: Any) -> None:
        text = value if isinstance(value, str) else json.dumps(value, default=repr)
        self.texts[f"{where}#{len(self.texts)}"] = text

    def exception(self, where: str, exc: BaseException) -> None:
        self.add(f"{where}: str", str(exc))
        self.add(f"{where}: repr", repr(exc))
        self.add(f"{where}: traceback", "".join(traceback.format_exception(exc)))

    def run(self, where: str, fn: Callable[[], Any]) -> Any:
        """Call ``fn``; record its result or the exception it raised (which is then swallowed)."""
        try:
            result = fn()
        except BaseException as exc:
            self.exception(where, exc)
            return exc
        self.add(f"{where}: result", result)
        return result

    def context(self, where: str, context: dict[str, Any]) -> None:
        for key, value in context["ti"].pushed:
            self.add(f"{where}: xcom {key}", value)


def _set_conn(monkeypatch: pytest.MonkeyPatch, conn_id: str, sim: SimServer, **kwargs: Any) -> str:
    return set_akool_conn(monkeypatch, sim, conn_id, max_attempts=2, **kwargs)


def _operator_scenarios(
    c: Collector, sim: SimServer, conn_id: str, mode: str, bucket: str, aws_conn: str, secret_set: SecretSet
) -> None:
    from airflow_provider_akool.hooks.akool import AkoolHook
    from airflow_provider_akool.operators.archive import AkoolArchiveToS3Operator
    from airflow_provider_akool.operators.avatar import AkoolCreateAvatarOperator
    from airflow_provider_akool.operators.session import AkoolRetellingSessionOperator
    from airflow_provider_akool.operators.sweeper import AkoolCloseStaleSessionsOperator
    from airflow_provider_akool.sensors.avatar import AkoolAvatarSensor

    hook = AkoolHook(akool_conn_id=conn_id)
    client = hook.get_client()
    c.add(f"{mode}: reprs", [repr(hook), repr(client), repr(client.config), str(client.config)])
    c.add(f"{mode}: test_connection", list(hook.test_connection()))

    avatar_id = f"relsecret{mode}"
    op = AkoolCreateAvatarOperator(
        task_id="create",
        video_url="https://media.example.com/v/secret-clip.mp4",
        avatar_id=avatar_id,
        poll_interval=0.05,
        timeout=60,
        akool_conn_id=conn_id,
    )
    ctx = make_context()
    c.run(f"{mode}: avatar", lambda: op.execute(ctx))
    c.context(f"{mode}: avatar", ctx)
    c.add(f"{mode}: avatar repr", repr(op))

    if mode == "token":  # a refreshed token after 1101: both tokens must stay hidden
        sim.expire_tokens()
    sensor = AkoolAvatarSensor(
        task_id="sense", avatar_id=avatar_id, akool_conn_id=conn_id, poke_interval=0.05, timeout=30
    )
    ctx = make_context()
    c.run(f"{mode}: sensor", lambda: getattr(sensor.poke(ctx), "xcom_value", None))
    c.context(f"{mode}: sensor", ctx)

    session = AkoolRetellingSessionOperator(
        task_id="retell",
        avatar_id=AVATAR,
        duration=600,
        scripts=["Hello from the secret scan.", "And goodbye."],
        akool_conn_id=conn_id,
    )
    ctx = make_context()
    manifest = c.run(f"{mode}: session", lambda: session.execute(ctx))
    c.context(f"{mode}: session", ctx)
    assert isinstance(manifest, dict) and manifest["totals"]["spoken"] == 2, manifest

    detail = client.get_session(manifest["session_ids"][0])
    c.add(f"{mode}: session model", [repr(detail), detail.model_dump(), detail.model_dump_json()])

    sweeper = AkoolCloseStaleSessionsOperator(task_id="sweep", akool_conn_id=conn_id)
    ctx = make_context()
    c.run(f"{mode}: sweeper", lambda: sweeper.execute(ctx))

    archive = AkoolArchiveToS3Operator(
        task_id="archive",
        s3_bucket=bucket,
        avatar_ids=[avatar_id, AVATAR],
        s3_prefix=f"secret-{mode}",
        aws_conn_id=aws_conn,
        akool_conn_id=conn_id,
        asset_alias=None,
    )
    ctx = make_context()
    summary = c.run(f"{mode}: archive", lambda: archive.execute(ctx))
    c.context(f"{mode}: archive", ctx)
    assert isinstance(summary, dict) and summary["counts"]["archived"] >= 2, summary

    # The trigger: serialised kwargs and its events.
    from airflow_provider_akool.triggers.avatar import AkoolAvatarTrigger

    trigger = AkoolAvatarTrigger(avatar_id=avatar_id, deadline=9e9, akool_conn_id=conn_id, poll_interval=0.05)
    c.add(f"{mode}: trigger kwargs", list(trigger.serialize()))

    async def first_event() -> Any:
        async for event in trigger.run():
            return event.payload
        return None

    c.run(f"{mode}: trigger event", lambda: asyncio.run(first_event()))


def _failure_scenarios(c: Collector, sim: SimServer, conn_id: str, secret_set: SecretSet) -> None:
    from airflow_provider_akool.client import AsyncAkoolClient, ClientConfig
    from airflow_provider_akool.operators.session import AkoolRetellingSessionOperator
    from airflow_provider_akool.streaming.transports.sim import SimTransport

    def session(tag: str, **kwargs: Any) -> None:
        op = AkoolRetellingSessionOperator(
            task_id="retell",
            avatar_id=AVATAR,
            duration=600,
            akool_conn_id=conn_id,
            scripts=["A sentence that is long enough to be dropped mid way."],
            **kwargs,
        )
        ctx = make_context()
        c.run(tag, lambda: op.execute(ctx))
        c.context(tag, ctx)

    sim.set_channel(never_join=True)
    session("never joins", ready_timeout=0.5)
    sim.set_channel(never_join=False, ack_code=1003)
    session("set-params refused")
    sim.set_channel(ack_code=1000)

    # The data channel dropped while the avatar speaks.
    async def dropped() -> Any:
        from airflow_provider_akool.streaming.runner import RetellingFailedError, RetellingRunner, RetellingSettings

        runner = RetellingRunner(
            RetellingSettings(avatar_id=AVATAR, stream_type="sim", duration=600, time_scale=SECRET_SIM_TIME_SCALE),
            ["word " * 400],
        )
        config = ClientConfig(base_url=sim.url, api_key=secret_set.api_key)
        async with AsyncAkoolClient(config) as client:
            run = asyncio.ensure_future(runner.run(client))
            for _ in range(500):  # until the session exists (polling: the runner exposes no event)
                if runner.open_session_ids:
                    break
                await asyncio.sleep(0.02)
            await asyncio.sleep(0.3)
            await asyncio.to_thread(sim.drop_channel, runner.open_session_ids[0])
            try:
                return await run
            except RetellingFailedError as exc:
                c.add("dropped: manifest", exc.result.to_manifest())
                raise

    c.run("channel dropped", lambda: asyncio.run(dropped()))

    # A wrong RTC token on the data channel.
    async def wrong_rtc() -> None:
        from airflow_provider_akool.client import AkoolClient

        with AkoolClient(ClientConfig(base_url=sim.url, api_key=secret_set.api_key)) as client:
            created = client.create_session(avatar_id=AVATAR, duration=60, stream_type="sim", mode_type=1)
        revealed = created.credentials.reveal() if created.credentials else {}
        credentials = {**revealed, "sim_token": secret_set.wrong_rtc}
        transport = SimTransport(credentials)
        try:
            await transport.connect()
            await transport.wait_ready(timeout=2)
        finally:
            await transport.close()
            with AkoolClient(ClientConfig(base_url=sim.url, api_key=secret_set.api_key)) as client:
                client.close_session(created.id)

    c.run("wrong RTC token", lambda: asyncio.run(wrong_rtc()))


@pytest.mark.timeout(180)
def test_no_secret_reaches_logs_xcom_manifests_reprs_or_errors(
    secret_sim: SimServer,
    secret_set: SecretSet,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
    bucket: str,
    aws_conn: str,
    s3: Any,
) -> None:
    caplog.set_level(logging.DEBUG)
    c = Collector()
    sim = secret_sim

    key_conn = _set_conn(monkeypatch, "akool_rel_key", sim)
    token_conn = _set_conn(monkeypatch, "akool_rel_token", sim, token_mode=True)
    _operator_scenarios(c, sim, key_conn, "key", bucket, aws_conn, secret_set)
    _operator_scenarios(c, sim, token_conn, "token", bucket, aws_conn, secret_set)
    _failure_scenarios(c, sim, key_conn, secret_set)

    # Wrong credentials: the errors themselves must not echo them.
    from airflow_provider_akool.hooks.akool import AkoolHook
    from airflow_provider_akool.operators.avatar import AkoolCreateAvatarOperator

    wrong_key = _set_conn(monkeypatch, "akool_rel_wrong_key", sim, api_key=secret_set.wrong_key)
    wrong_secret = _set_conn(
        monkeypatch, "akool_rel_wrong_secret", sim, token_mode=True, api_key=secret_set.wrong_secret
    )
    for conn_id in (wrong_key, wrong_secret):
        op = AkoolCreateAvatarOperator(
            task_id="create", video_url="https://media.example.com/v/x.mp4", avatar_id="relwrong", akool_conn_id=conn_id
        )
        c.run(f"{conn_id}: avatar", functools.partial(op.execute, make_context()))
        c.add(f"{conn_id}: test_connection", list(AkoolHook(akool_conn_id=conn_id).test_connection()))

    # Everything the sim issued is in the scan list; make sure the scenarios really issued them.
    kinds = {secret_kind(v) for v in secret_set.issued}
    assert {"bearer token", "RTC token"} <= kinds, kinds
    assert sum(1 for v in secret_set.issued if v.startswith("AKOOLBEARER")) >= 2, "no token refresh happened"

    for key, item in bucket_objects(s3, bucket):
        c.add(f"s3://{bucket}/{key}", item)
    captured = capfd.readouterr()
    c.add("stdout", captured.out)
    c.add("stderr", captured.err)
    for record in caplog.records:
        if record.name.startswith(("airflow_provider_akool.sim", "uvicorn")):
            continue  # the simulator knows the secrets; it is not the code under test
        text = record.getMessage()
        if record.exc_info:
            text += "".join(traceback.format_exception(*record.exc_info))
        c.add(f"log {record.name}", text)

    assert len(c.texts) > 60
    leaks = secret_set.leaks(c.texts)
    assert leaks == [], "\n".join(leaks[:20])
    counts = Counter(secret_kind(v) for v in secret_set.all())
    print(
        f"scanned {len(c.texts)} texts ({sum(len(t) for t in c.texts.values()) / 1e6:.1f} MB) for "
        f"{len(secret_set.all())} secrets {dict(counts)}: 0 occurrences"
    )


def test_the_scan_finds_a_planted_secret_and_a_truncated_one() -> None:
    planted = SecretSet(issued=["AKOOLRTC7Q" + secrets.token_hex(12)])
    token = planted.issued[0]
    texts = {"clean": "nothing to see", "full": f"token={token}&x", "cut": f"token {token[:20]}…"}
    assert planted.leaks(texts) == [
        f"full: contains {token[:12]}… (RTC token)",
        f"cut: contains {token[:12]}… (RTC token)",
    ]
