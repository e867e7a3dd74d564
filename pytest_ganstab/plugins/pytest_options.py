"""pytest's side of the option table: register a plugin's options, and read them with their precedence.

The table, its parsers and the precedence live in ``pytest_ganstab.options``; this module only adapts a
``pytest.Config`` to it and turns a bad value into a one-line usage error.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import pytest

from ..options import OPTIONS, Option, Sources, Value, option
from ..options import lookup as lookup_value
from ..parsers import OptionError
from ..settings import Layer

GROUP = "ganstab"
GROUP_TITLE = "GAN training stability (pytest-ganstab)"


def register(parser: pytest.Parser, plugin: str) -> None:
    """Add ``plugin``'s options and their ini twins to the one ``ganstab`` group of ``pytest --help``."""
    group = parser.getgroup(GROUP, GROUP_TITLE)
    for spec in OPTIONS:
        if spec.plugin == plugin:
            group.addoption(spec.flag, **spec.argument())
            # Every ini value is read as a string and parsed by the table, so a bad one names its key.
            parser.addini(spec.name, spec.help.replace("%%", "%"), default="")


def sources(config: pytest.Config) -> Sources:
    """The raw values of this pytest run; an option whose plugin is disabled (``-p no:...``) is unset."""

    def cli(spec: Option) -> Any:
        return config.getoption(spec.name, None)

    def ini(spec: Option) -> Any:
        try:
            return config.getini(spec.name)
        except ValueError:  # not registered: its plugin is disabled
            return None

    ini_dir = config.inipath.parent if config.inipath else config.rootpath
    return Sources(cli, ini, os.environ, config.invocation_params.dir, ini_dir)


def lookup(config: pytest.Config, name: str, default: Any = None) -> Value:
    """Option ``name``'s value with its precedence; a bad value stops pytest with one line."""
    try:
        return lookup_value(option(name), sources(config), default)
    except OptionError as error:
        raise pytest.UsageError(str(error)) from None


def layers(config: pytest.Config, keys: tuple[str, ...]) -> list[Layer]:
    """The command-line, environment and ini layers of the per-test settings (``settings.resolve``)."""
    found = sources(config)
    by_kind: dict[str, dict[str, Any]] = {"cli": {}, "env": {}, "ini": {}}
    for key in keys:
        for kind, raw in found.raw(option(key)):
            by_kind[kind][key] = raw
    return [Layer("cli", by_kind["cli"]), Layer("env", by_kind["env"]), Layer("ini", by_kind["ini"])]


def writable_directory(chosen: Value, what: str) -> Path:
    """The directory an option names, created and tried with a probe file at configure time, so an
    unwritable one is one usage line before any training rather than a traceback after it."""
    directory: Path = chosen.value
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=directory, prefix=".ganstab-probe-"):
            pass
    except OSError as error:
        reason = error.strerror or str(error)
        raise pytest.UsageError(
            f"{chosen.source} {chosen.raw}: cannot write {what} to {directory} ({reason}); "
            "give a writable directory"
        ) from None
    return directory
