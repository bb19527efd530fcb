from django.apps import AppConfig
from django.db.models.signals import post_save


class CrmSyncConfig(AppConfig):
    name = "crmsync"
    verbose_name = "HubSpot sync"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import checks, db, receivers  # noqa: F401  (checks and db register themselves)
        from .models import Contact

        post_save.connect(receivers.contact_saved, sender=Contact, dispatch_uid="crmsync_saved")
