"""The README's "Judge your own training loop" example is a test a user copies: it must run and pass as
written. This test takes the code block from the README itself, so the README cannot drift from the code."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"


def code_block(section: str) -> str:
    """The first ```python block under the ``## section`` heading of the README."""
    text = README.read_text(encoding="utf-8")
    start = text.index(f"## {section}\n")
    match = re.search(r"```python\n(.*?)```", text[start:], re.DOTALL)
    assert match is not None, f"no python block under '## {section}'"
    return match.group(1)


def test_the_own_loop_example_runs_and_passes_as_written(pytester: pytest.Pytester) -> None:
    source = code_block("Judge your own training loop")
    assert "monitor.watch(G, D, opt_g, opt_d)" in source and "ganstab.monitor(train_one_seed" in source
    pytester.makepyfile(test_my_training_loop=source)
    # Two seeds instead of the smoke profile's four: the same code path, half the time.
    result = pytester.runpytest("--ganstab", "--ganstab-seeds", "2", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*test_my_training_loop_is_stable*your loop*ring8*2*400*passed*"])
