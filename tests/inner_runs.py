"""Load, once, what in-process pytester runs of the plugin load lazily.

pytester's in-process runs put ``sys.modules`` back as they found it, so a module first imported inside
an inner run is imported again by the next one. torch, matplotlib's Agg canvas, pandas' Arrow extension
types and TensorBoard's protobuf files cannot be imported twice in one process. ``warm_up()`` does, in the
outer process, the same kind of work the plugins do (train, write Parquet, an event file, a figure), so
every module they need stays loaded whatever the order of the tests.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import tempfile

MODULES = ("torch._dynamo", "pytest_ganstab.engine", "pytest_ganstab.metrics", "pytest_ganstab.records")


def warm_up() -> None:
    for module in MODULES:
        importlib.import_module(module)
    import pandas as pd

    with contextlib.suppress(ImportError):  # pyarrow is optional
        pd.DataFrame({"x": [1.0]}).to_parquet(io.BytesIO())
    try:
        from pytest_ganstab.report import require_matplotlib

        require_matplotlib()
        from pytest_ganstab.report.canvas import encode, new_figure
        from pytest_ganstab.report.curves import CurvePanels  # noqa: F401

        figure = new_figure(1, 1)
        figure.add_subplot(figure.add_gridspec(1, 1)[0, 0]).plot([0, 1])
        encode(figure)
        from matplotlib import collections, lines, ticker  # noqa: F401
    except ImportError:
        pass
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return
    with tempfile.TemporaryDirectory() as folder, SummaryWriter(folder) as writer:
        writer.add_scalar("x", 1.0, 0)
        writer.add_text("t", "x")
