"""LeadQuery: the one description of "which leads, in what order" that every store translates.

Filters combine with AND; `stages` is any-of, `tags` all-of. Text filters are literal: each
store turns them into parameters or escaped patterns, never into query syntax.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

SORT_FIELDS = ("name", "company", "current_stage", "last_contacted", "created_at", "updated_at", "value")
# What a store sorts by: the user's sort fields, and follow_up_at for `followups` (a due list,
# read in follow-up order from an index, not offered as `--sort`).
STORE_SORT_FIELDS = (*SORT_FIELDS, "follow_up_at")


@dataclass(frozen=True)
class LeadQuery:
    stages: tuple[str, ...] = ()
    status: str | None = None
    engaged: bool | None = None
    owner: str | None = None
    source: str | None = None
    tags: tuple[str, ...] = ()
    company: str | None = None
    search: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    contacted_before: datetime | None = None
    follow_up_before: datetime | None = None
    # "open" leads only: not in one of these (closed) stages.
    exclude_stages: tuple[str, ...] = ()
    # Leads whose last contact (or, never contacted, creation) is before this moment.
    idle_since: datetime | None = None
    ids: tuple[str, ...] | None = None

    sort: str = "created_at"
    descending: bool = True
    # Pipeline order, used when sorting by current_stage.
    stage_order: tuple[str, ...] = ()
    offset: int = 0
    limit: int | None = None

    def page(self, number: int, size: int) -> LeadQuery:
        return replace(self, offset=(number - 1) * size, limit=size)

    def unpaged(self) -> LeadQuery:
        return replace(self, offset=0, limit=None)
