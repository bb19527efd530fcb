from django.apps import AppConfig


class HostRegistrationConfig(AppConfig):
    """No models: only ``hubspot.py``, which crmsync's autodiscovery imports."""

    name = "bench.host_registration"
    label = "bench_host_registration"
