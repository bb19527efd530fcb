"""The HTTP side: a threaded stdlib server with keep-alive, and the ``SandboxServer`` handle.

Two details keep it fast on keep-alive connections: every accepted socket has TCP_NODELAY, and
each answer (status line, headers and body) leaves in one ``sendall``. Without both, a client's
delayed ACK meets Nagle's algorithm and every request stalls about 40 ms.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import threading
from email.utils import formatdate
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from .app import Response, SandboxApp
from .config import SandboxConfig

_REASONS = {status.value: status.phrase for status in HTTPStatus}
_REASONS[477] = "Migration In Progress"
_MAX_LINE = 65_536
_MAX_HEADERS = 100


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], app: SandboxApp, stopping: threading.Event):
        self.app = app
        self.stopping = stopping
        self.open_sockets: set[socket.socket] = set()
        self.sockets_lock = threading.Lock()
        super().__init__(address, _Handler)

    def close_open_sockets(self) -> None:
        with self.sockets_lock:
            sockets = list(self.open_sockets)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "crmsync-sandbox"
    # StreamRequestHandler.setup() sets TCP_NODELAY on the accepted socket when this is true.
    disable_nagle_algorithm = True
    server: _HTTPServer

    def setup(self) -> None:
        super().setup()
        with self.server.sockets_lock:
            self.server.open_sockets.add(self.connection)

    def finish(self) -> None:
        with self.server.sockets_lock:
            self.server.open_sockets.discard(self.connection)
        with contextlib.suppress(OSError):
            super().finish()

    def handle_one_request(self) -> None:
        """Read one request and answer it.

        Replaces BaseHTTPRequestHandler's parsing, whose email-package header parser costs more
        than the rest of a small request; headers are kept in a dict keyed in lower case.
        """
        rfile = self.rfile
        try:
            line = rfile.readline(_MAX_LINE + 1)
            if not line:
                self.close_connection = True
                return
            parts = line.decode("latin-1").split()
            if len(line) > _MAX_LINE or len(parts) != 3 or not parts[2].startswith("HTTP/"):
                self.close_connection = True
                self._send(Response(400, b'{"status":"error","message":"Bad request line."}'))
                return
            method, target, version = parts
            headers: dict[str, str] = {}
            while True:
                raw = rfile.readline(_MAX_LINE + 1)
                if raw in (b"\r\n", b"\n", b""):
                    break
                name, _, value = raw.decode("latin-1").partition(":")
                headers[name.strip().lower()] = value.strip()
                if len(headers) > _MAX_HEADERS:
                    self.close_connection = True
                    self._send(Response(431, b'{"status":"error","message":"Too many headers."}'))
                    return
        except (TimeoutError, OSError):
            self.close_connection = True
            return
        self.command, self.path, self.request_version = method, target, version
        connection = headers.get("connection", "").lower()
        if version == "HTTP/1.0":
            self.close_connection = connection != "keep-alive"
        else:
            self.close_connection = connection == "close"
        if headers.get("expect", "").lower() == "100-continue":
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        self._serve(method, target, headers)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the sandbox counts requests in its stats instead of logging each one."""

    def _serve(self, method: str, target: str, headers: dict[str, str]) -> None:
        if "transfer-encoding" in headers:
            self.close_connection = True
            self._send(Response(411, b'{"status":"error","message":"Send a Content-Length."}'))
            return
        try:
            length = int(headers.get("content-length") or 0)
            body = self.rfile.read(length) if length > 0 else b""
        except (ValueError, OSError):
            self.close_connection = True
            return
        response = self.server.app.handle(method, target, headers.get, body)
        stopping = self.server.stopping
        if response.delay > 0 and stopping.wait(response.delay):
            return
        if response.after == "drop":
            # The records are written; the client gets no answer at all.
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        if response.after == "slow" and stopping.wait(response.slow_seconds):
            return
        self._send(response)

    def _send(self, response: Response) -> None:
        body = response.body
        lines = [
            f"HTTP/1.1 {response.status} {_REASONS.get(response.status, 'Unknown')}",
            f"Date: {formatdate(usegmt=True)}",
            f"Content-Length: {len(body)}",
        ]
        if body:
            lines.append(f"Content-Type: {response.content_type}")
        lines.extend(f"{name}: {value}" for name, value in response.headers)
        if self.close_connection:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        try:
            self.wfile.write(head + body)
        except OSError:
            self.close_connection = True


def _check_loopback(host: str) -> None:
    if host == "localhost":
        return
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ValueError(f"the sandbox listens on loopback addresses only, not {host!r}")


class SandboxServer:
    """A HubSpot contacts API on a loopback port, run in a background thread.

    >>> server = SandboxServer(port=0, token="sandbox-token")
    >>> server.start()  # returns once listening; server.url is then set
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        token: str = "sandbox-token",  # noqa: S107 - a local sandbox's well-known token
        config: SandboxConfig | None = None,
    ) -> None:
        _check_loopback(host)
        self.host = host
        self.port = port
        self.token = token
        self.app = SandboxApp(token, config or SandboxConfig())
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    # --- lifecycle ------------------------------------------------------------------------

    def start(self) -> SandboxServer:
        if self._httpd is not None:
            raise RuntimeError("the sandbox is already running")
        self._stopping = threading.Event()
        self._httpd = _HTTPServer((self.host, self.port), self.app, self._stopping)
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.2},
            name=f"crmsync-sandbox-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        self._stopping.set()  # wakes answers held back by latency or slow_after_commit
        httpd.shutdown()
        httpd.close_open_sockets()
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("the sandbox is not running: call start() first")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._httpd is not None

    # --- configuration --------------------------------------------------------------------

    @property
    def config(self) -> SandboxConfig:
        """The options in force now."""
        return self.app.config

    def configure(self, **options: Any) -> SandboxConfig:
        """Change options while running; unknown names raise ``ConfigError``."""
        return self.app.configure(**options)

    def reset(self, *, restore_config: bool = True) -> None:
        """Clear the store, counters and limits; the config goes back to the one at construction."""
        self.app.reset(restore_config=restore_config)

    # --- inspection and seeding -----------------------------------------------------------

    def contacts(self) -> list[dict[str, Any]]:
        """Every stored record, archived ones included (``archived: true``)."""
        return self.app.contacts()

    def archived_contacts(self) -> list[dict[str, Any]]:
        """The archived records only (``batch/archive``): HubSpot keeps them for 90 days."""
        return self.app.archived_contacts()

    def associations(self, contact_id: str) -> list[str]:
        """The ids of the companies the contact is associated with (any type), in the order
        they were first associated; archived contacts keep theirs. KeyError if no such id."""
        return list(self.app.association_types(contact_id))

    def association_types(self, contact_id: str) -> dict[str, list[int]]:
        """Company id -> association type ids (279 unlabeled, 1 primary) of one contact."""
        return self.app.association_types(contact_id)

    def associate(self, contact_id: str, company_id: str, *type_ids: int) -> None:
        """Associate directly (no rate limit), as v4 batch/create would; 279 when no type is
        given. KeyError for an unknown contact or company."""
        self.app.associate(contact_id, company_id, type_ids or (279,))

    def contact_by_email(self, email: str) -> dict[str, Any] | None:
        """The active contact whose primary email is ``email`` (any case), or None."""
        return self.app.contact_by_email(email)

    def add_contact(self, properties: dict[str, Any]) -> str:
        """Store a contact directly (no validation, no rate limit); returns its id."""
        return self.app.add_contact(properties)

    def merge(self, primary_id: str, merged_id: str) -> dict[str, Any]:
        """Merge contact ``merged_id`` into ``primary_id`` as HubSpot does (the primary
        survives, listing the other in ``hs_merged_object_ids``); the survivor's record.
        KeyError for an unknown or archived id."""
        return self.app.merge(str(primary_id), str(merged_id))

    def archive_contact(self, contact_id: str) -> dict[str, Any]:
        """Archive (delete) a contact as a HubSpot user would; KeyError if not active."""
        return self.app.archive_contact(str(contact_id))

    def add_company(self, id: str | None = None, name: str = "") -> str:
        """Add (or replace) a company contacts can be associated with; returns its id."""
        return self.app.store.add_company(id, name)

    def add_property(self, definition: dict[str, Any]) -> None:
        """Add a custom contact property, as ``POST /crm/v3/properties/contacts`` would."""
        from .properties import property_from_api

        self.app.store.add_property(property_from_api(definition), replace=True)

    def companies(self) -> list[dict[str, Any]]:
        return list(self.app.store.companies.values())

    def stats(self) -> dict[str, Any]:
        return self.app.stats_snapshot()
