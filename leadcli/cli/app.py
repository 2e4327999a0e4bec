"""The Typer application and its global options; command modules register onto `app`."""

from typing import TYPE_CHECKING, Annotated

import typer

from leadcli import __version__

if TYPE_CHECKING:
    from leadcli.services.context import Workspace

app = typer.Typer(
    name="leadcli",
    help="Manage sales leads from the terminal: add, find, move through the pipeline, import, export, watch.",
    no_args_is_help=True,
    rich_markup_mode="markdown",
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
    add_completion=True,
)


class State:
    """Global options, turned into a Workspace only when a command needs the store."""

    def __init__(self, db: str | None, config: str | None, profile: str | None, user: str | None, verbose: bool):
        self.db, self.config, self.profile, self.user, self.verbose = db, config, profile, user, verbose
        self._workspace: Workspace | None = None

    @property
    def workspace(self) -> "Workspace":
        if self._workspace is None:
            from leadcli.config import load_settings
            from leadcli.services.context import Workspace

            settings = load_settings(db=self.db, config=self.config, profile=self.profile, user=self.user)
            self._workspace = Workspace(settings)
        return self._workspace

    def close(self) -> None:
        if self._workspace is not None:
            self._workspace.close()


def _show_version(value: bool) -> None:
    if value:
        print(f"leadcli {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    db: Annotated[str | None, typer.Option("--db", help="Store: a SQLite path (…/leads.db, sqlite:////abs.db) or a mongodb:// URI. Env: LEADCLI_DB. A password in it shows in ps (the process list) to every user of the machine: prefer LEADCLI_DB or the config file.", show_default=False)] = None,
    config: Annotated[str | None, typer.Option("--config", help="Config file (TOML). Env: LEADCLI_CONFIG.", show_default=False)] = None,
    profile: Annotated[str | None, typer.Option("--profile", help="Use [profiles.NAME] from the config. Env: LEADCLI_PROFILE.", show_default=False)] = None,
    user: Annotated[str | None, typer.Option("--user", help="Recorded as `by` on history and activities. Env: LEADCLI_USER.", show_default=False)] = None,
    verbose: Annotated[bool, typer.Option("--verbose", help="Show tracebacks on errors.")] = False,
    version: Annotated[bool, typer.Option("--version", callback=_show_version, is_eager=True, help="Print the version and exit.")] = False,
) -> None:
    state = State(db, config, profile, user, verbose)
    ctx.obj = state
    ctx.call_on_close(state.close)


def workspace(ctx: typer.Context):  # type: ignore[no-untyped-def]
    """The command's Workspace (settings, pipeline, store)."""
    root_ctx = ctx.find_root()
    return root_ctx.obj.workspace
