"""Assertions: verdicts over a Run's seeds, failing with a diagnosis a person can act on.

Each ``assert_*`` judges every seed, passes when a quorum of seeds passes (default: all), appends its
``Finding`` to ``run.findings`` and, on failure, raises a ``StabilityError`` subclass whose message says
which seeds failed, the measured values against the thresholds, from which step, which cause of
DESIGN.md §1 the evidence points to, and which recipes or knobs to try. ``diagnose`` returns the same
findings without raising.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from . import metrics
from .findings import Finding, StabilityError
from .recipes import Recipe, defining_settings
from .run import Run
from .stats import bootstrap_ci, format_interval, required_passes

Quorum = int | float | None


class DiscriminatorDominanceError(StabilityError):
    """D separates real from fake almost perfectly in too many seeds."""


class GradientHealthError(StabilityError):
    """G's learning signal vanished, or gradients exploded or went non-finite, in too many seeds."""


class ModeCoverageError(StabilityError):
    """Too many seeds miss modes, put too few samples near a mode, or weight the modes wrongly."""


class DivergenceError(StabilityError):
    """Too many seeds went non-finite, blew up their losses, or keep oscillating."""


# The causes of DESIGN.md §1, as a diagnosis names them.
CAUSES = {
    1: "(1) asymmetric objectives: the saturating minimax G loss gives G no gradient once D is confident",
    2: "(2) broken balance: D is trained faster than G and wins the game",
    3: "(3) loss geometry: alternating gradient steps vanish, explode or oscillate instead of converging",
    4: "(4) capacity mismatch: D is much larger than G",
    5: "(5) complex data: mode collapse, G covers a few modes and D chases it from mode to mode",
}


MAX_REMEDIES = 6

# ---------------------------------------------------------------- the checks


def _judge_divergence(
    run: Run,
    *,
    quorum: Quorum = None,
    window: metrics.Window = 0.2,
    max_loss: float = 1e3,
    max_amplitude: float | None = None,
) -> Finding:
    _check_run(run, "assert_no_divergence")
    _positive(max_loss=max_loss)
    if max_amplitude is not None:
        _positive(max_amplitude=max_amplitude)
    frame = metrics.divergence(run, window=window, max_loss=max_loss)
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
        "divergence",
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


def _judge_dominance(
    run: Run,
    *,
    quorum: Quorum = None,
    window: metrics.Window = 0.2,
    auc_threshold: float = 0.95,
    max_dominant_fraction: float = 0.5,
    signal_floor: float = 0.05,
) -> Finding:
    _check_run(run, "assert_no_discriminator_dominance", trace=True)
    _in_open_unit(auc_threshold=auc_threshold, signal_floor=signal_floor)
    if not 0 <= max_dominant_fraction < 1:
        raise ValueError(
            f"max_dominant_fraction={max_dominant_fraction!r} must be in [0, 1): the share of the window's "
            "steps on which D may separate real from fake above auc_threshold"
        )
    frame = metrics.dominance(run, window=window, threshold=auc_threshold)
    frame["signal_ratio"] = metrics.gradient_health(run, window=window, signal_floor=signal_floor)[
        "signal_ratio"
    ].to_numpy()
    share = frame["auc_above"].to_numpy()
    failed = ~(share <= max_dominant_fraction)  # NaN (no finite record) fails: nothing shows D is held
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
            f"{span} steps, limit {max_dominant_fraction:.0%}){since}; D's confidence real {row.d_real:.3g}, "
            f"fake {row.d_fake:.3g}; G's learning signal {_ratio(row.signal_ratio)} its early value"
        )
    causes = _causes_beside_divergence(
        run, failed, _dominance_causes(run, frame["signal_ratio"].to_numpy()[failed] < signal_floor)
    )
    return _finding(
        "discriminator_dominance",
        run,
        quorum,
        failed,
        frame,
        values=("d_auc", "auc_above", "dominant_from", "d_real", "d_fake", "signal_ratio"),
        summary={"d_auc": "mean AUC", "auc_above": f"share of steps with AUC > {auc_threshold:g}"},
        thresholds={"auc_threshold": auc_threshold, "max_dominant_fraction": max_dominant_fraction},
        lines=lines,
        step=frame["dominant_from"].to_numpy(),
        causes=causes,
        titles=("discriminator dominance", "no discriminator dominance"),
    )


def _judge_gradients(
    run: Run,
    *,
    quorum: Quorum = None,
    window: metrics.Window = 0.2,
    signal_floor: float = 0.05,
    grad_ceiling: float = 1e4,
) -> Finding:
    _check_run(run, "assert_gradients_healthy", trace=True)
    _in_open_unit(signal_floor=signal_floor)
    _positive(grad_ceiling=grad_ceiling)
    frame = metrics.gradient_health(run, window=window, signal_floor=signal_floor, grad_ceiling=grad_ceiling)
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
    causes = _dominance_causes(run, vanished, otherwise=3) if np.any(vanished) else []
    if np.any(exploded | diverged):
        causes.append(3)
    steps = np.fmin(frame["vanished_from"].to_numpy(), frame["exploded_at"].to_numpy())
    steps = np.fmin(steps, metrics.first_nonfinite(run))
    return _finding(
        "gradients",
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


def _judge_modes(
    run: Run,
    *,
    quorum: Quorum = None,
    min_modes: int | float | None = None,
    min_hq: float = 0.5,
    max_reverse_kl: float | None = 0.5,
    samples: int = metrics.KEY_SAMPLES,
) -> Finding:
    _check_run(run, "assert_mode_coverage", trace=False)
    toy = run.toy
    if not toy.has_modes:
        raise ValueError(
            f"assert_mode_coverage: toy {toy.name!r} has no modes to cover; judge it with "
            "metrics.precision_recall() or metrics.density_coverage() against toy.sample(...), "
            "or call assert_stable, which skips this check for such toys"
        )
    needed = _needed_modes(min_modes, toy.n_modes)
    if not 0 <= min_hq <= 1:
        raise ValueError(f"min_hq={min_hq!r} must be a share of high-quality samples in [0, 1]")
    if max_reverse_kl is not None and not max_reverse_kl >= 0:
        raise ValueError(f"max_reverse_kl={max_reverse_kl!r} must be 0 or more nats, or None not to judge it")
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
        raise ValueError(f"samples={samples!r} must be an integer of at least 1 (the papers use 2500)")
    frame = metrics.mode_coverage(run.samples(samples), toy, seeds=run.seeds)
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
    thresholds = {"min_modes": float(needed), "min_hq": min_hq, "samples": float(samples)}
    if max_reverse_kl is not None:
        thresholds["max_reverse_kl"] = max_reverse_kl
    return _finding(
        "mode_coverage",
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


# ---------------------------------------------------------------- public API

_Judge = Callable[..., Finding]
# Judged in this order; assert_stable raises the type of the first failure, divergence first because a
# NaN explains every other failure of the same seed.
_CHECKS: tuple[tuple[str, _Judge, type[StabilityError]], ...] = (
    ("divergence", _judge_divergence, DivergenceError),
    ("discriminator_dominance", _judge_dominance, DiscriminatorDominanceError),
    ("gradients", _judge_gradients, GradientHealthError),
    ("mode_coverage", _judge_modes, ModeCoverageError),
)


def assert_no_discriminator_dominance(
    run: Run,
    *,
    quorum: Quorum = None,
    window: metrics.Window = 0.2,
    auc_threshold: float = 0.95,
    max_dominant_fraction: float = 0.5,
    signal_floor: float = 0.05,
) -> Finding:
    """Fail when D's AUC exceeds ``auc_threshold`` on more than ``max_dominant_fraction`` of the last
    ``window`` (a share of the recorded steps, or a number of steps) in more seeds than the quorum allows.
    ``signal_floor`` decides whether G's learning signal vanished, which points to cause (1)."""
    return _enforce(
        run,
        _judge_dominance(
            run,
            quorum=quorum,
            window=window,
            auc_threshold=auc_threshold,
            max_dominant_fraction=max_dominant_fraction,
            signal_floor=signal_floor,
        ),
        DiscriminatorDominanceError,
    )


def assert_gradients_healthy(
    run: Run,
    *,
    quorum: Quorum = None,
    window: metrics.Window = 0.2,
    signal_floor: float = 0.05,
    grad_ceiling: float = 1e4,
) -> Finding:
    """Fail when G's learning signal over the window falls below ``signal_floor`` × its early value, a
    gradient norm exceeds ``grad_ceiling``, or gradients go non-finite, in too many seeds."""
    return _enforce(
        run,
        _judge_gradients(
            run, quorum=quorum, window=window, signal_floor=signal_floor, grad_ceiling=grad_ceiling
        ),
        GradientHealthError,
    )


def assert_mode_coverage(
    run: Run,
    *,
    quorum: Quorum = None,
    min_modes: int | float | None = None,
    min_hq: float = 0.5,
    max_reverse_kl: float | None = 0.5,
    samples: int = metrics.KEY_SAMPLES,
) -> Finding:
    """Fail when too many seeds capture fewer than ``min_modes`` (None: all; an int: a count; a float: a
    share of the toy's modes), have an HQ share below ``min_hq`` or a reverse KL above ``max_reverse_kl``
    (None: not judged), measured on ``samples`` samples from fixed latents. Toys without modes are refused."""
    return _enforce(
        run,
        _judge_modes(
            run,
            quorum=quorum,
            min_modes=min_modes,
            min_hq=min_hq,
            max_reverse_kl=max_reverse_kl,
            samples=samples,
        ),
        ModeCoverageError,
    )


def assert_no_divergence(
    run: Run,
    *,
    quorum: Quorum = None,
    window: metrics.Window = 0.2,
    max_loss: float = 1e3,
    max_amplitude: float | None = None,
) -> Finding:
    """Fail when too many seeds went non-finite, saw a loss above ``max_loss``, or (when
    ``max_amplitude`` is set) keep oscillating with a larger loss amplitude over the window."""
    return _enforce(
        run,
        _judge_divergence(run, quorum=quorum, window=window, max_loss=max_loss, max_amplitude=max_amplitude),
        DivergenceError,
    )


def diagnose(run: Run, *, quorum: Quorum = None, **thresholds: Any) -> list[Finding]:
    """Every check's finding on ``run``, passed or not, without raising for failed ones.

    ``thresholds`` are any keyword arguments of the ``assert_*`` helpers (``window`` and ``signal_floor``
    reach every check that takes them). Mode coverage is skipped for toys without modes. Bad arguments
    still raise ``ValueError``/``TypeError``.
    """
    accepted = {name for _, judge, _ in _CHECKS for name in _options(judge)}
    unknown = sorted(set(thresholds) - accepted)
    if unknown:
        raise TypeError(
            f"diagnose: unknown threshold(s) {', '.join(unknown)}; known: {', '.join(sorted(accepted))}"
        )
    findings = []
    for check, judge, _ in _CHECKS:
        if check == "mode_coverage" and not run.toy.has_modes:
            continue
        options = {key: value for key, value in thresholds.items() if key in _options(judge)}
        findings.append(judge(run, quorum=quorum, **options))
    return findings


def assert_stable(run: Run, *, quorum: Quorum = None, **thresholds: Any) -> list[Finding]:
    """Run every check (as ``diagnose``), append the findings to ``run.findings``, and raise when any
    failed: the error's type is that of the first failed check in the order divergence, discriminator
    dominance, gradients, mode coverage, and it carries every failed finding."""
    findings = diagnose(run, quorum=quorum, **thresholds)
    run.findings.extend(findings)
    failed = [finding for finding in findings if not finding.passed]
    if failed:
        error = next(error for check, _, error in _CHECKS if check == failed[0].check)
        raise error(failed)
    return findings


# ---------------------------------------------------------------- verdicts and messages


def _finding(
    check: str,
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
    cause = _cause_text(causes, run.recipe) if failed.any() else None
    remedies = _remedies(causes, run.recipe) if not passed else ()
    body = [lines[seed] for seed in failed_seeds]
    body += [f"across seeds, {label}: {format_interval(ci[key], n)}" for key, label in summary.items()]
    if cause is not None:
        body.append(f"likely cause: {cause}")
    if remedies:
        body += ["try:", *(f"  - {remedy}" for remedy in remedies)]
    return Finding(
        check=check,
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
        remedies=remedies,
        message="\n".join([header, *("  " + line for line in body)]),
    )


def _enforce(run: Run, finding: Finding, error: type[StabilityError]) -> Finding:
    run.findings.append(finding)
    if not finding.passed:
        raise error([finding])
    return finding


def _causes_beside_divergence(run: Run, failed: np.ndarray, causes: list[int]) -> list[int]:
    """A seed that went non-finite failed because of that (cause 3); other failed seeds keep ``causes``."""
    diverged = _diverged(run)
    if not np.any(failed & diverged):
        return causes
    return [3] if not np.any(failed & ~diverged) else [*causes, 3]


def _dominance_causes(run: Run, signal_vanished: np.ndarray, *, otherwise: int = 2) -> list[int]:
    """The causes the recipe offers for a dominant D or a vanished signal, most specific first; when the
    recipe shows none of them, ``otherwise`` (balance for dominance, geometry for a vanished signal)."""
    recipe = run.recipe
    causes = []
    if recipe.loss == "minimax" and bool(np.any(signal_vanished)):
        causes.append(1)
    if recipe.d_lr > recipe.g_lr or recipe.n_critic > 1:
        causes.append(2)
    if run.nets.from_recipe and recipe.capacity_ratio < 1:  # a user's own modules have no recipe widths
        causes.append(4)
    return causes or [otherwise]


def _cause_text(causes: list[int], recipe: Recipe) -> str:
    ahead = recipe.d_lr > recipe.g_lr or recipe.n_critic > 1
    details = {
        2: f" (d_lr {recipe.d_lr:g} vs g_lr {recipe.g_lr:g}, n_critic {recipe.n_critic})" if ahead else "",
        4: f" (G:D capacity ratio {recipe.capacity_ratio:.2f})",
    }
    return "; also ".join(CAUSES[c] + details.get(c, "") for c in dict.fromkeys(causes))


def _remedies(causes: list[int], recipe: Recipe) -> tuple[str, ...]:
    """Remedies for the causes, naming recipes and knobs; never the recipe already in use."""
    found: list[str] = []
    for cause in dict.fromkeys(causes):
        if cause == 1:
            found += [
                'recipe("nonsaturating"): the non-saturating G loss keeps its gradient when D is confident',
                'recipe("nonsaturating-r1"): an R1 penalty keeps D smooth near the data',
            ]
        elif cause == 2:
            if recipe.d_lr > recipe.g_lr:
                found.append(f"slow D down: d_lr ≤ g_lr (now d_lr={recipe.d_lr:g}, g_lr={recipe.g_lr:g})")
            if recipe.n_critic > 1:
                found.append(f"fewer D steps per G step: n_critic=1 (now {recipe.n_critic})")
            found += [
                'recipe("label-smoothing"): a real target of 0.9 keeps D from becoming certain',
                'recipe("nonsaturating-r1"): an R1 penalty keeps D smooth near the data',
                'recipe("wgan-gp"): a critic with a gradient penalty does not saturate',
            ]
        elif cause == 3:
            found.append(f"lower the learning rates (now g_lr={recipe.g_lr:g}, d_lr={recipe.d_lr:g})")
            if recipe.optimizer == "sgd":
                found.append('optimizer="adam" with betas=(0.5, 0.9) instead of plain SGD')
            found += [
                'recipe("nonsaturating-r1"): zero-centred penalties converge where plain GANs oscillate',
                'recipe("wgan-gp"): a gradient penalty bounds D\'s gradients',
                'recipe("hinge-sn"): spectral normalisation bounds D\'s Lipschitz constant',
                'recipe("ttur"): two time-scale updates converge under milder conditions',
            ]
        elif cause == 4:
            found += [
                f"raise the G:D capacity ratio (now {recipe.capacity_ratio:.2f}): a smaller D (d_width="
                f"{recipe.d_width}, d_depth={recipe.d_depth}) or a larger G (g_width={recipe.g_width}, "
                f"g_depth={recipe.g_depth})",
                'recipe("hinge-sn"): spectral normalisation limits what a large D can do',
            ]
        elif cause == 5:
            found += [
                'recipe("wgan-gp"): a critic with a gradient penalty spreads G over the modes',
                'recipe("ttur"): a D that keeps up with G stops it from jumping between modes',
                f"more G capacity or latent dimensions (now g_width={recipe.g_width}, "
                f"latent_dim={recipe.latent_dim})",
                "more steps: mode coverage on these toys needs thousands",
            ]
    # One line per recipe, the most specific first; never the recipe already in use.
    by_recipe: dict[str, str] = {}
    for remedy in found:
        by_recipe.setdefault(remedy.split(":")[0] if remedy.startswith("recipe(") else remedy, remedy)
    return tuple(remedy for key, remedy in by_recipe.items() if not _is_current(key, recipe))[:MAX_REMEDIES]


def _is_current(remedy_key: str, recipe: Recipe) -> bool:
    """Whether a ``recipe("name")`` remedy is already in use: judged by its defining settings, not by the
    name (``recipe("nonsaturating", loss="minimax")`` still needs the non-saturating loss)."""
    if not remedy_key.startswith('recipe("'):
        return False
    defining = defining_settings(remedy_key[len('recipe("') : -2])
    return bool(defining) and all(getattr(recipe, knob) == value for knob, value in defining.items())


# ---------------------------------------------------------------- argument checks


def _options(judge: _Judge) -> list[str]:
    return [name for name in inspect.signature(judge).parameters if name not in ("run", "quorum")]


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


def _needed_modes(min_modes: int | float | None, n_modes: int) -> int:
    if min_modes is None:
        return n_modes
    if isinstance(min_modes, bool) or not isinstance(min_modes, int | float):
        raise TypeError(f"min_modes={min_modes!r}: give None (all modes), a count (6) or a share (0.75)")
    if isinstance(min_modes, int):
        if not 1 <= min_modes <= n_modes:
            raise ValueError(f"min_modes={min_modes}: a count must be from 1 to the toy's {n_modes} modes")
        return min_modes
    if not 0 < min_modes <= 1:
        raise ValueError(f"min_modes={min_modes!r}: a share must be in (0, 1]; give an int for a count")
    return max(1, math.ceil(min_modes * n_modes - 1e-9))


def _in_open_unit(**values: float) -> None:
    for key, value in values.items():
        if not 0 < value < 1:
            raise ValueError(f"{key}={value!r} must be in (0, 1)")


def _positive(**values: float) -> None:
    for key, value in values.items():
        if not value > 0:
            raise ValueError(f"{key}={value!r} must be positive")


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
