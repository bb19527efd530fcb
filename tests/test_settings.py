"""crmsync.conf's one validator: its rules, the system checks that show them, the runtime
that refuses to send with them, and the project's settings read from the environment."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from crmsync import conf
from crmsync.checks import check_settings
from crmsync.conf import ensure_valid, from_environ, validate, validated_settings
from crmsync.exceptions import ConfigurationError, CrmSyncError, HubSpotError

ROOT = Path(__file__).resolve().parent.parent
OK = {"ACCESS_TOKEN": "t"}


def ids(raw):
    return [(p.id, p.key) for p in validate(raw)]


def test_configuration_error_is_djangos_improperly_configured_and_no_hubspot_error():
    assert issubclass(ConfigurationError, ImproperlyConfigured)
    assert issubclass(ConfigurationError, CrmSyncError)
    assert not issubclass(ConfigurationError, HubSpotError)


def test_the_defaults_with_a_token_have_no_problem():
    assert validate(OK) == []
    [problem] = validate({})
    assert (problem.id, problem.key, problem.level) == ("crmsync.W002", "ACCESS_TOKEN", "warning")
    assert problem.message == "No HubSpot access token: CRMSYNC['ACCESS_TOKEN'] is empty."
    assert "CRMSYNC['ACCESS_TOKEN']" in problem.hint and problem.blocks_sending


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"BATCH_SIZE": 0}, ("crmsync.E002", "BATCH_SIZE")),
        ({"BATCH_SIZE": 101}, ("crmsync.E002", "BATCH_SIZE")),
        ({"BATCH_SIZE": "50"}, ("crmsync.E007", "BATCH_SIZE")),
        ({"BATCH_SIZE": True}, ("crmsync.E007", "BATCH_SIZE")),
        ({"BATCH_SIZE": 50.0}, ("crmsync.E007", "BATCH_SIZE")),
        ({"HTTP_TIMEOUT_SECONDS": "2"}, ("crmsync.E007", "HTTP_TIMEOUT_SECONDS")),
        ({"HTTP_TIMEOUT_SECONDS": False}, ("crmsync.E007", "HTTP_TIMEOUT_SECONDS")),
        ({"HTTP_TIMEOUT_SECONDS": float("nan")}, ("crmsync.E007", "HTTP_TIMEOUT_SECONDS")),
        ({"HTTP_TIMEOUT_SECONDS": 0}, ("crmsync.E015", "HTTP_TIMEOUT_SECONDS")),
        ({"API_VERSION": 3}, ("crmsync.E007", "API_VERSION")),
        ({"ACCESS_TOKEN": 123}, ("crmsync.E007", "ACCESS_TOKEN")),
        ({"API_BASE_URL": "ftp://x"}, ("crmsync.E003", "API_BASE_URL")),
        ({"API_BASE_URL": "https://"}, ("crmsync.E003", "API_BASE_URL")),
        ({"API_BASE_URL": "http://h:port"}, ("crmsync.E003", "API_BASE_URL")),
        ({"API_BASE_URL": "https://api.hubapi.com/crm/v3"}, ("crmsync.E011", "API_BASE_URL")),
        ({"API_BASE_URL": "https://api.hubapi.com?x=1"}, ("crmsync.E011", "API_BASE_URL")),
        ({"RATE_LIMIT_MAX": 0}, ("crmsync.E004", "RATE_LIMIT_MAX")),
        ({"RATE_LIMIT_INTERVAL_SECONDS": 0}, ("crmsync.E004", "RATE_LIMIT_INTERVAL_SECONDS")),
        ({"LEASE_SECONDS": 10, "HTTP_TIMEOUT_SECONDS": 30}, ("crmsync.E005", "LEASE_SECONDS")),
        ({"MAX_ATTEMPTS": 0}, ("crmsync.E006", "MAX_ATTEMPTS")),
        ({"ACCOUNT_TIME_ZONE": "Mars/Olympus_Mons"}, ("crmsync.E008", "ACCOUNT_TIME_ZONE")),
        ({"ACCOUNT_TIME_ZONE": "../etc/passwd"}, ("crmsync.E008", "ACCOUNT_TIME_ZONE")),
        ({"REDIS_URL": "http://localhost:6379"}, ("crmsync.E009", "REDIS_URL")),
        ({"API_VERSION": "v4"}, ("crmsync.E010", "API_VERSION")),
        ({"API_VERSION": "2026-13"}, ("crmsync.E010", "API_VERSION")),
        ({"API_VERSION": "2026-3"}, ("crmsync.E010", "API_VERSION")),
        ({"CONCURRENCY": 0}, ("crmsync.E012", "CONCURRENCY")),
        ({"MAX_BATCHES_PER_RUN": -1}, ("crmsync.E013", "MAX_BATCHES_PER_RUN")),
        ({"RATE_LIMIT_DAILY": -1}, ("crmsync.E014", "RATE_LIMIT_DAILY")),
        ({"RATE_LIMIT_DAILY": 1.5}, ("crmsync.E007", "RATE_LIMIT_DAILY")),
        ({"RETRY_BASE_SECONDS": 0}, ("crmsync.E016", "RETRY_BASE_SECONDS")),
        ({"RETRY_BASE_SECONDS": 10, "RETRY_MAX_SECONDS": 5}, ("crmsync.E016", "RETRY_MAX_SECONDS")),
        ({"REDIS_KEY_PREFIX": ""}, ("crmsync.E017", "REDIS_KEY_PREFIX")),
        ({"REDIS_OUTAGE_WAIT_SECONDS": -1}, ("crmsync.E039", "REDIS_OUTAGE_WAIT_SECONDS")),
        ({"WRITE_MODE": "merge"}, ("crmsync.E060", "WRITE_MODE")),
        ({"WRITE_MODE": "upsert"}, ("crmsync.E061", "UNIQUE_PROPERTY")),
        ({"WRITE_MODE": "upsert", "UNIQUE_PROPERTY": "Email"}, ("crmsync.E062", "UNIQUE_PROPERTY")),
        ({"UNIQUE_PROPERTY": "email"}, ("crmsync.E062", "UNIQUE_PROPERTY")),
        (
            {"WRITE_MODE": "upsert", "UNIQUE_PROPERTY": "Crm-Id"},
            ("crmsync.E063", "UNIQUE_PROPERTY"),
        ),
        ({"UNIQUE_PROPERTY": 7}, ("crmsync.E007", "UNIQUE_PROPERTY")),
        ({"TYPO": 1}, ("crmsync.W001", "TYPO")),
        ({"ACCESS_TOKEN": ""}, ("crmsync.W002", "ACCESS_TOKEN")),
    ],
)
def test_each_rule_reports_its_id_and_key_and_nothing_else(changes, expected):
    assert ids({**OK, **changes}) == [expected]


@pytest.mark.parametrize(
    "changes",
    [
        {"HTTP_TIMEOUT_SECONDS": 5, "LEASE_SECONDS": 10},  # floats accept ints
        {"API_VERSION": "2026-03"},
        {"API_BASE_URL": "http://127.0.0.1:8765/"},  # a trailing slash is no path
        {"REDIS_URL": "rediss://:pw@redis.example:6380/2"},
        {"REDIS_URL": "unix:///run/redis.sock"},
        {"MAX_BATCHES_PER_RUN": 0, "RATE_LIMIT_DAILY": 0},
        {"ACCOUNT_TIME_ZONE": "America/New_York"},
        {"RETRY_BASE_SECONDS": 5, "RETRY_MAX_SECONDS": 5},
        {"REDIS_OUTAGE_WAIT_SECONDS": 0},
        {"WRITE_MODE": "upsert", "UNIQUE_PROPERTY": "crmsync_id"},
        {"WRITE_MODE": "create", "UNIQUE_PROPERTY": ""},
    ],
)
def test_good_values_pass(changes):
    assert validate({**OK, **changes}) == []


def test_messages_name_the_key_and_the_value_clearly():
    [problem] = validate({**OK, "BATCH_SIZE": "50"})
    assert problem.message == "CRMSYNC['BATCH_SIZE'] must be an integer, got the string '50'."
    [problem] = validate({**OK, "API_BASE_URL": "https://api.hubapi.com/crm/v3"})
    assert "must have no path" in problem.message
    assert "'https://api.hubapi.com'" in problem.message


def test_messages_never_show_a_password_or_a_token_nor_the_projects_env_names():
    problems = validate(
        {
            "ACCESS_TOKEN": ["secret-token"],
            "REDIS_URL": "http://user:s3cret@redis.example",
            "API_BASE_URL": "https://u:s3cret@api.hubapi.com/crm/v3",
        }
    )
    text = " ".join(p.message for p in problems)
    assert len(problems) == 3
    assert "s3cret" not in text and "secret-token" not in text
    assert "HUBSPOT_" not in text and "CRMSYNC_" not in text
    assert "u:***@api.hubapi.com" in text


def test_crmsync_that_is_not_a_dict():
    assert ids(["BATCH_SIZE", 5]) == [("crmsync.E001", "")]
    with override_settings(CRMSYNC="oops"):
        assert [m.id for m in check_settings()] == ["crmsync.E001"]
        with pytest.raises(ConfigurationError, match="CRMSYNC must be a dict, got str"):
            validated_settings()


def test_system_checks_show_the_validators_problems_as_errors_and_warnings():
    with override_settings(CRMSYNC={"BATCH_SIZE": "50", "TYPO": 1}):
        messages = {m.id: m for m in check_settings()}
    assert set(messages) == {"crmsync.E007", "crmsync.W001", "crmsync.W002"}
    assert messages["crmsync.E007"].is_serious()
    assert not messages["crmsync.W001"].is_serious()
    assert "Known settings:" in messages["crmsync.W001"].hint


def test_validated_settings_raises_one_line_for_every_blocking_problem():
    with (
        override_settings(CRMSYNC={"BATCH_SIZE": 500, "API_VERSION": "v4", "TYPO": 1}),
        pytest.raises(ConfigurationError) as info,
    ):
        validated_settings()
    message = str(info.value)
    assert "\n" not in message
    assert "BATCH_SIZE" in message and "API_VERSION" in message
    assert "No HubSpot access token" in message  # a warning for checks, but nothing is sent
    assert "TYPO" not in message  # an unknown key does not stop sending
    assert {p.id for p in info.value.problems} == {
        "crmsync.E002",
        "crmsync.E010",
        "crmsync.W002",
    }


def test_validated_settings_follows_override_settings_and_caches_by_contents(monkeypatch):
    with override_settings(CRMSYNC={**OK, "BATCH_SIZE": 7}):
        assert validated_settings().BATCH_SIZE == 7
    with override_settings(CRMSYNC={**OK, "BATCH_SIZE": 700}), pytest.raises(ConfigurationError):
        validated_settings()
    with override_settings(CRMSYNC={**OK, "BATCH_SIZE": True}), pytest.raises(ConfigurationError):
        validated_settings()  # equal to 1 as a dict key, but not the same setting
    calls = []
    real = conf.validate
    monkeypatch.setattr(conf, "validate", lambda raw: calls.append(1) or real(raw))
    raw = {**OK, "BATCH_SIZE": 9, "CONCURRENCY": 3}
    with override_settings(CRMSYNC=raw):
        for _ in range(100):
            assert validated_settings().BATCH_SIZE == 9
    assert len(calls) == 1
    raw["BATCH_SIZE"] = 0  # a dict changed in place is seen too
    with override_settings(CRMSYNC=raw), pytest.raises(ConfigurationError):
        validated_settings()


def test_ensure_valid_takes_typed_settings_too():
    settings = conf.CrmSyncSettings(ACCESS_TOKEN="t")
    assert ensure_valid(settings) == settings
    with pytest.raises(ConfigurationError, match="CONCURRENCY"):
        ensure_valid(settings.replace(CONCURRENCY=0))


def test_environment_text_that_is_not_a_number_is_kept_for_the_checks_to_name():
    assert from_environ({"CRMSYNC_BATCH_SIZE": "fifty", "CRMSYNC_LEASE_SECONDS": "1e3"}) == {
        "BATCH_SIZE": "fifty",
        "LEASE_SECONDS": 1000.0,
    }
    [problem] = validate({**OK, **from_environ({"CRMSYNC_BATCH_SIZE": "fifty"})})
    assert problem.message == "CRMSYNC['BATCH_SIZE'] must be an integer, got the string 'fifty'."


def _project_settings(env_changes: dict[str, str], drop: tuple[str, ...] = ()):
    code = (
        "import django, os; os.environ['DJANGO_SETTINGS_MODULE']='project.settings'; "
        "django.setup(); from crmsync.conf import get_settings as g; s=g(); "
        "print(repr(s.ACCESS_TOKEN), repr(s.BATCH_SIZE))"
    )
    env = {k: v for k, v in os.environ.items() if k not in drop and not k.startswith("CRMSYNC_")}
    env.update(env_changes)
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True
    )


def test_project_settings_load_without_a_token_and_with_a_bad_number():
    done = _project_settings({"CRMSYNC_BATCH_SIZE": "fifty"}, drop=("HUBSPOT_ACCESS_TOKEN",))
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["''", "'fifty'"]
