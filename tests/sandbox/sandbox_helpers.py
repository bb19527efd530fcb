"""Helpers for the sandbox's own tests (imported by the test modules of this folder)."""

from __future__ import annotations

from typing import Any

import requests

from crmsync.sandbox import SandboxServer

CONTACTS = "/crm/v3/objects/contacts"


class Api:
    """requests.Session with the sandbox's URL and token; paths are relative."""

    def __init__(self, server: SandboxServer) -> None:
        self.server = server
        self.session = requests.Session()
        self.session.trust_env = False
        self.session.headers["Authorization"] = f"Bearer {server.token}"

    def post(self, path: str, body: Any = None, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", 10)
        return self.session.post(self.server.url + path, json=body, **kwargs)

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", 10)
        return self.session.get(self.server.url + path, **kwargs)

    def create(self, *inputs: dict[str, Any], **kwargs: Any) -> requests.Response:
        return self.post(f"{CONTACTS}/batch/create", {"inputs": list(inputs)}, **kwargs)


def contact(email: str | None = None, trace: str | None = None, **properties: str) -> dict:
    """One batch/create input."""
    props = dict(properties)
    if email is not None:
        props["email"] = email
    item: dict[str, Any] = {"properties": props}
    if trace is not None:
        item["objectWriteTraceId"] = trace
    return item
