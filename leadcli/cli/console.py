"""Messages for people, on stderr, so stdout stays parseable."""

import sys


def info(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def error(message: str) -> None:
    """One `error:` line; any URI password or token in it is masked, and control and invisible
    characters it echoes (a lead as typed: ESC sequences, U+202E) are shown escaped, as views do."""
    from leadcli.config import mask_uri
    from leadcli.domain.text import escaped

    first_line = " ".join(message.split("\n")).strip()
    print(f"error: {escaped(mask_uri(first_line))}", file=sys.stderr, flush=True)


def stdin_is_tty() -> bool:
    try:
        return sys.stdin.isatty()
    except (AttributeError, ValueError):
        return False


def confirm(question: str) -> bool:
    """Ask on a terminal; callers must have checked `stdin_is_tty()` first."""
    import typer

    return typer.confirm(question, default=False, err=True)
