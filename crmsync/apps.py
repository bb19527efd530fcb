from django.apps import AppConfig
from django.db.models.signals import post_save, pre_delete
from django.utils.module_loading import autodiscover_modules


class CrmSyncConfig(AppConfig):
    name = "crmsync"
    verbose_name = "HubSpot sync"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # checks and db register themselves; workers connects Celery's signals (heartbeats).
        from . import checks, db, receivers, registry, workers  # noqa: F401
        from .models import Contact

        post_save.connect(receivers.contact_saved, sender=Contact, dispatch_uid="crmsync_saved")
        pre_delete.connect(
            receivers.contact_deleting, sender=Contact, dispatch_uid="crmsync_deleting"
        )
        # Registered host models, whenever they are registered (here or in another app's ready).
        registry.on_register(receivers.connect)
        # Each installed app's hubspot.py, where registrations live (crmsync.register).
        autodiscover_modules("hubspot")
