"""What the Leads Artisan web app can read, declared once as data.

On a MongoDB store leadcli shares the `leads` collection with that web app, whose backend
validates every document it reads (its pydantic `Lead` model, pydantic 2 lax mode): one
document it cannot read makes every list page holding it answer HTTP 500. `READ_RULES` is that
model as data (field -> rule), declared with each field in the schema (domain/schema.py). The write check (`fit`, every lead leadcli writes to such a store)
and `doctor` (`problems`, every stored lead) both read it, so they cannot disagree.

Decided per field when leadcli's own rules are looser (see `ReadRule.on_write`):
- `status` left empty (`edit --unset status`) is written as the engagement word, which is the
  backend's own default and what leadcli shows beside `engaged` anyway: nothing is lost.
- everything else is refused (exit 2, or a rejected row on import) naming the flag or column:
  a missing or over-long company, name or status is the user's data, and inventing or cutting
  it would put text in the web app nobody typed.
A stage outside the backend's six (`Closed Lost`, a custom pipeline's) is readable: the backend
reads any text there, and the frontend only draws no progress bar for it.

Light on purpose (no pydantic): the write check runs on every row of an import.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Literal

from leadcli.domain.dates import to_utc
from leadcli.domain.errors import InvalidInput
from leadcli.domain.lead import ENGAGED, NOT_ENGAGED
from leadcli.domain.schema import FIELDS, ReadRule

# The backend's own pipeline; it creates leads only in these.
WEB_STAGES = ("New Lead", "Initial Contact", "Meeting Scheduled", "Proposal Sent", "Negotiation", "Closed Won")
OPT_OUT = "[mongodb] web_app_compatible = false"


# The backend's read model, field -> rule: each field's `web` rule in the schema
# (domain/schema.py), with the flag and import column that set the field.
READ_RULES: dict[str, ReadRule] = {
    f.name: f.web.naming(f.flag.split("/")[0], f.label) for f in FIELDS if f.web is not None
}


def problems(lead: Mapping[str, Any], *, writing: bool = False) -> dict[str, str]:
    """field -> why the web app cannot read it, for a lead as leadcli holds it (MongoDB's read
    conversion gives a field the backend would default its default, so missing = required and
    absent). Empty when the web app reads the lead. `writing`: a lead leadcli is about to write,
    whose values its own input rules already checked (see `input_rule_as_strict`)."""
    get = lead.get
    checks = _READABLE_ON_WRITE if writing else _READABLE
    failing = [name for name, readable in checks if not readable(get(name))]  # the quick yes
    if not failing:
        return {}
    reasons = ((name, _check(READ_RULES[name], name, get(name))) for name in failing)
    return {name: reason for name, reason in reasons if reason}


def _readable(rule: ReadRule) -> Callable[[Any], bool]:
    """A quick test that a value passes `rule`, built once per rule (an import checks every
    row: ~3 us a lead); False sends it to `_check`, which says why (or finds it fine after all)."""
    low, high = rule.min_length, rule.max_length if rule.max_length is not None else float("inf")
    if rule.kind == "text":
        return lambda value: type(value) is str and low <= len(value) <= high
    if rule.kind == "bool":
        return lambda value: type(value) is bool
    if rule.kind == "datetime":
        return (lambda value: value is None or type(value) is datetime) if rule.nullable else (lambda value: type(value) is datetime)
    if rule.kind == "entries":
        return lambda value: type(value) is list and all(type(entry) is dict for entry in value)
    return _plain_email


def _plain_email(value: Any) -> bool:
    from leadcli.domain.validation import normalize_email  # banned at module level (startup)

    try:
        return type(value) is str and bool(normalize_email(value))
    except ValueError:
        return False




def _check(rule: ReadRule, name: str, value: Any) -> str | None:
    """Why `value` fails `rule`, or None when it passes."""
    if value is None:
        if rule.nullable:
            return None
        return f"{name} is missing" if rule.required else f"{name} is empty (null)"
    kind = rule.kind
    if kind == "text":
        if not isinstance(value, str):
            return f"{name} is not text ({type(value).__name__})"
        if len(value) < rule.min_length:
            return f"{name} is empty"
        if rule.max_length is not None and len(value) > rule.max_length:
            return f"{name} is {len(value)} characters (at most {rule.max_length})"
        return None
    if kind == "email":
        from leadcli.domain.validation import normalize_email

        if not isinstance(value, str):
            return f"{name} is not text ({type(value).__name__})"
        try:
            normalize_email(value)
        except ValueError:
            return f"{name} {value!r} is not a valid email address"
        return None
    if kind == "bool":
        return None if isinstance(value, bool) else f"{name} is not true/false ({value!r})"
    if kind == "datetime":
        return None if isinstance(value, datetime) or _is_iso(value) else f"{name} is not a date ({value!r})"
    if not isinstance(value, list) or not all(isinstance(entry, Mapping) for entry in value):
        return f"{name} is not a list of entries"
    return None


_READABLE = tuple((name, _readable(rule)) for name, rule in READ_RULES.items())
_READABLE_ON_WRITE = tuple((name, check) for name, check in _READABLE if not READ_RULES[name].input_rule_as_strict)


def _is_iso(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


def fit(
    lead: dict[str, Any], *, naming: Literal["flag", "column"] = "flag", before: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """`lead` as the web app can read it, or InvalidInput naming the rule (the flag that sets the
    field, or the import column with naming="column"). A null the rules let a write fill (the
    status) is filled; the lead is returned unchanged when nothing needed it. `before`: the
    stored lead this write changes; a problem it already had (a command that does not touch the
    field: move, log) is named with the `edit` that fixes it."""
    found = problems(lead, writing=True)
    if not found:
        return lead
    for name in list(found):
        if lead.get(name) is None and READ_RULES[name].on_write == "engagement":
            lead = {**lead, name: ENGAGED if lead.get("engaged") else NOT_ENGAGED}
            del found[name]
    if not found:
        return lead
    name, reason = next(iter(found.items()))
    rule = READ_RULES[name]
    limits = _limits(rule)
    if naming == "column":
        how = f"fill its {rule.column} column{limits}" if rule.column else "fix it in the file"
    elif before is not None and before.get(name) == lead.get(name) and rule.flag:
        how = f"fix it first: leadcli edit {lead.get('id')} {rule.flag} ...{limits}"
    else:
        how = f"give {rule.flag}{limits}" if rule.flag else "leadcli cannot set it"
    raise InvalidInput(
        f"{reason}: the Leads Artisan web app sharing this store could not read the lead ({how}; "
        f"a store no web app uses can opt out with {OPT_OUT})"
    )


def _limits(rule: ReadRule) -> str:
    if rule.kind != "text" or rule.max_length is None:
        return ""
    return f", {max(rule.min_length, 1) if rule.required else 0}-{rule.max_length} characters"


def repair(lead: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """What `doctor --fix` may change without a person: a null status becomes the engagement
    word, a missing stage the backend's default. Returns (the lead, what was repaired); the
    problems left (a missing company, an over-long name…) need a person."""
    out = dict(lead)
    done = []
    if out.get("status") is None:
        out["status"] = ENGAGED if out.get("engaged") else NOT_ENGAGED
        done.append(f"status set to {out['status']}")
    if out.get("current_stage") is None:
        out["current_stage"] = WEB_STAGES[0]
        done.append(f"stage set to {WEB_STAGES[0]}")
    if out.get("stage_history") is None:
        out["stage_history"] = []
        done.append("stage history emptied")
    return out, done


def web_time(value: Any) -> Any:
    """A timestamp as either app stores it, as aware UTC: a BSON date, or the naive ISO text
    with microseconds the backend writes into `stage_history` (`2026-12-01T00:43:32.194057`,
    UTC). Anything else is returned as it is."""
    if isinstance(value, datetime):
        return to_utc(value)
    if isinstance(value, str):
        try:
            return to_utc(datetime.fromisoformat(value.replace("Z", "+00:00")))
        except ValueError:
            return value
    return value


def stage_since(lead: Mapping[str, Any]) -> Any:
    """When the lead entered its current stage: `stage_updated_at`, unless the history records a
    later move into that stage (the backend never maintains `stage_updated_at`: it is null on
    the leads it creates and stale after its moves)."""
    since = lead.get("stage_updated_at")
    history = lead.get("stage_history") or []
    if history and isinstance(last := history[-1], Mapping) and last.get("to_stage") == lead.get("current_stage"):
        moved = last.get("changed_at")
        if isinstance(moved, datetime) and (not isinstance(since, datetime) or moved > since):
            return moved
    return since
