"""clearance.validation: msgspec validation that reports every problem, in pydantic's shape."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest

from clearance.policy.schema import Approvals, Freeze, Suppression
from clearance.validation import SchemaError, validate

SUPPRESSION: dict[str, Any] = {"name": "n", "source": "s", "owner": "o", "reason": "r"}


def errors(data: Any, tp: type[Any]) -> list[dict[str, Any]]:
    with pytest.raises(SchemaError) as err:
        validate(data, tp)
    return err.value.errors()


@pytest.mark.parametrize(
    ("written", "read"),
    [
        (datetime(2099, 1, 1, tzinfo=UTC), datetime(2099, 1, 1, tzinfo=UTC)),  # YAML's own
        ("2099-01-01T00:00:00Z", datetime(2099, 1, 1, tzinfo=UTC)),
        ("2099-01-01T01:00+01:00", datetime(2099, 1, 1, 1, tzinfo=timezone(timedelta(hours=1)))),
        (4102444800, datetime(2100, 1, 1, tzinfo=UTC)),  # Unix seconds
        (4102444800000, datetime(2100, 1, 1, tzinfo=UTC)),  # past 2e10: milliseconds
    ],
)
def test_times_are_read_as_pydantic_read_them_and_kept_as_plain_datetimes(
    written: object, read: datetime
) -> None:
    expires = validate({**SUPPRESSION, "expires": written}, Suppression).expires
    assert expires == read
    assert type(expires) is datetime  # serializers refuse subclasses


@pytest.mark.parametrize("written", ["2026-10-24T18:00", date(2026, 10, 24)])
def test_a_local_time_without_seconds_and_a_date_alone_are_moments(written: object) -> None:
    freeze = validate(
        {
            "name": "f",
            "verdict": "block",
            "message": "m",
            "environments": ["production"],
            "once": [{"start": written, "end": "2026-10-25T00:00"}],
        },
        Freeze,
    )
    assert freeze.once[0].start.replace(hour=0) == datetime(2026, 10, 24)
    assert freeze.once[0].start.tzinfo is None


@pytest.mark.parametrize("written", ["soon", 1e300, [2099]])
def test_a_time_that_names_no_moment_is_that_fields_error(written: object) -> None:
    (error,) = errors({**SUPPRESSION, "expires": written}, Suppression)
    assert error["loc"] == ("expires",)
    assert error["msg"] == "Input should be a valid datetime"


def test_every_problem_is_reported_each_at_its_field() -> None:
    found = errors({"required": "two", "expires_after": "4", "grop": "x"}, Approvals)
    assert [(e["type"], e["loc"]) for e in found] == [
        ("int_type", ("required",)),
        ("value_error", ("expires_after",)),
        ("extra_forbidden", ("grop",)),
    ]
    assert "must be a number with a unit" in found[1]["msg"]


def test_a_missing_field_and_a_check_on_the_whole_are_reported() -> None:
    (missing,) = errors({"expires_after": "4h"}, Approvals)
    assert (missing["type"], missing["loc"], missing["msg"]) == (
        "missing",
        ("required",),
        "Field required",
    )
    (whole,) = errors({k: v for k, v in SUPPRESSION.items() if k != "source"} | {
        "expires": "2099-01-01T00:00:00Z"}, Suppression)  # fmt: skip
    assert whole["loc"] == ()
    assert "at least one of source, title, rule, asset" in whole["msg"]


def test_a_value_outside_an_enum_lists_the_choices() -> None:
    (error,) = errors(
        {"name": "f", "verdict": "proceed", "message": "m", "environments": ["p"]}, Freeze
    )
    assert error["loc"] == ("verdict",)
    assert error["ctx"] == {"expected": "'block' or 'approve'"}


def test_a_boolean_is_not_a_number() -> None:
    # pydantic read `required: true` as 1; msgspec refuses it, and so does the policy now.
    (error,) = errors({"required": True}, Approvals)
    assert (error["type"], error["loc"]) == ("int_type", ("required",))
