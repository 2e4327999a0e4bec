"""Shell completion of option values: stages, fields, sort keys, formats, activity types, due
words, dates, and (on a SQLite store that exists) the owners and tags already in it.

`install(group)` attaches a completer to each option by its name when the command tree is
built; the completers import what they need only when the shell asks, so a normal run pays a
dictionary lookup per option and nothing more.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

DATE_WORDS = ("today", "yesterday", "tomorrow", "now", "-7d", "-30d", "-3mo", "+3d", "+1w")
# Option name -> what its values are: the schema's fields and filters (domain/schema.py) say
# theirs; these are the other options' (and the same values under other commands' flags).
OTHER_KINDS = {
    "--to": "stage", "--move-to": "stage", "--fields": "fields", "--sort": "sort", "--output": "format",
    "--type": "activity", "--due": "due", "--add-tag": "tag", "--remove-tag": "tag", "--unset": "unset", "--at": "date",
}  # fmt: skip
# How many owners or tags are offered (a prefix narrows them in the store).
STORE_VALUES = 200


def install(group: Any) -> None:
    """Give every option of `group`'s commands whose values have a kind a value completer."""

    from leadcli.domain.schema import FIELDS, FILTERS

    kinds = {
        **{flag: f.complete for f in FILTERS if f.complete for flag in f.flags},
        **{f.flag: f.complete for f in FIELDS if f.complete and f.flag},
        **OTHER_KINDS,
    }

    def visit(cmd: Any) -> None:
        for param in cmd.params:
            kind = next((kinds[o] for o in getattr(param, "opts", ()) if o in kinds), None)
            if kind and getattr(param, "_custom_shell_complete", None) is None:
                param._custom_shell_complete = _completer(kind)
        for sub in getattr(cmd, "commands", {}).values():
            visit(sub)

    visit(group)


def _completer(kind: str) -> Callable[[Any, Any, str], list[Any]]:
    def complete(ctx: Any, param: Any, incomplete: str) -> list[Any]:
        from typer._click.shell_completion import CompletionItem

        try:
            found = values(kind, ctx, incomplete)
        except Exception:  # completion must never print a traceback into the shell
            return []
        return [CompletionItem(v) for v in found if v.startswith(incomplete)]

    return complete


def values(kind: str, ctx: Any, incomplete: str) -> list[str]:
    """The candidate values of `kind` for what has been typed so far."""
    if kind == "fields":  # a comma-separated list: complete its last item
        from leadcli.domain.lead import LEAD_FIELDS

        done, _sep, _last = incomplete.rpartition(",")
        head = done + "," if _sep else ""
        taken = set(done.split(","))
        fields: tuple[str, ...] = (*LEAD_FIELDS, "handle", "stage")
        if getattr(getattr(ctx, "command", None), "name", None) == "history":  # rows of changes, not leads
            from leadcli.cli.pipeline import HISTORY_FIELDS

            fields = HISTORY_FIELDS
        return [head + f for f in fields if f not in taken]
    if kind == "sort":
        from leadcli.domain.query import SORT_FIELDS

        return [*SORT_FIELDS, "stage"]
    if kind == "format":
        from leadcli.output import FORMATS

        return list(FORMATS)
    if kind == "activity":
        from leadcli.services.pipeline import ACTIVITY_TYPES

        return list(ACTIVITY_TYPES)
    if kind == "due":
        from leadcli.services.pipeline import DUE_WORDS

        return [*DUE_WORDS, *(w for w in DATE_WORDS if w not in DUE_WORDS)]
    if kind == "date":
        return list(DATE_WORDS)
    if kind == "unset":
        from leadcli.domain.schema import UNSETTABLE

        return [f.replace("_at", "").replace("_", "-") if f == "follow_up_at" else f for f in UNSETTABLE]
    settings = _settings(ctx)
    if kind == "stage":
        from leadcli.domain.pipeline import Pipeline, slug

        cfg = settings.pipeline
        pipeline = Pipeline.from_config(cfg.get("stages"), cfg.get("closed"), cfg.get("won"), cfg.get("lost"))
        return [slug(s) for s in pipeline.stages]
    if kind in ("owner", "tag"):
        return _from_store(settings.db, kind, incomplete)
    return []


def _settings(ctx: Any) -> Any:
    """The settings the command would run with: --db, --config and --profile as typed so far."""
    from leadcli.config import load_settings

    params = ctx.find_root().params if ctx is not None else {}
    return load_settings(db=params.get("db"), config=params.get("config"), profile=params.get("profile"))


def _from_store(db: str, kind: str, prefix: str) -> list[str]:
    """Owners or tags from an existing SQLite store (cheap: an index walk). Never from MongoDB:
    a slow or unreachable server would hang the shell's Tab."""
    from leadcli.store import is_mongo_uri, sqlite_path

    if is_mongo_uri(db):
        return []
    path = sqlite_path(db)
    if path is None or not path.exists():
        return []
    from leadcli.store.sqlite import SqliteStore

    store = SqliteStore(path)
    try:
        return store.known_values(kind, prefix, STORE_VALUES)
    finally:
        store.close()
