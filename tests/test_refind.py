"""The pure decision after HubSpot stopped knowing a contact's id (``matching.refind``): what
the lookups found, and where the row goes."""

from __future__ import annotations

import pytest

from crmsync.sync.matching import merged_ids, refind


def rec(id: str, email: str = "", merged: str = "", **props: str) -> dict:
    properties = {"email": email, **props}
    if merged:
        properties["hs_merged_object_ids"] = merged
    return {"id": id, "properties": properties}


OLD = "101"


@pytest.mark.parametrize(
    ("by_id", "by_email", "want_id", "same", "note"),
    [
        # a read of the merged-away id gives the survivor, listing it
        ([rec("202", merged="99;101")], [], "202", False, "merged into 202"),
        # the survivor found by email lists the old id: still a merge
        ([], [rec("202", "a@example.com", merged="101")], "202", False, "merged into 202"),
        # found by email, not listing the old id: deleted, and made again in HubSpot
        ([], [rec("303", "A@example.com")], "303", False, "found again by email: 303"),
        # the old id still reads: only left out of an answer
        ([rec("101")], [], "101", True, "still exists"),
        ([], [rec("101", "a@example.com")], "101", True, "still exists"),
        # a record read by id that does not list the old id is not taken
        ([rec("404", merged="77")], [], "", False, "not found again"),
        # another email's record is not taken
        ([], [rec("505", "b@example.com")], "", False, "not found again"),
        # nothing at all
        ([], [], "", False, "not found again"),
        # the read by id wins over the email
        ([rec("202", merged="101")], [rec("303", "a@example.com")], "202", False, "merged"),
    ],
)
def test_refind(by_id, by_email, want_id, same, note):
    found = refind(OLD, by_id, [("email", "a@example.com", by_email)])
    assert found.hubspot_id == want_id
    assert found.same is same
    assert note in found.note
    assert OLD in found.note


def test_a_unique_property_is_matched_by_its_exact_value_before_the_email():
    lookups = [
        ("crmsync_id", "row-7", [rec("606", crmsync_id="row-7"), rec("607", crmsync_id="Row-7")]),
        ("email", "a@example.com", [rec("303", "a@example.com")]),
    ]
    found = refind(OLD, [], lookups)
    assert found.hubspot_id == "606"
    assert "found again by crmsync_id: 606" in found.note
    # an empty value matches nothing
    assert refind(OLD, [], [("email", "", [rec("303", "")])]).hubspot_id == ""


def test_merged_ids_are_split_on_semicolons():
    assert merged_ids(rec("1", merged=" 5;6 ;;7")) == ["5", "6", "7"]
    assert merged_ids({"id": "1"}) == []
