"""The pydantic model of what users may set on a lead, built from the schema (domain/schema.py),
and one-line messages from its errors.
Imported only when a value needs it (see validation.plain_changes): pydantic costs ~100 ms
of startup that `add` and `import` of plain values do without."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    create_model,
    field_validator,
)

from leadcli.domain.dates import to_utc
from leadcli.domain.schema import FIELD, SETTABLE
from leadcli.domain.schema import Field as SchemaField
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


def _annotation(field: SchemaField) -> tuple[Any, Any]:
    """(type, default) of a settable schema field in the model, by its kind."""
    kind, limit = field.kind, field.max_length
    if kind == "text" and field.required:  # blank is an error (trimmed to "", then too short)
        return str | None, Field(None, min_length=1, max_length=limit)
    if kind == "text":
        # Blank means "none". The length limit sits on the `str` branch: on the whole union it
        # would be applied to the None a blank becomes, and fail with a TypeError.
        return Annotated[Annotated[str, Field(max_length=limit)] | None, BeforeValidator(_blank_to_none)], None
    if kind == "number":
        return float | None, Field(None, ge=0, le=MAX_VALUE, allow_inf_nan=False)
    return _TYPES[kind], None


_TYPES: dict[str, Any] = {
    "email": str | None, "stage": str | None, "bool": bool | None, "tags": list[str] | None,
    "date": datetime | None, "custom": dict[str, FieldValue] | None,
}  # fmt: skip


class _Rules(BaseModel):
    """The rules of each kind of field (domain/schema.py), applied to every field of that kind."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @field_validator("*")
    @classmethod
    def _by_kind(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None:
            return None
        kind = FIELD[str(info.field_name)].kind
        if kind in ("text", "stage"):
            if CONTROLS.search(value):
                raise ValueError(NO_CONTROLS)
            return value
        if kind == "email":
            return normalize_email(value)
        if kind == "tags":
            if any(CONTROLS.search(tag) for tag in value):
                raise ValueError(NO_CONTROLS)
            if len(value) > MAX_TAGS or any(len(tag.strip()) > TAG_LIMIT for tag in value):
                raise ValueError(f"at most {MAX_TAGS} tags of at most {TAG_LIMIT} characters each")
            return unique_tags(value)
        if kind == "date":
            return to_utc(value)
        if kind == "custom":
            return _custom_fields(value)
        return value

    @field_validator("*", mode="before")
    @classmethod
    def _custom_integers(cls, value: Any, info: ValidationInfo) -> Any:
        # Before the union: a whole number beyond 64 bits would otherwise become a float.
        if FIELD[str(info.field_name)].kind == "custom" and isinstance(value, dict):
            for key, item in value.items():
                if type(item) is int and not -INT64 <= item < INT64:
                    raise ValueError(f"{key}: a whole number must fit in 64 bits (as MongoDB stores it)")
        return value


def _custom_fields(value: dict[str, FieldValue]) -> dict[str, FieldValue]:
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


# The user-settable fields of a lead (the schema's settable ones, in its order); every field
# optional, so the same model checks an `add` (where the service then requires name and email)
# and an `edit`.
LeadChanges: type[BaseModel] = create_model(  # type: ignore[call-overload]
    "LeadChanges", __base__=_Rules, **{f.name: _annotation(f) for f in SETTABLE}
)


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
