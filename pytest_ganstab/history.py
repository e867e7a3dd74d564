"""The history store: one JSON file per saved pytest session, in a plain folder (``.ganstab/``).

One file per session, named ``<UTC time>_<name>_<random id>.json``, so that CI artifacts and xdist
runs merge by copying files and two sessions saving at once never pick the same name. A file is
written to a hidden temporary name in the same folder and moved into place with ``os.replace``:
readers see a whole file or none. Files are never overwritten or deleted; a corrupt or foreign file
is reported (``Store.problems``) and skipped, and the rest still load.
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import tempfile
import uuid
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .machine import machine_info
from .records import SCHEMA_VERSION

if TYPE_CHECKING:
    import pandas as pd

    from .records import RunRecord

SCHEMA = SCHEMA_VERSION  # one number for the session file and the run records it holds
KIND = "pytest-ganstab-session"
DEFAULT_STORAGE = ".ganstab"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class StoreError(LookupError):
    """A session ID that names no saved session, or more than one."""


class StoreWarning(UserWarning):
    """A file in the store that could not be read; it is skipped, never deleted."""


def check_name(name: str) -> str:
    """``name`` if it can be part of a file name; the error says what is allowed."""
    if not _NAME.match(name) or name == "latest":
        raise ValueError(
            f"session name {name!r} is not allowed: use 1-64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit, and not 'latest'"
        )
    return name


@dataclass(frozen=True)
class Session:
    """One saved pytest session: where and when it ran, and its run records."""

    id: str
    name: str | None
    created: str  # UTC, ISO 8601
    machine: dict[str, Any]
    commit: dict[str, Any] | None
    records: list[RunRecord] = field(repr=False)
    path: Path | None = None

    @property
    def title(self) -> str:
        """How tables name the session: its id, name and date."""
        name = f" {self.name}" if self.name else ""
        return f"{self.id}{name} ({self.created[:19].replace('T', ' ')} UTC)"

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "kind": KIND,
            "id": self.id,
            "name": self.name,
            "created": self.created,
            "machine": self.machine,
            "commit": self.commit,
            "records": self.records,
        }


def git_commit(directory: str | os.PathLike[str] = ".") -> dict[str, Any] | None:
    """HEAD's hash, branch and whether the tree has changes; None outside a git work tree."""

    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", *args], cwd=directory, capture_output=True, text=True, timeout=10, check=True
        )
        return done.stdout.strip()

    try:
        return {
            "id": git("rev-parse", "HEAD"),
            "branch": git("rev-parse", "--abbrev-ref", "HEAD"),
            "dirty": bool(git("status", "--porcelain", "--untracked-files=no")),
        }
    except (OSError, subprocess.SubprocessError):
        return None


class Store:
    """The sessions saved in one folder. Reading never changes the folder."""

    def __init__(self, path: str | os.PathLike[str] = DEFAULT_STORAGE) -> None:
        self.path = Path(path)
        self.problems: list[str] = []  # one line per skipped file, naming it and why

    def save(
        self,
        records: Sequence[RunRecord],
        name: str | None = None,
        *,
        machine: dict[str, Any] | None = None,
        commit: dict[str, Any] | None = None,
    ) -> Session:
        """Write a new session file atomically and return the session, its ``path`` set."""
        if name is not None:
            check_name(name)
        now = datetime.now(timezone.utc)
        session = Session(
            id=uuid.uuid4().hex[:8],
            name=name,
            created=now.isoformat(),
            machine=machine_info() if machine is None else machine,
            commit=commit,
            records=[_json_safe(record) for record in records],
        )
        self.path.mkdir(parents=True, exist_ok=True)
        target = self.path / f"{now:%Y%m%dT%H%M%S%fZ}_{name or 'auto'}_{session.id}.json"
        text = json.dumps(session.to_dict(), indent=1, allow_nan=False)
        handle, temporary = tempfile.mkstemp(dir=self.path, prefix=".", suffix=".json.part")
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as stream:
                stream.write(text + "\n")
                stream.flush()
                os.fsync(stream.fileno())
            os.replace(temporary, target)
        except BaseException:
            os.unlink(temporary)
            raise
        return replace(session, path=target)

    def sessions(self) -> list[Session]:
        """Every readable session, oldest first; unreadable files go to ``problems``."""
        self.problems = []
        if not self.path.is_dir():
            return []
        found = []
        for path in sorted(self.path.glob("*.json")):
            try:
                found.append(read_session(path))
            except ValueError as error:
                self.problems.append(f"skipped {path}: {error}")
        return sorted(found, key=lambda session: (session.created, session.id))

    def resolve(self, ident: str, sessions: Sequence[Session] | None = None) -> Session:
        """The session ``ident`` names: ``latest``, a file path, a name (its latest), or an id prefix."""
        known = list(self.sessions() if sessions is None else sessions)
        if Path(ident).suffix == ".json" and Path(ident).is_file():
            return read_session(Path(ident))
        if not known:
            raise StoreError(f"no saved session in {self.path}: save one with --ganstab-save NAME")
        if ident == "latest":
            return known[-1]
        named = [session for session in known if session.name == ident]
        if named:
            return named[-1]
        matches = [
            session
            for session in known
            if session.id.startswith(ident) or (session.path and session.path.stem.startswith(ident))
        ]
        if len(matches) == 1:
            return matches[0]
        if not matches:
            raise StoreError(
                f"no session {ident!r} in {self.path}: give 'latest', a name, an id prefix or a file "
                "(see 'ganstab list')"
            )
        raise StoreError(
            f"session {ident!r} is ambiguous in {self.path}: it matches "
            + ", ".join(session.id for session in matches)
            + "; give more characters"
        )

    def frame(self) -> pd.DataFrame:
        """One row per (session, run, seed), with the per-seed metrics and the run's timing as columns."""
        import pandas as pd

        rows = []
        for session in self.sessions():
            for record in session.records:
                rows.extend(_seed_rows(session, record))
        columns = [
            "session", "name", "created", "commit", "test", "label", "recipe", "toy", "device",
            "steps", "seeds", "seed", "seed_steps_per_s", "time_per_seed_step",
        ]  # fmt: skip
        frame = pd.DataFrame(rows)
        if frame.empty:
            return pd.DataFrame(columns=columns)
        frame["created"] = pd.to_datetime(frame["created"], utc=True, format="ISO8601")
        return frame[columns + [column for column in frame.columns if column not in columns]]


def load_store(path: str | os.PathLike[str] = DEFAULT_STORAGE) -> pd.DataFrame:
    """The whole store as one DataFrame; each skipped file raises a ``StoreWarning``."""
    store = Store(path)
    frame = store.frame()
    for problem in store.problems:
        warnings.warn(problem, StoreWarning, stacklevel=2)
    return frame


def read_session(path: Path) -> Session:
    """The session saved in ``path``; ValueError saying what is wrong if it is not one."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"not readable JSON ({error})") from error
    if not isinstance(data, dict) or data.get("kind") != KIND:
        raise ValueError(f'not a pytest-ganstab session (no "kind": "{KIND}")')
    schema = data.get("schema")
    if not isinstance(schema, int) or schema > SCHEMA:
        raise ValueError(f"schema {schema!r} is newer than this pytest-ganstab reads ({SCHEMA}); upgrade it")
    records = data.get("records")
    if not isinstance(records, list) or not all(
        isinstance(record, dict) and isinstance(record.get("metrics"), dict) for record in records
    ):
        raise ValueError('"records" is not a list of run records with "metrics"')
    if not isinstance(data.get("id"), str) or not isinstance(data.get("created"), str):
        raise ValueError('"id" or "created" is missing')
    return Session(
        id=data["id"],
        name=data.get("name"),
        created=data["created"],
        machine=data.get("machine") or {},
        commit=data.get("commit"),
        records=records,
        path=path,
    )


def _seed_rows(session: Session, record: RunRecord) -> list[dict[str, Any]]:
    metrics = record["metrics"]
    speed = record.get("seed_steps_per_s")
    n_seeds = max((len(values) for values in metrics.values()), default=0)
    seed_ids = record.get("seed_ids") or list(range(n_seeds))
    common = {
        "session": session.id,
        "name": session.name,
        "created": session.created,
        "commit": (session.commit or {}).get("id"),
        "test": record.get("test"),
        "label": record.get("label"),
        "recipe": record.get("recipe"),
        "toy": record.get("toy"),
        "device": record.get("device"),
        "steps": record.get("steps"),
        "seeds": record.get("seeds"),
        "seed_steps_per_s": speed,
        "time_per_seed_step": 1 / speed if isinstance(speed, int | float) and speed > 0 else None,
    }
    return [
        {
            **common,
            "seed": seed_ids[index] if index < len(seed_ids) else index,
            **{metric: values[index] if index < len(values) else None for metric, values in metrics.items()},
        }
        for index in range(n_seeds)
    ]


def _json_safe(value: Any) -> Any:
    # JSON has no NaN or Infinity: a run that diverged must still save, with None in their place.
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(key): _json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(item) for item in value]
    return value
