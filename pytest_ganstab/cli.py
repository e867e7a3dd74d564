"""The ``ganstab`` command: list, show, compare, plot, merge and export the runs saved by
``pytest --ganstab-save``.

``ganstab compare`` prints the same table and applies the same rules and seed-noise test as
``pytest --ganstab-compare``; exit codes: 0 ok, 1 a regression, 2 bad usage or input, 141 when the
reader of the output went away (``ganstab list | head``), as for any command killed by SIGPIPE.
Bad input is one line on stderr that names it; a file in the store that cannot be read is reported
(once) and skipped.
"""

from __future__ import annotations

import argparse
import contextlib
import fnmatch
import os
import statistics
import sys
from collections.abc import Sequence
from pathlib import Path

from . import tables
from .catalog import BY_NAME
from .compare import compare_records, keyed_records, record_values, run_name
from .history import DEFAULT_STORAGE, LEFTOVER_AGE_S, Store, StoreError
from .options import lookup, option, process_sources
from .parsers import OptionError
from .rules import DEFAULT_ALPHA, DEFAULT_FAMILY, DEFAULT_RULES, FAMILIES, Rule

OK, REGRESSION, USAGE, BROKEN_PIPE = 0, 1, 2, 141

IDS_HELP = "a session name (its latest run), a unique id prefix, 'latest', or a path to a saved .json file"
COMPARE_EPILOG = f"""rules (--fail):
    METRIC:[+|-]X[%]  comma-separated or repeated; X absolute, X% relative to the old mean. The sign
    must point the bad way for the metric: modes:-1, hq:-5%, reverse_kl:+0.1, d_auc:+0.05,
    g_signal:-50%, nonfinite:+0.25, time:+10%. --fail alone means the default rules:
    {DEFAULT_RULES}
    A change is a regression when it reaches its rule AND its p adj <= --alpha: a permutation test
    over whole seeds, corrected for every rule of every compared run (--family session) or of
    each run alone (--family run), so the whole gate false-alarms at most --alpha of the time when
    nothing changed. (time: the rule alone, it has one value per run.)

examples:

    ganstab compare main

        Compare the latest run saved as 'main' with the latest saved run.

    ganstab compare main latest --fail modes:-1,hq:-5%

        The same, and exit with 1 on a regression.

    ganstab compare .ganstab/20250101T120000000000Z_main_1a2b3c4d.json pr.json --fail

        Compare two saved files (e.g. CI artifacts) with the default rules."""


class _Parser(argparse.ArgumentParser):
    # Bad usage exits with 2, as argparse does, but with our prefix.
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        self.exit(USAGE, f"ganstab: error: {message}\n")


def make_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        "ganstab",
        description="pytest-ganstab's history commands: the runs saved by pytest --ganstab-save.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    storage_help = (
        f"Folder of saved runs (as --ganstab-storage). Default: ${option('storage').env_var}, else "
        f"'{DEFAULT_STORAGE}'."
    )
    parser.add_argument("--storage", "-s", metavar="PATH", default=None, help=storage_help)
    # The same option after the command too; SUPPRESS keeps a subcommand from resetting it to the default.
    after = _Parser(add_help=False)
    after.add_argument("--storage", "-s", metavar="PATH", default=argparse.SUPPRESS, help=storage_help)
    commands = parser.add_subparsers(
        title="commands", dest="command", metavar="COMMAND", parser_class=_Parser
    )
    commands.required = True

    def command(name: str, description: str, epilog: str | None = None) -> argparse.ArgumentParser:
        return commands.add_parser(
            name,
            help=description,
            description=description,
            epilog=epilog,
            formatter_class=argparse.RawDescriptionHelpFormatter,
            parents=[after],
        )

    help_command = command("help", "Display help and exit.")
    help_command.add_argument("topic", nargs="?", metavar="COMMAND", help="The command to explain.")

    command("list", "List saved runs, oldest first.")

    show = command("show", "Show one saved run: where it ran and its per-run stability table.")
    show.add_argument("id", metavar="ID", help=f"The run to show: {IDS_HELP}.")
    show.add_argument("--per-seed", action="store_true", help="Add one row per seed under each run.")

    compare = command("compare", "Compare saved runs: A (old) against B (new).", COMPARE_EPILOG)
    compare.add_argument("old", metavar="A", help=f"The old run: {IDS_HELP}.")
    compare.add_argument(
        "new", metavar="B", nargs="?", default="latest", help="The new run. Default: latest."
    )
    compare.add_argument(
        "--fail",
        metavar="RULES",
        nargs="?",
        const="default",
        action="append",
        help="Exit with 1 on a regression according to RULES (see below). Can be used multiple times.",
    )
    compare.add_argument(
        "--alpha",
        default=None,
        help=f"The gate's false-alarm rate. Default: ${option('compare_alpha').env_var}, "
        f"else {DEFAULT_ALPHA}.",
    )
    compare.add_argument(
        "--family",
        default=None,
        metavar="|".join(FAMILIES),
        help="Over what --alpha holds: every rule of every compared run (session) or each run alone (run). "
        f"Default: ${option('compare_family').env_var}, else {DEFAULT_FAMILY}.",
    )

    trend = command(
        "trend",
        "Plot a metric over the saved runs, one line per test (mean and sd over seeds), into a PNG.",
        "examples:\n\n    ganstab trend modes --test '*ring8*' --output modes.png",
    )
    trend.add_argument("metric", metavar="METRIC", help=", ".join(BY_NAME) + ".")
    trend.add_argument(
        "--output", "-o", metavar="FILE", help="The PNG to write. Default: 'ganstab-trend-METRIC.png'."
    )
    trend.add_argument(
        "--test",
        metavar="PATTERN",
        help="Only runs whose 'test [label]' matches PATTERN (a glob, or a substring).",
    )

    merge = command(
        "merge",
        "Merge the sessions of CI shards into one saved session (saved into --storage).",
        MERGE_EPILOG,
    )
    merge.add_argument("name", metavar="NAME", help="The merged session's name (as --ganstab-save NAME).")
    merge.add_argument(
        "sources",
        metavar="SOURCE",
        nargs="+",
        help="A shard's store folder (every session in it), a saved .json file, or an ID in --storage.",
    )

    export = command("export", "Write saved runs to CSV or Parquet: one row per session, run and seed.")
    export.add_argument("output", metavar="FILE", help="A .csv or .parquet file (Parquet needs pyarrow).")
    export.add_argument("ids", metavar="ID", nargs="*", help=f"Only these runs: {IDS_HELP}. Default: all.")
    command(
        "clean",
        "Remove the hidden .json.part files left by saves that were stopped before they finished "
        f"(older than {LEFTOVER_AGE_S // 60} minutes, so a save under way is never touched). "
        "Saved runs are never removed.",
    )
    return parser


MERGE_EPILOG = """examples:

    ganstab merge main shard-1/ shard-2/ shard-3/

        Each CI shard ran pytest --ganstab --ganstab-save main --ganstab-storage shard-N and kept the
        folder as an artifact; this saves one session 'main' of all their runs into .ganstab/.
        The shards must hold different tests and come from one commit."""


def main(argv: Sequence[str] | None = None) -> int:
    try:
        code = _main(argv)
        sys.stdout.flush()  # here, so that a reader gone by now is caught too, not at interpreter exit
        return code
    except BrokenPipeError:
        # The reader went away (``ganstab list | head``): nothing is wrong with the store, and no
        # traceback should say otherwise. Point stdout at /dev/null so the final flush stays quiet too.
        with contextlib.suppress(OSError, ValueError):  # ValueError: stdout is no file (captured)
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return BROKEN_PIPE


def _main(argv: Sequence[str] | None) -> int:
    parser = make_parser()
    args = parser.parse_args(argv)
    # The storage, rules, alpha and family read as in pytest: the command line, then the environment.
    flags = {
        "ganstab_storage": "--storage",
        "ganstab_compare_fail": "--fail",
        "ganstab_compare_alpha": "--alpha",
        "ganstab_compare_family": "--family",
    }
    shared = process_sources(
        {
            "ganstab_storage": args.storage,
            "ganstab_compare_fail": getattr(args, "fail", None),
            "ganstab_compare_alpha": getattr(args, "alpha", None),
            "ganstab_compare_family": getattr(args, "family", None),
        },
        flags=flags,
    )
    try:
        storage = lookup(option("storage"), shared, Path(DEFAULT_STORAGE))
        store = Store(storage.value)
        store.check_folder()
    except OptionError as error:
        return _error(str(error))
    except StoreError as error:
        given = "the default store" if storage.source == "default" else f"{storage.source} {storage.raw}"
        return _error(f"{given}: {error}")
    try:
        if args.command == "help":
            topic = [args.topic, "--help"] if args.topic else ["--help"]
            parser.parse_args(topic)  # prints the help and exits
        if args.command == "list":
            return _list(store)
        if args.command == "show":
            return _show(store, args.id, per_seed=args.per_seed)
        if args.command == "compare":
            rules = lookup(option("compare_fail"), shared, []).value
            alpha = lookup(option("compare_alpha"), shared, DEFAULT_ALPHA).value
            family = lookup(option("compare_family"), shared, DEFAULT_FAMILY).value
            return _compare(store, args.old, args.new, rules, alpha, family)
        if args.command == "clean":
            return _clean(store)
        if args.command == "merge":
            return _merge(store, args.name, args.sources)
        if args.command == "export":
            return _export(store, args.output, args.ids)
        return _trend(store, args.metric, args.output, args.test)
    except (StoreError, OptionError, ValueError) as error:
        return _error(str(error))
    finally:
        for problem in store.problems:
            print(f"ganstab: {problem}", file=sys.stderr)


def _error(message: str) -> int:
    print(f"ganstab: error: {message}", file=sys.stderr)
    return USAGE


def _list(store: Store) -> int:
    sessions = store.sessions()
    if not sessions:
        print(f"no saved run in {store.path}")
        return OK
    rows = []
    for session in sessions:
        commit = session.commit or {}
        rows.append(
            (
                session.id,
                session.created[:19].replace("T", " "),
                session.name or "-",
                (commit.get("id") or "-")[:10] + ("+" if commit.get("dirty") else ""),
                str(len(session.records)),
                " ".join(str(session.machine[key]) for key in ("node", "gpu") if key in session.machine),
            )
        )
    header = ("ID", "CREATED (UTC)", "NAME", "COMMIT", "RUNS", "MACHINE")
    for line in tables.render(header, rows, right=("RUNS",)):
        print(line)
    return OK


def _show(store: Store, ident: str, *, per_seed: bool) -> int:
    from .summary import render

    session = store.resolve(ident)
    commit = session.commit or {}
    print(f"run {session.title}")
    print(f"file: {session.path}")
    if commit:
        dirty = " (dirty)" if commit.get("dirty") else ""
        print(f"commit: {commit.get('id')} on {commit.get('branch')}{dirty}")
    print("machine: " + ", ".join(f"{key} {value}" for key, value in session.machine.items()))
    for line in render(session.records, per_seed=per_seed):
        print(line)
    return OK


def _compare(store: Store, old_id: str, new_id: str, rules: list[Rule], alpha: float, family: str) -> int:
    sessions = store.sessions()
    old, new = store.resolve(old_id, sessions), store.resolve(new_id, sessions)
    comparison = compare_records(
        old.records, new.records, rules, alpha=alpha, family=family, old_name=old.title, new_name=new.title
    )
    print(comparison.table())
    return REGRESSION if comparison.regressions else OK


def _clean(store: Store) -> int:
    removed = store.clean()
    for path in removed:
        print(f"removed {path}")
    if not removed:
        print(f"nothing to clean in {store.path}")
    return OK


def _trend(store: Store, metric: str, output: str | None, pattern: str | None) -> int:
    target = Path(output or f"ganstab-trend-{metric}.png")
    folder = target.parent
    if not folder.is_dir():  # before reading the store: a typo in -o is the user's first news
        what = (
            "is not a folder"
            if folder.exists() or any(p.is_file() for p in folder.parents)
            else "does not exist"
        )
        raise ValueError(f"--output {output}: {folder} {what}; give a PNG path in an existing folder")
    sessions = store.sessions()
    lines: dict[str, list[tuple[int, float, float]]] = {}
    for index, session in enumerate(sessions):
        for key, record in keyed_records(session.records).items():
            name = run_name(key)
            if pattern and not (fnmatch.fnmatchcase(name, pattern) or pattern in name):
                continue
            values = record_values(record).get(metric, [])
            if values:
                spread = statistics.stdev(values) if len(values) > 1 else 0.0
                lines.setdefault(name, []).append((index, statistics.fmean(values), spread))
    if not lines:
        where = f" matching {pattern!r}" if pattern else ""
        raise ValueError(
            f"no saved run{where} in {store.path} has metric {metric!r}; see 'ganstab show latest'"
        )
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("ganstab trend needs matplotlib: pip install pytest-ganstab[report]", file=sys.stderr)
        return USAGE
    figure, axes = plt.subplots(figsize=(max(6.0, 0.6 * len(sessions)), 4.5))
    for name, points in sorted(lines.items()):
        xs, means, spreads = zip(*points, strict=True)
        axes.errorbar(xs, means, yerr=spreads, marker="o", capsize=3, label=name)
    ticks = [f"{session.id}\n{session.name}" if session.name else session.id for session in sessions]
    axes.set_xticks(range(len(sessions)), ticks, rotation=45, ha="right")
    axes.set_xlabel("saved run (oldest first)")
    axes.set_ylabel(f"{metric} (mean ± sd over seeds)" if metric != "time" else "seconds per seed-step")
    axes.set_title(f"{metric} over saved runs")
    axes.legend(fontsize="small")
    figure.tight_layout()
    try:
        figure.savefig(target, dpi=100)
    except OSError as error:
        raise ValueError(f"--output {target}: cannot write it ({error.strerror or error})") from None
    finally:
        plt.close(figure)
    print(f"wrote {target} ({len(lines)} run(s) over {len(sessions)} saved session(s))")
    return OK


def _merge(store: Store, name: str, sources: list[str]) -> int:
    from .history import check_name
    from .storetools import gather, merge_sessions, session_summary

    check_name(name)  # a bad NAME is one line, before any file is read
    shards = gather(store, sources)
    records, machine, commit = merge_sessions(shards)
    saved = store.save(records, name, machine=machine, commit=commit)
    for shard in shards:
        print(f"  {session_summary(shard)}")
    print(f"merged {len(shards)} sessions into {saved.id} {name}: {len(records)} run(s), {saved.path}")
    return OK


def _export(store: Store, output: str, ids: list[str]) -> int:
    from .storetools import export

    target, rows = export(store, output, ids)
    print(f"wrote {rows} row(s) (one per session, run and seed) to {target}")
    return OK


if __name__ == "__main__":
    sys.exit(main())
