"""The history store: one JSON file per saved pytest session, in a plain folder (``.ganstab/``).

One file per session, named ``<UTC time>_<name>_<random id>.json``, so that CI artifacts and xdist
runs merge by copying files and two sessions saving at once never pick the same name. A file is
written to a hidden temporary name (``.*.json.part``) in the same folder and moved into place with
``os.replace``: readers see a whole file or none. Session files are never overwritten or deleted.

Every reader goes through ``read_session``, which checks the file's types (``schema``): a corrupt,
foreign or mistyped file is reported once (``Store.problems``) with its name and what is wrong, and
skipped; the rest still load. A ``.part`` file older than ``LEFTOVER_AGE_S`` is a save that was killed
between writing and renaming: it is reported too, and only ``Store.clean`` (``ganstab clean``) removes it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
import time
import uuid
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .jsonsafe import json_safe
from .machine import machine_info
from .schema import KIND, SCHEMA, SchemaError, SessionFile, check_session

if TYPE_CHECKING:
    import pandas as pd

    from .records import RunRecord

__all__ = [
    "DEFAULT_STORAGE",
    "KIND",
    "SCHEMA",
    "Session",
    "Store",
    "StoreError",
    "StoreWarning",
    "load_store",
]

DEFAULT_STORAGE = ".ganstab"
PART = ".json.part"  # the suffix of a file being written
LEFTOVER_AGE_S = 300  # a save takes well under a second: a .part file this old was left by a killed one
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class StoreError(LookupError):
    """A session ID that names no saved session, or more than one; a store path that is no folder, or
    one that cannot be written."""


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

    def to_dict(self) -> SessionFile:
        return {
            "schema": SCHEMA,
            "kind": KIND,
            "id": self.id,
            "name": self.name,
            "created": self.created,
            "machine": self.machine,
            "commit": self.commit,  # type: ignore[typeddict-item]  # git_commit's dict
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
            records=[json_safe(record) for record in records],
        )
        self.check_folder()
        self.path.mkdir(parents=True, exist_ok=True)
        target = self.path / f"{now:%Y%m%dT%H%M%S%fZ}_{name or 'auto'}_{session.id}.json"
        text = json.dumps(session.to_dict(), indent=1, allow_nan=False)
        handle, temporary = tempfile.mkstemp(dir=self.path, prefix=".", suffix=PART)
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
        """Every readable session, oldest first; unreadable files and leftovers go to ``problems``."""
        self.problems = []
        self.check_folder()
        if not self.path.is_dir():
            return []
        found = []
        for path in sorted(self.path.glob("*.json")):
            try:
                found.append(read_session(path))
            except ValueError as error:
                self.problems.append(f"skipped {path}: {error}")
        for path in self.leftovers():
            self.problems.append(
                f"leftover {path}: a save that was stopped before it finished ({_describe_file(path)}); "
                "'ganstab clean' removes such files"
            )
        return sorted(found, key=lambda session: (session.created, session.id))

    def check_folder(self) -> None:
        """StoreError if the store's path exists but is not a folder (a file given by mistake)."""
        if self.path.exists() and not self.path.is_dir():
            raise StoreError(f"{self.path} is a file, not a folder of saved runs; give a folder")

    def check_writable(self) -> None:
        """Create the folder if needed and write (then remove) a probe file in it, so that a store that
        cannot take a session is found before any training, not after it; StoreError says why."""
        self.check_folder()
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=self.path, prefix=".ganstab-probe-"):
                pass
        except OSError as error:
            reason = error.strerror or str(error)
            raise StoreError(f"cannot save into {self.path} ({reason}); give a writable folder") from None

    def leftovers(self, older_than_s: float = LEFTOVER_AGE_S) -> list[Path]:
        """The ``.part`` files of saves that were stopped before their rename (younger ones may be saves
        under way, and are left out)."""
        if not self.path.is_dir():
            return []
        now = time.time()
        found = []
        for path in sorted(self.path.glob(f".*{PART}")):
            try:
                if now - path.stat().st_mtime >= older_than_s:
                    found.append(path)
            except OSError:  # renamed or removed meanwhile: a save finished
                continue
        return found

    def clean(self, older_than_s: float = LEFTOVER_AGE_S) -> list[Path]:
        """Remove the leftovers (``leftovers``) and return them; session files are never touched."""
        removed = []
        for path in self.leftovers(older_than_s):
            try:
                path.unlink()
            except FileNotFoundError:
                continue
            removed.append(path)
        return removed

    def resolve(self, ident: str, sessions: Sequence[Session] | None = None) -> Session:
        """The session ``ident`` names: ``latest``, a file path, a name (its latest), or an id prefix."""
        known = list(self.sessions() if sessions is None else sessions)
        if Path(ident).suffix == ".json" and Path(ident).is_file():
            try:
                return read_session(Path(ident))
            except ValueError as error:
                raise ValueError(f"{ident}: {error}") from None
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
    """The session saved in ``path``; ValueError saying what is wrong if it is not one (``schema``)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"), parse_constant=_no_constant)
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise ValueError(f"not readable JSON ({error})") from error
    try:
        checked = check_session(data)
    except SchemaError as error:
        raise ValueError(str(error)) from None
    return Session(
        id=checked["id"],
        name=checked.get("name"),
        created=checked["created"],
        machine=checked.get("machine") or {},
        commit=dict(commit) if (commit := checked.get("commit")) else None,
        records=checked["records"],
        path=path,
    )


def _no_constant(name: str) -> Any:
    # json.loads would accept NaN and Infinity, which JSON has not and this store never writes.
    raise ValueError(f"{name} is not JSON; a value that was not measured is stored as null")


def _describe_file(path: Path) -> str:
    try:
        info = path.stat()
    except OSError:
        return "gone since"
    minutes = (time.time() - info.st_mtime) / 60
    age = f"{minutes:.0f} min" if minutes < 120 else f"{minutes / 60:.0f} h"
    return f"{info.st_size / 1e6:.2g} MB, {age} old"


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
