"""Every ganstab option, declared once: its flag, ini key, environment variable, type, default and help.

The pytest plugins register their options from this table (``register``) and the ``ganstab`` command
shares the ones it needs (``add_argument``), so a name, a help text or a check is written in one
place. ``lookup`` reads an option with the precedence of docs/design.md §6 — command line, then
environment, then ini file (a ``@pytest.mark.ganstab`` marker and the profile come on top of this, in
``settings``) — and parses it where it is read (``parsers``), so every error is one line that names where
the bad value came from (``--ganstab-seeds``, ``GANSTAB_SEEDS``, ``ini option ganstab_seeds``) and how
to fix it.

A relative path is taken from where pytest was started when it comes from the command line or the
environment, and from the ini file's folder when it comes from the ini file (as pytest's own ``paths``
ini type does).

No torch, pandas or pytest import here: ``pytest --help`` stays fast and the rules are tested alone.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from .parsers import (
    Parser,
    parse_bool,
    parse_choice,
    parse_device,
    parse_int,
    parse_name,
    parse_number,
    parse_rules,
    parse_storage,
    parse_text,
    profile_names,
)
from .profiles import PROFILES
from .rules import DEFAULT_ALPHA, DEFAULT_FAMILY, FAMILIES

Kind = Literal["marker", "cli", "env", "ini"]
# ---------------------------------------------------------------- the table


@dataclass(frozen=True)
class Option:
    """One option. ``name`` is the ini key; the flag, dest and environment variable follow from it."""

    name: str  # "ganstab_seeds" -> --ganstab-seeds, GANSTAB_SEEDS, ini ganstab_seeds
    plugin: str  # which plugin registers it: "core", "history", "report", "traces" or "bench"
    help: str
    parse: Parser
    metavar: str | None = None
    switch: bool = False  # a flag without a value (--ganstab, --ganstab-autosave)
    nargs: str | None = None
    const: str | None = None
    append: bool = False  # may be given several times; the values are a list
    path: bool = False  # a folder or file: relative values are resolved (see the module docstring)
    env: bool = True  # whether an environment variable sets it

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def env_var(self) -> str:
        return self.name.upper()

    @property
    def key(self) -> str:
        """The short name used in settings and markers: ``seeds`` for ``ganstab_seeds``."""
        return self.name.removeprefix("ganstab_")

    def origin(self, kind: Kind) -> str:
        """How the user wrote this option in that source, so an error points at the exact spelling."""
        return {
            "marker": f"@pytest.mark.ganstab({self.key}=...)",
            "cli": self.flag,
            "env": self.env_var,
            "ini": f"ini option {self.name}",
        }[kind]

    def full_help(self) -> str:
        twins = [self.env_var] if self.env else []
        return f"{self.help}. " + (f"Env {twins[0]}, ini {self.name}." if twins else f"Ini {self.name}.")

    def argument(self) -> dict[str, Any]:
        """Keyword arguments for ``parser.addoption`` / ``argparse.add_argument``."""
        if self.switch:
            return {"action": "store_true", "default": None, "dest": self.name, "help": self.full_help()}
        spec: dict[str, Any] = {"dest": self.name, "metavar": self.metavar, "help": self.full_help()}
        if self.nargs is not None:
            spec.update(nargs=self.nargs, const=self.const)
        if self.append:
            spec["action"] = "append"
        return spec


_POSITIVE = parse_number(lambda x: x > 0, "a positive number (0.1 = a tenth of the steps)")

OPTIONS: tuple[Option, ...] = (
    Option(
        "ganstab",
        "core",
        "run the tests marked @pytest.mark.ganstab (skipped otherwise)",
        parse_bool,
        switch=True,
    ),
    Option(
        "ganstab_profile",
        "core",
        "sets the default seeds, steps scale and width: "
        + "; ".join(
            f"{p.name} for {p.purpose} ({p.seeds} seeds, steps x{p.steps_scale:g}, width {p.width})"
            for p in PROFILES.values()
        ),
        parse_choice(profile_names, "profile"),
        metavar="PROFILE",
    ),
    Option("ganstab_device", "core", "auto (CUDA when present), cpu, cuda or cuda:N", parse_device, "DEVICE"),
    Option(
        "ganstab_seeds",
        "core",
        "independent seeds per Run",
        parse_int(1, "at least 1 (e.g. seeds=4)"),
        "SEEDS",
    ),
    Option(
        "ganstab_steps_scale",
        "core",
        "multiplies every test's steps (0.2 in a quick CI job, 5 at night)",
        _POSITIVE,
        "STEPS_SCALE",
    ),
    Option(
        "ganstab_seed",
        "core",
        "base seed: seed k of a Run depends only on (base seed, k)",
        parse_int(0, "a base seed of 0 or more"),
        "SEED",
    ),
    Option(
        "ganstab_save",
        "history",
        "save this session's runs into the store as STORAGE/<time>_NAME_<id>.json",
        parse_name,
        "NAME",
    ),
    Option(
        "ganstab_autosave",
        "history",
        "save every session into the store as STORAGE/<time>_auto_<id>.json",
        parse_bool,
        switch=True,
    ),
    Option(
        "ganstab_storage",
        "history",
        "folder of saved runs (a path or a file:// URI), one JSON file per session; default .ganstab under "
        "the rootdir; 'ganstab merge' joins the stores of CI shards",
        parse_storage,
        "PATH",
        path=True,
    ),
    Option(
        "ganstab_compare",
        "history",
        "compare this session with saved run ID (a name, an id prefix or a file), the latest if no ID",
        parse_text,
        "ID",
        nargs="?",
        const="latest",
    ),
    Option(
        "ganstab_compare_fail",
        "history",
        "fail on a stability regression by RULES, comma-separated METRIC:[+|-]X[%%] (e.g. modes:-1,hq:-5%%); "
        "without RULES the default rules (README); implies --ganstab-compare; may be repeated",
        parse_rules,
        "RULES",
        nargs="?",
        const="default",
        append=True,
    ),
    Option(
        "ganstab_compare_alpha",
        "history",
        "the gate's false-alarm rate: a change is a regression only if its family-adjusted p <= P "
        f"(default {DEFAULT_ALPHA:g})",
        parse_number(lambda x: 0 < x < 1, "a number strictly between 0 and 1, e.g. 0.05"),
        "P",
    ),
    Option(
        "ganstab_compare_family",
        "history",
        "over what the gate holds its false-alarm rate at alpha: session (every rule of every compared "
        "run together) or run (each run alone; more false alarms in a large session); "
        f"default {DEFAULT_FAMILY}",
        parse_choice(lambda: FAMILIES, "family"),
        "FAMILY",
    ),
    Option(
        "ganstab_report",
        "report",
        "write a report of every GAN Run (samples, curves, verdicts, per-seed metrics) to DIR/index.html; "
        "needs matplotlib: pip install 'pytest-ganstab[report]'",
        parse_text,
        "DIR",
        path=True,
    ),
    Option(
        "ganstab_traces",
        "traces",
        "write every Run's full trace (all seeds, probes, per-layer gradient norms) and final samples to "
        "DIR as Parquet (with pyarrow) or CSV, and TensorBoard event files (with tensorboard), one run "
        "per test and seed",
        parse_text,
        "DIR",
        path=True,
    ),
    Option(
        "ganstab_bench_threads",
        "bench",
        "CPU threads for the engine benchmarks (default 2; 1 on a machine shared with other jobs)",
        parse_int(1, "a positive number of threads, e.g. 1 or 2"),
        "N",
        env=False,
    ),
)
BY_NAME: dict[str, Option] = {option.name: option for option in OPTIONS}


def option(name: str) -> Option:
    """The option called ``name`` (``ganstab_seeds``) or by its short key (``seeds``)."""
    return BY_NAME[name if name in BY_NAME else f"ganstab_{name}"]


# ---------------------------------------------------------------- reading


@dataclass(frozen=True)
class Value:
    """A parsed value, where it came from (an origin such as ``--ganstab-seeds``, or ``default``) and
    the raw text as the user wrote it (for messages: a resolved path is long)."""

    value: Any
    source: str
    raw: Any = None


@dataclass(frozen=True)
class Sources:
    """The raw values of one process: command line, environment and ini file, and the folders that relative
    paths from each start at. ``cli`` and ``ini`` return None for an option they do not hold."""

    cli: Callable[[Option], Any]
    ini: Callable[[Option], Any]
    env: Mapping[str, str]
    invocation_dir: Path
    ini_dir: Path
    flags: Mapping[str, str] = field(default_factory=dict)  # option name -> its flag here, if not its own

    def origin(self, option: Option, kind: Kind) -> str:
        """Where a value of ``option`` came from, as the user wrote it in this process."""
        return self.flags.get(option.name, option.flag) if kind == "cli" else option.origin(kind)

    def raw(self, option: Option) -> list[tuple[Kind, Any]]:
        """The raw values that are set, highest precedence first. An empty environment variable or ini
        value counts as unset (``GANSTAB_SAVE=`` in a CI file); an empty value written on the command line
        (``--ganstab-save ''``) is kept, so that its parser says what to write instead."""
        found: list[tuple[Kind, Any]] = [
            ("cli", self.cli(option)),
            ("env", self.env.get(option.env_var) if option.env else None),
            ("ini", self.ini(option)),
        ]
        return [
            (kind, raw)
            for kind, raw in found
            if raw is not None and (kind == "cli" or raw not in ("", [], ()))
        ]


def lookup(option: Option, sources: Sources, default: Any = None) -> Value:
    """``option``'s value from the highest source that sets it, parsed; ``default`` when none does."""
    for kind, raw in sources.raw(option):
        origin = sources.origin(option, kind)
        value = option.parse(raw, origin)
        if option.path:
            base = sources.ini_dir if kind == "ini" else sources.invocation_dir
            value = Path(base, value)
        return Value(value, origin, raw)
    return Value(default, "default")


def process_sources(
    cli: Mapping[str, Any] | None = None,
    *,
    ini: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    invocation_dir: str | os.PathLike[str] = ".",
    flags: Mapping[str, str] | None = None,
) -> Sources:
    """Sources from plain mappings (the ``ganstab`` command, tests), by option name; ``flags`` names the
    flags that set an option in this process when they are not its pytest flag (``--fail``)."""
    cli_values, ini_values = dict(cli or {}), dict(ini or {})
    here = Path(invocation_dir)
    return Sources(
        cli=lambda option: cli_values.get(option.name),
        ini=lambda option: ini_values.get(option.name),
        env=os.environ if env is None else env,
        invocation_dir=here,
        ini_dir=here,
        flags=dict(flags or {}),
    )
