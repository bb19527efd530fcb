"""The shared OAuth token in the database, for a project without Redis: several hosts on one
database still refresh once per expiry. The lock is a compare-and-set on one row (an UPDATE
that only matches while the lock is free, so two workers cannot both get it), and every time
is the database's clock, as leases are. Imported only by ``build_credentials``: the client
never meets a model."""

from __future__ import annotations

import datetime as dt

from django.db.models import DateTimeField, DurationField, ExpressionWrapper, F, Q, QuerySet
from django.db.models.functions import Now

from ..models import SharedToken


def _from_now(seconds: float) -> ExpressionWrapper:
    return ExpressionWrapper(Now() + dt.timedelta(seconds=seconds), output_field=DateTimeField())


class DatabaseTokenStore:
    """``TokenStore`` on the ``SharedToken`` row named ``key``."""

    def __init__(self, key: str) -> None:
        self._key = key

    def __repr__(self) -> str:
        return f"<DatabaseTokenStore {self._key}>"

    def _row(self) -> QuerySet[SharedToken]:
        return SharedToken.objects.filter(key=self._key)

    def read(self) -> tuple[str, float, float] | None:
        left = ExpressionWrapper(F("expires_at") - Now(), output_field=DurationField())
        found = (
            self._row()
            .filter(expires_at__gt=Now())
            .exclude(access_token="")
            .annotate(left=left)
            .values_list("access_token", "left", "lifetime")
            .first()
        )
        if found is None:
            return None
        token, remaining, lifetime = found
        return str(token), remaining.total_seconds(), float(lifetime)

    def write(self, access_token: str, lifetime: float, refresh_token: str) -> None:
        SharedToken.objects.get_or_create(key=self._key)
        changes = {"access_token": access_token, "lifetime": lifetime}
        if refresh_token:
            changes["refresh_token"] = refresh_token
        self._row().update(expires_at=_from_now(lifetime), **changes)

    def refresh_token(self) -> str | None:
        found = self._row().values_list("refresh_token", flat=True).first()
        return found or None

    def try_lock(self, owner: str, seconds: float) -> bool:
        SharedToken.objects.get_or_create(key=self._key)
        free = Q(lock_until__isnull=True) | Q(lock_until__lte=Now())
        taken = self._row().filter(free).update(lock_owner=owner, lock_until=_from_now(seconds))
        return taken == 1

    def unlock(self, owner: str) -> None:
        self._row().filter(lock_owner=owner).update(lock_owner="", lock_until=None)
