"""Validation of what users type or import, with pydantic: one place that knows each field's
rules, and one-line messages that name the field."""

from __future__ import annotations

import functools
import re
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator

from leadcli.domain.dates import to_utc
from leadcli.domain.errors import InvalidInput

FieldValue = str | int | float | bool | None


def _blank_to_none(value: Any) -> Any:
    if isinstance(value, str) and not value.strip():
        return None
    return value


# Text where blank means "none". The length limit sits on the `str` branch: on the whole
# union it would be applied to the None a blank becomes, and fail with a TypeError.
Text50 = Annotated[Annotated[str, Field(max_length=50)] | None, BeforeValidator(_blank_to_none)]
Text100 = Annotated[Annotated[str, Field(max_length=100)] | None, BeforeValidator(_blank_to_none)]
Text200 = Annotated[Annotated[str, Field(max_length=200)] | None, BeforeValidator(_blank_to_none)]
LongText = Annotated[Annotated[str, Field(max_length=10_000)] | None, BeforeValidator(_blank_to_none)]


class LeadChanges(BaseModel):
    """The user-settable fields of a lead; every field optional, so the same model checks an
    `add` (where the service then requires name and email) and an `edit`."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str | None = Field(None, min_length=1, max_length=100)
    email: str | None = None
    company: Text200 = None
    phone: Text50 = None
    status: Text50 = None
    engaged: bool | None = None
    current_stage: str | None = None
    owner: Text100 = None
    source: Text100 = None
    tags: list[str] | None = None
    value: float | None = Field(None, ge=0, allow_inf_nan=False)
    notes: LongText = None
    follow_up_at: datetime | None = None
    last_contacted: datetime | None = None
    fields: dict[str, FieldValue] | None = None

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        return None if value is None else normalize_email(value)

    @field_validator("tags")
    @classmethod
    def _tags(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        return unique_tags(value)

    @field_validator("follow_up_at", "last_contacted")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        return None if value is None else to_utc(value)

    @field_validator("fields")
    @classmethod
    def _field_keys(cls, value: dict[str, FieldValue] | None) -> dict[str, FieldValue] | None:
        if value is not None:
            for key in value:
                if not key.strip():
                    raise ValueError("custom field names cannot be empty")
        return value


def unique_tags(tags: list[str]) -> list[str]:
    out: list[str] = []
    for tag in tags:
        tag = tag.strip()
        if tag and tag not in out:
            out.append(tag)
    return out


def normalize_email(value: str) -> str:
    """Trimmed, validated, lowercased; raises ValueError with the validator's reason."""
    text = value.strip()
    local, _, domain = text.rpartition("@")
    # Fast path for the common case (bulk imports validate thousands): a plain dot-atom local
    # part is valid by the regex alone, and the domain's verdict is cached. Anything unusual
    # goes through the full validator.
    if len(text) <= 254 and _PLAIN_LOCAL.fullmatch(local) and _domain_is_valid(domain.lower()):
        return text.lower()
    _validate_email(text)
    return text.lower()


_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_PLAIN_LOCAL = re.compile(r"(?=.{1,64}$)" + _ATEXT + r"(?:\." + _ATEXT + ")*")


def _validate_email(text: str) -> None:
    from email_validator import EmailNotValidError, validate_email

    try:
        validate_email(text, check_deliverability=False, allow_smtputf8=True)
    except EmailNotValidError as exc:
        raise ValueError(f"{text!r} is not a valid email address: {exc}") from None


@functools.lru_cache(maxsize=4096)
def _domain_is_valid(domain: str) -> bool:
    try:
        _validate_email("a@" + domain)
    except ValueError:
        return False
    return True


def validate_changes(data: dict[str, Any]) -> dict[str, Any]:
    """Check user-supplied fields; returns only the keys given, normalized. InvalidInput (exit
    2) lists every bad field on one line."""
    try:
        model = LeadChanges.model_validate(data)
    except ValidationError as exc:
        raise InvalidInput(describe_validation_error(exc)) from None
    return model.model_dump(include=set(data))


def describe_validation_error(exc: ValidationError) -> str:
    parts: dict[str, str] = {}
    for err in exc.errors():
        loc = err["loc"]
        if len(loc) == 3 and loc[0] == "fields":
            # A custom field failed every member of FieldValue; pydantic reports one error per
            # member (fields.k.int, fields.k.bool…). One sentence says what is allowed.
            parts[f"fields.{loc[1]}"] = "must be text, a number, true/false or null"
            continue
        where = ".".join(str(p) for p in loc) or "input"
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            message = "is not a lead field"
        parts[where] = message
    return "; ".join(f"{where}: {message}" for where, message in parts.items())
