"""Data-channel limits: the defaults, opt-in overrides, and a set-params too large for one message."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_akool._session_caps import RetellingInputError
from airflow_provider_akool.streaming.limits import (
    AGORA_LIMITS,
    LIVEKIT_LIMITS,
    check_set_params_fits,
    transport_limits,
)
from airflow_provider_akool.streaming.protocol import encode, retelling_set_params, set_params_command
from airflow_provider_akool.streaming.runner import RetellingRunner, RetellingSettings


def pron_map(entries: int) -> dict[str, str]:
    """Realistic entries: a brand or name and how to say it (~35 bytes each as JSON)."""
    return {f"Brandname{i:02d}": f"bran dee nay {i:02d}" for i in range(entries)}


def params(entries: int = 0, **fields: Any) -> Any:
    values: dict[str, Any] = {
        "voice_id": "iP95p4xoKVk53GoZ742B",
        "language": "en",
        "background_url": None,
        "speed": 1.0,
        "pron_map": pron_map(entries) if entries else None,
    }
    return retelling_set_params(**{**values, **fields})


def test_livekit_defaults_to_the_values_of_akools_demo() -> None:
    assert (LIVEKIT_LIMITS.max_message_bytes, LIVEKIT_LIMITS.bytes_per_second) == (960, 5760)
    assert transport_limits("livekit") == LIVEKIT_LIMITS
    assert transport_limits("agora") == AGORA_LIMITS


def test_larger_values_are_opt_in_up_to_what_the_service_allows() -> None:
    big = transport_limits("livekit", max_message_bytes=15_360, bytes_per_second=100_000)
    assert (big.max_message_bytes, big.bytes_per_second) == (15_360, 100_000)
    assert big.messages_per_second == LIVEKIT_LIMITS.messages_per_second
    assert transport_limits("agora", max_message_bytes=1024).max_message_bytes == 1024


@pytest.mark.parametrize(
    ("stream_type", "overrides", "named"),
    [
        ("agora", {"max_message_bytes": 1025}, "max_message_bytes: 1025 is outside 256..1024"),
        ("agora", {"bytes_per_second": 8000}, "bytes_per_second: 8000 is outside 256..6000"),
        ("livekit", {"max_message_bytes": 16_000}, "max_message_bytes: 16000 is outside 256..15360"),
        ("livekit", {"max_message_bytes": 100}, "max_message_bytes: 100 is outside"),
        ("livekit", {"max_message_bytes": 15_000}, "exceeds bytes_per_second 5760"),
        ("sim", {"max_message_bytes": "big"}, "max_message_bytes: must be a whole number"),
    ],
)
def test_bad_overrides_are_refused_naming_the_field(stream_type: str, overrides: dict[str, Any], named: str) -> None:
    with pytest.raises(RetellingInputError, match=named):
        transport_limits(stream_type, **overrides)


def test_a_40_entry_pron_map_does_not_fit_agora_and_the_error_says_why() -> None:
    command = params(40)
    size = len(encode(set_params_command(command)))
    assert size > 1400  # the figure: about 1.5 KB
    with pytest.raises(RetellingInputError) as caught:
        check_set_params_fits(command, AGORA_LIMITS, "agora")
    message = str(caught.value)
    assert message.startswith("pron_map:")
    assert "40 entries" in message and f"{size} bytes" in message and "960-byte" in message
    assert "raise max_message_bytes" not in message, "Agora's 1,024-byte cap would not fit it either"


def test_on_livekit_the_error_points_at_the_opt_in_budget() -> None:
    with pytest.raises(RetellingInputError, match=r"or raise max_message_bytes \(up to 15360\)"):
        check_set_params_fits(params(40), LIVEKIT_LIMITS, "livekit")


def test_small_pron_maps_fit_and_large_ones_fit_an_opted_in_livekit_budget() -> None:
    assert check_set_params_fits(params(5), AGORA_LIMITS, "agora") <= 960
    big = transport_limits("livekit", max_message_bytes=15_360, bytes_per_second=100_000)
    assert check_set_params_fits(params(40), big, "livekit") > 960


def test_at_the_ceiling_the_error_does_not_suggest_raising_the_budget() -> None:
    with pytest.raises(RetellingInputError) as caught:
        check_set_params_fits(params(40), transport_limits("agora", max_message_bytes=1024), "agora")
    assert "raise max_message_bytes" not in str(caught.value)


def test_too_large_without_pron_map_names_the_other_fields() -> None:
    long_url = "https://example.com/" + "b" * 1200
    with pytest.raises(RetellingInputError, match=r"set-params: .* shorten background_url"):
        check_set_params_fits(params(background_url=long_url), AGORA_LIMITS, "agora")


def settings(**fields: Any) -> RetellingSettings:
    values: dict[str, Any] = {"avatar_id": "dvp_Tristan_cloth2_1080P", "stream_type": "sim", "language": "en"}
    return RetellingSettings(**{**values, **fields})


def test_the_runner_refuses_it_before_any_session_exists() -> None:
    with pytest.raises(RetellingInputError, match="pron_map: with its 40 entries"):
        RetellingRunner(settings(pron_map=pron_map(40)), ["Hello."])
    runner = RetellingRunner(
        settings(pron_map=pron_map(40), max_message_bytes=4000, bytes_per_second=20_000), ["Hello."]
    )
    assert runner.settings.transport_limits().max_message_bytes == 4000


def test_runner_settings_carry_the_overrides_to_the_transport() -> None:
    checked = settings(max_message_bytes=2048, bytes_per_second=12_000).checked()
    limits = checked.transport_limits()
    assert (limits.max_message_bytes, limits.bytes_per_second) == (2048, 12_000)
    with pytest.raises(RetellingInputError, match="bytes_per_second"):
        settings(bytes_per_second=2_000_000).checked()
