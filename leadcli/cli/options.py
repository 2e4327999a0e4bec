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


def _opt(annotation: Any, *decls: str, help: str, default: Any = None) -> inspect.Parameter:
    return inspect.Parameter(
        decls[0].lstrip("-").replace("-", "_") if not decls[0].startswith("--engaged") else "engaged",
        inspect.Parameter.KEYWORD_ONLY,
        default=default,
        annotation=Annotated[annotation, typer.Option(*decls, help=help, show_default=False)],
    )


FILTER_PARAMS = [
    _opt(list[str] | None, "--stage", help="Only these stages (repeatable, any of). Names or slugs, e.g. closed-won."),
    _opt(str | None, "--status", help="Only this status (case-insensitive)."),
    _opt(bool | None, "--engaged/--not-engaged", help="Only engaged, or only not engaged, leads."),
    _opt(str | None, "--owner", help="Only leads with this owner."),
    _opt(str | None, "--source", help="Only leads from this source."),
    _opt(list[str] | None, "--tag", help="Only leads with this tag (repeatable, all of)."),
    _opt(str | None, "--company", help="Company contains this text (case-insensitive)."),
    _opt(str | None, "--search", "-q", help="Name, email, company or notes contain this text (case-insensitive, literal)."),
    _opt(str | None, "--created-after", help="Created at or after DATE (YYYY-MM-DD, ISO, today, -3d, +2w, -6mo, -1y…)."),
    _opt(str | None, "--created-before", help="Created before DATE."),
    _opt(str | None, "--contacted-before", help="Last contacted before DATE, or never contacted."),
    _opt(str | None, "--follow-up-before", help="Follow-up due at or before DATE."),
]


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
    """Adds the contract's filter options; the command receives `filters: FilterArgs`."""
    from leadcli.services.filters import FilterArgs

    def build(values: dict[str, Any]) -> FilterArgs:
        return FilterArgs(
            stage=tuple(values.get("stage") or ()),
            status=values.get("status"),
            engaged=values.get("engaged"),
            owner=values.get("owner"),
            source=values.get("source"),
            tag=tuple(values.get("tag") or ()),
            company=values.get("company"),
            search=values.get("search"),
            created_after=values.get("created_after"),
            created_before=values.get("created_before"),
            contacted_before=values.get("contacted_before"),
            follow_up_before=values.get("follow_up_before"),
        )

    return _with_params(func, FILTER_PARAMS, "filters", build)


LEAD_FIELD_PARAMS = [
    _opt(str | None, "--name", help="Full name (1–100 characters)."),
    _opt(str | None, "--email", help="Email address (unique in the store)."),
    _opt(str | None, "--company", help="Company."),
    _opt(str | None, "--phone", help="Phone number."),
    _opt(str | None, "--stage", help="Pipeline stage (name or slug)."),
    _opt(str | None, "--status", help="Status text (≤ 50 characters); Engaged/Not Engaged also set --engaged."),
    _opt(bool | None, "--engaged/--not-engaged", help="Engagement; keeps status consistent."),
    _opt(str | None, "--owner", help="Owner (a teammate's name)."),
    _opt(str | None, "--source", help="Where the lead came from."),
    _opt(list[str] | None, "--tag", help="Tag (repeatable)."),
    _opt(float | None, "--value", help="Deal value."),
    _opt(str | None, "--notes", help="Free-text notes."),
    _opt(str | None, "--follow-up", help="Next follow-up DATE (YYYY-MM-DD, ISO, tomorrow, +3d…)."),
    _opt(list[str] | None, "--field", help="Custom field KEY=VALUE (repeatable)."),
]


def lead_field_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Adds the lead field options of add/edit; the command receives `values: dict` holding only
    the options given, with `--follow-up` and `--field` still as typed (see
    `services.leads.changes_from_options`)."""

    def build(values: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in values.items() if v is not None and v != []}

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
