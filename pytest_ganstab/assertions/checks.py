"""The checks: each judges every seed of a Run against ``Thresholds`` and returns a ``Finding``.

A check never raises for a failed verdict (``assert_*`` does that); it raises only for bad arguments.
Each is declared once as a ``Check``: its name, the thresholds it reads, the error its assertion
raises, its judge and which Runs it applies to, so ``assert_*``, ``diagnose`` and ``assert_stable`` share
one definition.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch

from .. import findings, metrics
from ..findings import Finding, StabilityError
from ..run import Run
from ..stats import bootstrap_ci, format_interval, required_count, required_passes
from ..thresholds import DEFAULTS, Thresholds
from .diagnosis import cause_text, dominance_causes, learning_leads, remedies

Quorum = int | float | None
Judge = Callable[[Run, Quorum, Thresholds], Finding]

# The data's own distance to its held-out samples is measured on draws from this generator.
_TRUE_SAMPLES_SEED = 0x7E57
# A G whose samples moved by at most this share of the data's spread (RMS distance from its mean) is still.
_STILL = 1e-3


def _every_run(run: Run) -> bool:
    return True


@dataclass(frozen=True)
class Check:
    """One check: what it is called, which thresholds it reads, what its assertion raises."""

    name: str  # as findings name it: "discriminator_dominance"
    assertion: str  # the public helper: "assert_no_discriminator_dominance"
    limits: tuple[str, ...]  # the ``Thresholds`` fields it reads
    error: type[StabilityError]
    judge: Judge
    # Whether ``diagnose`` and ``assert_stable`` judge a Run with this check (its assertion judges any Run,
    # and refuses one it cannot judge with a ValueError that says why).
    applies: Callable[[Run], bool] = _every_run

    def run(self, run: Run, quorum: Quorum = None, overrides: Mapping[str, Any] | None = None) -> Finding:
        """Judge ``run`` with ``overrides`` of this check's thresholds; unknown names are a TypeError."""
        unknown = sorted(set(overrides or {}) - set(self.limits))
        if unknown:
            raise TypeError(
                f"{self.assertion}: unknown threshold(s) {', '.join(unknown)}; it takes "
                f"{', '.join(self.limits)} (defaults in pytest_ganstab.thresholds.DEFAULTS)"
            )
        return self.judge(run, quorum, DEFAULTS.replace(**(overrides or {})))

    def enforce(self, run: Run, quorum: Quorum, overrides: Mapping[str, Any]) -> Finding:
        """``run``, then record the finding on the Run and raise this check's error if it failed."""
        finding = self.run(run, quorum, overrides)
        run.findings.append(finding)
        if not finding.passed:
            raise self.error([finding])
        return finding


def _judge_divergence(run: Run, quorum: Quorum, limits: Thresholds) -> Finding:
    _check_run(run, "assert_no_divergence")
    max_loss, max_amplitude = limits.max_loss, limits.max_amplitude
    frame = metrics.divergence(run, window=limits.window, max_loss=max_loss)
    nonfinite = np.isfinite(frame["first_nonfinite"].to_numpy())
    blowup = np.isfinite(frame["blowup_from"].to_numpy())
    amplitude = np.fmax(frame["d_loss_amplitude"].to_numpy(), frame["g_loss_amplitude"].to_numpy())
    oscillating = np.zeros_like(nonfinite) if max_amplitude is None else amplitude > max_amplitude
    span = _span(run, frame)
    lines = {}
    for i, seed in enumerate(run.seeds):
        row = frame.iloc[i]
        parts = []
        if nonfinite[i]:
            parts.append(f"non-finite loss or gradient from step {row.first_nonfinite:.0f}")
        if blowup[i]:
            parts.append(f"|loss| reached {row.loss_peak:.3g} > {max_loss:g} from step {row.blowup_from:.0f}")
        if oscillating[i]:
            parts.append(
                f"still oscillating: loss amplitude {amplitude[i]:.3g} > {max_amplitude:g} over the last "
                f"{span} steps (G loss trend {row.g_loss_trend:+.3g})"
            )
        lines[seed] = f"seed {seed}: " + "; ".join(parts)
    failed = nonfinite | blowup | oscillating
    steps = np.fmin(frame["first_nonfinite"].to_numpy(), frame["blowup_from"].to_numpy())
    thresholds = {"max_loss": max_loss, **({} if max_amplitude is None else {"max_amplitude": max_amplitude})}
    return _finding(
        DIVERGENCE,
        run,
        quorum,
        failed,
        frame,
        values=(
            "first_nonfinite",
            "nonfinite",
            "loss_peak",
            "blowup_from",
            "g_loss_trend",
            "g_loss_amplitude",
            "d_loss_trend",
            "d_loss_amplitude",
        ),
        summary={"nonfinite": "share of seeds non-finite", "loss_peak": "peak |loss|"},
        thresholds=thresholds,
        lines=lines,
        step=steps,
        causes=[3],
        titles=("divergence", "no divergence"),
    )


def _judge_dominance(run: Run, quorum: Quorum, limits: Thresholds) -> Finding:
    _check_run(run, "assert_no_discriminator_dominance", trace=True)
    auc_threshold, max_fraction = limits.auc_threshold, limits.max_dominant_fraction
    frame = metrics.dominance(run, window=limits.window, threshold=auc_threshold)
    frame["signal_ratio"] = metrics.gradient_health(
        run, window=limits.window, signal_floor=limits.signal_floor
    )["signal_ratio"].to_numpy()
    share = frame["auc_above"].to_numpy()
    failed = ~(share <= max_fraction)  # NaN (no finite record) fails: nothing shows D is held
    span = _span(run, frame)
    lines = {}
    for i, seed in enumerate(run.seeds):
        row = frame.iloc[i]
        if math.isnan(row.auc_above):
            lines[seed] = f"seed {seed}: no finite record in the window{_nonfinite_note(run, i)}"
            continue
        since = "" if math.isnan(row.dominant_from) else f", above it from step {row.dominant_from:.0f} on"
        lines[seed] = (
            f"seed {seed}: AUC {row.d_auc:.3f} (> {auc_threshold:g} on {row.auc_above:.0%} of the last "
            f"{span} steps, limit {max_fraction:.0%}){since}; D's confidence real {row.d_real:.3g}, "
            f"fake {row.d_fake:.3g}; G's learning signal {_ratio(row.signal_ratio)} its early value"
        )
    vanished = frame["signal_ratio"].to_numpy()[failed] < limits.signal_floor
    causes = _causes_beside_divergence(run, failed, dominance_causes(run, vanished))
    return _finding(
        DOMINANCE,
        run,
        quorum,
        failed,
        frame,
        values=("d_auc", "auc_above", "dominant_from", "d_real", "d_fake", "signal_ratio"),
        summary={"d_auc": "mean AUC", "auc_above": f"share of steps with AUC > {auc_threshold:g}"},
        thresholds={"auc_threshold": auc_threshold, "max_dominant_fraction": max_fraction},
        lines=lines,
        step=frame["dominant_from"].to_numpy(),
        causes=causes,
        titles=("discriminator dominance", "no discriminator dominance"),
    )


def _judge_gradients(run: Run, quorum: Quorum, limits: Thresholds) -> Finding:
    _check_run(run, "assert_gradients_healthy", trace=True)
    signal_floor, grad_ceiling = limits.signal_floor, limits.grad_ceiling
    frame = metrics.gradient_health(
        run, window=limits.window, signal_floor=signal_floor, grad_ceiling=grad_ceiling
    )
    ratio = frame["signal_ratio"].to_numpy()
    vanished = ratio < signal_floor  # NaN (no finite early value) is judged by ``diverged`` below
    exploded = np.isfinite(frame["exploded_at"].to_numpy())
    diverged = _diverged(run) | np.isnan(frame["g_signal"].to_numpy())
    lines = {}
    for i, seed in enumerate(run.seeds):
        row = frame.iloc[i]
        parts = []
        if vanished[i]:
            since = "" if math.isnan(row.vanished_from) else f", below it from step {row.vanished_from:.0f}"
            parts.append(
                f"G's learning signal {row.g_signal:.3g} is {_ratio(row.signal_ratio)} its early value "
                f"{row.g_signal_early:.3g} (floor {signal_floor:.0%}){since}"
            )
        if exploded[i]:
            parts.append(f"a gradient norm exceeded {grad_ceiling:g} at step {row.exploded_at:.0f}")
        if diverged[i]:
            parts.append("no finite gradient in the window" + _nonfinite_note(run, i))
        lines[seed] = f"seed {seed}: " + "; ".join(parts)
    failed = vanished | exploded | diverged
    causes = dominance_causes(run, vanished, otherwise=3) if np.any(vanished) else []
    if np.any(exploded | diverged):
        causes.append(3)
    steps = np.fmin(frame["vanished_from"].to_numpy(), frame["exploded_at"].to_numpy())
    steps = np.fmin(steps, metrics.first_nonfinite(run))
    return _finding(
        GRADIENTS,
        run,
        quorum,
        failed,
        frame,
        values=(
            "g_signal",
            "g_signal_early",
            "signal_ratio",
            "g_grad_median",
            "g_grad_max",
            "d_grad_median",
            "d_grad_max",
            "vanished_from",
            "exploded_at",
        ),
        summary={"signal_ratio": "G's learning signal / early value", "g_signal": "G's learning signal"},
        thresholds={"signal_floor": signal_floor, "grad_ceiling": grad_ceiling},
        lines=lines,
        step=steps,
        causes=causes,
        titles=("unhealthy gradients", "healthy gradients"),
    )


def _judge_modes(run: Run, quorum: Quorum, limits: Thresholds) -> Finding:
    _check_run(run, "assert_mode_coverage", trace=False)
    toy = run.toy
    if not toy.has_modes:
        raise ValueError(
            f"assert_mode_coverage: toy {toy.name!r} has no modes to cover; judge it with "
            "metrics.precision_recall() or metrics.density_coverage() against toy.sample(...), "
            "or call assert_stable, which skips this check for such toys"
        )
    needed = required_count(limits.min_modes, toy.n_modes)
    min_hq, max_reverse_kl = limits.min_hq, limits.max_reverse_kl
    frame = metrics.mode_coverage(run.samples(limits.samples), toy, seeds=run.seeds)
    modes, hq, kl = (frame[key].to_numpy(dtype=np.float64) for key in ("modes", "hq", "reverse_kl"))
    failed = (modes < needed) | ~(hq >= min_hq)
    if max_reverse_kl is not None:
        failed |= ~(kl <= max_reverse_kl)
    counts = frame[[f"count.{m}" for m in range(toy.n_modes)]].to_numpy()
    # Below the default HQ, most samples lie off every mode: the modes counted measure spread, not capture
    # (uniform noise over grid25's bounding box counts 22 and 24 of its 25 modes at HQ 2.2 and 2.6 %).
    capture_hq = DEFAULTS.min_hq
    spread = ~(hq >= capture_hq) & (modes > 0)
    lines, notes = {}, []
    for i, seed in enumerate(run.seeds):
        missing = np.flatnonzero(counts[i] == 0).tolist()
        listed = ", ".join(map(str, missing[:10])) + (", …" if len(missing) > 10 else "")
        kl_text = "no high-quality sample" if math.isnan(kl[i]) else f"reverse KL {kl[i]:.3f}"
        if max_reverse_kl is not None:
            kl_text += f" (limit {max_reverse_kl:g})"
        spread_text = f"{modes[i]:.0f} modes counted at HQ {hq[i]:.1%} measure spread, not capture"
        lines[seed] = (
            f"seed {seed}: {modes[i]:.0f} of {toy.n_modes} modes (needed {needed})"
            + (f", missing {listed}" if missing else "")
            + f"; HQ {hq[i]:.1%} (needed ≥ {min_hq:.0%})"
            + (f": {spread_text}" if spread[i] else "")
            + f"; {kl_text}"
            + _nonfinite_note(run, i)
        )
        if spread[i] and not failed[i]:
            notes.append(
                f"seed {seed} passed, but its {spread_text}: below HQ {capture_hq:.0%} most samples lie off "
                "every mode"
            )
    causes = _causes_beside_divergence(run, failed, [5])
    thresholds = {"min_modes": float(needed), "min_hq": min_hq, "samples": float(limits.samples)}
    if max_reverse_kl is not None:
        thresholds["max_reverse_kl"] = max_reverse_kl
    thresholds["capture_hq"] = capture_hq  # not judged: the HQ from which a mode count means capture
    return _finding(
        MODE_COVERAGE,
        run,
        quorum,
        failed,
        frame,
        values=("modes", "hq", "reverse_kl"),
        summary={"modes": "modes captured", "hq": "HQ share"},
        thresholds=thresholds,
        lines=lines,
        step=None,
        causes=causes,
        titles=("poor mode coverage", "mode coverage"),
        notes=notes,
    )


def _judge_learning(run: Run, quorum: Quorum, limits: Thresholds) -> Finding:
    _check_run(run, "assert_generator_learns", trace=False)
    n = limits.samples
    first = run.first_samples(n)
    if first is None:
        raise ValueError(
            f"assert_generator_learns: run {run.label!r} kept no samples from before training, and its G is "
            "the user's own, which cannot be rebuilt at its initial weights; its trainer must keep "
            "Run.initial_samples (assert_stable skips this check for such a Run)"
        )
    real = run.toy.holdout(n)
    last = run.samples(n)
    before = metrics.data_distance(real, first, seeds=run.seeds)
    after = metrics.data_distance(real, last, seeds=run.seeds)
    truth = run.toy.sample(n, generator=torch.Generator().manual_seed(_TRUE_SAMPLES_SEED))
    true = metrics.data_distance(real, truth).iloc[0]
    frame = pd.DataFrame({"seed": run.seeds})
    progress = []
    for way in ("to_data", "from_data"):
        start, end = before[way].to_numpy(), after[way].to_numpy()
        frame[f"{way}_first"], frame[way] = start, end
        # A direction in which G started at the data (within twice the data's own distance) tells nothing.
        informative = start > 2 * true[way]
        with np.errstate(divide="ignore", invalid="ignore"):
            progress.append(np.where(informative, (start - end) / (start - true[way]), np.nan))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # both directions uninformative: NaN
        frame["progress"] = np.nanmax(np.stack(progress), axis=0)
    # A seed with non-finite samples is infinitely far: not measured (NaN), and it fails.
    for column in ("progress", "to_data", "from_data"):
        frame[column] = frame[column].where(np.isfinite(frame[column]))
    # A G at the data both ways has nothing left to learn, wherever it started.
    at_data = (frame["to_data"] <= 2 * true["to_data"]) & (frame["from_data"] <= 2 * true["from_data"])
    failed = ~((frame["progress"].to_numpy() >= limits.min_progress) | at_data.to_numpy())
    held = real.double().reshape(len(real), -1)
    scale = float((held - held.mean(0)).pow(2).sum(1).mean().sqrt())
    frame["moved"] = (last - first).abs().flatten(1).amax(1).double().numpy()
    still = frame["moved"].to_numpy() <= _STILL * scale  # NaN (a non-finite sample) moved
    d_auc = np.full(run.n_seeds, np.nan)
    d_still = np.zeros(run.n_seeds, dtype=bool)
    causes: list[int] = []
    moving = failed & ~still
    if not run.trace.empty:
        dominance = metrics.dominance(run, window=limits.window, threshold=limits.auc_threshold)
        health = metrics.gradient_health(run, window=limits.window, signal_floor=limits.signal_floor)
        d_auc = dominance["d_auc"].to_numpy()
        d_still = d_auc <= limits.chance_auc
        dominated = ~(dominance["auc_above"].to_numpy() <= limits.max_dominant_fraction)
        vanished = health["signal_ratio"].to_numpy() < limits.signal_floor
        moving &= ~d_still
        if np.any(moving & (dominated | vanished)):
            causes = dominance_causes(run, (moving & vanished)[moving])
    if np.any(moving) and not causes:
        causes = [3]
    leads = learning_leads(run, bool(np.any(failed & still)), bool(np.any(failed & d_still)))
    frame["d_auc"] = d_auc
    causes = _causes_beside_divergence(run, failed, causes)
    lines = {}
    for i, seed in enumerate(run.seeds):
        row = frame.iloc[i]
        went = (
            "moved away from the data"
            if row.progress < 0
            else f"covered {_share_text(row.progress)} of the way to the data"
        )
        text = (
            f"seed {seed}: G {went} (needed ≥ {limits.min_progress:.0%} of the way): the median distance "
            f"from its samples to the data went from {row.to_data_first:.3g} to {_distance(row.to_data)}, "
            f"from the data to its samples from {row.from_data_first:.3g} to {_distance(row.from_data)} "
            f"(true samples: {true['to_data']:.3g}, {true['from_data']:.3g})"
        )
        if still[i]:
            moved = "did not move at all" if row.moved == 0 else f"moved at most {row.moved:.2g}"
            text += f"; its samples {moved}"
        if np.isfinite(d_auc[i]):
            text += f"; D's AUC {d_auc[i]:.2f} over the window"
        lines[seed] = text + _nonfinite_note(run, i)
    thresholds = {"min_progress": limits.min_progress, "samples": float(n)}
    thresholds |= {f"{way}_true": float(true[way]) for way in ("to_data", "from_data")}
    return _finding(
        GENERATOR_LEARNS,
        run,
        quorum,
        failed,
        frame,
        values=("progress", "to_data_first", "to_data", "from_data_first", "from_data", "moved", "d_auc"),
        summary={"progress": "share of the way to the data", "to_data": "distance to the data"},
        thresholds=thresholds,
        lines=lines,
        step=None,
        causes=causes,
        titles=("generator not learning", "generator learns"),
        leads=leads,
    )


def _judge_classes(run: Run, quorum: Quorum, limits: Thresholds) -> Finding:
    _check_run(run, "assert_class_coverage", trace=False)
    if not run.classes or not run.toy.has_modes:
        raise ValueError(
            f"assert_class_coverage: run {run.label!r} is not a conditional GAN on data with modes; "
            "train it with conditional=True on a toy with modes (each mode is a class)"
        )
    n = limits.samples
    frame = metrics.class_coverage(run.samples(n), run.sample_labels(n), run.toy, seeds=run.seeds)
    on_class, recall = (frame[key].to_numpy(dtype=np.float64) for key in ("on_class", "class_recall"))
    ignores_label = ~(on_class >= limits.min_on_class)
    collapses = ~(recall >= limits.min_class_recall)
    lines = {}
    for i, seed in enumerate(run.seeds):
        row = frame.iloc[i]
        parts = [
            f"{row.on_class:.0%} of samples on the mode of their class (needed ≥ {limits.min_on_class:.0%})",
            f"per-class recall {row.class_recall:.2f} (needed ≥ {limits.min_class_recall:g}; worst class "
            f"{row.worst_class:.0f}: {row.worst_recall:.2f})",
        ]
        if ignores_label[i]:
            parts.append("G ignores its label")
        if collapses[i]:
            parts.append("G collapses within a class")
        lines[seed] = f"seed {seed}: " + "; ".join(parts) + _nonfinite_note(run, i)
    failed = ignores_label | collapses
    return _finding(
        CLASS_COVERAGE,
        run,
        quorum,
        failed,
        frame,
        values=("on_class", "class_recall", "worst_on_class", "worst_recall"),
        summary={"on_class": "share on their class's mode", "class_recall": "per-class recall"},
        thresholds={"min_on_class": limits.min_on_class, "min_class_recall": limits.min_class_recall},
        lines=lines,
        step=None,
        causes=_causes_beside_divergence(run, failed, [5]),
        titles=("poor class coverage", "class coverage"),
    )


DIVERGENCE = Check(
    "divergence",
    "assert_no_divergence",
    ("window", "max_loss", "max_amplitude"),
    findings.DivergenceError,
    _judge_divergence,
)
DOMINANCE = Check(
    "discriminator_dominance",
    "assert_no_discriminator_dominance",
    ("window", "auc_threshold", "max_dominant_fraction", "signal_floor"),
    findings.DiscriminatorDominanceError,
    _judge_dominance,
)
GRADIENTS = Check(
    "gradients",
    "assert_gradients_healthy",
    ("window", "signal_floor", "grad_ceiling"),
    findings.GradientHealthError,
    _judge_gradients,
)
GENERATOR_LEARNS = Check(
    "generator_learns",
    "assert_generator_learns",
    (
        "min_progress",
        "samples",
        "window",
        "auc_threshold",
        "max_dominant_fraction",
        "signal_floor",
        "chance_auc",
    ),
    findings.GeneratorStuckError,
    _judge_learning,
    applies=lambda run: run.has_first_samples,
)
MODE_COVERAGE = Check(
    "mode_coverage",
    "assert_mode_coverage",
    ("min_modes", "min_hq", "max_reverse_kl", "samples"),
    findings.ModeCoverageError,
    _judge_modes,
    applies=lambda run: run.toy.has_modes,
)
CLASS_COVERAGE = Check(
    "class_coverage",
    "assert_class_coverage",
    ("min_on_class", "min_class_recall", "samples"),
    findings.ClassCoverageError,
    _judge_classes,
    applies=lambda run: bool(run.classes) and run.toy.has_modes,
)
# Judged in this order; assert_stable raises the type of the first failure: divergence first because a
# NaN explains every other failure of the same seed, and a G that does not learn before the coverage its
# stillness explains.
CHECKS: tuple[Check, ...] = (
    DIVERGENCE,
    DOMINANCE,
    GRADIENTS,
    GENERATOR_LEARNS,
    MODE_COVERAGE,
    CLASS_COVERAGE,
)


# ---------------------------------------------------------------- the finding


def _finding(
    check: Check,
    run: Run,
    quorum: Quorum,
    failed: np.ndarray,
    frame: pd.DataFrame,
    *,
    values: Sequence[str],
    summary: dict[str, str],
    thresholds: dict[str, float],
    lines: dict[int, str],
    step: np.ndarray | None,
    causes: list[int],
    titles: tuple[str, str],
    leads: list[str] | None = None,
    notes: Sequence[str] = (),
) -> Finding:
    """The finding: a header, each failed seed's line, ``notes`` (shown whatever the verdict), the intervals,
    and for failures the cause (``leads`` first, then the numbered ``causes``) and the remedies."""
    seeds = list(run.seeds)
    n = len(seeds)
    required = required_passes(quorum, n)
    passed_count = int(n - failed.sum())
    passed = passed_count >= required
    failed_seeds = [seed for seed, bad in zip(seeds, failed, strict=True) if bad]
    need = f"needed all {n}" if required == n else f"needed {required} of {n}"
    if passed:
        header = f"{titles[1]}: {passed_count} of {n} seeds passed ({need}) — {run.label}"
    else:
        header = f"{titles[0]} in {n - passed_count} of {n} seeds ({need} to pass) — {run.label}"
    ci = {key: bootstrap_ci(frame[key].to_numpy(dtype=np.float64)) for key in summary}
    first_step = None
    if step is not None and failed.any():
        failing_steps = np.asarray(step, dtype=np.float64)[failed]
        if np.isfinite(failing_steps).any():
            first_step = int(np.nanmin(failing_steps))
    cause = cause_text(causes, run, leads) if failed.any() else None
    tried = remedies(causes, run, leads) if not passed else ()
    body = [lines[seed] for seed in failed_seeds] + list(notes)
    body += [f"across seeds, {label}: {format_interval(ci[key], n)}" for key, label in summary.items()]
    if cause is not None:
        body.append(f"likely cause: {cause}")
    if tried:
        body += ["try:", *(f"  - {remedy}" for remedy in tried)]
    return Finding(
        check=check.name,
        passed=passed,
        run=run.label,
        seeds=seeds,
        failed_seeds=failed_seeds,
        required=required,
        values={key: [float(v) for v in frame[key].to_numpy(dtype=np.float64)] for key in values},
        thresholds={key: float(value) for key, value in thresholds.items()},
        ci={key: (interval.mean, interval.low, interval.high) for key, interval in ci.items()},
        step=first_step,
        cause=cause,
        remedies=tried,
        message="\n".join([header, *("  " + line for line in body)]),
    )


def _check_run(run: Run, what: str, *, trace: bool = True) -> None:
    if not isinstance(run, Run):
        raise TypeError(f"{what}: give the Run that train() returned, not {type(run).__name__}")
    if run.n_seeds == 0:
        raise ValueError(f"{what}: run {run.label!r} has no seeds; there is nothing to judge")
    if trace and run.trace.empty:
        raise ValueError(
            f"{what}: run {run.label!r} recorded no steps (trained with probes=False?); "
            "train with probes=True to judge it"
        )


def _causes_beside_divergence(run: Run, failed: np.ndarray, causes: list[int]) -> list[int]:
    """A seed that went non-finite failed because of that (cause 3); other failed seeds keep ``causes``."""
    diverged = _diverged(run)
    if not np.any(failed & diverged):
        return causes
    return [3] if not np.any(failed & ~diverged) else [*causes, 3]


def _diverged(run: Run) -> np.ndarray:
    return np.asarray(np.isfinite(metrics.first_nonfinite(run)), dtype=bool)


def _nonfinite_note(run: Run, index: int) -> str:
    step = metrics.first_nonfinite(run)[index]
    return f" (non-finite from step {step:.0f}: see the divergence check)" if np.isfinite(step) else ""


def _share_text(value: float) -> str:
    return "n/a (its samples are not finite)" if math.isnan(value) else f"{value:.0%}"


def _distance(value: float) -> str:
    return "∞ (non-finite samples)" if math.isnan(value) else f"{value:.3g}"


def _ratio(value: float) -> str:
    return "n/a (no finite early value) against" if math.isnan(value) else f"{value:.2g}×"


def _span(run: Run, frame: pd.DataFrame) -> int:
    """How many training steps the window covers."""
    start = frame["window_from"].to_numpy()
    return int(run.trace["step"].max() - start[0] + 1) if len(start) and np.isfinite(start[0]) else 0
