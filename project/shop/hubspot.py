"""What the demo project sends to HubSpot: found by crmsync's autodiscovery, as an app's
``admin.py`` is by the admin's."""

import crmsync

from .models import Customer

crmsync.register(
    Customer,
    properties={
        "email": "email",
        "firstname": "first_name",
        "lastname": "last_name",
        "company": "company",
        "jobtitle": "job_title",
        "lifecyclestage": "stage",
    },
    create_only=["lifecyclestage"],  # set by the create; HubSpot's workflows own it afterwards
    on_delete="archive",  # a deleted customer is archived in HubSpot
)
