"""Traces out: a Run's full trace and final samples as tables, and its curves as TensorBoard event files.

The store keeps per-seed summaries; people who debug a GAN want the curves, in the tools they already
read them in. ``write_tables`` writes the whole trace (every seed, every probe of ``run.PROBES``, every
layer's gradient norm) and the final samples from the fixed evaluation latents as Parquet when pyarrow is
installed, else CSV; ``write_tensorboard`` writes one TensorBoard run directory per seed
(``seed-<k>``) through ``torch.utils.tensorboard``, one scalar per probe, named by the probe
(``d_auc``; a layer's norm ``g_grad_norm/l0``, so TensorBoard groups the layers). ``write_run`` does
both, as ``--ganstab-traces DIR`` does for every Run of a pytest session.

torch, pandas and TensorBoard are imported where they are used: the pytest plugin imports this module's
names only when a test has trained.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import math
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from .jsonsafe import json_safe
from .thresholds import DEFAULTS

if TYPE_CHECKING:
    import pandas as pd

    from .records import RunRecord
    from .run import Run

TableFormat = Literal["parquet", "csv"]
TENSORBOARD_HINT = "pip install tensorboard"
PARQUET_HINT = "pip install pyarrow"


def has_tensorboard() -> bool:
    """Whether ``torch.utils.tensorboard`` can write event files here (it needs the tensorboard package)."""
    return importlib.util.find_spec("tensorboard") is not None


def table_format() -> TableFormat:
    """Parquet when pyarrow is installed (typed, compressed, read fastest by pandas and polars), else CSV."""
    return "parquet" if importlib.util.find_spec("pyarrow") is not None else "csv"


def slug(text: str) -> str:
    """A folder name for a test node id or a run label: readable, and unique through a short hash."""
    readable = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.")[:60] or "run"
    return f"{readable}-{hashlib.sha1(text.encode()).hexdigest()[:8]}"


def trace_frame(run: Run) -> pd.DataFrame:
    """The full trace, one row per (seed, recorded step): ``seed``, ``step``, the probes, then each
    layer's gradient norm (``g_grad_norm.l0``, ...). NaN where a seed had gone non-finite."""
    return run.trace.reset_index(drop=True)


def samples_frame(run: Run, n: int = DEFAULTS.samples) -> pd.DataFrame:
    """The final samples from the fixed evaluation latents (``run.samples``), one row per (seed, sample):
    ``seed``, ``sample``, ``x0`` ... ``x<dim-1>``."""
    import numpy as np
    import pandas as pd

    values = run.samples(n).cpu().numpy()  # [S, n, dim]
    seeds, count, dim = values.shape
    frame = pd.DataFrame(values.reshape(seeds * count, dim), columns=[f"x{i}" for i in range(dim)])
    frame.insert(0, "sample", np.tile(np.arange(count), seeds))
    frame.insert(0, "seed", np.repeat(np.asarray(run.seeds), count))
    return frame


def write_table(frame: pd.DataFrame, path_without_suffix: Path, fmt: TableFormat | None = None) -> Path:
    """``frame`` as ``<path>.parquet`` or ``<path>.csv``; returns the file written."""
    chosen = fmt or table_format()
    if chosen == "parquet":
        if importlib.util.find_spec("pyarrow") is None:
            raise ImportError(f"writing Parquet needs pyarrow: {PARQUET_HINT} (or choose csv)")
        path = path_without_suffix.with_suffix(".parquet")
        frame.to_parquet(path, index=False)
        return path
    if chosen != "csv":
        raise ValueError(f"unknown table format {chosen!r}; choose parquet or csv")
    path = path_without_suffix.with_suffix(".csv")
    frame.to_csv(path, index=False)
    return path


def write_tables(
    run: Run,
    directory: str | Path,
    *,
    record: RunRecord | None = None,
    fmt: TableFormat | None = None,
    samples: int = DEFAULTS.samples,
) -> list[Path]:
    """``trace`` and ``samples`` tables of ``run`` in ``directory``, and ``run.json``: its facts, recipe,
    and (given ``record``) its key metrics and findings. Returns the files written."""
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    written = [
        write_table(trace_frame(run), folder / "trace", fmt),
        write_table(samples_frame(run, samples), folder / "samples", fmt),
    ]
    facts: dict[str, Any] = {
        "label": run.label,
        **run.describe(),
        "seed_ids": list(run.seeds),
        "base_seed": run.base_seed,
        "recipe_config": run.recipe.to_dict(),
        "notes": list(run.notes),
    }
    if record is not None:
        facts["record"] = record
    info = folder / "run.json"
    info.write_text(json.dumps(json_safe(facts), indent=1, allow_nan=False) + "\n", encoding="utf-8")
    return [*written, info]


def scalar_tag(column: str) -> str:
    """The TensorBoard tag of a trace column: the probe's name; ``g_grad_norm.l0`` -> ``g_grad_norm/l0``."""
    return column.replace(".", "/")


def write_tensorboard(run: Run, directory: str | Path) -> list[Path]:
    """One TensorBoard run per seed, ``directory/seed-<k>``: every probe and layer norm as a scalar over
    the recorded steps (non-finite values left out), and the run's facts as text. Returns the run
    directories. ImportError, saying what to install, when tensorboard is missing."""
    if not has_tensorboard():
        raise ImportError(f"TensorBoard event files need the tensorboard package: {TENSORBOARD_HINT}")
    from torch.utils.tensorboard import SummaryWriter

    folder = Path(directory)
    trace = trace_frame(run)
    columns = [column for column in trace.columns if column not in ("seed", "step")]
    about = f"{run.label}: recipe {run.recipe.name}, toy {run.toy.name}, {run.steps} steps, base seed "
    written = []
    for seed in run.seeds:
        rows = trace[trace["seed"] == seed]
        log_dir = folder / f"seed-{seed}"
        with SummaryWriter(log_dir=str(log_dir)) as writer:
            writer.add_text("run", f"{about}{run.base_seed}, seed {seed}")
            steps = rows["step"].astype(int).tolist()
            for column in columns:
                tag = scalar_tag(column)
                for step, value in zip(steps, rows[column].tolist(), strict=True):
                    if value is not None and math.isfinite(value):
                        writer.add_scalar(tag, float(value), step)
        written.append(log_dir)
    return written


def write_run(
    run: Run,
    directory: str | Path,
    *,
    record: RunRecord | None = None,
    fmt: TableFormat | None = None,
    tensorboard: bool | None = None,
) -> list[Path]:
    """Tables (``write_tables``) and, when tensorboard is installed (or ``tensorboard=True`` demands it),
    event files (``write_tensorboard``) for ``run`` in ``directory``."""
    written = write_tables(run, directory, record=record, fmt=fmt)
    if tensorboard or (tensorboard is None and has_tensorboard()):
        written += write_tensorboard(run, directory)
    return written
