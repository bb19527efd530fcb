"""The bearer token of each request: a static one, or an OAuth access token kept fresh.

``StaticToken``: ``CRMSYNC["ACCESS_TOKEN"]``, a service key or a legacy private app's token.
``OAuthTokens``: an OAuth 2.0 app's access token, renewed with ``OAUTH_REFRESH_TOKEN`` at the
token endpoint **before** it expires (a margin), by one worker at a time across hosts: the
token and a lock live in a ``TokenStore`` every worker shares (Redis; the database without
Redis, ``database.DatabaseTokenStore``; ``LocalTokenStore`` for one process). A worker that
finds the token near its end takes the lock, looks again (another may just have renewed
it), and only then refreshes; the others wait for the new token and use it. So N workers
cause one refresh per expiry.

Why the access token may sit in Redis: Redis is the broker every worker already trusts with
its tasks, the token lives 30 minutes, and the key (``<prefix>:oauth:<digest>``) is read by
nothing an operator sees (no log, no admin page, no history row). The client secret and the
refresh token of the settings are never stored; a refresh token HubSpot hands out in
exchange is (it must be used from then on, by every worker). Without Redis the same holds of
the database's ``crmsync_sharedtoken`` table: no admin page, no history, no log shows it.

Nothing here knows a model; the client asks ``bearer()`` for each request and ``renew()``
after a 401.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .base import Credentials, OAuthGrantError, Secret, StaticToken, token_path
from .oauth import OAuthTokens
from .stores import LocalTokenStore, RedisTokenStore, TokenStore, store_key

if TYPE_CHECKING:
    import redis

    from ..conf import CrmSyncSettings

__all__ = [
    "Credentials",
    "LocalTokenStore",
    "OAuthGrantError",
    "OAuthTokens",
    "RedisTokenStore",
    "Secret",
    "StaticToken",
    "TokenStore",
    "build_credentials",
    "store_key",
    "token_path",
]


def uses_oauth(conf: CrmSyncSettings) -> bool:
    return bool(conf.OAUTH_REFRESH_TOKEN)


def build_credentials(conf: CrmSyncSettings, redis: redis.Redis | None) -> Credentials:
    """The credentials ``conf`` names: OAuth when a refresh token is set, else the static
    token. ``redis`` (the limiter's client on REDIS_URL) shares OAuth tokens across hosts;
    None: the database does."""
    if not uses_oauth(conf):
        return StaticToken(conf.ACCESS_TOKEN)
    key = store_key(conf.REDIS_KEY_PREFIX, conf.OAUTH_CLIENT_ID, conf.OAUTH_REFRESH_TOKEN)
    store: TokenStore
    if redis is not None:
        store = RedisTokenStore(redis, key)
    else:  # the database every worker shares (imported here: the client never meets a model)
        from .database import DatabaseTokenStore

        store = DatabaseTokenStore(key)
    return OAuthTokens(
        token_url=conf.API_BASE_URL.rstrip("/") + token_path(conf.API_VERSION),
        client_id=conf.OAUTH_CLIENT_ID,
        client_secret=conf.OAUTH_CLIENT_SECRET,
        refresh_token=conf.OAUTH_REFRESH_TOKEN,
        store=store,
        margin_seconds=conf.OAUTH_REFRESH_MARGIN_SECONDS,
        timeout=conf.HTTP_TIMEOUT_SECONDS,
    )
