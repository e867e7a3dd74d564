"""The checks: each judges every seed of a Run against ``Thresholds`` and returns a ``Finding``.

A check never raises for a failed verdict (``assert_*`` does that); it raises only for bad arguments.
Each is declared once as a ``Check``: its name, the thresholds it reads, the error its assertion
raises and its judge, so ``assert_*``, ``diagnose`` and ``assert_stable`` share one definition.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .. import findings, metrics
from ..findings import Finding, StabilityError
from ..run import Run
from ..stats import bootstrap_ci, format_interval, required_count, required_passes
from ..thresholds import DEFAULTS, Thresholds
from .diagnosis import cause_text, dominance_causes, remedies

Quorum = int | float | None
Judge = Callable[[Run, Quorum, Thresholds], Finding]


@dataclass(frozen=True)
class Check:
    """One check: what it is called, which thresholds it reads, what its assertion raises."""

    name: str  # as findings name it: "discriminator_dominance"
    assertion: str  # the public helper: "assert_no_discriminator_dominance"
    limits: tuple[str, ...]  # the ``Thresholds`` fields it reads
    error: type[StabilityError]
    judge: Judge

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
    lines = {}
    for i, seed in enumerate(run.seeds):
        missing = np.flatnonzero(counts[i] == 0).tolist()
        listed = ", ".join(map(str, missing[:10])) + (", …" if len(missing) > 10 else "")
        kl_text = "no high-quality sample" if math.isnan(kl[i]) else f"reverse KL {kl[i]:.3f}"
        if max_reverse_kl is not None:
            kl_text += f" (limit {max_reverse_kl:g})"
        lines[seed] = (
            f"seed {seed}: {modes[i]:.0f} of {toy.n_modes} modes (needed {needed})"
            + (f", missing {listed}" if missing else "")
            + f"; HQ {hq[i]:.1%} (needed ≥ {min_hq:.0%}); {kl_text}"
            + _nonfinite_note(run, i)
        )
    causes = _causes_beside_divergence(run, failed, [5])
    thresholds = {"min_modes": float(needed), "min_hq": min_hq, "samples": float(limits.samples)}
    if max_reverse_kl is not None:
        thresholds["max_reverse_kl"] = max_reverse_kl
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
MODE_COVERAGE = Check(
    "mode_coverage",
    "assert_mode_coverage",
    ("min_modes", "min_hq", "max_reverse_kl", "samples"),
    findings.ModeCoverageError,
    _judge_modes,
)
# Judged in this order; assert_stable raises the type of the first failure, divergence first because a
# NaN explains every other failure of the same seed.
CHECKS: tuple[Check, ...] = (DIVERGENCE, DOMINANCE, GRADIENTS, MODE_COVERAGE)


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
) -> Finding:
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
    cause = cause_text(causes, run) if failed.any() else None
    tried = remedies(causes, run) if not passed else ()
    body = [lines[seed] for seed in failed_seeds]
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


def _ratio(value: float) -> str:
    return "n/a (no finite early value) against" if math.isnan(value) else f"{value:.2g}×"


def _span(run: Run, frame: pd.DataFrame) -> int:
    """How many training steps the window covers."""
    start = frame["window_from"].to_numpy()
    return int(run.trace["step"].max() - start[0] + 1) if len(start) and np.isfinite(start[0]) else 0
