"""Stores across machines: ``file://`` storage URIs, merging the stores of CI shards into one session, and
exporting a store to CSV or Parquet.

A suite sharded over several CI jobs or GPU hosts saves one session per shard (``--ganstab-save``); the
merge job gathers the shards' stores (CI artifacts) and ``merge_sessions`` makes them one session, which
``ganstab compare``, ``ganstab trend`` and ``--ganstab-compare`` then read as one run. The shards must be
disjoint (a test in two shards would be compared twice) and of one commit. The merged session's
``machine`` names every host and GPU, and lists each shard under ``shards``.

``export`` writes the store's frame (``Store.frame``: one row per session, run and seed) to a file.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlparse

if TYPE_CHECKING:
    from .history import Session, Store
    from .records import RunRecord

EXPORT_FORMATS = {".csv": "csv", ".parquet": "parquet"}


class MergeError(ValueError):
    """Sessions that cannot be merged into one run; the message says which and why."""


def storage_location(text: str) -> str:
    """The local folder a storage value names: a path, or a ``file://`` URI (``file:///srv/ganstab``,
    ``file://localhost/srv/ganstab``, percent-escapes decoded). Any other scheme is a ValueError: the
    store is a plain folder, and a remote one is mounted or copied, not opened."""
    parsed = urlparse(text)
    if len(parsed.scheme) <= 1:  # no scheme, or a Windows drive letter (C:\\...)
        return text
    if parsed.scheme != "file":
        raise ValueError(
            f"{text!r}: the store is a local folder; give a path or a file:// URI, not {parsed.scheme}://"
        )
    if parsed.netloc not in ("", "localhost"):
        raise ValueError(
            f"{text!r}: a file:// URI names a folder on this machine; drop the host {parsed.netloc!r}"
        )
    path = unquote(parsed.path)
    if not path:
        raise ValueError(f"{text!r}: the URI names no folder; write file:///absolute/path")
    return path


# ---------------------------------------------------------------- merge


def gather(store: Store, sources: Sequence[str]) -> list[Session]:
    """The sessions named by ``sources``: a session file, a folder (every session in it: a shard's store),
    or an ID in ``store`` (a name, an id prefix, ``latest``). Unreadable files in a folder go to
    ``store.problems``."""
    from .history import Store as StoreType
    from .history import read_session

    found: list[Session] = []
    for source in sources:
        path = Path(storage_location(source))
        if path.is_dir():
            shard = StoreType(path)
            sessions = shard.sessions()
            store.problems.extend(shard.problems)
            if not sessions:
                raise MergeError(f"no saved session in {path}")
            found.extend(sessions)
        elif path.suffix == ".json" and path.is_file():
            found.append(read_session(path))
        else:
            found.append(store.resolve(source))
    unique = {session.id: session for session in found}
    return sorted(unique.values(), key=lambda session: (session.created, session.id))


def merge_sessions(
    sessions: Sequence[Session],
) -> tuple[list[RunRecord], dict[str, Any], dict[str, Any] | None]:
    """The records, machine facts and commit of one session made of ``sessions`` (the shards).

    Records are sorted by test, as a single run would save them. MergeError when fewer than two sessions
    are given, when a test is in two of them, or when they ran different commits."""
    if len(sessions) < 2:
        raise MergeError(f"merge needs two or more sessions, got {len(sessions)}")
    owner: dict[str, str] = {}
    for session in sessions:
        for test in {str(record.get("test")) for record in session.records if record.get("test")}:
            if test in owner:
                raise MergeError(
                    f"test {test} is in sessions {owner[test]} and {session.id}: the shards overlap "
                    "(each test must run in one shard); merge the shards of one run"
                )
            owner[test] = session.id
    commits = {(session.commit or {}).get("id") for session in sessions} - {None}
    if len(commits) > 1:
        raise MergeError(
            f"the sessions ran different commits ({', '.join(sorted(str(c)[:10] for c in commits))}): "
            "merge the shards of one CI run"
        )
    records = [record for session in sessions for record in session.records]
    records.sort(key=lambda record: str(record.get("test")))
    return records, merged_machine(sessions), _merged_commit(sessions)


def merged_machine(sessions: Sequence[Session]) -> dict[str, Any]:
    """Facts every shard shares, every host (``node``) and GPU (``gpus``) that ran, and each shard's own
    facts under ``shards``."""
    machines = [session.machine for session in sessions]
    shared = {
        key: value
        for key, value in machines[0].items()
        if key not in ("workers", "shards") and all(other.get(key) == value for other in machines[1:])
    }
    nodes = _unique(str(machine["node"]) for machine in machines if machine.get("node"))
    gpus = sorted(
        {name for machine in machines for name in machine.get("gpus", [machine.get("gpu")]) if name}
    )
    merged: dict[str, Any] = {**shared, "node": ", ".join(nodes)}
    if gpus:
        merged.update(gpus=gpus, gpu=gpus[0])
    merged["shards"] = [
        {"session": s.id, "name": s.name, "created": s.created, "runs": len(s.records), **s.machine}
        for s in sessions
    ]
    return merged


def _merged_commit(sessions: Sequence[Session]) -> dict[str, Any] | None:
    commits = [session.commit for session in sessions if session.commit]
    if not commits:
        return None
    return {**commits[0], "dirty": any(commit.get("dirty") for commit in commits)}


def _unique(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(values))


# ---------------------------------------------------------------- export


def export(store: Store, output: str | os.PathLike[str], idents: Sequence[str] = ()) -> tuple[Path, int]:
    """Write ``store``'s frame (one row per session, run and seed; only the sessions ``idents`` names, all
    without) to ``output``, CSV or Parquet by its suffix. Returns the file and its number of rows."""
    target = Path(output)
    fmt = EXPORT_FORMATS.get(target.suffix.lower())
    if fmt is None:
        raise ValueError(f"{target}: give a .csv or .parquet file to export to")
    frame = store.frame()
    if idents:
        sessions = store.sessions()
        chosen = {store.resolve(ident, sessions).id for ident in idents}
        frame = frame[frame["session"].isin(chosen)]
    if fmt == "parquet":
        if importlib.util.find_spec("pyarrow") is None:
            raise ValueError(
                f"{target}: writing Parquet needs pyarrow (pip install pyarrow); or export to .csv"
            )
        frame.to_parquet(target, index=False)
    else:
        frame.to_csv(target, index=False)
    return target, len(frame)


def session_summary(session: Session) -> str:
    """One line naming a saved session: its id and name, runs and hosts."""
    name = f" {session.name}" if session.name else ""
    hosts = session.machine.get("node") or "?"
    return f"{session.id}{name} ({len(session.records)} run(s) on {hosts})"
