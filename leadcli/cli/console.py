"""Messages for people, on stderr, so stdout stays parseable."""

import sys

from leadcli.domain.text import escaped, one_line


def info(message: str) -> None:
    """A message for people; user text in it shown by the views' rule (`domain.text.escaped`)."""
    print(escaped(message), file=sys.stderr, flush=True)


def error(message: str) -> None:
    """One `error:` line; any URI password or token in it is masked, and control and invisible
    characters it echoes (a lead as typed: ESC sequences, U+202E) are shown escaped, as views do."""
    from leadcli.config import mask_uri

    first_line = one_line(message).strip()
    print(f"error: {mask_uri(first_line)}", file=sys.stderr, flush=True)


def stdin_is_tty() -> bool:
    try:
        return sys.stdin.isatty()
    except (AttributeError, ValueError):
        return False


def confirm(question: str) -> bool:
    """Ask on a terminal; callers must have checked `stdin_is_tty()` first."""
    import typer

    return typer.confirm(one_line(question), default=False, err=True)
