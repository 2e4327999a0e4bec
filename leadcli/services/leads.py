"""Adding, finding, editing and deleting leads, with engagement and stage rules applied once."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, Literal

from leadcli.domain.dates import now_utc
from leadcli.domain.errors import Conflict, InvalidInput, NotFound, VersionConflict
from leadcli.domain.handle import handle_of, is_hex
from leadcli.domain.lead import ENGAGED, NOT_ENGAGED, history_entry, is_full_id, new_lead, to_jsonable
from leadcli.domain.query import LeadQuery
from leadcli.domain.schema import REQUIRED, UNSETTABLE
from leadcli.domain.text import TAG_LIMIT, check_note
from leadcli.services.context import Workspace
from leadcli.store.base import Lead

# How often a compare-and-set write re-reads and retries before reporting a conflict.
CAS_ATTEMPTS = 8


# How many candidates an ambiguous handle or prefix lists.
CANDIDATES = 5


def resolve(ws: Workspace, ref: str) -> Lead:
    """A LEAD argument: a handle (the id's last 10 characters, domain/handle.py), a full id, a
    unique prefix of 4+ characters of either, or an email. A prefix that matches several leads
    is exit 2 naming them; text that cannot be a handle (a name) points to `search`."""
    text = ref.strip()
    if not text:
        raise InvalidInput("an empty LEAD: give a handle, an id or an email")
    if "@" in text:
        same_email = ws.store.get_all_by_email(text.lower())
        if not same_email:
            raise NotFound(f"no lead with email {text.lower()}")
        if len(same_email) > 1:  # case variants another app stored: never pick one silently
            listed = ", ".join(f"{lead['email']} (id {lead['id']})" for lead in same_email)
            raise InvalidInput(f"email {text.lower()} matches {len(same_email)} leads stored with different capitals: {listed}; name one by its id")
        return same_email[0]
    key = text.lower()
    if is_full_id(key):
        lead = ws.store.get(key)
        if lead is None:
            raise NotFound(f"no lead with id {key}")
        return lead
    if len(key) >= 4 and is_hex(key):
        found = {lead["id"]: lead for lead in ws.store.find_by_reference(key, limit=CANDIDATES + 1)}
        if not found:
            raise NotFound(f"no lead with a handle or id starting {key} (to find a lead by name: {_search_hint(text)})")
        if len(found) > 1:
            raise InvalidInput(_ambiguous(key, list(found.values())))
        return next(iter(found.values()))
    if text and not any(c.isspace() for c in text) and len(text) < 4 and is_hex(key):
        raise InvalidInput(f"{text!r} is too short: give at least 4 characters of a handle or id")
    raise InvalidInput(f"{text!r} is not a lead handle, id or email; to find a lead by name: {_search_hint(text)}")


def _search_hint(text: str) -> str:
    """`leadcli search TEXT`, quoted for a shell (double quotes, as people write them)."""
    import shlex

    if shlex.quote(text) == text:
        return f"leadcli search {text}"
    if not any(c in text for c in '"$`\\!'):
        return f'leadcli search "{text}"'
    return f"leadcli search {shlex.quote(text)}"


def _ambiguous(key: str, leads: list[Lead]) -> str:
    """One line naming the candidates, each by its handle, name and email."""
    many = len(leads) > CANDIDATES
    shown = "; ".join(f"{handle_of(lead['id'])} {lead.get('name')} <{lead.get('email')}>" for lead in leads[:CANDIDATES])
    count = f"more than {CANDIDATES}" if many else str(len(leads))
    return f"{key} matches {count} leads: {shown}{'; …' if many else ''}; type more characters of the handle"


def reconcile_engagement(changes: dict[str, Any], names: tuple[str, str] | None = None) -> dict[str, Any]:
    """Keep `engaged` and `status` consistent: either one given sets the other where the
    status is one of the two engagement words; both given must agree. `names`: how the
    message names the two (an import's columns); by default the command-line flags."""
    engaged = changes.get("engaged")
    status = changes.get("status")
    status_word = status.strip().lower() if isinstance(status, str) else None
    if engaged is not None and status_word in ("engaged", "not engaged") and (status_word == "engaged") != engaged:
        if names:
            raise InvalidInput(f"{names[0]} {status!r} contradicts {names[1]} {'yes' if engaged else 'no'}")
        raise InvalidInput(f"--status {status!r} contradicts --{'engaged' if engaged else 'not-engaged'}")
    if engaged is not None and status is None:
        changes["status"] = ENGAGED if engaged else NOT_ENGAGED
    elif status_word == "engaged":
        changes["engaged"], changes["status"] = True, ENGAGED
    elif status_word == "not engaged":
        changes["engaged"], changes["status"] = False, NOT_ENGAGED
    return changes


def check_changes(ws: Workspace, raw: Mapping[str, Any]) -> dict[str, Any]:
    """Validate user-supplied fields (exit 2 on anything wrong, before any write)."""
    from leadcli.domain.validation import validate_changes

    data = dict(raw)
    stage = data.pop("current_stage", None)
    changes = validate_changes(data) if data else {}
    if stage is not None:
        changes["current_stage"] = ws.pipeline.match(stage)
    return reconcile_engagement(changes)


def set_stage(lead: Lead, stage: str, at: datetime, by: str, notes: str | None = None) -> None:
    """Move `lead` (in place) to `stage`, appending to its history; no-op at the same stage."""
    if lead.get("current_stage") == stage:
        return
    lead["stage_history"] = [*(lead.get("stage_history") or []), history_entry(lead.get("current_stage"), stage, at, by, notes)]
    lead["current_stage"] = stage
    lead["stage_updated_at"] = at


def add_lead(ws: Workspace, raw: Mapping[str, Any]) -> Lead:
    changes = check_changes(ws, raw)
    missing = [f.flag for f in REQUIRED if not changes.get(f.name)]
    if missing:
        raise InvalidInput(f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} required")
    now = now_utc()
    stage = changes.pop("current_stage", None) or ws.pipeline.first
    lead: Lead = new_lead(changes.pop("name"), changes.pop("email"), stage, now, ws.user)
    lead.update({k: v for k, v in changes.items() if v is not None})
    from leadcli.domain.validation import check_lead_size

    check_lead_size(lead)
    lead = fit_for_store(ws, lead)
    _check_email_free(ws, lead["email"], lead["id"])
    return ws.store.insert(lead, {"type": "lead_created", "by": ws.user, "at": now, "changes": {}})


def _check_email_free(ws: Workspace, email: str, lead_id: str) -> None:
    """Conflict when another lead holds `email` in other capitals (another app keeps an email's
    case; the store's unique index sees only the exact text)."""
    for other in ws.store.get_all_by_email(email):
        if other["id"] != lead_id and other["email"] != email:
            raise Conflict(f"a lead with email {other['email']} already exists (id {other['id']}); emails are unique whatever their capitals")


def fit_for_store(ws: Workspace, lead: Lead, naming: Literal["flag", "column"] = "flag", before: Lead | None = None) -> Lead:
    """`lead` as the store may hold it: on a store shared with the Leads Artisan web app, what
    that app can read (domain/artisan.py: a null status is filled, anything else it cannot read
    is InvalidInput naming the flag or import column); elsewhere `lead` itself."""
    if not ws.web_app:
        return lead
    from leadcli.domain.artisan import fit

    return fit(lead, naming=naming, before=before)


def check_before_writing(ws: Workspace, leads: Sequence[Lead], change: Callable[[Lead, datetime], Lead | None]) -> None:
    """Apply `change` to a copy of each lead and check the result as `update_lead` will, so a
    change one of several leads cannot take is refused before the first of them is written."""
    if not ws.web_app:
        return
    now = now_utc()
    for lead in leads:
        draft = change(_copy(lead), now)
        if draft is not None and draft != lead:
            try:
                fit_for_store(ws, draft, before=lead)
            except InvalidInput as exc:
                raise InvalidInput(f"lead {lead['id']} ({lead.get('email')}): {exc.message}") if len(leads) > 1 else exc from None


def diff(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, list[Any]]:
    """`{field: [old, new]}` for the fields a write changed (JSON-ready values)."""
    old, new = to_jsonable(before), to_jsonable(after)
    skip = {"updated_at", "version", "stage_history", "stage_updated_at", "activities"}
    return {k: [old.get(k), new.get(k)] for k in new if k not in skip and old.get(k) != new.get(k)}


def update_lead(
    ws: Workspace,
    ref: str | Lead,
    change: Callable[[Lead, datetime], Lead | None],
    *,
    event_type: str | None = None,
) -> tuple[Lead, bool]:
    """Read-modify-write with compare-and-set, retried when another writer got there first.

    `change(copy, now)` returns the changed lead, or None when there is nothing to do. Returns
    (lead, changed). The event is `event_type`, else lead_stage_changed or lead_updated.
    """
    from leadcli.domain.validation import check_lead_size

    lead = resolve(ws, ref) if isinstance(ref, str) else ref
    for _attempt in range(CAS_ATTEMPTS):
        now = now_utc()
        draft = change(_copy(lead), now)
        if draft is None or draft == lead:
            return lead, False
        draft["updated_at"] = now
        check_lead_size(draft)  # a log or move too many on a lead full of history
        draft = fit_for_store(ws, draft, before=lead)
        changes = diff(lead, draft)
        kind = event_type or ("lead_stage_changed" if "current_stage" in changes else "lead_updated")
        try:
            event = {"type": kind, "by": ws.user, "at": now, "changes": changes}
            return ws.store.replace(draft, lead["version"], event, before=lead), True
        except VersionConflict:
            lead = _reread(ws, lead)
    raise _kept_changing(lead)


def _reread(ws: Workspace, lead: Lead) -> Lead:
    """The lead as it is now, after a compare-and-set write lost its race."""
    fresh = ws.store.get(lead["id"])
    if fresh is None:
        raise NotFound(f"lead {lead['id']} was deleted meanwhile") from None
    return fresh


def _kept_changing(lead: Lead) -> VersionConflict:
    return VersionConflict(f"lead {lead['id']} kept changing under concurrent writes; run the command again")


def _copy(lead: Lead) -> Lead:
    out = dict(lead)
    out["tags"] = list(lead.get("tags") or [])
    out["fields"] = dict(lead.get("fields") or {})
    out["stage_history"] = list(lead.get("stage_history") or [])
    if "activities" in lead:
        out["activities"] = list(lead.get("activities") or [])
    return out


def edit_leads_detailed(
    ws: Workspace,
    refs: Sequence[str],
    raw: Mapping[str, Any],
    *,
    add_tags: Sequence[str] = (),
    remove_tags: Sequence[str] = (),
    unset: Sequence[str] = (),
    note: str | None = None,
) -> list[tuple[Lead, dict[str, list[Any]]]]:
    """Apply the same changes to each lead: (the lead after, what changed: `diff`) for each.
    Everything is checked and every ref resolved before the first write, so a typo in the
    tenth id changes nothing; a lead named twice is edited once."""
    changes = check_changes(ws, raw)
    check_note("--note", note)
    for tag in add_tags:
        check_note("--add-tag", tag, TAG_LIMIT)
    clear_fields, clear_custom = _unset_plan(unset)
    leads = list({lead["id"]: lead for lead in (resolve(ws, ref) for ref in refs)}.values())
    _check_custom_unset(clear_custom, leads)
    if "email" in changes and len(leads) > 1:
        raise InvalidInput("--email: one lead at a time (an email belongs to a single lead)")
    if "email" in changes and leads:
        _check_email_free(ws, changes["email"], leads[0]["id"])
    from leadcli.domain.validation import unique_tags

    removed = set(unique_tags(list(remove_tags)))  # read as --add-tag and --tag read a tag: trimmed

    def change(lead: Lead, now: datetime) -> Lead:
        stage = changes.get("current_stage")
        for key, value in changes.items():
            if key == "fields":
                lead["fields"] = {**lead["fields"], **value}
            elif key != "current_stage":
                lead[key] = value
        if add_tags or remove_tags:
            lead["tags"] = [t for t in unique_tags([*lead["tags"], *add_tags]) if t not in removed]
        for key in clear_fields:
            lead[key] = [] if key == "tags" else None
        for key in clear_custom:
            lead["fields"].pop(key, None)
        if stage is not None:
            set_stage(lead, stage, now, ws.user, note)
        return lead

    check_before_writing(ws, leads, change)
    results = []
    for lead in leads:
        after, changed = update_lead(ws, lead, change)
        results.append((after, diff(lead, after) if changed else {}))
    return results


# What users type for a field beside its stored name: the option's spelling (`follow-up`).
UNSET_ALIASES = {"follow_up": "follow_up_at", "stage": "current_stage"}


def _unset_plan(unset: Sequence[str]) -> tuple[list[str], list[str]]:
    from leadcli.domain.lead import LEAD_FIELDS

    fields, custom = [], []
    for name in unset:
        key = name.strip()
        builtin = key.replace("-", "_")
        builtin = UNSET_ALIASES.get(builtin, builtin)
        if builtin in UNSETTABLE:
            fields.append(builtin)
        elif key.startswith("fields."):
            custom.append(key.removeprefix("fields."))
        elif builtin in LEAD_FIELDS:
            raise InvalidInput(f"--unset: {builtin} cannot be unset")
        else:
            custom.append(key)
    return fields, custom


def _check_custom_unset(custom: Sequence[str], leads: Sequence[Lead]) -> None:
    """A custom field to unset must exist on (one of) the leads: a typo such as `--unset compnay`
    is refused with the names that would work, rather than silently changing nothing."""
    present = {name for lead in leads for name in (lead.get("fields") or {})}
    unknown = [name for name in custom if name not in present]
    if not unknown or not leads:
        return
    whom = "this lead" if len(leads) == 1 else "these leads"
    has = f"; custom fields of {whom}: {', '.join(sorted(present))}" if present else f"; {whom} {'has' if len(leads) == 1 else 'have'} no custom fields"
    raise InvalidInput(f"--unset: unknown field {unknown[0]!r}: give one of {', '.join(UNSETTABLE)}{has}")


def delete_lead(ws: Workspace, lead: Lead) -> bool:
    """Delete the lead: True, or False when another writer deleted it first (what was asked
    is done either way, so the caller goes on with the other leads)."""
    try:
        for _attempt in range(CAS_ATTEMPTS):
            try:
                ws.store.delete(lead, {"type": "lead_deleted", "by": ws.user, "at": now_utc(), "changes": {}})
                return True
            except VersionConflict:
                lead = _reread(ws, lead)
    except NotFound:  # gone: the store said so, or the re-read after a lost race did
        return False
    raise _kept_changing(lead)


class Page:
    """A page of a listing, streamed: iterates over at most `size` of `rows` (queried with a
    limit of size + 1), and afterwards `more` tells whether the listing went on past it."""

    def __init__(self, rows: Iterator[Lead], size: int) -> None:
        self._rows, self.size, self.more = rows, size, False

    def __iter__(self) -> Iterator[Lead]:
        for i, row in enumerate(self._rows):
            if i >= self.size:
                self.more = True
                return
            yield row


def list_leads(ws: Workspace, query: LeadQuery) -> Iterator[Lead]:
    return ws.store.query(query)


def count_leads(ws: Workspace, query: LeadQuery) -> int:
    return ws.store.count(query)


def changes_from_options(ws: Workspace, values: Mapping[str, Any], json_object: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Field options (field name -> as typed) and an optional JSON object, which the options
    override, as raw lead changes: a date field's text read as a date (`--follow-up +3d`), the
    custom fields' `KEY=VALUE` items as an object (`--field`)."""
    from leadcli.domain.dates import parse_when
    from leadcli.domain.schema import FIELD

    raw: dict[str, Any] = {}
    if json_object is not None:
        raw.update(json_object)
        if "stage" in raw:
            raw["current_stage"] = raw.pop("stage")
        for key, value in raw.items():
            if isinstance(value, str) and key in FIELD and FIELD[key].kind == "date" and FIELD[key].settable:
                raw[key] = parse_when(value, flag=key, zone=ws.zone)
    for key, value in values.items():
        kind = FIELD[key].kind
        if kind == "date":
            raw[key] = parse_when(value, flag=FIELD[key].flag, zone=ws.zone, end_of_day=False)
        elif kind == "custom":
            fields = dict(raw.get("fields") or {})
            for item in value:
                name, sep, text = item.partition("=")
                if not sep or not name.strip():
                    raise InvalidInput(f"{FIELD[key].flag}: expected KEY=VALUE, got {item!r}")
                fields[name.strip()] = text
            raw[key] = fields
        else:
            raw[key] = value
    return raw
