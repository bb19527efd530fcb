"""Settings of the Django project that hosts crmsync (demo, tests, benchmarks).

Everything a deployment changes comes from the environment; see README.md for the list.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from celery.schedules import crontab

from crmsync.conf import HUBSPOT_API_BASE_URL, from_environ

BASE_DIR = Path(__file__).resolve().parent.parent
env = os.environ

SECRET_KEY = env.get("DJANGO_SECRET_KEY", "dev-only-insecure-key-change-me")
DEBUG = env.get("DJANGO_DEBUG", "1") == "1"
ALLOWED_HOSTS = env.get("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1").split(",")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "crmsync",
    "project.shop",  # the demo's own model, synced as a registered host model
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "project.urls"
WSGI_APPLICATION = "project.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        env.get("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
        conn_max_age=60,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Several processes (worker, beat, admin) share the file: wait for its lock
    # rather than fail, and take the write lock when a transaction starts so a
    # claim never upgrades a read lock into a deadlock.
    DATABASES["default"]["OPTIONS"] = {"timeout": 30, "transaction_mode": "IMMEDIATE"}
    DATABASES["default"]["CONN_MAX_AGE"] = 0

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"

REDIS_URL = env.get("REDIS_URL", "")

CRMSYNC = {
    "ACCESS_TOKEN": env.get("HUBSPOT_ACCESS_TOKEN", ""),
    "API_BASE_URL": env.get("HUBSPOT_API_BASE_URL", HUBSPOT_API_BASE_URL),
    "REDIS_URL": REDIS_URL,
    # Every other CRMSYNC_<NAME> of the environment, OAuth's among them: CRMSYNC_OAUTH_CLIENT_ID,
    # CRMSYNC_OAUTH_CLIENT_SECRET and CRMSYNC_OAUTH_REFRESH_TOKEN (README, "Credentials").
    **from_environ(env),
}

# Celery: Redis when configured; otherwise tasks run inline (the embedded default
# needs no broker, and the beat schedule is simply not running).
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL and env.get("CELERY_TASK_ALWAYS_EAGER", "1") == "1"
# Shutdown and redelivery (README, "Celery settings for host projects"): a task is acked
# when it returns, so a worker that dies mid-drain has its task delivered again (a
# redelivered drain claims only rows due by the database, never rows another run holds);
# each worker process reserves one task at a time, so a shutdown leaves none stranded in a
# dying process; Redis gives an unacked task to another worker after the visibility
# timeout, which must outlast the longest drain (else a second copy runs beside it:
# harmless, rows are claimed, but wasted); a cold shutdown (SIGQUIT, a second Ctrl+C) still
# waits this long for the request in flight.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": int(env.get("CELERY_VISIBILITY_TIMEOUT_SECONDS", "3600"))
}
CELERY_WORKER_SOFT_SHUTDOWN_TIMEOUT = float(env.get("CELERY_SOFT_SHUTDOWN_SECONDS", "40"))
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULE = {
    "crmsync-drain-pending": {
        "task": "crmsync.sync_pending_contacts",
        "schedule": timedelta(seconds=float(env.get("CRMSYNC_BEAT_SECONDS", "5"))),
        # A tick that waits in the queue longer than the interval is stale: the
        # next tick does the same work.
        "options": {"expires": 30},
    },
    "crmsync-release-expired-leases": {
        "task": "crmsync.release_expired_leases",
        "schedule": timedelta(seconds=60),
        "options": {"expires": 60},
    },
    # Daily, at a quiet hour: history older than CRMSYNC["HISTORY_RETENTION_DAYS"].
    "crmsync-prune-history": {
        "task": "crmsync.prune_history",
        "schedule": crontab(hour=3, minute=17),
        "options": {"expires": 3600},
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "loggers": {
        "crmsync": {"handlers": ["console"], "level": env.get("CRMSYNC_LOG_LEVEL", "INFO")}
    },
}
