"""A host project's model: the demo syncs its rows to HubSpot through ``hubspot.py``."""

from __future__ import annotations

from django.db import models


class Customer(models.Model):
    class Stage(models.TextChoices):
        LEAD = "lead", "Lead"
        CUSTOMER = "customer", "Customer"

    email = models.EmailField()
    first_name = models.CharField(max_length=100, blank=True)
    last_name = models.CharField(max_length=100, blank=True)
    company = models.CharField(max_length=100, blank=True)
    job_title = models.CharField(max_length=100, blank=True)
    stage = models.CharField(max_length=20, choices=Stage.choices, default=Stage.LEAD)

    def __str__(self) -> str:
        return self.email
