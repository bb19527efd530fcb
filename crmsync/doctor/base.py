"""What every doctor check is made of, and the loop that runs them all."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from django.conf import settings as django_settings

from ..client import HubSpotClient
from ..conf import CrmSyncSettings, get_settings
from ..credentials import build_credentials
from ..runtime import redis_client

OK = "OK"
WARN = "WARN"
FAIL = "FAIL"
#: The doctor's own timeout for each HubSpot read (less when HTTP_TIMEOUT_SECONDS is less).
HTTP_TIMEOUT_SECONDS = 10.0
MASK = "[token]"


@dataclass(frozen=True)
class Check:
    name: str
    level: str
    message: str
    fix: str = ""

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


@dataclass
class Context:
    """What the checks share: the settings (unchecked: a bad one is the first check's FAIL)
    and, built on first use, a HubSpot client of the doctor's own."""

    conf: CrmSyncSettings = field(default_factory=get_settings)
    raw: Any = None
    _client: HubSpotClient | None = None
    #: Whether HubSpot accepted the token (set by the token check; later checks skip if not).
    hubspot_ok: bool | None = None
    #: ``health.checks()``, read once for the checks of this host's side.
    health: Any = None

    @property
    def client(self) -> HubSpotClient:
        if self._client is None:
            conf = self.conf
            # The workers' credentials: a static token, or OAuth's access token shared
            # through Redis or the database (refreshed, if due, under the same one-refresher
            # lock as theirs: the only write the doctor can cause).
            redis = redis_client(conf.REDIS_URL) if conf.REDIS_URL else None
            self._client = HubSpotClient(
                base_url=conf.API_BASE_URL,
                credentials=build_credentials(conf, redis),
                timeout=min(float(conf.HTTP_TIMEOUT_SECONDS), HTTP_TIMEOUT_SECONDS),
                api_version=conf.API_VERSION,
            )
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()


CheckFunction = Callable[[Context], Check]


def run(checks: Sequence[CheckFunction] | None = None, ctx: Context | None = None) -> list[Check]:
    """Every check in order; one that raises becomes a FAIL naming what went wrong."""
    if checks is None:
        from .checks import CHECKS

        checks = CHECKS
    if ctx is None:
        raw = getattr(django_settings, "CRMSYNC", None)
        try:
            ctx = Context(raw=raw)
        except Exception:  # a CRMSYNC that is not a dict: only the settings check can run
            ctx = Context(conf=CrmSyncSettings(), raw=raw)
    secrets = [
        str(getattr(ctx.conf, name, "") or "")
        for name in ("ACCESS_TOKEN", "OAUTH_CLIENT_SECRET", "OAUTH_REFRESH_TOKEN")
    ]
    results = []
    try:
        for check in checks:
            try:
                result = check(ctx)
            except Exception as exc:
                name = check.__name__.removeprefix("check_").replace("_", " ")
                text = " ".join(str(exc).split()) or type(exc).__name__
                result = Check(name, FAIL, f"could not check: {type(exc).__name__}: {text}")
            for secret in secrets:
                result = _masked(result, secret)
            results.append(result)
    finally:
        ctx.close()
    return results


def _masked(check: Check, token: str) -> Check:
    if not token or len(token) < 4:
        return check
    return Check(
        check.name,
        check.level,
        check.message.replace(token, MASK),
        check.fix.replace(token, MASK),
    )
