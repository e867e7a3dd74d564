"""The profiles: named defaults for a kind of run (how many seeds, how long, how wide).

Test authors write their steps for ``smoke``; a profile scales them. Chosen with ``--ganstab-profile``
(and its twins) or a marker's ``profile=``; it fills only what no option or marker set.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Profile:
    """Defaults for a kind of run. Test authors write their steps for ``smoke``; ``full`` scales them up."""

    name: str
    seeds: int
    steps_scale: float
    width: int  # network width a suite should use when it wants the profile to pick one
    purpose: str
    for_gpu: bool = False  # sized for a GPU: the session says so when none is visible


PROFILES: dict[str, Profile] = {
    "smoke": Profile("smoke", seeds=4, steps_scale=1.0, width=64, purpose="a CPU CI run: few seeds, short"),
    # Twice the seeds and three times the steps: the longest run a 2-core CPU finishes within an hour.
    "nightly": Profile(
        "nightly", seeds=8, steps_scale=3.0, width=64, purpose="a nightly CPU run: more seeds, longer"
    ),
    # The reference width of docs/design.md §5 and 5× the steps: what a GPU does in minutes, a CPU in hours.
    "full": Profile(
        "full", seeds=16, steps_scale=5.0, width=512, purpose="a GPU run: many seeds, long", for_gpu=True
    ),
}
DEFAULT_PROFILE = "smoke"
