"""The bad-input corpus: every kind of bad row, mixed with good ones in the same batches.

Each bad row must end failed with a message that names its problem; every good row must be
synced with the id HubSpot holds; nothing is left pending or in flight.
"""

from __future__ import annotations

import pytest

from crmsync import services
from crmsync.models import Contact, SyncStatus

pytestmark = pytest.mark.django_db

LONG = "x" * 70_000

# (what is wrong, the row's fields, a fragment the row's error must contain)
BAD_ROWS = [
    ("invalid email", {"email": "not-an-email"}, "not-an-email"),
    ("email without a top-level domain", {"email": "someone@localhost"}, "someone@localhost"),
    ("numeric top-level domain", {"email": "someone@example.c0m"}, "example.c0m"),
    ("internationalised email", {"email": "jösé@exämple.com"}, "jösé@exämple.com"),
    ("emoji in email", {"email": "party🎉@example.com"}, "party🎉@example.com"),
    ("space in email", {"email": "two words@example.com"}, "two words@example.com"),
    ("unknown property", {"properties": {"no_such_property": "x"}}, "no_such_property"),
    ("read-only property", {"properties": {"hs_object_id": "42"}}, "hs_object_id"),
    ("read-only datetime", {"properties": {"createdate": "1572480000000"}}, "createdate"),
    ("wrong option", {"lifecyclestage": "vip"}, "vip"),
    ("wrong select option", {"properties": {"hs_lead_status": "MAYBE"}}, "MAYBE"),
    ("non-midnight date", {"properties": {"date_of_birth": "1572483661000"}}, "midnight"),
    ("impossible date", {"properties": {"date_of_birth": "2001-02-30"}}, "2001-02-30"),
    ("malformed number", {"properties": {"annualrevenue": "12,5"}}, "12,5"),
    ("words for a number", {"properties": {"annualrevenue": "lots"}}, "lots"),
    ("bool for a number", {"properties": {"annualrevenue": True}}, "annualrevenue"),
    ("nested list", {"properties": {"hs_lead_status": [["NEW"]]}}, "only plain values"),
    ("70,000-character string", {"properties": {"message": LONG}}, "70,000 characters"),
    ("control character", {"firstname": "Start\x01Heading"}, "control character U+0001"),
    ("bell in a property", {"properties": {"jobtitle": "ding\x07"}}, "U+0007"),
    ("unconvertible type", {"properties": {"jobtitle": {"nested": "dict"}}}, "type dict"),
    ("bad property name", {"properties": {"Job Title": "CEO"}}, "'Job Title'"),
    ("properties not an object", {"properties": ["a", "b"]}, "JSON object"),
    ("association to a missing record", {"associations": [{"to": {"id": "999999"}}]}, "999999"),
    ("malformed association", {"associations": [{"to": {"id": "abc"}}]}, "'abc'"),
    (
        "unknown association type",
        {
            "associations": [
                {
                    "to": {"id": "9001"},
                    "types": [
                        {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 987654}
                    ],
                }
            ]
        },
        "987654",
    ),
    (
        "bad option in multi-value",
        {"properties": {"hs_lead_status": ["NEW", "OPEN"]}},
        "hs_lead_status",
    ),
]


def test_bad_rows_fail_clearly_and_good_rows_go_through(crmsync_settings, hubspot_sandbox):
    hubspot_sandbox.configure(echo_trace_ids=False, shuffle_results=True)
    existing_id = hubspot_sandbox.add_contact({"email": "already@example.com"})
    rows = []
    good = []
    for n in range(60):
        fields = {
            "email": f"good{n}@example.com",
            "firstname": f"Good {n} 😀",
            "lifecyclestage": "lead",
            "properties": {"date_of_birth": "2019-10-31"},
            "associations": [{"to": {"id": "9001"}}] if n % 3 == 0 else [],
        }
        good.append(Contact(**fields))
    bad = [
        Contact(**{"email": f"bad{n}@example.com", **fields})
        for n, (_, fields, _) in enumerate(BAD_ROWS)
    ]
    twins = [
        Contact(email="twin@example.com", firstname="One"),
        Contact(email="Twin@Example.com", firstname="Two"),
    ]
    known = Contact(email="ALREADY@example.com")
    # Interleave so bad rows share batches with good ones.
    for n, row in enumerate(good):
        rows.append(row)
        if n < len(bad):
            rows.append(bad[n])
    rows += [*twins, known]
    Contact.objects.bulk_create(rows)
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(crmsync_settings, "BATCH_SIZE", 25)
        services.sync_pending()

    assert len(BAD_ROWS) >= 20
    for (kind, _, fragment), row in zip(BAD_ROWS, bad, strict=True):
        row.refresh_from_db()
        assert row.sync_status == SyncStatus.FAILED, f"{kind}: {row.sync_status}"
        assert fragment in row.sync_error, f"{kind}: {row.sync_error!r}"
        assert row.hubspot_id == ""
    for row in good:
        row.refresh_from_db()
        assert row.sync_status == SyncStatus.SYNCED, row.sync_error
        assert row.hubspot_id == hubspot_sandbox.contact_by_email(row.email)["id"]
    for row in twins:
        row.refresh_from_db()
        assert row.hubspot_id == hubspot_sandbox.contact_by_email("twin@example.com")["id"]
    known.refresh_from_db()
    assert known.sync_status == SyncStatus.SYNCED and known.hubspot_id == existing_id
    assert not Contact.objects.filter(
        sync_status__in=[SyncStatus.PENDING, SyncStatus.IN_FLIGHT]
    ).exists()
    # HubSpot holds exactly the good rows, the twins once, and the one it already had.
    assert len(hubspot_sandbox.contacts()) == len(good) + 1 + 1
