"""A stand-in for the Leads Artisan web app's backend, for tests: what it reads, how it writes,
and what its live feed and its browser CSV export look like. Written from the facts in
/work/shared/docs/leads-artisan.md (not from the backend's code), so a test can ask "would the
web app still work?" of any document leadcli wrote, and can write as the web app does.

- `ArtisanLead`: its read model. `read(doc)` raises pydantic's ValidationError where the real
  backend answers HTTP 500; `list_page` reads a page as its list endpoint does (newest first:
  one unreadable lead fails the whole page).
- `create`: an insert with no `version`, naive UTC datetimes, and a generated history, one entry
  per stage up to the current one, back-dated a day each, `changed_at` as naive ISO text.
- `update`: `find_one_and_update` with `$set` of only the fields sent, plus `updated_at =
  utcnow()` (naive) on every update; a stage change appends one history entry.
- `feed_message`: what it sends every WebSocket after a REST write.
- `export_csv`: the browser's "Export All" file.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from bson import ObjectId
from pydantic import BaseModel, EmailStr, Field

STAGES = ["New Lead", "Initial Contact", "Meeting Scheduled", "Proposal Sent", "Negotiation", "Closed Won"]
EXPORT_HEADER = "Name,Company,Stage,Engaged,Last Contacted,Email"


class Unreadable(Exception):
    """Where the backend answers HTTP 500 ("Error fetching leads")."""


class ArtisanLeadFields(BaseModel):
    """The fields a client sends to create a lead (and the base of the read model)."""

    name: str = Field(min_length=1, max_length=100)
    email: EmailStr
    company: str = Field(min_length=1, max_length=100)
    status: str = Field("Not Engaged", max_length=50)
    engaged: bool = False
    current_stage: str = "New Lead"
    stage_updated_at: datetime | None = None
    stage_history: list[dict[str, Any]] = Field(default_factory=list)
    last_contacted: datetime | None = None


class ArtisanLead(ArtisanLeadFields):
    """What the backend validates every document it reads with (extra fields are ignored)."""

    id: str
    created_at: datetime
    updated_at: datetime


def utcnow() -> datetime:
    """The backend's clock: naive UTC, microseconds."""
    return datetime.now(UTC).replace(tzinfo=None)


def read(doc: dict[str, Any]) -> ArtisanLead:
    data = {k: v for k, v in doc.items() if k != "_id"}
    return ArtisanLead(**data, id=str(doc["_id"]))


def list_page(collection: Any, page: int = 1, page_size: int = 100) -> list[ArtisanLead]:
    """GET /api/v1/leads/?page=N: newest first; Unreadable (its 500) if any lead on the page
    fails the read model, naming which."""
    cursor = collection.find({}).sort("created_at", -1).skip((page - 1) * page_size).limit(page_size)
    out = []
    for doc in cursor:
        try:
            out.append(read(doc))
        except Exception as exc:  # pydantic's ValidationError, or a missing _id
            raise Unreadable(f"lead {doc.get('_id')}: {exc}") from exc
    return out


def unreadable(collection: Any) -> dict[str, str]:
    """id -> why, for every document the backend cannot read."""
    found = {}
    for doc in collection.find({}):
        try:
            read(doc)
        except Exception as exc:
            found[str(doc.get("_id"))] = str(exc)
    return found


def generated_history(stage: str, base: datetime) -> list[dict[str, Any]]:
    index = STAGES.index(stage)  # an unknown stage: the backend's 500 on create
    return [
        {
            "from_stage": STAGES[i - 1] if i > 0 else None,
            "to_stage": STAGES[i],
            "changed_at": (base - timedelta(days=index - i)).isoformat(),
        }
        for i in range(index + 1)
    ]


def create(collection: Any, data: dict[str, Any], now: datetime | None = None) -> ArtisanLead:
    """POST /api/v1/leads/: validate, refuse a taken email (found by exact match), insert."""
    fields = ArtisanLeadFields(**data)
    if collection.find_one({"email": fields.email}):
        raise ValueError(f"duplicate email {fields.email}")
    moment = now or utcnow()
    doc = fields.model_dump(exclude_none=True)
    doc.update(created_at=moment, updated_at=moment, stage_history=generated_history(fields.current_stage, moment))
    inserted = collection.insert_one(doc).inserted_id
    return read(collection.find_one({"_id": inserted}))


def update(collection: Any, lead_id: str, data: dict[str, Any], now: datetime | None = None) -> ArtisanLead:
    """PUT /api/v1/leads/{id}: read the lead (500 if unreadable), `$set` the fields sent (not
    null), a stage change appending one history entry, `engaged` setting the status too, and
    `updated_at` always. No version is read or written."""
    current = read(collection.find_one({"_id": ObjectId(lead_id)}))
    moment = now or utcnow()
    sent = {k: v for k, v in data.items() if v is not None}
    changes = {k: v for k, v in sent.items() if k not in ("stage_history", "current_stage", "engaged")}
    if "current_stage" in sent:
        history = list(current.stage_history)
        if sent["current_stage"] != current.current_stage:
            history.append({"from_stage": current.current_stage, "to_stage": sent["current_stage"], "changed_at": moment.isoformat()})
        changes["stage_history"] = history
        changes["current_stage"] = sent["current_stage"]
    if "engaged" in sent:
        changes["engaged"] = sent["engaged"]
        changes["status"] = "Engaged" if sent["engaged"] else "Not Engaged"
    changes["updated_at"] = moment
    doc = collection.find_one_and_update({"_id": ObjectId(lead_id)}, {"$set": changes}, return_document=True)
    return read(doc)


def feed_message(kind: str, lead: ArtisanLead, user_id: str) -> dict[str, Any]:
    """What every connected WebSocket gets after a REST write: the lead as the API returns it
    (`id` a string, naive ISO datetimes)."""
    return {"type": kind, "lead": lead.model_dump(mode="json"), "userId": user_id, "isRemote": True}


def export_csv(leads: list[ArtisanLead]) -> str:
    """The browser's "Export All": values joined with `,`, never quoted, `Engaged` Yes/No,
    `Last Contacted` as `MMM d, yyyy` (the browser's local day; these tests run in UTC) or `-`."""
    rows = [EXPORT_HEADER]
    for lead in leads:
        contacted = f"{lead.last_contacted:%b} {lead.last_contacted.day}, {lead.last_contacted:%Y}" if lead.last_contacted else "-"
        rows.append(",".join([lead.name, lead.company, lead.current_stage, "Yes" if lead.engaged else "No", contacted, lead.email]))
    return "\n".join(rows)
