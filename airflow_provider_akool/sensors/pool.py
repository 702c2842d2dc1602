"""AkoolPoolGuardSensor: a missing pool becomes a failed task that says how to create it.

A scheduler never starts a task whose pool does not exist: the task sits in "scheduled" with an
empty log, and only the scheduler's own log says why. Task code cannot look pools up in Airflow 3
(no metadata-DB access, no pool call in the Execution API), so the guard watches the tasks that
need the pool instead, through the task-state call the Execution API does offer.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator

from airflow_provider_akool._compat import AirflowFailException, AirflowSensorTimeout

if TYPE_CHECKING:
    from airflow.sdk import Context

# States of a task instance that has not been given a pool slot yet ("queued" and later mean it has).
WAITING_STATES: frozenset[str | None] = frozenset({None, "none", "scheduled"})


def watched_states(states: Mapping[str, str | None], task_ids: Collection[str]) -> dict[str, str | None]:
    """The entries of one run's task states that belong to ``task_ids``.

    The Execution API keys an unmapped instance by its task id and a mapped one by
    ``<task_id>_<map_index>``.
    """
    found: dict[str, str | None] = {}
    for key, state in states.items():
        for task_id in task_ids:
            suffix = key[len(task_id) + 1 :]
            if key == task_id or (key.startswith(task_id + "_") and suffix.isdigit()):
                found[key] = state
    return found


def missing_pool_message(pool: str, task_ids: Collection[str], waited: float) -> str:
    """What the failed guard says: the likely cause and both ways to create the pool."""
    return (
        f"No instance of {', '.join(sorted(task_ids))} has started after {waited:.0f} s: they wait for a slot "
        f"in the Airflow pool {pool!r}, and a scheduler never starts tasks of a pool that does not exist "
        f"(its log says \"Tasks using non-existent pool '{pool}' will not be scheduled\"). Create the pool, "
        f"with as many slots as sessions may be open at once: Admin > Pools > Add Pool in the UI, or "
        f'`airflow pools set {pool} 4 "Akool streaming sessions"`. The waiting tasks then start by '
        "themselves; clear this task to watch again. If the pool exists, other runs hold all its slots."
    )


class AkoolPoolGuardSensor(BaseSensorOperator):
    """Fail with how to create ``watched_pool`` when the tasks that need it never leave "scheduled".

    Succeeds as soon as one instance of ``watched_task_ids`` in this run has left "scheduled" (got a
    slot, or was skipped or failed upstream); fails after ``timeout`` seconds with a message that
    names the pool and how to create it. Put it downstream of the same tasks as the watched ones.
    ``reschedule`` mode by default: it holds no worker slot between pokes, and ``airflow dags test``
    (which ignores pools) runs the watched tasks between two pokes.

    :param watched_pool: the pool the watched tasks run in (for the message).
    :param watched_task_ids: the tasks that need the pool; mapped instances are included.
    """

    ui_color = "#f4e8d0"

    def __init__(
        self,
        *,
        watched_pool: str,
        watched_task_ids: Sequence[str],
        timeout: float = 180.0,
        poke_interval: float = 10.0,
        mode: str = "reschedule",
        **kwargs: Any,
    ) -> None:
        super().__init__(timeout=timeout, poke_interval=poke_interval, mode=mode, **kwargs)
        if not watched_task_ids:
            raise ValueError("watched_task_ids: name at least one task that runs in the pool")
        self.watched_pool = watched_pool
        self.watched_task_ids = list(watched_task_ids)

    def poke(self, context: Context) -> bool:
        ti = context["ti"]
        every = ti.get_task_states(dag_id=ti.dag_id, task_ids=self.watched_task_ids, run_ids=[ti.run_id])
        states = watched_states(every.get(ti.run_id, {}), self.watched_task_ids)
        started = sorted(key for key, state in states.items() if state not in WAITING_STATES)
        if started:
            self.log.info("Pool %r gave out slots: %s left 'scheduled'", self.watched_pool, ", ".join(started))
            return True
        self.log.info(
            "%d instance(s) of %s still wait for a slot in pool %r",
            len(states),
            ", ".join(self.watched_task_ids),
            self.watched_pool,
        )
        return False

    def execute(self, context: Context) -> Any:
        try:
            return super().execute(context)
        except AirflowSensorTimeout:
            raise AirflowFailException(
                missing_pool_message(self.watched_pool, self.watched_task_ids, self.timeout)
            ) from None
