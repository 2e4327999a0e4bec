"""The lead, declared once, as data: each field and each filter with everything the layers
need to know about it. The rest is derived from these two tables, never written again:

- `FIELDS` -> the contract's field order (`lead.LEAD_FIELDS`), the timestamps, the add/edit
  options (`cli/options.py`), validation (the fast path `validation.plain_changes` and the
  pydantic model `lead_model.LeadChanges`, both built from `kind` and `max_length`), the import
  column names and their converters (`services/importer.py`), `--unset`, `--sort`, the table
  headers (`output/rich_view.py`), value completion (`cli/completion.py`) and the Leads Artisan
  web app's read rules (`domain/artisan.py`).
- `FILTERS` -> the filter options of list/search/count/export/stats/stale/watch, what a typed
  value becomes (`services/filters.py`), `LeadQuery` (`domain/query.py`), and how a lead is
  matched in Python (`domain/matching.py`). Each store translates the filter's `op` (SQLite
  `_where`, MongoDB `mongo_query.lead_filter`), never the filter itself: a new filter over an existing op is
  one entry here; a new op is that entry plus one translation in each store (and matching).

Plain classes on purpose, not dataclasses: this module is imported on every start-up (the
options are built from it), and a dataclass's generated methods cost ~1.5-2 ms a class to
compile there (the three of them were 3% of `count`'s CPU); these cost microseconds.
"""

from __future__ import annotations

from typing import Any, Literal

# -- fields -------------------------------------------------------------------------------------

Kind = Literal[
    "id", "text", "email", "bool", "stage", "number", "tags", "date", "custom", "history", "version",
]  # fmt: skip
"""What a field holds, which decides how it is validated, converted on import and shown:
text (trimmed; `max_length`; blank means none unless `required`), email, bool, stage (a
pipeline stage, matched by name or slug), number (a deal value), tags (a list of short texts),
date (an aware UTC datetime), custom (the `fields` object), and the system kinds id, history
and version (kept as they come on import, never set by a user)."""


class _Declaration:
    """A declaration: set once in `__init__`, then read-only; equal and shown by value."""

    __slots__: tuple[str, ...] = ()

    def _set(self, **values: Any) -> None:
        for name, value in values.items():
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is read-only")

    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self.__slots__)

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and self._values() == other._values()

    def __hash__(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{n}={getattr(self, n)!r}' for n in self.__slots__)})"


class ReadRule(_Declaration):
    """One field of the Leads Artisan backend's read model (see domain/artisan.py).

    kind: text | email | bool | datetime | entries (a list of objects).
    required: no default in the model, so a missing field is unreadable too.
    nullable: null is readable (an Optional field). Otherwise null is unreadable, default or not.
    flag / column: how a leadcli user sets the field (command line / import column); filled in
    from the field's own declaration (`naming`).
    on_write: what a leadcli write does with a null the model cannot read: "refuse", or
    "engagement" (write the engagement word, the backend's default).
    input_rule_as_strict: leadcli's own input validation already holds every value it writes to
    this rule (the email: the same validator), so the write check skips it; doctor does not."""

    __slots__ = ("kind", "required", "nullable", "min_length", "max_length", "flag", "column", "on_write", "input_rule_as_strict")
    kind: Literal["text", "email", "bool", "datetime", "entries"]
    required: bool
    nullable: bool
    min_length: int
    max_length: int | None
    flag: str
    column: str
    on_write: Literal["refuse", "engagement"]
    input_rule_as_strict: bool

    def __init__(
        self,
        kind: Literal["text", "email", "bool", "datetime", "entries"],
        *,
        required: bool = False,
        nullable: bool = False,
        min_length: int = 0,
        max_length: int | None = None,
        flag: str = "",
        column: str = "",
        on_write: Literal["refuse", "engagement"] = "refuse",
        input_rule_as_strict: bool = False,
    ) -> None:
        self._set(
            kind=kind, required=required, nullable=nullable, min_length=min_length, max_length=max_length, flag=flag,
            column=column, on_write=on_write, input_rule_as_strict=input_rule_as_strict,
        )  # fmt: skip

    def naming(self, flag: str, column: str) -> ReadRule:
        """This rule, naming the flag and the import column that set its field."""
        return ReadRule(
            self.kind, required=self.required, nullable=self.nullable, min_length=self.min_length, max_length=self.max_length,
            flag=flag, column=column, on_write=self.on_write, input_rule_as_strict=self.input_rule_as_strict,
        )  # fmt: skip


class Field(_Declaration):
    """One field of a lead.

    settable: a user sets it (add, edit, edit --json, import); the others are the system's.
    required: an `add` must give it (and a terminal asks for it); blank is an error, not "none".
    max_length: (text) the most characters it may hold.
    flag / help: the add/edit option that sets it ("" = none), and its help.
    unsettable: `edit --unset` may clear it.
    sortable: a `--sort` key.
    header: its table column heading (default: the name, `_` as spaces).
    shrink: how narrow its table column may be cut (with an ellipsis) before the column is
    dropped instead; 0: shown whole or not at all (ids, stages, numbers, dates).
    column: its import/export column as people write it (default: the name in title case).
    aliases: other spellings of its import column (normalized: lowercase, words split by spaces).
    complete: the kind of values the shell completes for its flag (cli/completion.py).
    web: how the Leads Artisan backend reads it (None: the backend does not read it)."""

    __slots__ = (
        "name", "kind", "settable", "required", "max_length", "flag", "help", "unsettable", "sortable", "header",
        "shrink", "column", "aliases", "complete", "web",
    )  # fmt: skip
    name: str
    kind: Kind
    settable: bool
    required: bool
    max_length: int | None
    flag: str
    help: str
    unsettable: bool
    sortable: bool
    header: str
    shrink: int
    column: str
    aliases: tuple[str, ...]
    complete: str
    web: ReadRule | None

    def __init__(
        self,
        name: str,
        kind: Kind,
        *,
        settable: bool = False,
        required: bool = False,
        max_length: int | None = None,
        flag: str = "",
        help: str = "",
        unsettable: bool = False,
        sortable: bool = False,
        header: str = "",
        shrink: int = 0,
        column: str = "",
        aliases: tuple[str, ...] = (),
        complete: str = "",
        web: ReadRule | None = None,
    ) -> None:
        self._set(
            name=name, kind=kind, settable=settable, required=required, max_length=max_length, flag=flag, help=help,
            unsettable=unsettable, sortable=sortable, header=header, shrink=shrink, column=column, aliases=aliases,
            complete=complete, web=web,
        )  # fmt: skip

    @property
    def heading(self) -> str:
        return self.header or self.name.replace("_", " ")

    @property
    def label(self) -> str:
        return self.column or self.name.replace("_", " ").title()


# A history or activity note and a custom field's text are as long as `notes` (text.NOTE_LIMIT).
NOTES_LIMIT = 10_000

# In the contract's order (`-o json`, the default `--fields`).
FIELDS: tuple[Field, ...] = (
    Field("id", "id"),
    Field(
        "name", "text", shrink=14, settable=True, required=True, max_length=100, flag="--name", help="Full name (1–100 characters).",
        sortable=True, aliases=("full name", "contact name", "lead name", "contact"),
        web=ReadRule("text", required=True, min_length=1, max_length=100),
    ),
    Field(
        "email", "email", shrink=16, settable=True, required=True, flag="--email", help="Email address (unique in the store).",
        aliases=("e mail", "email address", "e mail address", "emailaddress", "work email", "primary email", "email 1"),
        web=ReadRule("email", required=True, input_rule_as_strict=True),
    ),
    Field(
        "company", "text", shrink=10, settable=True, max_length=200, flag="--company", help="Company.", unsettable=True, sortable=True,
        aliases=("company name", "organization", "organisation", "account", "account name", "employer"),
        web=ReadRule("text", required=True, min_length=1, max_length=100),
    ),
    Field(
        "phone", "text", settable=True, max_length=50, flag="--phone", help="Phone number.", unsettable=True,
        aliases=("phone number", "mobile", "mobile phone", "telephone", "work phone", "phone 1"),
    ),
    Field(
        "status", "text", shrink=8, settable=True, max_length=50, flag="--status", unsettable=True,
        help="Status text (≤ 50 characters); Engaged/Not Engaged also set --engaged.",
        web=ReadRule("text", max_length=50, on_write="engagement"),
    ),
    Field(
        "engaged", "bool", settable=True, flag="--engaged/--not-engaged", help="Engagement; keeps status consistent.",
        aliases=("is engaged",), web=ReadRule("bool"),
    ),
    Field(
        "current_stage", "stage", settable=True, flag="--stage", help="Pipeline stage (name or slug).", sortable=True,
        header="stage", column="Stage", aliases=("stage", "pipeline stage", "lead stage", "deal stage"), complete="stage",
        web=ReadRule("text"),
    ),
    Field("stage_updated_at", "date", header="in stage since", web=ReadRule("datetime", nullable=True)),
    Field(
        "owner", "text", shrink=6, settable=True, max_length=100, flag="--owner", help="Owner (a teammate's name).", unsettable=True,
        aliases=("lead owner", "contact owner", "assigned to", "sales rep", "owner name"), complete="owner",
    ),
    Field(
        "source", "text", shrink=8, settable=True, max_length=100, flag="--source", help="Where the lead came from.", unsettable=True,
        aliases=("lead source", "original source", "source name"),
    ),
    Field(
        "tags", "tags", shrink=8, settable=True, flag="--tag", help="Tag (repeatable).", unsettable=True, aliases=("tag", "labels"),
        complete="tag",
    ),
    Field(
        "value", "number", settable=True, flag="--value", help="Deal value.", unsettable=True, sortable=True,
        aliases=("deal value", "amount", "deal amount", "estimated value"),
    ),
    Field(
        "notes", "text", shrink=10, settable=True, max_length=NOTES_LIMIT, flag="--notes", help="Free-text notes.", unsettable=True,
        aliases=("note", "description", "comments", "comment"),
    ),
    Field(
        "follow_up_at", "date", settable=True, flag="--follow-up", help="Next follow-up DATE (YYYY-MM-DD, ISO, tomorrow, +3d…).",
        unsettable=True, header="follow-up", complete="date",
        aliases=("follow up", "follow up date", "next follow up", "next follow up date", "followup"),
    ),
    Field(
        "last_contacted", "date", settable=True, unsettable=True, sortable=True, header="contacted",
        aliases=("last contact", "last contacted at", "last contact date", "last contacted date"),
        web=ReadRule("datetime", nullable=True),
    ),
    Field(
        "created_at", "date", sortable=True, header="created",
        aliases=("created", "create date", "created date", "date created", "created on"), web=ReadRule("datetime", required=True),
    ),
    Field(
        "updated_at", "date", sortable=True, header="updated", aliases=("updated", "last modified", "last modified date"),
        web=ReadRule("datetime", required=True),
    ),
    Field("stage_history", "history", web=ReadRule("entries")),
    Field("fields", "custom", settable=True, flag="--field", help="Custom field KEY=VALUE (repeatable).", aliases=("custom fields",)),
    Field("version", "version"),
)

FIELD = {f.name: f for f in FIELDS}
FIELD_NAMES = tuple(FIELD)
# What users set (LeadChanges' fields, in this order: the order validation returns them in).
SETTABLE = tuple(f for f in FIELDS if f.settable)
REQUIRED = tuple(f for f in SETTABLE if f.required)
TEXT_LIMITS = {f.name: f.max_length for f in FIELDS if f.kind == "text" and f.max_length is not None}
UNSETTABLE = tuple(f.name for f in FIELDS if f.unsettable)
SORTABLE = tuple(f.name for f in FIELDS if f.sortable)
TIMESTAMPS = tuple(f.name for f in FIELDS if f.kind == "date")


# -- filters ------------------------------------------------------------------------------------

Op = Literal[
    "in", "not_in", "equals", "is", "has_all", "contains", "at_or_after", "before", "at_or_before",
    "before_or_never", "idle_before", "id_in",
]  # fmt: skip
"""How a filter compares its fields with its value; each store translates each op once:
in / not_in: the field is one of the values / is none of them or empty;
equals: text equal ignoring ASCII case; is: a true/false field is the value (missing = false);
has_all: a list field holds every value; contains: any of the fields contains the text,
ignoring case and accents, every character literal (`domain.folding`);
at_or_after / before / at_or_before: a date bound (an empty date never passes);
before_or_never: before the date, or empty;
idle_before: the first field (else the second) is before the date;
id_in: the lead's id is one of the values (an empty tuple matches nothing)."""

Value = Literal["text", "texts", "stages", "bool", "date", "internal"]
"""What the user types for a filter, and what it becomes in a LeadQuery: text as typed
(`contains` ignores an empty text), texts (repeatable; trimmed, blanks dropped), stages
(repeatable; matched against the pipeline), bool (a --x/--not-x switch), date (`parse_when`
in the user's timezone); internal: set by services only (no option)."""


class Filter(_Declaration):
    """One filter of LeadQuery. `flags` empty: a service's filter (no option)."""

    __slots__ = ("name", "op", "fields", "value", "flags", "help", "complete")
    name: str
    op: Op
    fields: tuple[str, ...]
    value: Value
    flags: tuple[str, ...]
    help: str
    complete: str

    def __init__(
        self, name: str, op: Op, fields: tuple[str, ...], value: Value, flags: tuple[str, ...] = (), *, help: str = "", complete: str = ""
    ) -> None:
        self._set(name=name, op=op, fields=fields, value=value, flags=flags, help=help, complete=complete)

    @property
    def many(self) -> bool:
        """Its value is a tuple."""
        return self.value in ("texts", "stages") or self.op in ("not_in", "id_in")

    @property
    def unset(self) -> tuple[()] | None:
        """Its value when not given: an empty tuple for a list of values (giving none, no stages
        or no tags, is no filter either), else None. Ids are the exception: no ids means "no
        lead", so not given is None there."""
        return () if self.many and self.op != "id_in" else None

    @property
    def flag(self) -> str:
        """How messages name it: its first option, or its name."""
        return self.flags[0].split("/")[0] if self.flags else self.name


FILTERS: tuple[Filter, ...] = (
    Filter("ids", "id_in", ("id",), "internal"),
    Filter(
        "stages", "in", ("current_stage",), "stages", ("--stage",), complete="stage",
        help="Only these stages (repeatable, any of). Names or slugs, e.g. closed-won.",
    ),
    Filter("exclude_stages", "not_in", ("current_stage",), "internal"),
    Filter("status", "equals", ("status",), "text", ("--status",), help="Only this status (case-insensitive)."),
    Filter("engaged", "is", ("engaged",), "bool", ("--engaged/--not-engaged",), help="Only engaged, or only not engaged, leads."),
    Filter("owner", "equals", ("owner",), "text", ("--owner",), help="Only leads with this owner.", complete="owner"),
    Filter("source", "equals", ("source",), "text", ("--source",), help="Only leads from this source."),
    Filter("tags", "has_all", ("tags",), "texts", ("--tag",), help="Only leads with this tag (repeatable, all of).", complete="tag"),
    Filter("company", "contains", ("company",), "text", ("--company",), help="Company contains this text (case-insensitive)."),
    Filter(
        "search", "contains", ("name", "email", "company", "notes"), "text", ("--search", "-q"),
        help="Name, email, company or notes contain this text (case-insensitive, literal).",
    ),
    Filter(
        "created_after", "at_or_after", ("created_at",), "date", ("--created-after",), complete="date",
        help="Created at or after DATE (YYYY-MM-DD, ISO, today, -3d, +2w, -6mo, -1y…).",
    ),
    Filter("created_before", "before", ("created_at",), "date", ("--created-before",), help="Created before DATE.", complete="date"),
    Filter(
        "contacted_before", "before_or_never", ("last_contacted",), "date", ("--contacted-before",), complete="date",
        help="Last contacted before DATE, or never contacted.",
    ),
    Filter(
        "follow_up_before", "at_or_before", ("follow_up_at",), "date", ("--follow-up-before",), complete="date",
        help="Follow-up due at or before DATE.",
    ),
    # Leads whose last contact (or, never contacted, creation) is before this moment (`stale`).
    Filter("idle_since", "idle_before", ("last_contacted", "created_at"), "internal"),
)

FILTER = {f.name: f for f in FILTERS}
OPTION_FILTERS = tuple(f for f in FILTERS if f.flags)
