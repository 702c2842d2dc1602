"""How a segment's end is known without audio events: the avatar's echo (with or without our mid) or
the conservative bound; estimate-only segments are reported unconfirmed (``require_confirmation``);
a segment the avatar shows no sign of taking is sent again, whole, after an interrupt."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from retelling_support import (
    assert_spoken_whole_once_in_order,
    filter_transport,
    run,
    scripts_in,
    settings,
    spoken_texts,
)
from session_support import AVATAR

from airflow_provider_akool.operators.session import AkoolRetellingSessionOperator
from airflow_provider_akool.sim.runner import SimServer
from airflow_provider_akool.streaming.planning import RetellingInputError
from airflow_provider_akool.streaming.runner import RetellingFailedError, RetellingRunner, UnconfirmedSpeechError

pytestmark = pytest.mark.timeout(60)


def parsed(payload: bytes) -> dict[str, Any]:
    value = json.loads(payload)
    return value if isinstance(value, dict) else {}


def hide_events(payload: bytes) -> bytes | None:
    return None if parsed(payload).get("type") == "event" else payload


def hide_events_and_echo(payload: bytes) -> bytes | None:
    message = parsed(payload)
    return None if message.get("type") == "event" or message.get("type") == "chat" else payload


def echo_without_mid(payload: bytes) -> bytes | None:
    message = parsed(payload)
    if message.get("type") == "chat":
        message.pop("mid", None)
        return json.dumps(message, ensure_ascii=False).encode()
    return payload


@pytest.mark.parametrize("language", ["en", "zh"])
async def test_no_events_and_no_echo_wait_the_conservative_bound_and_report_unconfirmed(
    akool_sim_factory: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, language: str
) -> None:
    sim: SimServer = akool_sim_factory(time_scale=50, profile="default")
    filter_transport(monkeypatch, incoming=hide_events_and_echo)
    scripts = scripts_in(language, 3, min_chars=120)
    runner = RetellingRunner(settings(language), scripts)
    with caplog.at_level(logging.WARNING):
        result = await run(sim, runner)

    manifest = result.to_manifest()
    assert manifest["status"] == "completed"
    assert {s["completion"] for s in manifest["segments"]} == {"estimate"}
    assert manifest["totals"]["unconfirmed"] == 3 and not any(s["confirmed"] for s in manifest["segments"])
    assert "3 segment(s) completed by estimate alone" in caplog.text
    # The close did not cut the last segment off: the avatar finished every script.
    assert_spoken_whole_once_in_order(sim, result, scripts)
    model = runner.settings.speech
    for record in result.segments:  # each was held for at least the slowest plausible speaking time
        held = (record.finished_at or 0) - (record.send_finished_at or 0)
        assert held * 50 >= model.unconfirmed_wait_seconds(record.text, 1.0) * 0.95


async def test_require_confirmation_fail_fails_the_run_after_closing(
    akool_sim_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim: SimServer = akool_sim_factory(time_scale=50, profile="default")
    filter_transport(monkeypatch, incoming=hide_events_and_echo)
    scripts = scripts_in("ko", 2, min_chars=80)
    with pytest.raises(RetellingFailedError, match="require_confirmation='fail'") as caught:
        await run(sim, RetellingRunner(settings("ko", require_confirmation="fail"), scripts))
    assert isinstance(caught.value.__cause__, UnconfirmedSpeechError)
    manifest = caught.value.result.to_manifest()
    assert manifest["status"] == "failed" and manifest["totals"]["unconfirmed"] == 2
    assert sim.state()["open_sessions"] == [] and manifest["sessions"][0]["close"]["closed"]


@pytest.mark.parametrize(("incoming", "completion"), [(echo_without_mid, "audio_end"), (None, "echo")])
async def test_an_echo_confirms_a_segment_with_or_without_our_mid(
    akool_sim_factory: Any, monkeypatch: pytest.MonkeyPatch, incoming: Any, completion: str
) -> None:
    sim: SimServer = akool_sim_factory(time_scale=50, profile="default")
    if incoming is None:  # no audio events, an echo without mid
        filter_transport(monkeypatch, incoming=lambda p: None if hide_events(p) is None else echo_without_mid(p))
    else:
        filter_transport(monkeypatch, incoming=incoming)
    scripts = scripts_in("ja", 3, min_chars=100)
    result = await run(sim, RetellingRunner(settings("ja"), scripts))
    manifest = result.to_manifest()
    assert manifest["status"] == "completed" and manifest["totals"]["unconfirmed"] == 0
    assert {s["completion"] for s in manifest["segments"]} == {completion}
    assert all(s["bot_text_matches"] for s in manifest["segments"]), "the echoed text is the script"
    assert_spoken_whole_once_in_order(sim, result, scripts)


class LoseFirstSend:
    """Loses every chunk of the first send of the script at ``index`` (an unreliable channel)."""

    def __init__(self, scripts: list[dict[str, str]], index: int) -> None:
        self.text = scripts[index]["text"]
        self.lost_mid: str | None = None
        self.interrupts = 0

    def __call__(self, payload: bytes) -> bool:
        message = parsed(payload)
        if message.get("type") == "command" and message.get("pld", {}).get("cmd") == "interrupt":
            self.interrupts += 1
        if message.get("type") != "chat":
            return True
        mid = message.get("mid")
        if self.lost_mid is None and message.get("idx") == 0 and self.text.startswith(message["pld"]["text"]):
            self.lost_mid = mid
        return mid != self.lost_mid


async def test_a_segment_not_taken_is_sent_again_whole_after_an_interrupt(
    akool_sim_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim: SimServer = akool_sim_factory(time_scale=50, profile="default")
    scripts = scripts_in("zh", 3, min_chars=100)
    lose = LoseFirstSend(scripts, 1)
    filter_transport(monkeypatch, outgoing=lose)
    result = await run(sim, RetellingRunner(settings("zh"), scripts))

    assert lose.lost_mid is not None and lose.interrupts == 1
    manifest = result.to_manifest()
    assert manifest["status"] == "completed"
    assert [s["resends"] for s in manifest["segments"]] == [0, 1, 0]
    assert manifest["segments"][1]["completion"] == "audio_end"
    assert_spoken_whole_once_in_order(sim, result, scripts)


async def test_without_any_sign_from_the_avatar_a_lost_segment_cannot_be_noticed_and_is_unconfirmed(
    akool_sim_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Nothing can be checked in a session that never shows a sign: the run does not claim the
    # segment was spoken, it reports it (and every other) as unconfirmed.
    sim: SimServer = akool_sim_factory(time_scale=50, profile="default")
    scripts = scripts_in("en", 3, min_chars=100)
    lose = LoseFirstSend(scripts, 1)
    filter_transport(monkeypatch, outgoing=lose, incoming=hide_events_and_echo)
    result = await run(sim, RetellingRunner(settings("en"), scripts))
    manifest = result.to_manifest()
    assert lose.interrupts == 0 and manifest["totals"]["unconfirmed"] == 3
    assert spoken_texts(sim) == [scripts[0]["text"], scripts[2]["text"]]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"require_confirmation": "maybe"}, "require_confirmation: must be one of warn, fail, off"),
        ({"require_confirmation": None}, "require_confirmation: must be one of"),
        ({"max_segment_attempts": 0}, "max_segment_attempts: must be a whole number >= 1"),
        ({"max_segment_attempts": None}, "max_segment_attempts: must be a whole number >= 1"),
    ],
)
def test_the_operator_checks_its_options_at_construction(args: dict[str, Any], message: str) -> None:
    with pytest.raises(RetellingInputError, match=message):
        AkoolRetellingSessionOperator(task_id="retell", avatar_id=AVATAR, scripts=["Hello."], **args)
