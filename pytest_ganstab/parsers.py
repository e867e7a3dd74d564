"""The parsers of the option table: raw text (or a marker's value) in, a checked value out.

Each takes the raw value and where it came from (``--ganstab-seeds``, ``GANSTAB_SEEDS``, ``ini option
ganstab_seeds``, a marker argument), so every error is one line naming the source and the fix.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Sequence
from typing import Any

from .profiles import PROFILES

Parser = Callable[[Any, str], Any]  # (raw value, where it came from) -> value, or OptionError

TRUE = frozenset({"1", "true", "yes", "on"})
FALSE = frozenset({"0", "false", "no", "off"})
DEVICE = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")


class OptionError(ValueError):
    """A bad option, environment variable, ini value or marker argument; ``str()`` is the one line to show."""


def parse_bool(raw: Any, origin: str) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in TRUE | FALSE:
        return text in TRUE
    raise OptionError(f"{origin}: {raw!r} is not a yes/no value; use 1 or 0 (true/false, yes/no, on/off)")


def parse_int(least: int, hint: str) -> Parser:
    """Whole numbers of at least ``least``; ``hint`` says what to give instead (``at least 1 (e.g. 4)``)."""

    def parse(raw: Any, origin: str) -> int:
        if isinstance(raw, bool | float):
            raise OptionError(f"{origin}: {raw!r} is not a whole number")
        try:
            number = int(str(raw).strip())
        except ValueError:
            raise OptionError(f"{origin}: {raw!r} is not a whole number") from None
        if number < least:
            raise OptionError(f"{origin}: {number} is too small; give {hint}")
        return number

    return parse


def parse_number(check: Callable[[float], bool], requirement: str) -> Parser:
    """Finite numbers for which ``check`` holds; ``requirement`` completes "'x' must be ..."."""

    def parse(raw: Any, origin: str) -> float:
        if isinstance(raw, bool):
            raise OptionError(f"{origin}: {raw!r} is not a number")
        try:
            number = float(str(raw).strip())
        except ValueError:
            raise OptionError(f"{origin}: {raw!r} is not a number") from None
        if not (math.isfinite(number) and check(number)):
            raise OptionError(f"{origin}: {raw!r} must be {requirement}")
        return number

    return parse


def parse_choice(choices: Callable[[], Sequence[str]], what: str) -> Parser:
    """One of ``choices()`` (a callable, so the table can name profiles defined elsewhere)."""

    def parse(raw: Any, origin: str) -> str:
        text = str(raw).strip().lower()
        known = choices()
        if not isinstance(raw, str) or text not in known:
            listed = ", ".join(known[:-1]) + f" or {known[-1]}" if len(known) > 1 else known[0]
            raise OptionError(f"{origin}: unknown {what} {raw!r}; choose {listed}")
        return text

    return parse


def parse_device(raw: Any, origin: str) -> str:
    text = str(raw).strip().lower()
    if not isinstance(raw, str) or not DEVICE.match(text):
        raise OptionError(f"{origin}: unknown device {raw!r}; use auto, cpu, cuda or cuda:N")
    return text


def parse_text(raw: Any, origin: str) -> str:
    text = str(raw).strip()
    if not text:
        raise OptionError(f"{origin}: an empty value; give a value or leave the option out")
    return text


def parse_name(raw: Any, origin: str) -> str:
    from .history import check_name

    text = parse_text(raw, origin)
    try:
        return check_name(text)
    except ValueError as error:
        raise OptionError(f"{origin}: {error}") from None


def parse_storage(raw: Any, origin: str) -> str:
    """A store folder: a path or a ``file://`` URI (``storetools.storage_location``)."""
    from .storetools import storage_location

    text = parse_text(raw, origin)
    try:
        return storage_location(text)
    except ValueError as error:
        raise OptionError(f"{origin}: {error}") from None


def parse_rules(raw: Any, origin: str) -> list[Any]:
    """Regression rules (``rules.parse_rules``) from one text or a list of texts."""
    from .rules import RuleError
    from .rules import parse_rules as parse

    texts = [raw] if isinstance(raw, str) else list(raw)
    if not any(str(text).strip() for text in texts):
        raise OptionError(
            f"{origin}: an empty value; give RULES (e.g. modes:-1,hq:-5%) or write the option alone "
            "for the default rules"
        )
    try:
        return parse(text.replace("\n", ",") for text in texts)
    except RuleError as error:
        # A bare --ganstab-compare-fail followed by a test path takes the path as its RULES.
        swallowed = any(os.path.exists(text) for text in texts)
        hint = f"; before a test path write {origin}=default" if swallowed else ""
        raise OptionError(f"{origin}: {error}{hint}") from None


def profile_names() -> Sequence[str]:
    return list(PROFILES)
