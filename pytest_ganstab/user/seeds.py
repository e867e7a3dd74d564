"""Several seeds of the user's own training loop: run it once per seed, each under a torch seed from our
addressable seed, and merge the monitors' one-seed Runs into one multi-seed Run.

Seed k's loop runs under ``torch.manual_seed`` (and numpy's and ``random``'s) from (base seed, k, purpose)
(docs/design.md §5), inside a fork of every generator, so its initialisation, batches and noise depend
only on (base seed, k) and the caller's random state is left as it was. Seeds run one after another:
the user's loop is plain Python, which nothing can batch.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import pandas as pd
import torch

from .. import rng
from ..nets import Stacks
from ..run import Run
from .modules import ModuleLoop
from .monitoring import Monitor, MonitorError

Loop = Callable[[Monitor], Any]


def monitor(
    loop: Loop,
    *,
    seeds: int | Sequence[int] = 4,
    seed: int = 0,
    steps: int | None = None,
    name: str | None = None,
    progress: Callable[[int, int], None] | None = None,
    **options: Any,
) -> Run:
    """Run your training ``loop(monitor)`` once per seed and judge it as one Run.

    ``loop`` builds its G, D and optimisers, calls ``monitor.watch(G, D, opt_g, opt_d)`` and trains for
    ``monitor.steps`` G steps (it may read ``monitor.seed``). ``options`` go to each ``Monitor`` (``loss``,
    ``data``, ``score``, ``real_label``, ``classes``). ``progress(done, total)`` counts G steps over seeds.
    """
    if not callable(loop):
        raise TypeError(f"monitor: loop={loop!r}: give your training function, loop(monitor)")
    indices = rng.seed_indices(seeds)
    base = rng.check_base_seed(seed)
    if steps is not None and (isinstance(steps, bool) or not isinstance(steps, int) or steps < 1):
        raise ValueError(f"steps={steps!r}: must be an integer of at least 1")
    runs = []
    for position, k in enumerate(indices):
        counted = None
        if progress is not None and steps:

            def counted(done: int, total: int, before: int = position * steps) -> None:
                progress(before + done, total * len(indices))

        watcher = Monitor(seed=k, base_seed=base, steps=steps, name=name, progress=counted, **options)
        with seeded(rng.torch_seed(base, k, rng.USER_LOOP)):
            loop(watcher)
        if not watcher.watched:
            raise MonitorError(
                "monitor: your loop never called monitor.watch(G, D, g_optimizer, d_optimizer), so nothing "
                "was recorded; call it once the modules and optimisers exist, before training"
            )
        runs.append(watcher.run())
    return merge(runs)


@contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Seed torch (every device), numpy's global RNG and ``random`` inside; restore them after."""
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
    numpy_state, python_state = np.random.get_state(), random.getstate()
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        np.random.seed(seed % (1 << 32))
        random.seed(seed)
        try:
            yield
        finally:
            np.random.set_state(numpy_state)
            random.setstate(python_state)


def merge(runs: Sequence[Run]) -> Run:
    """One-seed Runs of the same loop as one multi-seed Run: traces side by side, one G and D per seed.

    The seeds' settings must agree where the Run records one value (the data, the trace's layers); the
    first seed's recipe is kept, and a note says where the others differ (a learning rate read per seed).
    """
    if not runs:
        raise ValueError("merge: no Runs to merge")
    first = runs[0]
    seeds = [k for run in runs for k in run.seeds]
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"merge: seeds {seeds} repeat; each Run must bring its own seeds")
    for run in runs[1:]:
        if list(run.trace.columns) != list(first.trace.columns):
            raise ValueError("merge: the seeds' traces have different layers: one loop, one architecture")
        if run.toy.shape != first.toy.shape:
            raise ValueError(f"merge: data shaped {run.toy.shape} beside {first.toy.shape}")
    notes = list(dict.fromkeys(note for run in runs for note in run.notes if not note.startswith("monitor:")))
    notes.insert(0, _loop_note(runs))
    differing = [f"{knob}" for knob in ("g_lr", "d_lr", "n_critic", "batch_size") if _differ(runs, knob)]
    if differing:
        notes.append(
            f"the seeds' loops differ in {', '.join(differing)}; the recipe shows seed {first.seeds[0]}'s"
        )
    steps = max(run.steps for run in runs)
    generators = [m for run in runs for m in _modules(run.nets.generator)]
    discriminators = [m for run in runs for m in _modules(run.nets.discriminator)]
    g, d = first.nets.generator, first.nets.discriminator
    assert isinstance(g, ModuleLoop) and isinstance(d, ModuleLoop)
    nets = Stacks(
        ModuleLoop(generators, g.in_shape, [s for run in runs for s in _calls(run.nets.generator)]),
        ModuleLoop(
            discriminators, d.in_shape, [s for run in runs for s in _calls(run.nets.discriminator)], d.score
        ),
        notes,
        from_recipe=False,
    )
    return Run(
        recipe=first.recipe,
        toy=first.toy,
        seeds=seeds,
        base_seed=first.base_seed,
        steps=steps,
        device=first.device,
        wall_time_s=sum(run.wall_time_s for run in runs),
        trace=pd.concat([run.trace for run in runs], ignore_index=True),
        first_nonfinite_step=np.concatenate([run.first_nonfinite_step for run in runs]),
        nets=nets,
        name=first.name,
        classes=max(run.classes for run in runs),
        objective=first.objective,
        user_modules=first.user_modules,
        own_loop=first.own_loop,
    )


def _loop_note(runs: Sequence[Run]) -> str:
    """Where the monitor's own note says how it read the loop: once, with each seed's step counts."""
    own = [note for run in runs for note in run.notes if note.startswith("monitor:")]
    if len(runs) == 1 or len(set(own)) == 1:
        return own[0]
    return f"monitor: your training loop, {len(runs)} seeds; " + "; ".join(
        f"seed {run.seeds[0]}: {run.steps} G steps" for run in runs
    )


def _differ(runs: Sequence[Run], knob: str) -> bool:
    return len({getattr(run.recipe, knob) for run in runs}) > 1


def _modules(stack: Any) -> list[torch.nn.Module]:
    assert isinstance(stack, ModuleLoop)
    return stack.modules


def _calls(stack: Any) -> list[int]:
    assert isinstance(stack, ModuleLoop)
    return stack.call_seeds
