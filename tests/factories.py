from __future__ import annotations

import factory

from crmsync.models import Contact


class ContactFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Contact

    email = factory.Sequence(lambda n: f"person{n}@example.com")
    firstname = factory.Faker("first_name")
    lastname = factory.Faker("last_name")
    phone = ""
    company = ""
    lifecyclestage = "lead"
    properties = factory.LazyFunction(dict)
    associations = factory.LazyFunction(list)
