"""XCom keys of the session tasks, defined once: the session operator pushes them, the sweeper reads them."""

from __future__ import annotations

__all__ = [
    "ORPHANS_KEY",
    "PRIOR_RUN_SWEEP_KEYS",
    "SESSION_IDS_KEY",
    "SESSION_ID_KEY",
    "SWEEP_KEYS",
    "SWEEP_REPORT_KEY",
    "TRANSCRIPT_KEY",
]

#: Every session a retelling task opened so far (a list, pushed the moment each one exists).
SESSION_IDS_KEY = "session_ids"
#: The latest session a retelling task opened.
SESSION_ID_KEY = "session_id"
#: Sessions that may be open with nobody closing them: what a lost create may have opened, and
#: what earlier tries of the task could not confirm closed. For the stale-session sweeper.
ORPHANS_KEY = "orphan_candidates"
#: The transcript manifest of a failed retelling run (a successful one returns it).
TRANSCRIPT_KEY = "transcript"
#: The sweep report of a sweeper that failed to close some sessions.
SWEEP_REPORT_KEY = "sweep_report"

#: What the sweeper reads from the tasks of its own run by default.
SWEEP_KEYS = (SESSION_IDS_KEY, ORPHANS_KEY)
#: What it reads from EARLIER runs by default: only the sessions they opened themselves. Orphan
#: candidates may be another caller's sessions (a lost create could not be attributed); closing them
#: a run later could end another DAG's live session, so they stay the job of their own run's sweeper.
PRIOR_RUN_SWEEP_KEYS = (SESSION_IDS_KEY,)
