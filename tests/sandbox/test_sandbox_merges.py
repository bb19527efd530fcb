"""Merges and deletions made in HubSpot, as the sandbox plays them: the primary survives and
lists the merged ids in hs_merged_object_ids; the merged-away id stops working (an update
answers OBJECT_NOT_FOUND or is left out of the answer, a read gives the survivor or nothing)."""

from __future__ import annotations

import pytest
from sandbox_helpers import CONTACTS


def _pair(sandbox):
    primary = sandbox.add_contact({"email": "keep@example.com", "firstname": "Keep"})
    other = sandbox.add_contact(
        {"email": "gone@example.com", "firstname": "Gone", "phone": "555", "city": "Oslo"}
    )
    return primary, other


def _update(api, *ids, trace=True):
    inputs = []
    for n, contact_id in enumerate(ids):
        item = {"id": contact_id, "properties": {"lastname": "New"}}
        if trace:
            item["objectWriteTraceId"] = f"t{n}"
        inputs.append(item)
    return api.post(f"{CONTACTS}/batch/update", {"inputs": inputs})


def _read(api, *ids, properties=("email", "hs_merged_object_ids"), **extra):
    body = {"inputs": [{"id": i} for i in ids], "properties": list(properties), **extra}
    return api.post(f"{CONTACTS}/batch/read", body)


def test_the_primary_survives_and_lists_the_merged_id(api, hubspot_sandbox):
    primary, other = _pair(hubspot_sandbox)
    record = hubspot_sandbox.merge(primary, other)
    assert record["id"] == primary
    props = record["properties"]
    assert props["hs_merged_object_ids"] == other
    assert props["email"] == "keep@example.com"
    assert props["firstname"] == "Keep"  # the primary's values win
    assert props["phone"] == "555"  # what it lacked is filled in
    assert "gone@example.com" in props["hs_additional_emails"]
    assert [c["id"] for c in hubspot_sandbox.contacts()] == [primary]
    # a second merge appends, ';'-separated, with what was merged into the other before
    third = hubspot_sandbox.add_contact({"email": "third@example.com"})
    fourth = hubspot_sandbox.add_contact({"email": "fourth@example.com"})
    hubspot_sandbox.merge(third, fourth)
    record = hubspot_sandbox.merge(primary, third)
    assert record["properties"]["hs_merged_object_ids"] == f"{other};{third};{fourth}"


def test_an_update_of_a_merged_away_id_is_not_found_and_the_others_go_through(api, hubspot_sandbox):
    primary, other = _pair(hubspot_sandbox)
    bystander = hubspot_sandbox.add_contact({"email": "by@example.com"})
    hubspot_sandbox.merge(primary, other)
    response = _update(api, other, bystander)
    assert response.status_code == 207
    body = response.json()
    assert [r["id"] for r in body["results"]] == [bystander]
    (error,) = body["errors"]
    assert error["category"] == "OBJECT_NOT_FOUND"
    assert error["message"].startswith(
        "Could not get some CONTACT objects, they may be deleted or not exist"
    )
    assert error["context"]["ids"] == [other]
    assert "lastname" not in hubspot_sandbox.contact_by_email("keep@example.com")["properties"]


@pytest.mark.hubspot_sandbox(merged_update="omit")
def test_the_omit_variant_leaves_a_merged_away_update_out_with_no_error(api, hubspot_sandbox):
    primary, other = _pair(hubspot_sandbox)
    bystander = hubspot_sandbox.add_contact({"email": "by@example.com"})
    hubspot_sandbox.merge(primary, other)
    response = _update(api, other, bystander)
    assert response.status_code == 200
    body = response.json()
    assert [r["id"] for r in body["results"]] == [bystander]
    assert "errors" not in body
    # an id that never existed is still an error in this variant
    response = _update(api, "999999")
    assert response.json()["errors"][0]["category"] == "OBJECT_NOT_FOUND"


def test_reads_of_a_merged_away_id_return_the_survivor(api, hubspot_sandbox):
    primary, other = _pair(hubspot_sandbox)
    hubspot_sandbox.merge(primary, other)
    response = _read(api, other)
    assert response.status_code == 200
    (result,) = response.json()["results"]
    assert result["id"] == primary
    assert result["properties"]["hs_merged_object_ids"] == other
    got = api.get(f"{CONTACTS}/{other}")
    assert got.status_code == 200
    assert got.json()["id"] == primary
    # by email: the merged-away email is a secondary one now, which email lookups miss
    by_email = _read(api, "gone@example.com", idProperty="email")
    assert by_email.json()["results"] == []
    assert by_email.json()["errors"][0]["context"]["ids"] == ["gone@example.com"]


@pytest.mark.hubspot_sandbox(merged_read="none")
def test_the_none_variant_reads_nothing_for_a_merged_away_id(api, hubspot_sandbox):
    primary, other = _pair(hubspot_sandbox)
    hubspot_sandbox.merge(primary, other)
    response = _read(api, other)
    assert response.status_code == 207
    assert response.json()["results"] == []
    assert response.json()["errors"][0]["category"] == "OBJECT_NOT_FOUND"
    assert api.get(f"{CONTACTS}/{other}").status_code == 404


def test_merge_over_http_control_and_hubspots_own_endpoint(api, hubspot_sandbox):
    primary, other = _pair(hubspot_sandbox)
    control = api.post("/_sandbox/merge", {"primary": primary, "merged": other})
    assert control.status_code == 200
    assert control.json()["properties"]["hs_merged_object_ids"] == other
    again = api.post("/_sandbox/merge", {"primary": primary, "merged": other})
    assert again.status_code == 404  # the merged-away id is gone
    third = hubspot_sandbox.add_contact({"email": "third@example.com"})
    response = api.post(f"{CONTACTS}/merge", {"primaryObjectId": third, "objectIdToMerge": primary})
    assert response.status_code == 200
    assert response.json()["id"] == third
    # the chain is followed: the first merged-away id now reads as the last survivor
    assert _read(api, other).json()["results"][0]["id"] == third
    assert api.post(f"{CONTACTS}/merge", {"primaryObjectId": third}).status_code == 400


def test_an_archived_contact_is_not_found_by_update_or_read(api, hubspot_sandbox):
    contact_id = hubspot_sandbox.add_contact({"email": "del@example.com"})
    assert hubspot_sandbox.archive_contact(contact_id)["archived"] is True
    response = _update(api, contact_id)
    assert response.json()["errors"][0]["category"] == "OBJECT_NOT_FOUND"
    assert _read(api, contact_id).json()["results"] == []
    assert api.post("/_sandbox/archive", {"id": contact_id}).status_code == 404
    with pytest.raises(KeyError):
        hubspot_sandbox.merge(contact_id, hubspot_sandbox.add_contact({"email": "x@example.com"}))


def test_the_variants_are_options_of_the_command_too():
    from crmsync.sandbox.cli import config_from_options
    from crmsync.sandbox.config import ConfigError

    config = config_from_options({"merged_update": "omit", "merged_read": "none"})
    assert (config.merged_update, config.merged_read) == ("omit", "none")
    with pytest.raises(ConfigError):
        config.replace(merged_read="maybe")
