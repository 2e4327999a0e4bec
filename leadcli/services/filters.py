"""From what a user typed as filters to a LeadQuery: stages matched against the pipeline, dates
read in the user's timezone, each by what the schema says the filter takes (`Filter.value`).
Shared by list, search, count, export, stats, stale and watch."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from leadcli.domain.dates import parse_when
from leadcli.domain.errors import InvalidInput
from leadcli.domain.query import SORT_FIELDS, LeadQuery
from leadcli.domain.schema import OPTION_FILTERS, Filter
from leadcli.services.context import Workspace


@dataclass(frozen=True)
class FilterArgs:
    """The filter options as typed: filter name -> value (absent or None: not given)."""

    values: Mapping[str, Any] = field(default_factory=dict)

    def replace(self, **changes: Any) -> FilterArgs:
        return FilterArgs({**self.values, **changes})


def build_query(ws: Workspace, args: FilterArgs, *, sort: str = "created_at", descending: bool = True) -> LeadQuery:
    if sort not in SORT_FIELDS:
        raise InvalidInput(f"--sort: unknown field {sort!r}; valid: {', '.join(SORT_FIELDS)}")
    where = {f.name: _read(ws, f, args.values[f.name]) for f in OPTION_FILTERS if args.values.get(f.name) is not None}
    return LeadQuery(sort=sort, descending=descending, stage_order=ws.pipeline.stages, **where)


def _read(ws: Workspace, spec: Filter, typed: Any) -> Any:
    """A typed filter value as LeadQuery holds it."""
    if spec.value == "stages":
        return tuple(dict.fromkeys(ws.pipeline.match(s) for s in typed))
    if spec.value == "texts":
        return tuple(t.strip() for t in typed if t.strip())
    if spec.value == "date":
        return parse_when(typed, flag=spec.flag, zone=ws.zone)
    return typed  # text, bool


def paged(query: LeadQuery, page: int, page_size: int, everything: bool) -> LeadQuery:
    if everything:
        return query.unpaged()
    if page < 1:
        raise InvalidInput("--page: pages start at 1")
    if page_size < 1:
        raise InvalidInput("--page-size: must be at least 1")
    # Both stores take 64-bit skip and limit: past that, a page is past the end of any store
    # (an empty result, not an overflow error).
    return query.replace(offset=min((page - 1) * page_size, _BEYOND), limit=min(page_size, _BEYOND))


_BEYOND = 1 << 62
