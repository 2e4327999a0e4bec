"""Accent- and case-insensitive text matching, the same on every store: `muller` finds Müller,
`zoe` finds Zoë and `müller` finds Muller.

`fold` maps each character on its own (so the fold of a substring is a substring of the fold):
compatibility decomposition, combining marks dropped, then case folded — kept only when that
gives one character (`ß` stays `ß`, `æ` stays `æ`: a one-to-one fold is what a regex character
class can express, so MongoDB matches exactly what SQLite matches). A few letters with no
decomposition are folded by hand (`ø`, `ł`, `đ`…). Every other character, including every
character that is syntax somewhere (`%`, `_`, `"`, `*`, `\\`), folds to itself: searches stay
literal.
"""

from __future__ import annotations

import re
import unicodedata

# Letters that carry a stroke or bar rather than a combining mark: no decomposition to drop.
_BY_HAND = {"ø": "o", "Ø": "o", "ł": "l", "Ł": "l", "đ": "d", "Đ": "d", "ħ": "h", "Ħ": "h", "ı": "i", "ŧ": "t", "Ŧ": "t"}
# The SQLite search index pads each column with this (so a 1-2 character search has a trigram to
# look up at the end of a value); the fold of any text never contains it.
PAD = "\uffff"


def fold_char(c: str) -> str:
    """One character's fold: '' for a combining mark, else exactly one character."""
    if c < "\x80":
        return c.lower()
    if c == PAD:
        return "\ufffd"
    if c in _BY_HAND:
        return _BY_HAND[c]
    if unicodedata.category(c) == "Mn":
        return ""
    stripped = "".join(d for d in unicodedata.normalize("NFKD", c) if unicodedata.category(d) != "Mn")
    for candidate in (stripped.casefold(), stripped.lower(), c.casefold(), c.lower()):
        if len(candidate) == 1:
            return candidate
    return c


class _Table(dict[int, str]):
    """`str.translate` table that folds each character met, once."""

    def __missing__(self, code: int) -> str:
        folded = fold_char(chr(code))
        self[code] = folded
        return folded


_TABLE = _Table()


def fold(text: str) -> str:
    """`text` folded for matching (see the module docstring)."""
    if text.isascii():
        return text.lower()
    return text.translate(_TABLE)


# Characters a MongoDB regex class lists for each folded character: Latin, Greek, Cyrillic, the
# Latin extended blocks and the full-width forms — where accented and case variants live.
_RANGES = ((0x20, 0x250), (0x370, 0x530), (0x1E00, 0x1F00), (0x2100, 0x2150), (0xFB00, 0xFB07), (0xFF01, 0xFF5F), (0xFFFD, 0x10000))
_variants: dict[str, list[str]] | None = None


def _variant_table() -> dict[str, list[str]]:
    global _variants
    if _variants is None:
        table: dict[str, list[str]] = {}
        for start, end in _RANGES:
            for code in range(start, end):
                c = chr(code)
                if unicodedata.category(c) in ("Cn", "Cs", "Mn"):
                    continue
                folded = fold_char(c)
                if folded and folded != c:
                    table.setdefault(folded, []).append(c)
        _variants = table
    return _variants


def folding_regex(text: str) -> str | None:
    """A regex (Perl/RE2 syntax) matching, in unfolded text, what contains `fold(text)`: each
    character as a class of every character folding to it, combining marks allowed after it.
    Every character of `text` is literal (escaped). None when the fold is empty (a search for
    combining marks alone), which matches nothing."""
    folded = fold(text)
    if not folded:
        return None
    table = _variant_table()
    parts = []
    for c in folded:
        variants = [c, *table.get(c, ())]
        upper = c.upper()
        if len(upper) == 1 and upper not in variants:
            variants.append(upper)
        body = "".join(_class_char(v) for v in variants)
        parts.append(f"[{body}]" if len(variants) > 1 else re.escape(c))
    return r"\p{Mn}*".join(parts)


def _class_char(c: str) -> str:
    return "\\" + c if c in "\\]^-[" else c
