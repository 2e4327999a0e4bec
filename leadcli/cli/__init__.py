"""The command line: Typer commands (thin) and the one error boundary that maps errors to exit codes."""

import errno
import os
import sys
from collections.abc import Sequence

from leadcli.cli import admin, leads, live, pipeline, transfer  # noqa: F401  (commands register on import)
from leadcli.cli.app import app
from leadcli.cli.console import error
from leadcli.domain.errors import LeadError

__all__ = ["app", "main", "run"]


def command():  # type: ignore[no-untyped-def]
    """The Click command tree Typer builds from `app`, with plain coercion for simple options
    (see leadcli/cli/coerce.py: keeps pydantic out of every run)."""
    import typer.main

    from leadcli.cli import completion
    from leadcli.cli.coerce import install
    from leadcli.cli.helptext import fence, tidy

    group = install(typer.main.get_command(app))
    for _path, cmd in walk(group):
        cmd.help = fence(cmd.help)
    tidy(group)
    completion.install(group)
    return group


def walk(cmd, path=()):  # type: ignore[no-untyped-def]
    """(path, command) for `cmd` and every subcommand under it, depth first; path is the
    tuple of names after `leadcli`."""
    yield path, cmd
    for name, sub in sorted(getattr(cmd, "commands", {}).items()):
        yield from walk(sub, (*path, name))


def run(argv: Sequence[str] | None = None) -> int:
    """Run leadcli with `argv`; returns the contract's exit code instead of exiting."""
    from typer._click import exceptions as click_exc
    from typer.exceptions import Abort

    args = list(sys.argv[1:] if argv is None else argv)
    verbose = "--verbose" in args or bool(os.environ.get("LEADCLI_VERBOSE"))
    try:
        result = command()(args=args, prog_name="leadcli", standalone_mode=False)
        code = result if isinstance(result, int) else 0
        if code == 130:  # Typer turns Ctrl-C into a silent Exit(130)
            _interrupted()
        return code
    except LeadError as exc:
        if verbose:
            import traceback

            traceback.print_exc()
        error(exc.message)
        return exc.exit_code
    except click_exc.NoArgsIsHelpError:
        return 2  # Typer printed the help already (printing it again showed it twice)
    except click_exc.UsageError as exc:
        hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx else ""
        error(exc.format_message() + hint)
        return 2
    except click_exc.ClickException as exc:
        error(exc.format_message())
        return exc.exit_code
    except (Abort, KeyboardInterrupt):
        _interrupted()
        return 130
    except BrokenPipeError:
        return _reader_went_away()
    except SystemExit as exc:  # e.g. --show-completion, which exits by itself
        # Typer also ends a write to a closed pipe with a silent sys.exit(1) of its own.
        if isinstance(exc.__context__, OSError) and exc.__context__.errno == errno.EPIPE:
            return _reader_went_away()
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except Exception as exc:  # the boundary: nothing escapes as a traceback
        if any(k.__name__ == "DatabaseError" and k.__module__ == "sqlite3" for k in type(exc).__mro__):
            # An SQLite error met mid-read, outside the store's own translation: a lock held
            # too long, or a damaged file. The store's fault: exit 5 with what to do.
            if "locked" in str(exc) or "busy" in str(exc):
                error(f"the store stayed locked by another writer: {exc}")
            else:
                error(f"the store cannot be read: {str(exc)[:100]}; run leadcli doctor, and restore the file from a backup")
            return 5
        if verbose:
            import traceback

            traceback.print_exc()
            error(f"unexpected {type(exc).__name__}: {exc}")
        else:
            error(f"unexpected {type(exc).__name__}: {exc} (run with --verbose for details)")
        return 1


def _reader_went_away() -> int:
    """The reader of stdout went away (`leadcli list | head`): not an error for us. Output
    still buffered goes to /dev/null so the flush at exit does not fail again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.__stdout__.fileno() if sys.__stdout__ else 1)
    return 0


def _interrupted() -> None:
    if sys.stderr.isatty():
        print(file=sys.stderr)  # the terminal echoed ^C without a newline
    error("interrupted")


def main() -> None:
    sys.exit(run())
