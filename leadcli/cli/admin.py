"""Commands about the tool itself: stages, doctor, config."""

from pathlib import Path
from typing import Annotated

import typer

from leadcli.cli.app import app, workspace
from leadcli.cli.console import info
from leadcli.cli.options import OutputOpt
from leadcli.domain.errors import Failed, InvalidInput
from leadcli.domain.query import LeadQuery
from leadcli.output import Renderer

config_app = typer.Typer(help="Show, locate or create the config file.", no_args_is_help=True)
app.add_typer(config_app, name="config")


@app.command()
def stages(ctx: typer.Context, output: OutputOpt = "table") -> None:
    """The pipeline, in order, with the number of leads in each stage.

    **Examples**

        leadcli stages
        leadcli stages -o json
    """
    from leadcli.output import views
    from leadcli.services.reports import stage_rows

    ws = workspace(ctx)
    rows = [{"stage": r["stage"], "count": r["count"]} for r in stage_rows(ws, LeadQuery(), values=False)]
    views.stages(rows, output, pipeline=ws.pipeline)


@app.command()
def doctor(
    ctx: typer.Context,
    fix: Annotated[bool, typer.Option("--fix", help="Create missing indexes, repair what is safe (an empty status the web app cannot read), then report.")] = False,
    output: OutputOpt = "table",
) -> None:
    """Check the store: reachable, version, indexes, lead count, live-update support.

    On MongoDB it also names every lead the Leads Artisan web app sharing the store cannot read
    (`web_app_unreadable`) and every email stored in several capitalisations
    (`email_case_variants`). Exits 1 when it finds a problem that needs you (each is explained).

    **Examples**

        leadcli doctor
        leadcli --db mongodb://localhost:27017/leads_db doctor --fix -o json
    """
    from leadcli.services.doctor import doctor_report

    report = doctor_report(workspace(ctx), fix=fix)
    Renderer(output).one(report, list(report))
    if report["problems"]:
        raise Failed("; ".join(report["problems"]))


@config_app.command("show")
def config_show(ctx: typer.Context, output: OutputOpt = "table") -> None:
    """The effective settings (secrets masked) and where each came from.

    **Examples**

        leadcli config show
        leadcli config show -o json
        leadcli --profile team config show      # a [profiles.team] table must exist: else exit 2
    """
    settings = workspace(ctx).settings
    shown = {**settings.masked(), "sources": settings.sources}
    Renderer(output).one(shown, list(shown))


@config_app.command("path")
def config_path(ctx: typer.Context) -> None:
    """Print the config file's path (it may not exist yet).

    **Examples**

        leadcli config path
    """
    print(_config_file(ctx))


@config_app.command("init")
def config_init(
    ctx: typer.Context,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a starter config file with every setting documented.

    **Examples**

        leadcli config init && $EDITOR "$(leadcli config path)"
    """
    from importlib.resources import files

    path = _config_file(ctx)
    if path.exists() and not force:
        raise InvalidInput(f"{path} exists already; pass --force to overwrite it")
    from leadcli.output.files import refuse_store, write_text_atomic

    # --config naming a store (a typo, a swapped argument): --force must not write the template over it.
    refuse_store("config init", path, ctx.find_root().obj.db)

    # 0600 in a 0700 directory when new: it invites a MongoDB password and the serve token.
    write_text_atomic(path, files("leadcli").joinpath("config.example.toml").read_text(encoding="utf-8"), "config init")
    info(f"wrote {path}")


def _config_file(ctx: typer.Context) -> Path:
    """The config file's path without reading it: `config path` and `config init` must work
    when the file is missing (even one named by --config) or broken."""
    from leadcli.config import config_file_path

    return config_file_path(ctx.find_root().obj.config)
