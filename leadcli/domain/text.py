"""What text may hold, and how views show it: the one rule about control characters, used by
input validation (refused) and by every view (`escaped`, `one_line`: shown as `\\xNN`, and
invisible characters as `\\uNNNN`). Light on purpose: output imports it at start."""

from __future__ import annotations

import re

from leadcli.domain.errors import InvalidInput

# Control characters (C0 but tab and line breaks, DEL, C1) have no place in a lead: stored, an
# ESC sequence in a name would drive the terminal of whoever lists it; NUL breaks other tools.
CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
NO_CONTROLS = "must not contain control characters (ESC, NUL…); tabs and line breaks are fine"

# The words read as yes and no, wherever a yes/no is typed: boolean options, an import's
# engaged column. Compared lower-cased and stripped.
YES_WORDS = frozenset({"1", "true", "t", "yes", "y", "on"})
NO_WORDS = frozenset({"0", "false", "f", "no", "n", "off"})


NOTE_LIMIT = 10_000  # characters of a history or activity note (and of `notes`, a custom field)
TAG_LIMIT = 100  # characters of a tag
USER_LIMIT = 100  # characters of --user, recorded as `by`


def check_user(user: str) -> str:
    """`--user` (LEADCLI_USER, the config's `user`): recorded as `by` on every write."""
    if not user.strip():
        raise InvalidInput("--user: must not be empty")
    if len(user) > USER_LIMIT:
        raise InvalidInput(f"--user: at most {USER_LIMIT} characters, not {len(user):,}")
    if CONTROLS.search(user):
        raise InvalidInput(f"--user: {NO_CONTROLS}")
    return user


def check_note(flag: str, note: str | None, limit: int = NOTE_LIMIT) -> None:
    """A history or activity note (`--note`), an added tag: free text, but no control characters,
    and at most `limit` characters."""
    if note is not None and CONTROLS.search(note):
        raise InvalidInput(f"{flag}: {NO_CONTROLS}")
    if note is not None and len(note) > limit:
        raise InvalidInput(f"{flag}: at most {limit:,} characters, not {len(note):,}")


# Spreadsheet formula injection: a CSV/TSV cell starting with = + - @ (or a tab or CR before one)
# is run as a formula by Excel, LibreOffice and Sheets (`=HYPERLINK(…)`, `+cmd|…`). Output
# prefixes such a cell with `'` (what spreadsheets show as text); a plain number (`-5`, `+1.5e3`)
# is not a formula and is left as it is. So that the prefix can be undone exactly, a cell that
# already starts with quotes before such a character gets one more: output adds one `'` to every
# cell matching `'*[=+-@\t\r]`, and import (CSV/TSV only) removes one from every cell matching
# `'+[=+-@\t\r]` — exactly the cells output changed.
_FORMULA_START = frozenset("'=+-@\t\r")
_NEEDS_QUOTE = re.compile(r"'*[=+\-@\t\r]")
_QUOTED = re.compile(r"'+[=+\-@\t\r]")
_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


def spreadsheet_safe(cell: str) -> str:
    """`cell` as a CSV/TSV output writes it: no spreadsheet runs it as a formula."""
    if cell[:1] in _FORMULA_START and _NEEDS_QUOTE.match(cell) and not _PLAIN_NUMBER.fullmatch(cell):
        return "'" + cell
    return cell


def from_spreadsheet_safe(cell: str) -> str:
    """What `spreadsheet_safe` was given (import of a CSV/TSV cell)."""
    if cell[:1] == "'" and _QUOTED.match(cell):
        return cell[1:]
    return cell


# Shown escaped in views (tables, cards), allowed in data: characters that are invisible yet
# change how the text around them reads. Zero-width space and word joiners, the BOM, and the
# bidirectional marks, embeddings, overrides and isolates (U+202E turns `Ada‮gnp.exe` around, so
# two leads can look alike or a name can hide what follows it). ZWNJ and ZWJ (U+200C, U+200D)
# are left as they are: Persian and Indic names and emoji sequences need them.
INVISIBLE = "\u200b\u200e\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff"
SHOWN_ESCAPED = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f" + INVISIBLE + "]")


def escaped(text: str) -> str:
    """`text` as views show it: control characters as `\\xNN`, invisible ones as `\\uNNNN`;
    tab and line breaks kept (a card's notes keep their lines)."""
    return SHOWN_ESCAPED.sub(_escape, text)


_LINE_BREAKS = re.compile(r"\r\n|[\t\n\r\v\f\x85\u2028\u2029]")


def one_line(text: str) -> str:
    """`escaped`, with tabs and line breaks as spaces too, so a value keeps its row and column
    (table cells, the board, the lines of `watch`, history entries, `error:` lines)."""
    return escaped(_LINE_BREAKS.sub(" ", text))


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def encodable(text: str) -> bool:
    """Whether `text` is valid Unicode (no lone surrogates: bytes the OS could not decode, which
    neither UTF-8 output nor pydantic can take)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
