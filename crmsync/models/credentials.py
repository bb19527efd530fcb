"""An OAuth access token every worker shares when there is no Redis (crmsync.credentials)."""

from __future__ import annotations

from django.db import models


class SharedToken(models.Model):
    """One OAuth grant's current access token, the lock of its refresher, and a refresh token
    HubSpot handed out in exchange. Never shown: no admin page, no history, no log. Kept in
    the database only when REDIS_URL is empty (README, "Credentials", says why the access
    token may be stored at all)."""

    #: ``<REDIS_KEY_PREFIX>:oauth:<digest of client id and refresh token>``.
    key = models.CharField(max_length=100, primary_key=True)
    access_token = models.TextField(blank=True)
    lifetime = models.FloatField(default=0.0)
    #: By the database's clock, as every lease is.
    expires_at = models.DateTimeField(null=True)
    refresh_token = models.TextField(blank=True)
    lock_owner = models.CharField(max_length=32, blank=True)
    lock_until = models.DateTimeField(null=True)

    class Meta:
        verbose_name = "shared OAuth token"

    def __repr__(self) -> str:
        return f"<SharedToken {self.key}>"

    def __str__(self) -> str:
        return self.key
