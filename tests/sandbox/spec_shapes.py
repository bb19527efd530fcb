"""A strict reading of the shapes in HubSpot's published OpenAPI spec (CRM objects, v3).

What a generated client with client-side validation demands: every required field present and
not null, and every field of the declared type. Each check returns a list of problems (empty
when the value conforms), so a failing assertion shows all of them at once.
"""

from __future__ import annotations

from typing import Any

Problems = list[str]


def _is_str_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _is_str_map(value: Any) -> bool:
    return isinstance(value, dict) and all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    )


def _is_context(value: Any) -> bool:
    """``{string: [string]}``."""
    return isinstance(value, dict) and all(
        isinstance(k, str) and _is_str_list(v) for k, v in value.items()
    )


def error_detail_problems(detail: Any, where: str = "errors[]") -> Problems:
    """ErrorDetail: ``message`` required; ``code``, ``in``, ``subCategory``, ``context``."""
    if not isinstance(detail, dict):
        return [f"{where} is not an object"]
    problems: Problems = []
    if not isinstance(detail.get("message"), str):
        problems.append(f"{where}.message must be a string")
    for name in ("code", "in", "subCategory"):
        if name in detail and not isinstance(detail[name], str):
            problems.append(f"{where}.{name} must be a string when present")
    if "context" in detail and not _is_context(detail["context"]):
        problems.append(f"{where}.context must map strings to lists of strings")
    return problems


def standard_error_problems(error: Any, where: str = "error") -> Problems:
    """StandardError, one failed input of a 207: status, category, message, context, links and
    errors are required; ``id`` and ``subCategory`` are optional."""
    if not isinstance(error, dict):
        return [f"{where} is not an object"]
    problems: Problems = []
    for name in ("status", "category", "message"):
        if not isinstance(error.get(name), str):
            problems.append(f"{where}.{name} must be a string")
    if not _is_context(error.get("context")):
        problems.append(f"{where}.context must map strings to lists of strings")
    if not _is_str_map(error.get("links")):
        problems.append(f"{where}.links must be an object of strings ({{}} when none)")
    details = error.get("errors")
    if not isinstance(details, list):
        problems.append(f"{where}.errors must be a list ([] when none)")
    else:
        for i, detail in enumerate(details):
            problems.extend(error_detail_problems(detail, f"{where}.errors[{i}]"))
    if "id" in error and not isinstance(error["id"], str):
        problems.append(f"{where}.id must be a string when present")
    # The spec types StandardError.subCategory as an object; HubSpot sends strings too.
    if "subCategory" in error and not isinstance(error["subCategory"], str | dict):
        problems.append(f"{where}.subCategory must be a string or an object when present")
    return problems


def simple_public_object_problems(result: Any, where: str = "result") -> Problems:
    """SimplePublicObject: id, properties ({string: string}), createdAt, updatedAt required."""
    if not isinstance(result, dict):
        return [f"{where} is not an object"]
    problems: Problems = []
    for name in ("id", "createdAt", "updatedAt"):
        if not isinstance(result.get(name), str):
            problems.append(f"{where}.{name} must be a string")
    properties = result.get("properties")
    if not isinstance(properties, dict):
        problems.append(f"{where}.properties must be an object")
    else:
        for name, value in properties.items():
            if not isinstance(value, str):
                problems.append(f"{where}.properties.{name} must be a string, not {value!r}")
    if "archived" in result and not isinstance(result["archived"], bool):
        problems.append(f"{where}.archived must be a boolean when present")
    if "archivedAt" in result and not isinstance(result["archivedAt"], str):
        problems.append(f"{where}.archivedAt must be a string when present")
    return problems


def batch_response_problems(body: Any, http_status: int) -> Problems:
    """BatchResponseSimplePublicObject (200/201) or ...WithErrors (207)."""
    return association_batch_problems(body, http_status, simple_public_object_problems)


def error_body_problems(body: Any) -> Problems:
    """Error, a whole request's failure: category, correlationId and message required."""
    if not isinstance(body, dict):
        return ["body is not a JSON object"]
    problems: Problems = []
    if body.get("status") != "error":
        problems.append('status must be "error"')
    for name in ("category", "correlationId", "message"):
        if not isinstance(body.get(name), str) or not body[name]:
            problems.append(f"{name} must be a non-empty string")
    if "subCategory" in body and not isinstance(body["subCategory"], str):
        problems.append("subCategory must be a string when present")
    if "errors" in body:
        if not isinstance(body["errors"], list):
            problems.append("errors must be a list when present")
        else:
            for i, detail in enumerate(body["errors"]):
                problems.extend(error_detail_problems(detail, f"errors[{i}]"))
    if "context" in body and not _is_context(body["context"]):
        problems.append("context must map strings to lists of strings")
    if "links" in body and not _is_str_map(body["links"]):
        problems.append("links must be an object of strings when present")
    return problems


# --- Associations v4 ----------------------------------------------------------------------

ASSOCIATION_CATEGORIES = ("HUBSPOT_DEFINED", "USER_DEFINED", "INTEGRATOR_DEFINED")


def _is_object_id(value: Any) -> bool:
    """v4 answers give object ids as integers (the spec also allows strings)."""
    return isinstance(value, int | str) and not isinstance(value, bool)


def labels_between_object_pair_problems(result: Any, where: str = "result") -> Problems:
    """LabelsBetweenObjectPair: fromObjectTypeId, fromObjectId, toObjectTypeId, toObjectId and
    labels (a list of strings) required."""
    if not isinstance(result, dict):
        return [f"{where} is not an object"]
    problems: Problems = []
    for name in ("fromObjectTypeId", "toObjectTypeId"):
        if not isinstance(result.get(name), str):
            problems.append(f"{where}.{name} must be a string")
    for name in ("fromObjectId", "toObjectId"):
        if not _is_object_id(result.get(name)):
            problems.append(f"{where}.{name} must be an id")
    if not _is_str_list(result.get("labels")):
        problems.append(f"{where}.labels must be a list of strings")
    return problems


def public_default_association_problems(result: Any, where: str = "result") -> Problems:
    """PublicDefaultAssociation: from {id}, to {id}, associationSpec required."""
    if not isinstance(result, dict):
        return [f"{where} is not an object"]
    problems: Problems = []
    for name in ("from", "to"):
        side = result.get(name)
        if not isinstance(side, dict) or not isinstance(side.get("id"), str):
            problems.append(f"{where}.{name} must be {{id: string}}")
    problems.extend(association_spec_problems(result.get("associationSpec"), f"{where}.spec"))
    return problems


def association_spec_problems(spec: Any, where: str = "spec") -> Problems:
    """AssociationSpec: associationCategory and associationTypeId required."""
    if not isinstance(spec, dict):
        return [f"{where} is not an object"]
    problems: Problems = []
    if spec.get("associationCategory") not in ASSOCIATION_CATEGORIES:
        problems.append(f"{where}.associationCategory must be one of {ASSOCIATION_CATEGORIES}")
    if not isinstance(spec.get("associationTypeId"), int):
        problems.append(f"{where}.associationTypeId must be an integer")
    return problems


def association_spec_with_label_problems(spec: Any, where: str = "type") -> Problems:
    """AssociationSpecWithLabel: category, typeId required; label a string or null."""
    if not isinstance(spec, dict):
        return [f"{where} is not an object"]
    problems: Problems = []
    if spec.get("category") not in ASSOCIATION_CATEGORIES:
        problems.append(f"{where}.category must be one of {ASSOCIATION_CATEGORIES}")
    if isinstance(spec.get("typeId"), bool) or not isinstance(spec.get("typeId"), int):
        problems.append(f"{where}.typeId must be an integer")
    if "label" not in spec or not isinstance(spec["label"], str | None):
        problems.append(f"{where}.label must be a string or null")
    return problems


def association_multi_with_label_problems(result: Any, where: str = "result") -> Problems:
    """PublicAssociationMultiWithLabel: from {id}, to [{toObjectId, associationTypes}]."""
    if not isinstance(result, dict):
        return [f"{where} is not an object"]
    problems: Problems = []
    source = result.get("from")
    if not isinstance(source, dict) or not isinstance(source.get("id"), str):
        problems.append(f"{where}.from must be {{id: string}}")
    targets = result.get("to")
    if not isinstance(targets, list):
        return [*problems, f"{where}.to must be a list"]
    for i, target in enumerate(targets):
        here = f"{where}.to[{i}]"
        if not isinstance(target, dict):
            problems.append(f"{here} is not an object")
            continue
        if not _is_object_id(target.get("toObjectId")):
            problems.append(f"{here}.toObjectId must be an id")
        kinds = target.get("associationTypes")
        if not isinstance(kinds, list) or not kinds:
            problems.append(f"{here}.associationTypes must be a non-empty list")
            continue
        for j, kind in enumerate(kinds):
            problems.extend(association_spec_with_label_problems(kind, f"{here}.types[{j}]"))
    return problems


def association_batch_problems(body: Any, http_status: int, result_problems: Any) -> Problems:
    """A batch answer (BatchResponse..., v3 objects and v4 associations alike): status,
    results checked by ``result_problems``, startedAt and completedAt; a 207 has
    StandardErrors counted by numErrors."""
    if not isinstance(body, dict):
        return ["body is not an object"]
    problems: Problems = []
    if body.get("status") not in ("PENDING", "PROCESSING", "CANCELED", "COMPLETE"):
        problems.append(f"status {body.get('status')!r} is not a batch status")
    for name in ("startedAt", "completedAt"):
        if not isinstance(body.get(name), str):
            problems.append(f"{name} must be a string")
    results = body.get("results")
    if not isinstance(results, list):
        problems.append("results must be a list")
    else:
        for i, result in enumerate(results):
            problems.extend(result_problems(result, f"results[{i}]"))
    if http_status == 207:
        errors = body.get("errors")
        if not isinstance(errors, list) or not errors:
            problems.append("a 207 needs a non-empty errors list")
        else:
            for i, error in enumerate(errors):
                problems.extend(standard_error_problems(error, f"errors[{i}]"))
            if body.get("numErrors") != len(errors):
                problems.append("numErrors must count the errors")
    elif "errors" in body or "numErrors" in body:
        problems.append(f"a {http_status} carries no errors")
    return problems
