"""validate_changes' fast path for plain rows (what bulk imports send) gives exactly the answer
of the pydantic model, or steps aside: generated inputs near every rule's edge."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from leadcli.domain.errors import InvalidInput
from leadcli.domain.lead_model import LeadChanges
from leadcli.domain.schema import TEXT_LIMITS
from leadcli.domain.validation import FIELD_ORDER, plain_changes, validate_changes

EDGE_TEXT = st.sampled_from(["", " ", "a", " a", "a ", "x\x1c", "\u00e9t\u00e9", "\ud800", "a\u200b", "Ada Lovelace"])
TEXT = st.one_of(EDGE_TEXT, st.text(max_size=12), st.sampled_from([50, 51, 100, 101, 200, 201]).map(lambda n: "x" * n), st.integers(-3, 3))
EMAIL = st.one_of(
    st.sampled_from(["ada@example.com", " ADA@Example.com", "a..b@example.com", "no-at-sign", "a@b", "ü@exämple.com", ""]),
    st.emails().map(str),
)
FIELD_VALUE = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), TEXT, st.lists(st.integers(), max_size=1))
VALUES: dict[str, Any] = {
    **{key: st.one_of(st.none(), TEXT) for key in (*TEXT_LIMITS, "current_stage")},
    "email": st.one_of(st.none(), EMAIL),
    "engaged": st.one_of(st.none(), st.booleans(), st.sampled_from([0, 1, "yes"])),
    "value": st.one_of(st.none(), st.floats(), st.integers(-5, 5), st.sampled_from(["12", -0.0])),
    "tags": st.one_of(st.none(), st.lists(TEXT, max_size=4), st.just("vip")),
    "follow_up_at": st.one_of(
        st.none(),
        st.datetimes(timezones=st.sampled_from([None, UTC, timezone(timedelta(hours=-5))])),
        st.sampled_from(["2026-01-01", 3]),
    ),
    "fields": st.one_of(st.none(), st.dictionaries(TEXT.filter(lambda k: isinstance(k, str)), FIELD_VALUE, max_size=3), st.just([])),
    "unknown": TEXT,
}
ONE_FIELD = st.sampled_from(sorted(VALUES)).flatmap(lambda key: VALUES[key].map(lambda value: {key: value}))
CHANGES = st.one_of(
    ONE_FIELD,
    st.lists(ONE_FIELD, min_size=2, max_size=5).map(lambda parts: {k: v for part in parts for k, v in part.items()}),
)


def by_the_model(data: dict[str, Any]) -> dict[str, Any] | str:
    try:
        model = LeadChanges.model_validate(data)
    except Exception as exc:  # noqa: BLE001 - the model's refusal is the answer to compare
        return type(exc).__name__
    return model.model_dump(include=set(data))


@settings(max_examples=1000, deadline=None)
@given(CHANGES)
def test_the_fast_path_agrees_with_the_model_or_steps_aside(data: dict[str, Any]) -> None:
    fast = plain_changes(data)
    if fast is not None:
        assert repr(fast) == repr(by_the_model(data))  # repr: NaN equals itself; types and key order must match


def test_an_imported_row_takes_the_fast_path() -> None:
    row = {
        "name": "Ada Lovelace", "email": "Ada@Example.com", "company": "Engines", "phone": "+1 555",
        "owner": "ops", "source": "web", "tags": ["vip", "vip", "emea"], "value": 1200.0, "engaged": True,
        "last_contacted": datetime(2026, 1, 1, 12, 0, 0, 123456, tzinfo=timezone(timedelta(hours=2))),
        "fields": {"size": "3", "ok": True},
    }  # fmt: skip
    assert plain_changes(row) == {
        **row, "email": "ada@example.com", "tags": ["vip", "emea"],
        "last_contacted": datetime(2026, 1, 1, 10, 0, 0, 123000, tzinfo=UTC),
    }  # fmt: skip


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": "x" * 101}, "name: String should have at most 100 characters"),
        ({"email": "no-at-sign"}, "email: 'no-at-sign' is not a valid email address"),
        ({"value": -1.0}, "value: Input should be greater than or equal to 0"),
        ({"nickname": "Ada"}, "nickname: is not a lead field"),
        ({"fields": {"score": float("nan")}}, "fields.score: must be text, a number, true/false or null"),
        ({"fields": {"score": float("inf")}}, "fields.score: must be text, a number, true/false or null"),
        ({"fields": {"big": 2**63}}, "fields: big: a whole number must fit in 64 bits"),
    ],
)
def test_what_the_fast_path_refuses_gets_the_models_message(data: dict[str, Any], message: str) -> None:
    assert plain_changes(data) is None
    with pytest.raises(InvalidInput) as caught:
        validate_changes(data)
    assert caught.value.message.startswith(message)


def test_the_fast_path_knows_the_models_fields_and_limits() -> None:
    assert FIELD_ORDER == tuple(LeadChanges.model_fields)
    for key, limit in TEXT_LIMITS.items():
        assert plain_changes({key: "x" * limit}) == {key: "x" * limit}
        assert plain_changes({key: "x" * (limit + 1)}) is None
        with pytest.raises(InvalidInput, match=f"{key}: String should have at most {limit} characters"):
            validate_changes({key: "x" * (limit + 1)})
