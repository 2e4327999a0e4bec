"""The Leads Artisan web app's live-feed protocol (`/api/v1/ws/{client_id}`), both ways.

Its messages are `{"type": "create"|"update"|"delete", "lead": {…the lead as its API returns
it: "id" a string, naive ISO datetimes (UTC)…}, "userId": "…", "isRemote": true}`, with no
sequence number and no replay. `serve` sends leadcli's events (and other apps' writes) this way
to browsers; `watch --server` reads them from the web app's own feed."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from leadcli.domain.dates import from_iso
from leadcli.domain.errors import InvalidInput
from leadcli.domain.foreign import FOREIGN_BY, foreign_event

# The fields of the backend's Lead model, as its API returns them.
WEBAPP_FIELDS = (
    "id", "name", "email", "company", "status", "engaged", "current_stage", "stage_updated_at",
    "stage_history", "last_contacted", "created_at", "updated_at",
)  # fmt: skip
_DATES = ("stage_updated_at", "last_contacted", "created_at", "updated_at")
_KINDS = {"lead_created": "create", "lead_deleted": "delete"}
_TYPES = ("create", "update", "delete")


def _naive(text: Any) -> Any:
    """`2026-12-01T00:43:32.194+00:00` → `2026-12-01T00:43:32.194000` (naive UTC, as the backend writes)."""
    if not isinstance(text, str):
        return text
    try:
        return from_iso(text).replace(tzinfo=None).isoformat(timespec="microseconds")  # type: ignore[union-attr]
    except ValueError:
        return text


def webapp_message(event: Mapping[str, Any]) -> dict[str, Any] | None:
    """An event as `serve` shows it (`event_to_jsonable`) in the web app's message shape."""
    lead = event.get("lead")
    if not isinstance(lead, Mapping):
        return None
    out: dict[str, Any] = {key: lead.get(key) for key in WEBAPP_FIELDS}
    for key in _DATES:
        out[key] = _naive(out[key])
    out["stage_history"] = [
        {"from_stage": e.get("from_stage"), "to_stage": e.get("to_stage"), "changed_at": _naive(e.get("changed_at"))}
        for e in lead.get("stage_history") or []
        if isinstance(e, Mapping)
    ]
    by = event.get("by")
    return {
        "type": _KINDS.get(str(event.get("type")), "update"),
        "lead": out,
        "userId": by if by == FOREIGN_BY else f"leadcli:{by or 'unknown'}",
        "isRemote": True,
    }


def event_from_webapp(message: Any) -> dict[str, Any]:
    """A web-app feed message as a leadcli event (seq None, `by` FOREIGN_BY); InvalidInput
    naming what is wrong when it is not one."""
    if not isinstance(message, Mapping) or message.get("type") not in _TYPES:
        raise InvalidInput(f"not a leadcli or Leads Artisan event: {_preview(message)}")
    lead = message.get("lead")
    if not isinstance(lead, Mapping) or not isinstance(lead.get("id"), str) or not lead["id"]:
        raise InvalidInput(f"a Leads Artisan {message['type']} message without a lead id: {_preview(message)}")
    record: dict[str, Any] = dict(lead)
    try:
        for key in _DATES:
            if isinstance(record.get(key), str):
                record[key] = from_iso(record[key])
        record["stage_history"] = [
            {**e, "changed_at": from_iso(e["changed_at"]) if isinstance(e.get("changed_at"), str) else e.get("changed_at")}
            for e in record.get("stage_history") or []
            if isinstance(e, Mapping)
        ]
    except (ValueError, TypeError) as exc:
        raise InvalidInput(f"a Leads Artisan message with an unreadable date ({exc}): {_preview(message)}") from None
    event = foreign_event(str(message["type"]), record, None, record.get("updated_at"))
    user = message.get("userId")
    if isinstance(user, str) and user.startswith("leadcli:"):
        event["by"] = user[len("leadcli:") :]  # leadcli's own change, relayed by `serve`
    return event


def _preview(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 120 else text[:117] + "..."
