"""The example batch DAG end to end with dag.test() against akool-sim."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from airflow_support import dag_run, task_states, xcom_value
from retelling_support import scripts_in
from task_support import set_akool_conn

from airflow_provider_akool.sim.runner import SimServer

DAG_ID = "akool_retelling_batch"
SAMPLE = Path(__file__).resolve().parents[2] / "dags" / "data" / "retelling_scripts.jsonl"


def sample_scripts(path: Path = SAMPLE) -> list[dict[str, str]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


# (language, akool-sim profile): the sample in English with the default avatar; Mandarin scripts
# with an avatar that sends no audio events (its echo of the text tells when a script was taken).
BEHAVIOURS = [("en", {"profile": "default"}), ("zh", {"profile": "no_audio_events"})]


@pytest.mark.timeout(240)
@pytest.mark.usefixtures("airflow_db")
@pytest.mark.parametrize(("language", "behaviour"), BEHAVIOURS, ids=["en-events", "zh-no-events"])
def test_batch_dag_speaks_every_script_once_and_leaves_nothing_open(
    akool_sim_factory, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, language: str, behaviour: dict[str, Any]
) -> None:
    # 20x real time: the sample (~160 s of speech) takes ~8 s; the connection tells the operator the
    # sim's time scale, so its session clock and waits match the sim's.
    sim: SimServer = akool_sim_factory(time_scale=20, **behaviour)
    set_akool_conn(monkeypatch, sim, sim_time_scale=sim.config.time_scale)
    conf: dict[str, Any] = {"batches": 3, "language": language}
    path = SAMPLE
    if language != "en":
        path = tmp_path / f"scripts-{language}.jsonl"
        lines = [json.dumps(s, ensure_ascii=False) for s in scripts_in(language, 9, min_chars=120)]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        conf["scripts_file"] = str(path)

    run = dag_run(DAG_ID, conf=conf)
    states = task_states(DAG_ID, run.run_id)
    assert str(run.state) == "success", states

    scripts = sample_scripts(path)
    state = sim.state()
    assert state["open_sessions"] == []
    sessions = state["sessions"]
    # Without audio events each segment after the first holds its session for the conservative
    # bound, so a batch may go on in a second session (a rollover, never a cut).
    events = behaviour["profile"] == "default"
    assert len(sessions) == 3 if events else len(sessions) >= 3
    spoken = Counter(text for s in sessions for text in s["spoken"])
    assert spoken == Counter(s["text"] for s in scripts), "every script spoken exactly once"
    assert all(s["ended_by"] == "close" for s in sessions), "closed by the task, not by running out"

    summary = xcom_value(DAG_ID, run.run_id, "summarise")
    assert summary == {"spoken": len(scripts), "scripts": len(scripts)}
    for index in range(3):
        manifest = xcom_value(DAG_ID, run.run_id, "retell", map_index=index)
        assert manifest["status"] == "completed" and manifest["totals"]["unconfirmed"] == 0
        assert set(manifest["totals"]["by_completion"]) == ({"audio_end"} if events else {"echo"})
        assert manifest["totals"]["cuts"] == 0 and manifest["totals"]["rollovers"] == len(manifest["sessions"]) - 1
        pushed = xcom_value(DAG_ID, run.run_id, "retell", key="session_ids", map_index=index)
        assert pushed == manifest["session_ids"]
        opened = next(s for s in sessions if s["_id"] == pushed[0])
        assert opened["duration"] == manifest["sessions"][0]["duration"] < 3600, "duration auto"
    sweep = xcom_value(DAG_ID, run.run_id, "close_stale_sessions")
    assert sweep["considered"] == 0 and sweep["closed"] == []
