from django.apps import AppConfig


class HostAppConfig(AppConfig):
    """A host project's own app, for the tests of ``crmsync.register`` (tests/settings.py)."""

    name = "tests.hostapp"
    label = "hostapp"
    default_auto_field = "django.db.models.BigAutoField"
