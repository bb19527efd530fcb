"""The HTTP server itself: keep-alive speed, and starting it from the command line."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests
from sandbox_helpers import CONTACTS, contact

ROOT = Path(__file__).resolve().parents[2]


def test_accepted_sockets_have_tcp_nodelay_and_answers_leave_in_one_write(hubspot_sandbox):
    with socket.create_connection(("127.0.0.1", hubspot_sandbox.port), timeout=5) as sock:
        body = json.dumps({"inputs": [contact("raw@example.com")]}).encode()
        request = (
            f"POST {CONTACTS}/batch/create HTTP/1.1\r\nHost: x\r\n"
            f"Authorization: Bearer {hubspot_sandbox.token}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode() + body
        sock.sendall(request)
        time.sleep(0.2)
        # One segment carries status line, headers and body together.
        data = sock.recv(65536)
        head, _, rest = data.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 201 Created")
        length = int(
            next(
                line.split(b":")[1]
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length")
            )
        )
        assert len(rest) == length
        # The connection stays open for the next request.
        sock.sendall(request.replace(b"raw@", b"wat@"))
        assert sock.recv(65536).startswith(b"HTTP/1.1 201")
        # Server side: every accepted socket has Nagle's algorithm off.
        accepted = list(hubspot_sandbox._httpd.open_sockets)
        assert accepted
        assert all(s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) for s in accepted)


def _run(args, env=None):
    proc = subprocess.Popen(
        args,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )
    line = proc.stdout.readline()
    return proc, line


def _check_running(proc, line, token):
    try:
        assert line.startswith("crmsync sandbox listening on http://127.0.0.1:"), line
        url = line.split()[-1]
        response = requests.post(
            f"{url}{CONTACTS}/batch/create",
            json={"inputs": [contact("cli@example.com")]},
            headers={"Authorization": f"Bearer {token}"},
            timeout=5,
        )
        return url, response
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0


def test_management_command_runs_until_sigterm(tmp_path):
    props = tmp_path / "props.json"
    props.write_text(
        json.dumps(
            [{"name": "shoe_size", "label": "Shoe size", "type": "number", "fieldType": "number"}]
        )
    )
    proc, line = _run(
        [
            sys.executable,
            "manage.py",
            "crmsync_sandbox",
            "--port",
            "0",
            "--token",
            "cli-token",
            "--rate-limit-max",
            "50",
            "--conflict-mode",
            "batch",
            "--no-shuffle",
            "--echo-trace-ids",
            "--custom-properties",
            str(props),
            "--seed",
            "3",
            "--fault-5xx-rate",
            "0",
        ]
    )
    _url, response = _check_running(proc, line, "cli-token")
    assert response.status_code == 201
    assert response.headers["X-HubSpot-RateLimit-Max"] == "50"


def test_python_module_runs_without_django():
    proc, line = _run(
        [
            sys.executable,
            "-m",
            "crmsync.sandbox",
            "--port",
            "0",
            "--token",
            "m-token",
            "--missing-scopes",
        ],
        env={"DJANGO_SETTINGS_MODULE": ""},
    )
    _, response = _check_running(proc, line, "m-token")
    assert response.status_code == 403
