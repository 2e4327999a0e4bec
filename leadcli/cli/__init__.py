"""The command line: Typer commands (thin) and the one error boundary that maps errors to exit codes."""

import errno
import os
import sys
from collections.abc import Iterator, Sequence
from typing import Any

from leadcli.cli import admin, leads, live, pipeline, transfer  # noqa: F401  (commands register on import)
from leadcli.cli.app import app
from leadcli.cli.console import error
from leadcli.domain.errors import LeadError
from leadcli.domain.text import encodable

__all__ = ["app", "main", "run"]


def command() -> Any:
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


def walk(cmd: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """(path, command) for `cmd` and every subcommand under it, depth first; path is the
    tuple of names after `leadcli`."""
    yield path, cmd
    for name, sub in sorted(getattr(cmd, "commands", {}).items()):
        yield from walk(sub, (*path, name))


def run(argv: Sequence[str] | None = None) -> int:
    """Run leadcli with `argv`; returns the contract's exit code instead of exiting."""
    from typer import Abort

    no_args_is_help, usage_error, click_exception = _click_errors()
    args = list(sys.argv[1:] if argv is None else argv)
    verbose = "--verbose" in args or bool(os.environ.get("LEADCLI_VERBOSE"))
    for position, arg in enumerate(args, start=1):
        if not arg.isascii() and not encodable(arg):  # bytes the OS could not decode: surrogates
            error(f"argument {position} is not UTF-8 text ({os.fsencode(arg)!r}); leadcli reads its arguments as UTF-8")
            return 2
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
    except no_args_is_help:
        return 2  # Typer printed the help already (printing it again showed it twice)
    except usage_error as exc:
        hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx else ""
        error(exc.format_message() + hint)
        return 2
    except click_exception as exc:
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
    except OSError as exc:
        if exc.errno not in (errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EFBIG):
            return _unexpected(exc, verbose)
        # stdout on a full disk or device (`export > /dev/full`): a failure, not bad input.
        error(f"cannot write the output: {exc.strerror}")
        _discard_stdout()
        return 1
    except Exception as exc:  # the boundary: nothing escapes as a traceback
        from leadcli.store import escaped_error

        store_error = escaped_error(exc)
        if store_error is not None:  # a store library's error its adapter did not translate
            error(store_error.message)
            return store_error.exit_code
        return _unexpected(exc, verbose)


def _unexpected(exc: Exception, verbose: bool) -> int:
    if verbose:
        import traceback

        traceback.print_exc()
        error(f"unexpected {type(exc).__name__}: {exc}")
    else:
        error(f"unexpected {type(exc).__name__}: {exc} (run with --verbose for details)")
    return 1


def _click_errors() -> tuple[Any, Any, Any]:
    """Click's NoArgsIsHelpError, UsageError and ClickException. Typer vendors Click under a
    private name; should that move, the public `typer.BadParameter`'s bases are the same classes."""
    try:
        from typer._click import exceptions

        return exceptions.NoArgsIsHelpError, exceptions.UsageError, exceptions.ClickException
    except (ImportError, AttributeError):
        from typer import BadParameter

        bases: dict[str, Any] = {k.__name__: k for k in BadParameter.__mro__}
        usage = bases.get("UsageError", BadParameter)
        no_args = next((k for k in usage.__subclasses__() if k.__name__ == "NoArgsIsHelpError"), _Never)
        return no_args, usage, bases.get("ClickException", usage)


class _Never(Exception):
    """Matches no error that is raised."""


def _reader_went_away() -> int:
    """The reader of stdout went away (`leadcli list | head`): not an error for us."""
    _discard_stdout()
    return 0


def _discard_stdout() -> None:
    """Output still buffered goes to /dev/null so the flush at exit does not fail again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.__stdout__.fileno() if sys.__stdout__ else 1)


def _interrupted() -> None:
    if sys.stderr.isatty():
        print(file=sys.stderr)  # the terminal echoed ^C without a newline
    error("interrupted")


def main() -> None:
    sys.exit(run())
