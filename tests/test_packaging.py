"""What a user installs: the sdist and the wheel built from it, as `pip install crmsync` would.

Both are built once per session, offline, with the setuptools in this virtualenv (no build
isolation, nothing downloaded): the sdist through setuptools' PEP 517 hook on a copy of the
source tree, then the wheel from the unpacked sdist, so a file the sdist forgets is missing
from the wheel too, as it would be for anyone installing from the sdist.
"""

from __future__ import annotations

import email.parser
import importlib.metadata
import shutil
import subprocess
import sys
import tarfile
import zipfile
from dataclasses import dataclass
from email.message import Message
from pathlib import Path

import pytest

import crmsync

ROOT = Path(__file__).resolve().parent.parent
NAME = f"crmsync-{crmsync.__version__}"
DIST_INFO = f"{NAME}.dist-info"
MIN_SETUPTOOLS = (77, 0)  # PEP 639: `license = "MIT"` and `license-files`

# What a checkout holds that is no part of the source release.
NOT_SOURCE = shutil.ignore_patterns(
    ".*", "build", "dist", "*.egg-info", "__pycache__", "*.py[cod]", "*.sqlite3", "staticfiles"
)


def setuptools_version() -> tuple[int, ...] | None:
    try:
        version = importlib.metadata.version("setuptools")
    except importlib.metadata.PackageNotFoundError:
        return None
    return tuple(int(part) for part in version.split(".")[:2] if part.isdigit())


@dataclass(frozen=True)
class Built:
    wheel: Path
    sdist: Path
    wheel_files: frozenset[str]
    sdist_files: frozenset[str]  # relative to the sdist's top folder

    def wheel_text(self, name: str) -> str:
        with zipfile.ZipFile(self.wheel) as whl:
            return whl.read(name).decode()

    def metadata(self) -> Message:
        return email.parser.Parser().parsestr(self.wheel_text(f"{DIST_INFO}/METADATA"))


def run(args: list[str], cwd: Path) -> None:
    done = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        pytest.fail(f"{' '.join(args)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    found = setuptools_version()
    if found is None or found < MIN_SETUPTOOLS:
        pytest.skip(
            f"building needs setuptools>={'.'.join(map(str, MIN_SETUPTOOLS))} in this virtualenv "
            f"(found {found}); requirements.txt installs it: run `make .venv/.installed`"
        )
    tmp = tmp_path_factory.mktemp("packaging")
    src, out = tmp / "src", tmp / "out"
    shutil.copytree(ROOT, src, ignore=NOT_SOURCE)
    out.mkdir()
    hook = f"from setuptools import build_meta; build_meta.build_sdist({str(out)!r})"
    run([sys.executable, "-c", hook], cwd=src)
    (sdist,) = out.glob("*.tar.gz")
    with tarfile.open(sdist) as tar:
        members = tar.getnames()
        tar.extractall(tmp / "unpacked", filter="data")
    pip_wheel = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation"]
    run(
        [*pip_wheel, "--no-index", "--quiet", "-w", str(out), str(tmp / "unpacked" / NAME)], cwd=tmp
    )
    (wheel,) = out.glob("*.whl")
    with zipfile.ZipFile(wheel) as whl:
        wheel_files = frozenset(whl.namelist())
    prefix = f"{NAME}/"
    sdist_files = frozenset(m[len(prefix) :] for m in members if m.startswith(prefix))
    return Built(wheel, sdist, wheel_files, sdist_files)


def source_files(folder: str) -> set[str]:
    """The files of the checkout under `folder`, as paths relative to the checkout."""
    return {
        path.relative_to(ROOT).as_posix()
        for path in (ROOT / folder).rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    }


def test_the_wheel_is_the_whole_crmsync_package_and_nothing_else(built: Built):
    """Every file of crmsync/ (migrations, management commands, the sandbox, py.typed, and any
    template or static file it gains) is in the wheel; tests/, bench/ and project/ are not."""
    in_package = {name for name in built.wheel_files if not name.startswith(DIST_INFO + "/")}
    missing = source_files("crmsync") - in_package
    extra = in_package - source_files("crmsync")
    assert not missing, f"files of crmsync/ missing from the wheel: {sorted(missing)}"
    assert not extra, f"files in the wheel that are not in crmsync/: {sorted(extra)}"
    assert all(name.startswith(("crmsync/", DIST_INFO + "/")) for name in built.wheel_files)


@pytest.mark.parametrize(
    "name",
    [
        "crmsync/py.typed",
        "crmsync/migrations/__init__.py",
        "crmsync/migrations/0001_initial.py",
        "crmsync/management/commands/crmsync_sync.py",
        "crmsync/management/commands/crmsync_sandbox.py",
        "crmsync/management/commands/crmsync_resume.py",
        "crmsync/management/commands/crmsync_demo.py",
        "crmsync/sandbox/__main__.py",
        "crmsync/sandbox/server.py",
        "crmsync/sandbox/pytest_plugin.py",
        "crmsync/testing.py",
        "crmsync/migrations/0005_properties_stored_as_hubspot_strings.py",
        f"{DIST_INFO}/licenses/LICENSE",
    ],
)
def test_the_wheel_has(built: Built, name: str):
    assert name in built.wheel_files


@pytest.mark.parametrize("top", ["tests/", "bench/", "project/", "docs/", "manage.py"])
def test_the_wheel_leaves_out(built: Built, top: str):
    assert not [name for name in built.wheel_files if name.startswith(top)]


def test_the_license_is_mit_and_travels_with_both(built: Built):
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License")
    assert "Copyright (c) 2026 crmsync contributors" in text
    assert built.wheel_text(f"{DIST_INFO}/licenses/LICENSE") == text
    assert "LICENSE" in built.sdist_files


def test_the_metadata(built: Built):
    meta = built.metadata()
    assert meta["Name"] == "crmsync"
    assert meta["Version"] == crmsync.__version__
    assert meta["Summary"]
    assert meta["License-Expression"] == "MIT"
    assert meta.get_all("License-File") == ["LICENSE"]
    assert meta["Requires-Python"] == ">=3.11"
    assert meta["Description-Content-Type"] == "text/markdown"
    assert "## Install" in meta.get_payload()  # the README is the long description
    classifiers = set(meta.get_all("Classifier") or [])
    for wanted in [
        "Framework :: Django :: 5.2",
        "Programming Language :: Python :: 3.11",
        "Programming Language :: Python :: 3.12",
        "Programming Language :: Python :: 3.13",
        "Typing :: Typed",
    ]:
        assert wanted in classifiers
    requires = meta.get_all("Requires-Dist") or []
    assert any(req.startswith("Django") for req in requires)
    assert not any(req.startswith(("pytest", "dj-database-url", "factory")) for req in requires)


def test_the_sdist_has_the_docs_and_the_source(built: Built):
    docs = source_files("docs")
    assert docs, "no docs in the checkout?"
    wanted = docs | {"README.md", "LICENSE", "pyproject.toml", "PKG-INFO", "crmsync/py.typed"}
    wanted |= {name for name in source_files("crmsync") if name.endswith(".py")}
    missing = wanted - built.sdist_files
    assert not missing, f"missing from the sdist: {sorted(missing)}"
    compiled = [
        name for name in built.sdist_files if "__pycache__" in name or name.endswith(".pyc")
    ]
    assert not compiled
