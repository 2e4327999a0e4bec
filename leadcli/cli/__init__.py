"""The command line: Typer commands (thin) and the one error boundary that maps errors to exit codes."""

import os
import sys
from collections.abc import Sequence

from leadcli.cli import admin, leads, live  # noqa: F401  (commands register on import)
from leadcli.cli.app import app
from leadcli.cli.console import error
from leadcli.domain.errors import LeadError

__all__ = ["app", "main", "run"]


def run(argv: Sequence[str] | None = None) -> int:
    """Run leadcli with `argv`; returns the contract's exit code instead of exiting."""
    from typer._click import exceptions as click_exc
    from typer.exceptions import Abort

    args = list(sys.argv[1:] if argv is None else argv)
    verbose = "--verbose" in args or bool(os.environ.get("LEADCLI_VERBOSE"))
    try:
        result = app(args=args, prog_name="leadcli", standalone_mode=False)
        return result if isinstance(result, int) else 0
    except LeadError as exc:
        if verbose:
            import traceback

            traceback.print_exc()
        error(exc.message)
        return exc.exit_code
    except click_exc.NoArgsIsHelpError as exc:
        print(exc.ctx.get_help() if exc.ctx else "", file=sys.stderr)
        return 2
    except click_exc.UsageError as exc:
        hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx else ""
        error(exc.format_message() + hint)
        return 2
    except click_exc.ClickException as exc:
        error(exc.format_message())
        return exc.exit_code
    except (Abort, KeyboardInterrupt):
        print(file=sys.stderr)
        error("interrupted")
        return 130
    except BrokenPipeError:
        # The reader went away (`leadcli list | head`): not an error for us.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except Exception as exc:  # the boundary: nothing escapes as a traceback
        if verbose:
            import traceback

            traceback.print_exc()
            error(f"unexpected {type(exc).__name__}: {exc}")
        else:
            error(f"unexpected {type(exc).__name__}: {exc} (run with --verbose for details)")
        return 1


def main() -> None:
    sys.exit(run())
