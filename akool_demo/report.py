"""What an ``akool_end_to_end`` run really did, read from outside Airflow, and whether it was right.

The facts come from akool-sim's admin state (``/_sim/state``: avatars, sessions, credits) and from
S3 (manifests and the objects themselves, re-hashed), never from the DAG's own XCom, so a bug in
the DAG or an operator cannot vouch for itself. :func:`collect` gathers them and checks the
invariants; :meth:`E2EReport.render` prints the summary ``make demo`` shows.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import httpx
    from mypy_boto3_s3.client import S3Client

DAG_ID = "akool_end_to_end"
_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class Check:
    """One invariant and whether it held."""

    name: str
    ok: bool
    detail: str = ""


@dataclass
class StoredObject:
    """One object listed in a manifest, as found in S3."""

    key: str
    kind: str  # "resource" or "transcript"
    name: str
    size: int | None
    sha256: str | None  # of the bytes in S3, computed here
    manifest_sha256: str | None
    metadata_sha256: str | None
    source_sha256: str | None  # of the bytes at the source URL (resources) or None
    source_check: str  # what was compared with the source, and the outcome

    @property
    def ok(self) -> bool:
        hashes = {self.sha256, self.manifest_sha256, self.metadata_sha256}
        return self.sha256 is not None and len(hashes) == 1 and not self.source_check.startswith("MISMATCH")


@dataclass
class E2EReport:
    """Avatars, sessions, credits and archived objects of one or more runs, plus the checks."""

    avatars: list[dict[str, Any]] = field(default_factory=list)
    sessions: list[dict[str, Any]] = field(default_factory=list)
    credits: dict[str, float] = field(default_factory=dict)
    objects: list[StoredObject] = field(default_factory=list)
    manifests: list[str] = field(default_factory=list)
    open_sessions: list[str] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    def failed(self) -> list[Check]:
        return [c for c in self.checks if not c.ok]

    def render(self) -> str:
        """The human summary: four small tables and the list of checks."""
        out: list[str] = []
        out.append(f"Avatars ({len(self.avatars)})")
        out += _table(
            ["avatar_id", "state", "uploads", "source video"],
            [[a["avatar_id"], a["state"], str(a["uploads"]), a["source_url"]] for a in self.avatars],
        )
        out.append("")
        out.append(f"Sessions ({len(self.sessions)})")
        out += _table(
            ["session_id", "avatar_id", "spoken", "duration", "pre-charged", "refunded", "ended by"],
            [
                [
                    s["session_id"],
                    s["avatar_id"],
                    f"{s['spoken']}/{s['segments']}",
                    f"{s['duration']} s",
                    f"{s['precharged']:.2f}",
                    f"{s['refunded']:.2f}",
                    s["ended_by"] or "still open",
                ]
                for s in self.sessions
            ],
            right={2, 3, 4, 5},
        )
        if self.credits:
            out.append(
                f"  credits: pre-charged {self.credits['precharged']:.2f}, refunded {self.credits['refunded']:.2f}, "
                f"spent {self.credits['spent']:.2f}"
            )
        out.append("")
        out.append(f"Archived objects ({len(self.objects)}), manifests: {', '.join(self.manifests) or 'none'}")
        out += _table(
            ["key", "size", "sha256", "check"],
            [
                [o.key, _size(o.size), (o.sha256 or "-")[:16] + "…", ("ok: " if o.ok else "BAD: ") + o.source_check]
                for o in self.objects
            ],
            right={1},
        )
        out.append("")
        out.append(
            f"Open sessions left: {len(self.open_sessions)}"
            + (f" ({', '.join(self.open_sessions)})" if self.open_sessions else "")
        )
        out.append("")
        out.append("Checks")
        out += [f"  [{'ok' if c.ok else 'FAIL'}] {c.name}" + (f": {c.detail}" if c.detail else "") for c in self.checks]
        return "\n".join(out)


def _size(value: int | None) -> str:
    if value is None:
        return "-"
    if value < 1024:
        return f"{value} B"
    if value < 1024 * 1024:
        return f"{value / 1024:.1f} KiB"
    return f"{value / (1024 * 1024):.1f} MiB"


def _table(headers: list[str], rows: list[list[str]], right: Iterable[int] = ()) -> list[str]:
    if not rows:
        return ["  (none)"]
    aligned = set(right)
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=True)]

    def line(cells: list[str]) -> str:
        parts = [c.rjust(w) if i in aligned else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))]
        return "  " + "  ".join(parts).rstrip()

    return [line(headers), line(["-" * w for w in widths]), *(line(r) for r in rows)]


# -- collecting ---------------------------------------------------------------------------------
def _sha256_of_url(http: httpx.Client, url: str) -> str:
    digest = hashlib.sha256()
    with http.stream("GET", url) as response:
        response.raise_for_status()
        for chunk in response.iter_bytes(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _read_object(s3: S3Client, bucket: str, key: str) -> tuple[bytes, dict[str, str]]:
    response = s3.get_object(Bucket=bucket, Key=key)
    metadata = {k.lower(): v for k, v in response.get("Metadata", {}).items()}
    return response["Body"].read(), metadata


def _manifest_keys(s3: S3Client, bucket: str, prefix: str) -> list[str]:
    keys: list[str] = []
    paginator = s3.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=f"{prefix.strip('/')}/manifests/{DAG_ID}/"):
        keys += [item["Key"] for item in page.get("Contents", []) if item["Key"].endswith(".json")]
    return sorted(keys)


def _all_keys(s3: S3Client, bucket: str, prefix: str) -> set[str]:
    keys: set[str] = set()
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix.strip("/") + "/"):
        keys.update(item["Key"] for item in page.get("Contents", []))
    return keys


def _session_row(session: dict[str, Any]) -> dict[str, Any]:
    return {
        "session_id": session["_id"],
        "avatar_id": session["avatar_id"],
        "spoken": len(session["spoken"]),
        "segments": len(session["segments"]),
        "duration": session["duration"],
        "precharged": float(session["precharged"] or 0.0),
        "refunded": float(session["refunded"] or 0.0),
        "ended_by": session["ended_by"],
        "texts": list(session["spoken"]),
    }


def collect(
    *,
    sim_state: dict[str, Any],
    s3: S3Client,
    bucket: str,
    prefix: str,
    video_urls: Sequence[str],
    scripts: Sequence[str],
    http: httpx.Client,
    run_ok: bool,
    run_detail: str = "",
) -> E2EReport:
    """Read the sim's state and S3 and check the end-to-end invariants.

    ``video_urls`` and ``scripts`` (texts) are the run's inputs; ``run_ok`` is the DagRun outcome.
    """
    report = E2EReport()
    report.checks.append(Check("the DAG run succeeded", run_ok, run_detail))

    # Avatars: one per input URL, each uploaded once and ready.
    uploads = Counter(a["source_url"] for a in sim_state["avatars"] if a.get("source_url"))
    by_url = {a["source_url"]: a for a in sim_state["avatars"] if a.get("source_url") in set(video_urls)}
    for url in dict.fromkeys(video_urls):
        avatar = by_url.get(url)
        state = {3: "ready", 4: "failed"}.get(avatar["status"], "processing") if avatar else "missing"
        report.avatars.append(
            {
                "avatar_id": avatar["avatar_id"] if avatar else "-",
                "state": state,
                "uploads": uploads.get(url, 0),
                "source_url": url,
            }
        )
    once = all(a["uploads"] == 1 for a in report.avatars)
    report.checks.append(
        Check(
            "each video became exactly one avatar",
            once,
            "" if once else ", ".join(f"{a['source_url']}: {a['uploads']}" for a in report.avatars),
        )
    )
    ready = [a for a in report.avatars if a["state"] == "ready"]
    report.checks.append(
        Check("every avatar is ready", len(ready) == len(report.avatars), f"{len(ready)}/{len(report.avatars)}")
    )

    # Sessions on those avatars: every script spoken exactly once, every session closed by the task.
    ours = {a["avatar_id"] for a in report.avatars}
    order = {a["avatar_id"]: i for i, a in enumerate(report.avatars)}
    report.sessions = sorted(
        (_session_row(s) for s in sim_state["sessions"] if s["avatar_id"] in ours),
        key=lambda s: order[s["avatar_id"]],
    )
    spoken = Counter(text for s in report.sessions for text in s["texts"])
    expected = Counter(scripts)
    missing = expected - spoken
    extra = spoken - expected
    report.checks.append(
        Check(
            "every script was spoken exactly once",
            not missing and not extra,
            f"{sum(spoken.values())}/{sum(expected.values())} spoken"
            + (f"; missing {len(missing)}" if missing else "")
            + (f"; repeated/unexpected {len(extra)}" if extra else ""),
        )
    )
    report.credits = {
        "precharged": sum(s["precharged"] for s in report.sessions),
        "refunded": sum(s["refunded"] for s in report.sessions),
    }
    report.credits["spent"] = report.credits["precharged"] - report.credits["refunded"]
    by_close = all(s["ended_by"] == "close" for s in report.sessions)
    report.checks.append(
        Check(
            "every session was closed by the DAG (unused credit refunded)",
            by_close and bool(report.sessions),
            f"{len(report.sessions)} session(s)",
        )
    )
    report.open_sessions = list(sim_state["open_sessions"])
    report.checks.append(Check("no session left open", not report.open_sessions, f"{len(report.open_sessions)} open"))

    # S3: every manifest entry is in S3 with the sha256 the manifest and the metadata state, which
    # is also the sha256 of its source (resources: the bytes at the URL; transcripts: the sim's record).
    sim_sessions = {s["session_id"]: s for s in report.sessions}
    listed: set[str] = set()
    for manifest_key in _manifest_keys(s3, bucket, prefix):
        report.manifests.append(manifest_key.rsplit("/", 1)[-1])
        listed.add(manifest_key)
        body, _ = _read_object(s3, bucket, manifest_key)
        for entry in json.loads(body)["entries"]:
            if entry["status"] not in ("archived", "skipped") or not entry.get("key"):
                report.objects.append(
                    StoredObject(
                        key=entry.get("key") or entry["name"],
                        kind="?",
                        name=entry["name"],
                        size=None,
                        sha256=None,
                        manifest_sha256=None,
                        metadata_sha256=None,
                        source_sha256=None,
                        source_check=f"MISMATCH: {entry['status']} ({entry.get('reason')})",
                    )
                )
                continue
            listed.add(entry["key"])
            report.objects.append(_check_entry(s3, bucket, entry, http, sim_sessions))
    report.checks.append(Check("manifests were written", bool(report.manifests), f"{len(report.manifests)}"))
    transcripts = [o for o in report.objects if o.kind == "transcript"]
    resources = [o for o in report.objects if o.kind == "resource"]
    archived_for = {o.name.split()[1] for o in resources if o.name.startswith("avatar ")}
    report.checks.append(
        Check(
            "every avatar's resources were archived", bool(ours) and archived_for >= ours, f"{len(resources)} object(s)"
        )
    )
    report.checks.append(
        Check(
            "every session's transcript was archived",
            {o.name.split()[-1] for o in transcripts} >= set(sim_sessions),
            f"{len(transcripts)} object(s)",
        )
    )
    bad = [o.key for o in report.objects if not o.ok]
    report.checks.append(
        Check(
            "every archived object matches its source, the manifest and its metadata (sha256)",
            not bad and bool(report.objects),
            ", ".join(bad[:5]),
        )
    )
    stray = sorted(_all_keys(s3, bucket, prefix) - listed)
    report.checks.append(Check("no object in the prefix is missing from a manifest", not stray, ", ".join(stray[:5])))
    return report


def _check_entry(
    s3: S3Client, bucket: str, entry: dict[str, Any], http: httpx.Client, sim_sessions: dict[str, dict[str, Any]]
) -> StoredObject:
    key = entry["key"]
    try:
        body, metadata = _read_object(s3, bucket, key)
    except Exception as exc:
        return StoredObject(
            key=key,
            kind="?",
            name=entry["name"],
            size=None,
            sha256=None,
            manifest_sha256=entry.get("sha256"),
            metadata_sha256=None,
            source_sha256=None,
            source_check=f"MISMATCH: not readable from S3 ({type(exc).__name__})",
        )
    digest = hashlib.sha256(body).hexdigest()
    source_url = str(entry.get("source_url") or "")
    if source_url.startswith(("http://", "https://")):
        kind = "resource"
        try:
            source = _sha256_of_url(http, source_url)
            check = "sha256 = source" if source == digest else "MISMATCH: sha256 differs from the source"
        except Exception as exc:
            source, check = None, f"MISMATCH: source not readable ({type(exc).__name__})"
    else:
        kind, source = "transcript", None
        document = json.loads(body)
        said = [s["text"] for s in document.get("segments", []) if s.get("status") == "spoken"]
        sim = sim_sessions.get(str(document.get("session_id")))
        if sim is None:
            check = "MISMATCH: the sim knows no such session"
        elif said != sim["texts"]:
            check = "MISMATCH: transcript differs from what the avatar said"
        else:
            check = f"transcript = sim session ({len(said)} spoken)"
    if entry.get("size") is not None and entry["size"] != len(body):
        check = f"MISMATCH: size {len(body)} != manifest {entry['size']}"
    return StoredObject(
        key=key,
        kind=kind,
        name=entry["name"],
        size=len(body),
        sha256=digest,
        manifest_sha256=entry.get("sha256"),
        metadata_sha256=metadata.get("sha256"),
        source_sha256=source,
        source_check=check,
    )
