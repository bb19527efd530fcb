"""The property schema's settings: SCHEMA_TTL_SECONDS (crmsync.E040) and PREFLIGHT (E041)."""

from __future__ import annotations

import pytest

from crmsync import conf

OK = {"ACCESS_TOKEN": "pat-na1-x"}


def ids(raw):
    return [(p.id, p.key) for p in conf.validate(raw)]


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"SCHEMA_TTL_SECONDS": -1}, [("crmsync.E040", "SCHEMA_TTL_SECONDS")]),
        ({"SCHEMA_TTL_SECONDS": 90_000}, [("crmsync.E040", "SCHEMA_TTL_SECONDS")]),
        ({"SCHEMA_TTL_SECONDS": "600"}, [("crmsync.E007", "SCHEMA_TTL_SECONDS")]),
        ({"PREFLIGHT": "yes"}, [("crmsync.E041", "PREFLIGHT")]),
        ({"SCHEMA_TTL_SECONDS": 0, "PREFLIGHT": False}, []),
        ({"SCHEMA_TTL_SECONDS": 600.5}, []),
    ],
)
def test_schema_settings(changes, expected):
    assert ids({**OK, **changes}) == expected


def test_defaults():
    settings = conf.CrmSyncSettings()
    assert settings.SCHEMA_TTL_SECONDS == 600.0
    assert settings.PREFLIGHT is True
    assert conf.coerce("PREFLIGHT", "0") is False
