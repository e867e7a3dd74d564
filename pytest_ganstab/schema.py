"""What a saved session file holds, declared as types, and the check every reader runs on each file.

A file that is valid JSON can still be wrong (``"modes": ["a", ...]``, ``"machine": 5``,
``"commit": "abc123"``), and one such file must not break ``ganstab list`` or a CI gate for the whole
store. So every reader (``history.read_session``) checks each file against the declared types before
using it, and a file that fails is reported with its name and the first thing wrong, then skipped.

The types are the ones the code itself is written against: ``SessionFile`` and ``CommitInfo`` here,
``records.RunRecord`` and ``records.FindingRecord``, read at run time with ``typing.get_type_hints``, so
the check cannot drift from the declarations. Stored values follow ``history``'s JSON rules: a float
that was NaN or infinite is stored as null, so a ``float`` slot holds a finite number or null. Keys a
newer writer may add are allowed; only the keys every reader needs are required. No numpy or pandas here.
"""

from __future__ import annotations

import math
import types
import typing
from datetime import datetime
from typing import Any, TypedDict, Union

from .records import SCHEMA_VERSION, RunRecord

KIND = "pytest-ganstab-session"
SCHEMA = SCHEMA_VERSION  # one number for the session file and the run records it holds


class CommitInfo(TypedDict):
    """The git commit a session ran on (``history.git_commit``)."""

    id: str
    branch: str
    dirty: bool


class SessionFile(TypedDict):
    """One saved session: the JSON object in ``<UTC time>_<name>_<id>.json``."""

    schema: int
    kind: str
    id: str
    name: str | None
    created: str  # UTC, ISO 8601
    machine: dict[str, Any]
    commit: CommitInfo | None
    records: list[RunRecord]


# Keys without which a reader cannot use the object; others are checked when present.
REQUIRED: dict[type, frozenset[str]] = {
    SessionFile: frozenset({"schema", "kind", "id", "created", "records"}),
    RunRecord: frozenset({"metrics"}),
}


class SchemaError(ValueError):
    """A stored object that does not have the declared shape; ``str()`` names where and what."""


def check_session(data: Any) -> SessionFile:
    """``data`` (parsed JSON) as a ``SessionFile``, or SchemaError naming the first thing wrong."""
    if not isinstance(data, dict) or data.get("kind") != KIND:
        raise SchemaError(f'not a pytest-ganstab session (no "kind": "{KIND}")')
    schema = data.get("schema")
    if not isinstance(schema, int) or isinstance(schema, bool) or schema > SCHEMA:
        raise SchemaError(f"schema {schema!r} is newer than this pytest-ganstab reads ({SCHEMA}); upgrade it")
    check(data, SessionFile, "")
    try:
        datetime.fromisoformat(data["created"].replace("Z", "+00:00"))
    except ValueError:
        raise SchemaError(f"created: {data['created']!r} is not an ISO 8601 time") from None
    for index, record in enumerate(data["records"]):
        lengths = {metric: len(values) for metric, values in record["metrics"].items()}
        if len(set(lengths.values())) > 1:
            counts = ", ".join(f"{metric} {count}" for metric, count in lengths.items())
            raise SchemaError(f"records[{index}].metrics: one value per seed expected, but {counts}")
    return typing.cast(SessionFile, data)


def check(value: Any, hint: Any, where: str) -> None:
    """SchemaError unless ``value`` fits the type ``hint``; ``where`` is its path (``records[0].seeds``)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (Union, types.UnionType):
        arms = [arm for arm in args if _shape_fits(value, arm)]
        if not arms:
            _fail(value, hint, where)
        check(value, arms[0], where)
    elif typing.is_typeddict(hint):
        if not isinstance(value, dict):
            _fail(value, hint, where)
        missing = sorted(REQUIRED.get(hint, frozenset()) - value.keys())
        if missing:
            raise SchemaError(f'{where or "the file"}: "{missing[0]}" is missing')
        for key, sub in typing.get_type_hints(hint).items():
            if key in value:
                check(value[key], sub, f"{where}.{key}" if where else key)
    elif origin is list:
        if not isinstance(value, list):
            _fail(value, hint, where)
        for index, item in enumerate(value):
            check(item, args[0], f"{where}[{index}]")
    elif origin is dict:
        if not isinstance(value, dict):
            _fail(value, hint, where)
        for key, item in value.items():
            check(item, args[1], f"{where}.{key}")
    elif not _shape_fits(value, hint):
        _fail(value, hint, where)


def _shape_fits(value: Any, hint: Any) -> bool:
    """Whether ``value`` has ``hint``'s outer shape (containers are checked inside by ``check``)."""
    origin = typing.get_origin(hint)
    if hint is Any:
        return True
    if hint is None or hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:  # a NaN or inf was stored as null (jsonsafe.json_safe)
        return value is None or (
            isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
        )
    if hint is str:
        return isinstance(value, str)
    if origin in (Union, types.UnionType):
        return any(_shape_fits(value, arm) for arm in typing.get_args(hint))
    if origin is list:
        return isinstance(value, list)
    return isinstance(value, dict) if origin is dict or typing.is_typeddict(hint) else False


def _fail(value: Any, hint: Any, where: str) -> typing.NoReturn:
    shown = repr(value)
    shown = shown if len(shown) <= 40 else shown[:37] + "..."
    raise SchemaError(f"{where or 'the file'}: {shown} is not {_describe(hint)}")


def _describe(hint: Any) -> str:
    """``hint`` in words, for a message: ``a whole number``, ``an object or null``."""
    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):
        arms = [arm for arm in typing.get_args(hint) if arm is not type(None)]
        nullable = len(arms) < len(typing.get_args(hint)) and float not in arms  # a float slot says it
        return " or ".join(_describe(arm) for arm in arms) + (" or null" if nullable else "")
    words = {bool: "true or false", int: "a whole number", float: "a finite number or null", str: "a string"}
    if hint in words:
        return words[hint]
    if hint is None or hint is type(None):
        return "null"
    return "a list" if origin is list else "an object"
