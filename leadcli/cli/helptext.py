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
