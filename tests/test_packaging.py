"""Packaging: the sdist carries what its tests need (they collect from an unpacked sdist), the wheel only
the package, the metadata its Project-URLs, and the README only images a package index can show."""

from __future__ import annotations

import re
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
HOME = "https://github.com/pytest-ganstab/pytest-ganstab"


@pytest.fixture(scope="module")
def sdist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("setuptools", minversion="77", reason="pyproject.toml's build backend")
    if not (ROOT / "pyproject.toml").exists():
        pytest.skip("not run from a source tree")
    out = tmp_path_factory.mktemp("sdist")
    build = "import sys; from setuptools import build_meta; print(build_meta.build_sdist(sys.argv[1]))"
    done = subprocess.run(
        [sys.executable, "-c", build, str(out)], cwd=ROOT, capture_output=True, text=True, check=True
    )
    archive = out / done.stdout.strip().splitlines()[-1]
    with tarfile.open(archive) as tar:
        tar.extractall(out, filter="data")
    (unpacked,) = [path for path in out.iterdir() if path.is_dir()]
    return unpacked


def test_the_sdist_carries_the_tests_suites_docs_and_tox_ini(sdist: Path) -> None:
    for name in ("tests/conftest.py", "tests/records_factory.py", "tests/inner_runs.py", "tox.ini"):
        assert (sdist / name).is_file(), name
    for folder in ("suites", "docs"):
        tracked = {path.name for path in (ROOT / folder).iterdir() if path.suffix in (".py", ".md", ".png")}
        assert tracked <= {path.name for path in (sdist / folder).iterdir()}, folder
    assert not list(sdist.rglob("__pycache__"))


def test_the_sdists_tests_collect(sdist: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", "tests", "suites"],
        cwd=sdist,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert re.search(r"\d+ tests collected", done.stdout)
    assert "error" not in done.stdout.splitlines()[-1]


def test_metadata_names_the_project_urls(sdist: Path) -> None:
    metadata = (sdist / "PKG-INFO").read_text(encoding="utf-8")
    for label in ("Homepage", "Source", "Issues", "Documentation"):
        assert re.search(rf"^Project-URL: {label}, {re.escape(HOME)}", metadata, flags=re.MULTILINE), label


def test_readme_images_and_links_resolve_on_a_package_index() -> None:
    """PyPI renders the README without the repository: relative images and links break there."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    targets = re.findall(r"\]\(([^)\s]+)\)", readme)
    assert targets
    relative = [target for target in targets if not target.startswith(("https://", "http://", "#"))]
    assert relative == []
    images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", readme)
    assert images and all(
        image.startswith(HOME.replace("github.com", "raw.githubusercontent.com")) for image in images
    )
    for image in images:  # each names a file that exists in this tree
        assert (ROOT / image.split("/main/", 1)[1]).is_file(), image
