"""What text may hold: the one rule about control characters, used by input validation
(refused) and by the views (shown as `\\xNN`). Light on purpose: output imports it at start."""

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


def check_note(flag: str, note: str | None) -> None:
    """A history or activity note (`--note`), an added tag: free text, but no control characters."""
    if note is not None and CONTROLS.search(note):
        raise InvalidInput(f"{flag}: {NO_CONTROLS}")
