"""Command help that teaches: every docstring has a one-line summary and an **Examples** block.

Examples are written as an indented block (or a ``` fence) under `**Examples**`. Typer's
markdown mode dedents help twice, which turns an indented block into one run-on paragraph, so
`fence` rewrites it as a fenced block before Typer sees it. `examples` reads the commands back
out: tests/test_help.py runs every one of them.
"""

from __future__ import annotations

import inspect
import re

HEADING = re.compile(r"^\s*(\*\*Examples?\*\*|Examples?:)\s*$")


def _split(help_text: str) -> tuple[list[str], list[str], list[str]] | None:
    """(lines before the block, the example lines, lines after) or None without a block."""
    lines = inspect.cleandoc(help_text).splitlines()
    i = next((n for n, line in enumerate(lines) if HEADING.match(line)), None)
    if i is None:
        return None
    j = i + 1
    while j < len(lines) and not lines[j].strip():
        j += 1
    if j < len(lines) and lines[j].strip().startswith("```"):
        k = j + 1
        while k < len(lines) and not lines[k].strip().startswith("```"):
            k += 1
        return lines[: i + 1], [ln.strip() for ln in lines[j + 1 : k] if ln.strip()], lines[k + 1 :]
    k = j
    while k < len(lines) and (lines[k].startswith((" ", "\t")) or not lines[k].strip()):
        k += 1
    return lines[: i + 1], [ln.strip() for ln in lines[j:k] if ln.strip()], lines[k:]


def examples(help_text: str | None) -> list[str]:
    """The example command lines of a help text, in order."""
    parts = _split(help_text or "")
    return parts[1] if parts else []


def fence(help_text: str | None) -> str | None:
    """The help text with its Examples block as a fenced code block (shown line by line)."""
    parts = _split(help_text or "")
    if not parts or not parts[1]:
        return help_text
    before, lines, after = parts
    return "\n".join([*before, "", "```", *lines, "```", *after]).rstrip() + "\n"


# -- the help screens --------------------------------------------------------------------------

# Commands grouped by task, in the order the help lists them (the first panel is what a new user
# needs first). A command missing here lands in the last panel.
PANELS = {
    "Leads": ("add", "show", "edit", "delete"),
    "Finding leads": ("list", "search", "count", "followups", "stale"),
    "Pipeline": ("move", "log", "history", "stats", "stages"),
    "Import and export": ("import", "export"),
    "Live": ("watch", "serve"),
    "Setup": ("config", "doctor"),
}
# What an option's value is, shown in help in place of Typer's type names (`<str>`).
METAVARS = {
    "--db": "URI", "--config": "PATH", "--profile": "NAME", "--user": "NAME",
    "--stage": "STAGE", "--to": "STAGE", "--move-to": "STAGE", "--status": "TEXT", "--owner": "NAME",
    "--source": "TEXT", "--tag": "TAG", "--add-tag": "TAG", "--remove-tag": "TAG", "--company": "TEXT",
    "--search": "TEXT", "--name": "TEXT", "--email": "EMAIL", "--phone": "TEXT", "--value": "AMOUNT",
    "--notes": "TEXT", "--note": "TEXT", "--field": "KEY=VALUE", "--unset": "FIELD", "--json": "FILE",
    "--fields": "FIELDS", "--sort": "FIELD", "--page": "N", "--page-size": "N", "--limit": "N",
    "--days": "N", "--type": "TYPE", "--at": "WHEN", "--due": "WHEN", "--count": "N", "--since": "SEQ",
    "--timeout": "SECONDS", "--server": "URL", "--token": "TOKEN", "--host": "HOST", "--port": "PORT",
    "--file": "PATH", "--format": "FORMAT", "--map": "SOURCE=FIELD", "--rejects": "FILE",
    "--created-after": "DATE", "--created-before": "DATE", "--contacted-before": "DATE",
    "--follow-up-before": "DATE", "--follow-up": "DATE",
}  # fmt: skip
TYPE_METAVARS = {int: "N", float: "NUMBER"}


def tidy(group: object) -> None:
    """The help screens of `group` (the root command) for people: commands grouped by task,
    option values named by what they are (DATE, STAGE…) rather than by Python type, flags with
    no value shown. Called once per run on the command tree; a few dict lookups."""
    commands = getattr(group, "commands", {})
    order = [name for names in PANELS.values() for name in names]
    if isinstance(commands, dict):
        ranked = sorted(commands, key=lambda n: order.index(n) if n in order else len(order))
        group.commands = {name: commands[name] for name in ranked}  # type: ignore[attr-defined]
        panel_of = {name: panel for panel, names in PANELS.items() for name in names}
        for name, cmd in commands.items():
            cmd.rich_help_panel = panel_of.get(name, list(PANELS)[-1])
    _metavars(group)


def _metavars(cmd: object) -> None:
    make_help_option = cmd.get_help_option  # type: ignore[attr-defined]

    def get_help_option(ctx: object) -> object:
        option = make_help_option(ctx)
        if option is not None:
            option.metavar = ""
        return option

    cmd.get_help_option = get_help_option  # type: ignore[attr-defined]
    for param in getattr(cmd, "params", ()):
        if getattr(param, "param_type_name", "") == "argument":  # named (LEAD) or not, no <str> beside it
            param.display_type_rich = lambda ctx: None  # the argument's name says what it is
            continue
        if getattr(param, "metavar", None) is not None:
            continue
        if getattr(param, "is_flag", False):
            param.metavar = ""
            continue
        name = next((o for o in param.opts if o.startswith("--")), "")
        kind = getattr(getattr(param, "type_descriptor", None), "annotation", None)
        param.metavar = METAVARS.get(name) or TYPE_METAVARS.get(kind, "TEXT")  # type: ignore[arg-type]
    for sub in getattr(cmd, "commands", {}).values():
        _metavars(sub)
