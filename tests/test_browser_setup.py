"""How the browser tests get their chromium, and what happens without one: ``make browsers``
installs Debian's package through apt when it is missing and it can (root), says how
otherwise; the browser tests fail without it unless told to skip.

apt-get and id are fakes on PATH here: nothing is installed or removed."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs make")


@pytest.fixture
def fake_bin(tmp_path):
    """A PATH whose apt-get records its arguments, and whose id says who we are."""
    folder = tmp_path / "bin"
    folder.mkdir()
    log = tmp_path / "apt.log"
    (folder / "apt-get").write_text(f'#!/bin/sh\necho "$*" >> {log}\n')
    (folder / "apt-get").chmod(0o755)

    def run(uid: int, chromium: str, **env: str) -> tuple[str, list[str]]:
        (folder / "id").write_text(f"#!/bin/sh\necho {uid}\n")
        (folder / "id").chmod(0o755)
        environ = {
            **os.environ,
            "PATH": f"{folder}:{os.environ['PATH']}",
            "CRMSYNC_CHROMIUM": chromium,
            "CRMSYNC_SKIP_BROWSER_TESTS": "",
            **env,
        }
        done = subprocess.run(
            ["make", "-s", "-C", str(ROOT), "browsers"],
            env=environ,
            capture_output=True,
            text=True,
            check=True,
        )
        calls = log.read_text().splitlines() if log.exists() else []
        return done.stdout, calls

    return run


def test_root_without_chromium_installs_debians_package(fake_bin, tmp_path):
    out, calls = fake_bin(0, str(tmp_path / "no-chromium"))
    assert calls == [
        "update -qq",
        "install -y -qq --no-install-recommends chromium fonts-liberation",
    ]
    assert "Installing Debian's chromium" in out


def test_a_user_without_chromium_is_told_how(fake_bin, tmp_path):
    out, calls = fake_bin(1000, str(tmp_path / "no-chromium"))
    assert calls == []
    assert "apt-get install chromium" in out and "CRMSYNC_SKIP_BROWSER_TESTS=1" in out


def test_chromium_present_or_skipped_installs_nothing(fake_bin, tmp_path):
    present = tmp_path / "chromium"
    present.write_text("#!/bin/sh\n")
    present.chmod(0o755)
    assert fake_bin(0, str(present)) == ("", [])
    missing = str(tmp_path / "no-chromium")
    assert fake_bin(0, missing, CRMSYNC_SKIP_BROWSER_TESTS="1") == ("", [])


def run_browser_test(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {**os.environ, "CRMSYNC_SCREENSHOTS": str(tmp_path / "shots"), **env}
    environ.pop("DATABASE_URL", None)  # SQLite: quicker to set up, and enough here
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:randomly",
            "-p",
            "no:cacheprovider",
            "tests/browser",
            "-k",
            "refused",
        ],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_browser_tests_fail_loudly_without_chromium(tmp_path):
    done = run_browser_test(
        tmp_path, CRMSYNC_CHROMIUM=str(tmp_path / "none"), CRMSYNC_SKIP_BROWSER_TESTS=""
    )
    assert done.returncode != 0, done.stdout
    assert f"no chromium at {tmp_path / 'none'}" in done.stdout
    assert "1 error" in done.stdout


def test_browser_tests_skip_only_when_told(tmp_path):
    done = run_browser_test(
        tmp_path, CRMSYNC_CHROMIUM=str(tmp_path / "none"), CRMSYNC_SKIP_BROWSER_TESTS="1"
    )
    assert done.returncode == 0, done.stdout
    assert "1 skipped" in done.stdout
