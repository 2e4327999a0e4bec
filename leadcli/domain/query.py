"""LeadQuery: the one description of "which leads, in what order" that every store translates.

Its filters are the schema's (`domain/schema.py` FILTERS), given by name
(`LeadQuery(stages=("Negotiation",), owner="sam")`) and read back by name (`query.owner`) or in
the schema's order (`query.conditions()`). Filters combine with AND; `stages` is any-of, `tags`
all-of. Text filters are literal: each store turns them into parameters or escaped patterns,
never into query syntax.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from leadcli.domain.schema import FILTER, FILTERS, SORTABLE, Filter

SORT_FIELDS = SORTABLE
# What a store sorts by: the user's sort fields, and follow_up_at for `followups` (a due list,
# read in follow-up order from an index, not offered as `--sort`).
STORE_SORT_FIELDS = (*SORT_FIELDS, "follow_up_at")

_ORDER = ("sort", "descending", "stage_order", "offset", "limit")


class LeadQuery:
    """Which leads (the filters given, by the schema's names), in what order, which page.
    Immutable: `replace` makes a changed copy."""

    __slots__ = ("where", "sort", "descending", "stage_order", "offset", "limit")

    where: dict[str, Any]
    sort: str
    descending: bool
    stage_order: tuple[str, ...]
    offset: int
    limit: int | None

    def __init__(
        self,
        *,
        sort: str = "created_at",
        descending: bool = True,
        stage_order: tuple[str, ...] = (),
        offset: int = 0,
        limit: int | None = None,
        **filters: Any,
    ) -> None:
        unknown = [name for name in filters if name not in FILTER]
        if unknown:
            raise TypeError(f"LeadQuery: unknown filter(s) {', '.join(unknown)}; the schema has {', '.join(FILTER)}")
        given = {f.name: _value(f, filters[f.name]) for f in FILTERS if _given(f, filters.get(f.name))}
        set_ = object.__setattr__
        set_(self, "where", given)
        set_(self, "sort", sort)
        set_(self, "descending", descending)
        set_(self, "stage_order", tuple(stage_order))  # pipeline order, for sorting by current_stage
        set_(self, "offset", offset)
        set_(self, "limit", limit)

    def __getattr__(self, name: str) -> Any:
        """A filter's value by its name: what was given, else its "not given" value (None, or ()
        for a repeatable one; None for ids)."""
        spec = FILTER.get(name)
        if spec is None:
            raise AttributeError(name)
        return self.where.get(name, spec.unset)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("LeadQuery is immutable: use replace()")

    def conditions(self) -> Iterator[tuple[Filter, Any]]:
        """The filters given, with their values, in the schema's order."""
        for name, value in self.where.items():
            yield FILTER[name], value

    def replace(self, **changes: Any) -> LeadQuery:
        values: dict[str, Any] = {**self.where, **{key: getattr(self, key) for key in _ORDER}}
        values.update(changes)
        return LeadQuery(**values)

    def page(self, number: int, size: int) -> LeadQuery:
        return self.replace(offset=(number - 1) * size, limit=size)

    def unpaged(self) -> LeadQuery:
        return self.replace(offset=0, limit=None)

    def _key(self) -> tuple[Any, ...]:
        return (tuple(self.where.items()), *(getattr(self, key) for key in _ORDER))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LeadQuery) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        shown = [f"{k}={v!r}" for k, v in self.where.items()]
        shown += [f"{k}={getattr(self, k)!r}" for k in _ORDER]
        return f"LeadQuery({', '.join(shown)})"


def _given(spec: Filter, value: Any) -> bool:
    if value is None:
        return False
    if spec.unset == ():
        return bool(value)  # no stages, no tags: no filter
    if spec.op == "contains":
        return value != ""  # every lead contains the empty text
    return True


def _value(spec: Filter, value: Any) -> Any:
    return tuple(value) if spec.many else value
