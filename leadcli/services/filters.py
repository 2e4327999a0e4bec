"""From what a user typed as filters to a LeadQuery: stages matched against the pipeline, dates
read in the user's timezone. Shared by list, search, count, export, stats, stale and watch."""

from __future__ import annotations

from dataclasses import dataclass, replace

from leadcli.domain.dates import parse_when
from leadcli.domain.errors import InvalidInput
from leadcli.domain.query import SORT_FIELDS, LeadQuery
from leadcli.services.context import Workspace


@dataclass(frozen=True)
class FilterArgs:
    stage: tuple[str, ...] = ()
    status: str | None = None
    engaged: bool | None = None
    owner: str | None = None
    source: str | None = None
    tag: tuple[str, ...] = ()
    company: str | None = None
    search: str | None = None
    created_after: str | None = None
    created_before: str | None = None
    contacted_before: str | None = None
    follow_up_before: str | None = None


def build_query(ws: Workspace, args: FilterArgs, *, sort: str = "created_at", descending: bool = True) -> LeadQuery:
    if sort not in SORT_FIELDS:
        raise InvalidInput(f"--sort: unknown field {sort!r}; valid: {', '.join(SORT_FIELDS)}")

    def when(flag: str, text: str | None) -> object:
        return None if text is None else parse_when(text, flag=flag, zone=ws.zone)

    return LeadQuery(
        stages=tuple(dict.fromkeys(ws.pipeline.match(s) for s in args.stage)),
        status=args.status,
        engaged=args.engaged,
        owner=args.owner,
        source=args.source,
        tags=tuple(t.strip() for t in args.tag if t.strip()),
        company=args.company or None,
        search=args.search or None,
        created_after=when("--created-after", args.created_after),  # type: ignore[arg-type]
        created_before=when("--created-before", args.created_before),  # type: ignore[arg-type]
        contacted_before=when("--contacted-before", args.contacted_before),  # type: ignore[arg-type]
        follow_up_before=when("--follow-up-before", args.follow_up_before),  # type: ignore[arg-type]
        sort=sort,
        descending=descending,
        stage_order=ws.pipeline.stages,
    )


def paged(query: LeadQuery, page: int, page_size: int, everything: bool) -> LeadQuery:
    if everything:
        return query.unpaged()
    if page < 1:
        raise InvalidInput("--page: pages start at 1")
    if page_size < 1:
        raise InvalidInput("--page-size: must be at least 1")
    # Both stores take 64-bit skip and limit: past that, a page is past the end of any store
    # (an empty result, not an overflow error).
    return replace(query, offset=min((page - 1) * page_size, _BEYOND), limit=min(page_size, _BEYOND))


_BEYOND = 1 << 62
