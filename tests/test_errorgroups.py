"""Error messages grouped by shape: the values in them replaced by placeholders."""

from __future__ import annotations

import re

import pytest

from crmsync import errorgroups

CASES = [
    ('"ada@example" is an invalid email', '"…" is an invalid email'),
    ("Property 'x' does not exist", "Property '…' does not exist"),
    ("Email ada@example.com already exists", "Email <email> already exists"),
    ("Contact 12345 not found (attempt 3 of 8)", "Contact # not found (attempt # of #)"),
    ('Value "3" for "age" is too long', 'Value "…" for "…" is too long'),
    ("no values at all", "no values at all"),
    ("", ""),
]


@pytest.mark.parametrize(("message", "shape"), CASES)
def test_pattern(message, shape):
    assert errorgroups.pattern(message) == shape


@pytest.mark.parametrize(("message", "shape"), CASES)
def test_the_regex_of_a_shape_matches_its_messages(message, shape):
    assert re.search(errorgroups.regex(shape), message)


@pytest.mark.parametrize(
    ("shape", "other"),
    [
        ('"…" is an invalid email', '"a" is an invalid email address'),  # anchored at the end
        ('"…" is an invalid email', 'x "a" is an invalid email'),  # and at the start
        ("Contact # not found", "Contact abc not found"),
        ("a.b (c)", "aXb (c)"),  # literal text is literal, not a regex
    ],
)
def test_the_regex_matches_nothing_else(shape, other):
    assert not re.search(errorgroups.regex(shape), other)


def test_a_very_long_message_is_cut_and_matched_by_its_prefix():
    message = "x" * 2000
    shape = errorgroups.pattern(message)
    assert len(shape) == errorgroups.MAX_PATTERN
    assert re.search(errorgroups.regex(shape), message)


def test_the_sql_steps_are_the_same_replacements():
    text = 'Contact 7 "ada@x.y" b@c.d'
    for find, placeholder in errorgroups.SQL_STEPS:
        text = re.sub(find, placeholder, text)
    assert text == errorgroups.pattern('Contact 7 "ada@x.y" b@c.d') == 'Contact # "…" <email>'
