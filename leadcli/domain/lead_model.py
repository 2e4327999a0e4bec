"""The pydantic model of what users may set on a lead, and one-line messages from its errors.
Imported only when a value needs it (see validation.plain_changes): pydantic costs ~100 ms
of startup that `add` and `import` of plain values do without."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator

from leadcli.domain.dates import to_utc
from leadcli.domain.text import CONTROLS, NO_CONTROLS, NOTE_LIMIT, TAG_LIMIT
from leadcli.domain.validation import (
    FIELD_NAME_LIMIT,
    INT64,
    MAX_FIELDS,
    MAX_TAGS,
    MAX_VALUE,
    normalize_email,
    unique_tags,
)

# Custom field values are JSON scalars: NaN and infinity are not JSON (nor sortable), so refused.
FieldValue = str | int | Annotated[float, Field(allow_inf_nan=False)] | bool | None


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
    value: float | None = Field(None, ge=0, le=MAX_VALUE, allow_inf_nan=False)
    notes: LongText = None
    follow_up_at: datetime | None = None
    last_contacted: datetime | None = None
    fields: dict[str, FieldValue] | None = None

    @field_validator("name", "company", "phone", "status", "owner", "source", "current_stage", "notes")
    @classmethod
    def _no_controls(cls, value: str | None) -> str | None:
        if value is not None and CONTROLS.search(value):
            raise ValueError(NO_CONTROLS)
        return value

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        return None if value is None else normalize_email(value)

    @field_validator("tags")
    @classmethod
    def _tags(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        if any(CONTROLS.search(tag) for tag in value):
            raise ValueError(NO_CONTROLS)
        if len(value) > MAX_TAGS or any(len(tag.strip()) > TAG_LIMIT for tag in value):
            raise ValueError(f"at most {MAX_TAGS} tags of at most {TAG_LIMIT} characters each")
        return unique_tags(value)

    @field_validator("follow_up_at", "last_contacted")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        return None if value is None else to_utc(value)

    @field_validator("fields", mode="before")
    @classmethod
    def _field_integers(cls, value: Any) -> Any:
        # Before the union: a whole number beyond 64 bits would otherwise become a float.
        if isinstance(value, dict):
            for key, item in value.items():
                if type(item) is int and not -INT64 <= item < INT64:
                    raise ValueError(f"{key}: a whole number must fit in 64 bits (as MongoDB stores it)")
        return value

    @field_validator("fields")
    @classmethod
    def _field_keys(cls, value: dict[str, FieldValue] | None) -> dict[str, FieldValue] | None:
        if value is not None:
            if len(value) > MAX_FIELDS:
                raise ValueError(f"at most {MAX_FIELDS} custom fields, not {len(value)}")
            for key, item in value.items():
                if not key.strip():
                    raise ValueError("custom field names cannot be empty")
                if len(key) > FIELD_NAME_LIMIT:
                    raise ValueError(f"{key[:20]}…: a custom field name has at most {FIELD_NAME_LIMIT} characters")
                if isinstance(item, str) and len(item) > NOTE_LIMIT:
                    raise ValueError(f"{key}: a custom field's text has at most {NOTE_LIMIT:,} characters, not {len(item):,}")
                if CONTROLS.search(key) or (isinstance(item, str) and CONTROLS.search(item)):
                    raise ValueError(f"{key}: {NO_CONTROLS}")
        return value


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
