"""What the bench scripts share: PostgreSQL set-up, child processes and their environment, the
sandbox process, Redis clean-up and ``/proc`` readings.

Nothing here imports Django: the chaos harness runs inside pytest, whose Django uses another
database, so only child processes set Django up (``setup_django``). Every child runs from the
project's folder with ``python -m bench.<module>`` or ``python manage.py ...``.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import requests
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
DJANGO_SETTINGS_MODULE = "project.settings"


class BenchError(Exception):
    """A bench script cannot go on: the database, the sandbox or a child process failed."""


# -- URLs ------------------------------------------------------------------------------------


def database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


def with_database(url: str, name: str) -> str:
    """The same server and credentials, another database."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


def libpq_url(url: str) -> str:
    """``url`` as libpq spells it (``postgres+psycopg://``, ``pgsql://``... are Django's)."""
    parts = urlsplit(url)
    return urlunsplit(("postgresql", parts.netloc, parts.path, parts.query, parts.fragment))


def redact(url: str) -> str:
    """``url`` with its password, if any, replaced by ``***``."""
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return urlunsplit(parts._replace(netloc=netloc))
    return url


# -- PostgreSQL ------------------------------------------------------------------------------


def connect(url: str) -> psycopg.Connection[tuple[Any, ...]]:
    """An autocommit connection to the database ``url`` names."""
    return psycopg.connect(libpq_url(url), autocommit=True)


def ensure_database(url: str) -> bool:
    """Create the database ``url`` names if it is missing; True when it was created."""
    name = database_name(url)
    with connect(with_database(url, "postgres")) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            return False
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return True


def drop_database(url: str) -> None:
    """Drop the database, closing whatever connections are left (PostgreSQL 13+)."""
    with connect(with_database(url, "postgres")) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(database_name(url))
            )
        )


def migrate(env: Mapping[str, str], timeout: float = 600) -> None:
    """``manage.py migrate`` on the database the environment's ``DATABASE_URL`` names."""
    run_python(["manage.py", "migrate", "--noinput", "-v", "0"], env, timeout=timeout)


# -- child processes -------------------------------------------------------------------------


def crmsync_settings(**values: object) -> dict[str, str]:
    """crmsync's settings as environment variables: ``batch_size=25`` -> CRMSYNC_BATCH_SIZE."""
    return {f"CRMSYNC_{name.upper()}": str(value) for name, value in values.items()}


def child_env(
    *,
    database_url: str,
    redis_url: str,
    token: str,
    sandbox_url: str = "",
    inherit_crmsync: bool = True,
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """This process's environment for a child that sets Django up: the database, Redis, the
    sandbox's token and address, settings ``project.settings``, the project on the path and
    crmsync logging warnings only. ``inherit_crmsync=False`` drops the ``CRMSYNC_*`` variables
    this process has; ``extra`` is added last (``crmsync_settings(...)``, for one)."""
    env = {
        name: value
        for name, value in os.environ.items()
        if inherit_crmsync or not name.startswith("CRMSYNC_")
    }
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": DJANGO_SETTINGS_MODULE,
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "HUBSPOT_ACCESS_TOKEN": token,
            "PYTHONPATH": str(ROOT),
            **crmsync_settings(log_level="WARNING"),
        }
    )
    if sandbox_url:
        env["HUBSPOT_API_BASE_URL"] = sandbox_url
    env.update(extra or {})
    return env


def setup_django() -> None:
    """In a child process: Django set up from the environment its parent prepared."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", DJANGO_SETTINGS_MODULE)
    import django

    django.setup()


def start_python(
    args: Sequence[str], env: Mapping[str, str], log: Path | None = None
) -> subprocess.Popen[bytes]:
    """``python ARGS`` in the project's folder, its output appended to ``log`` (without one,
    it goes where this process's goes)."""
    command = [sys.executable, *args]
    if log is None:
        return subprocess.Popen(command, cwd=ROOT, env=dict(env))
    with log.open("ab") as out:
        return subprocess.Popen(
            command,
            cwd=ROOT,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def run_python(args: Sequence[str], env: Mapping[str, str], timeout: float) -> str:
    """``python ARGS`` in the project's folder, to the end: its standard output."""
    done = subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        raise BenchError(f"{' '.join(args)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return done.stdout


def stop(procs: Iterable[subprocess.Popen[Any]], grace: float) -> None:
    """SIGTERM each process still running, then SIGKILL any not gone ``grace`` s later."""
    procs = list(procs)
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    for proc in procs:
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# -- the sandbox -----------------------------------------------------------------------------


class Sandbox:
    """The HubSpot sandbox as a child process, and its control API (``/_sandbox/...``)."""

    def __init__(self, proc: subprocess.Popen[bytes], url: str) -> None:
        self.proc = proc
        self.url = url
        self.session = requests.Session()
        self.session.trust_env = False  # loopback only: never through a proxy

    @classmethod
    def start(
        cls, args: Sequence[str], env: Mapping[str, str], log: Path, timeout: float = 60
    ) -> Sandbox:
        """``python ARGS`` (``manage.py crmsync_sandbox --port=0 ...`` or ``-m crmsync.sandbox
        ...``), once it says where it listens; its output goes to ``log``."""
        proc = start_python(args, env, log)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            match = re.search(r"listening on (http://\S+)", log.read_text(errors="replace"))
            if match:
                return cls(proc, match.group(1))
            if proc.poll() is not None:
                raise BenchError(f"the sandbox exited: {log.read_text(errors='replace')[-2000:]}")
            time.sleep(0.1)
        stop([proc], 5)
        raise BenchError(f"the sandbox did not start within {timeout:.0f} s")

    @property
    def pid(self) -> int:
        return self.proc.pid

    def call(self, method: str, name: str, body: Any = None) -> Any:
        answer = self.session.request(method, f"{self.url}/_sandbox/{name}", json=body, timeout=60)
        if answer.status_code >= 400:
            raise BenchError(f"sandbox /_sandbox/{name}: {answer.status_code} {answer.text}")
        return answer.json()

    def get(self, name: str) -> Any:
        return self.call("GET", name)

    def post(self, name: str, body: Any) -> Any:
        return self.call("POST", name, body)

    def stop(self, grace: float = 10) -> None:
        self.session.close()
        stop([self.proc], grace)


# -- Redis and /proc -------------------------------------------------------------------------


def forget_redis_keys(url: str, prefixes: Iterable[str]) -> None:
    """Delete the keys under each ``<prefix>:``; quietly nothing when Redis is not there."""
    if not url:
        return
    with contextlib.suppress(Exception):
        import redis

        client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
        for prefix in prefixes:
            keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
            if keys:
                client.delete(*keys)
        client.close()


def rss_mb(pid: int) -> float | None:
    """The process's resident set size in MB, None once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None
