"""Options shared by several commands, declared once: output, filters, paging, lead fields.
`filter_options` and `lead_field_options` add their options to a command's signature and hand
the command one object instead of a dozen parameters.
"""


import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

import typer

from leadcli.domain.schema import FIELD as SCHEMA_FIELD
from leadcli.domain.schema import OPTION_FILTERS, SETTABLE

OutputOpt = Annotated[
    str,
    typer.Option("--output", "-o", help="table, json, jsonl, csv, tsv or ids.", metavar="FORMAT"),
]
FieldsOpt = Annotated[
    str | None,
    typer.Option("--fields", help="Comma-separated fields to print, in order (e.g. handle,name,stage,email); handle and stage (= current_stage) included.", show_default=False),
]
PageOpt = Annotated[int, typer.Option("--page", help="Page number, from 1.")]
PageSizeOpt = Annotated[int | None, typer.Option("--page-size", help="Leads per page (default 20, or the config's page_size).", show_default=False)]
AllOpt = Annotated[bool, typer.Option("--all", help="Every matching lead, streamed, no paging.")]
YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]
SortOpt = Annotated[
    str,
    typer.Option("--sort", help="name, company, stage (pipeline order), last_contacted, created_at, updated_at or value.", metavar="FIELD"),
]
LimitOpt = Annotated[int | None, typer.Option("--limit", help="At most N leads (the first N in the sort order).", metavar="N", show_default=False)]
DescOpt = Annotated[bool, typer.Option("--desc/--asc", help="Sort order (default: newest first).")]


def _opt(name: str, annotation: Any, decls: tuple[str, ...], help: str) -> inspect.Parameter:
    return inspect.Parameter(
        name,
        inspect.Parameter.KEYWORD_ONLY,
        default=None,
        annotation=Annotated[annotation, typer.Option(*decls, help=help, show_default=False)],
    )


# What each kind of filter value and of lead field is typed as on the command line.
_FILTER_TYPES: dict[str, Any] = {"text": str | None, "date": str | None, "bool": bool | None, "texts": list[str] | None, "stages": list[str] | None}
_FIELD_TYPES: dict[str, Any] = {
    "text": str | None, "email": str | None, "stage": str | None, "date": str | None, "bool": bool | None,
    "number": float | None, "tags": list[str] | None, "custom": list[str] | None,
}  # fmt: skip

# The filter options of the schema (domain/schema.py FILTERS), each named as its filter.
FILTER_PARAMS = [_opt(f.name, _FILTER_TYPES[f.value], f.flags, f.help) for f in OPTION_FILTERS]


def _with_params(
    func: Callable[..., Any], params: list[inspect.Parameter], target: str, build: Callable[[dict[str, Any]], Any]
) -> Callable[..., Any]:
    """Replace `func`'s parameter `target` with `params`; the wrapper builds `target` from them."""
    signature = inspect.signature(func)
    names = {p.name for p in params}

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        picked = {name: kwargs.pop(name) for name in list(kwargs) if name in names}
        kwargs[target] = build(picked)
        return func(*args, **kwargs)

    kept = [p for p in signature.parameters.values() if p.name != target]
    wrapper.__signature__ = signature.replace(parameters=kept + params)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in kept + params}
    del wrapper.__wrapped__  # Typer must read the new signature, not the original one
    return wrapper


def filter_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Adds the schema's filter options; the command receives `filters: FilterArgs`."""
    from leadcli.services.filters import FilterArgs

    def build(values: dict[str, Any]) -> FilterArgs:
        return FilterArgs({name: value for name, value in values.items() if value is not None})

    return _with_params(func, FILTER_PARAMS, "filters", build)


# The add/edit options of the schema's settable fields that have one. Each parameter is named
# after its flag (`field` for --field: a command's own `fields`, --fields, is another option).
_FIELD_OF_PARAM = {f.flag.split("/")[0].lstrip("-").replace("-", "_"): f.name for f in SETTABLE if f.flag}
LEAD_FIELD_PARAMS = [
    _opt(param, _FIELD_TYPES[SCHEMA_FIELD[name].kind], (SCHEMA_FIELD[name].flag,), SCHEMA_FIELD[name].help)
    for param, name in _FIELD_OF_PARAM.items()
]


def lead_field_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Adds the lead field options of add/edit; the command receives `values: dict` (field name
    -> value) holding only the options given, dates (`--follow-up`) and custom fields
    (`--field KEY=VALUE`) still as typed (see `services.leads.changes_from_options`)."""

    def build(values: dict[str, Any]) -> dict[str, Any]:
        return {_FIELD_OF_PARAM[k]: v for k, v in values.items() if v is not None and v != []}

    return _with_params(func, LEAD_FIELD_PARAMS, "values", build)


@dataclass(frozen=True)
class Listing:
    """How a list of leads is ordered, paged and printed (`list` and `search`)."""

    sort: str
    descending: bool
    page: int
    page_size: int | None
    everything: bool
    output: str
    fields: str | None
    limit: int | None = None


def _keyword(name: str, annotation: Any, default: Any) -> inspect.Parameter:
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)


LISTING_PARAMS = [
    _keyword("sort", SortOpt, "created_at"),
    _keyword("descending", DescOpt, True),
    _keyword("page", PageOpt, 1),
    _keyword("page_size", PageSizeOpt, None),
    _keyword("everything", AllOpt, False),
    _keyword("output", OutputOpt, "table"),
    _keyword("fields", FieldsOpt, None),
    _keyword("limit", LimitOpt, None),
]


def listing_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Adds --sort, --desc/--asc, --page, --page-size, --all, --output and --fields; the command
    receives `listing: Listing`."""
    def build(values: dict[str, Any]) -> Listing:
        values["sort"] = SORT_ALIASES.get(values["sort"], values["sort"])
        return Listing(**values)

    return _with_params(func, LISTING_PARAMS, "listing", build)


# What the tables call a field, accepted as its name.
SORT_ALIASES = {"stage": "current_stage"}
