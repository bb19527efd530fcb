"""Upsert mode (README, "Write modes"): every contact gets a stable random key, existing rows
included (the database's gen_random_uuid(), one per row); attempts keep batch/upsert's ``new``;
history names the batch/upsert endpoint."""

import uuid

from django.db import migrations, models

import crmsync.models.keys


class Migration(migrations.Migration):
    dependencies = [
        ("crmsync", "0011_next_attempt_db_clock"),
    ]

    operations = [
        # The column is added with the database's default only: a Python default here would be
        # evaluated once and give every existing row the same key.
        migrations.AddField(
            model_name="contact",
            name="sync_key",
            field=models.UUIDField(
                db_default=crmsync.models.keys.RandomUUID(), editable=False, unique=True
            ),
        ),
        migrations.AlterField(
            model_name="contact",
            name="sync_key",
            field=models.UUIDField(
                db_default=crmsync.models.keys.RandomUUID(),
                default=uuid.uuid4,
                editable=False,
                unique=True,
            ),
        ),
        migrations.AddField(
            model_name="syncattempt",
            name="upsert_new",
            field=models.BooleanField(blank=True, null=True, verbose_name="new in HubSpot"),
        ),
        migrations.AlterField(
            model_name="syncbatch",
            name="endpoint",
            field=models.CharField(
                choices=[
                    ("create", "batch/create"),
                    ("update", "batch/update"),
                    ("upsert", "batch/upsert"),
                    ("read", "batch/read"),
                    ("archive", "batch/archive"),
                    ("associate", "associations batch/create"),
                    ("unassociate", "associations batch/archive"),
                ],
                max_length=16,
            ),
        ),
    ]
