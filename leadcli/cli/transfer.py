"""Bulk commands: import (CSV, JSON, JSONL in) and export (every matching lead out)."""

import os
import sys
from contextlib import ExitStack
from typing import Annotated, Any

import typer

from leadcli.cli.app import app, workspace
from leadcli.cli.console import info
from leadcli.cli.options import FieldsOpt, filter_options
from leadcli.domain.errors import Failed, InvalidInput, LeadError
from leadcli.services.filters import FilterArgs


@app.command("import")
def import_(
    ctx: typer.Context,
    file: Annotated[str, typer.Argument(help="CSV, JSON (an array) or JSONL file, or - for stdin.", show_default=False)],
    format_: Annotated[str | None, typer.Option("--format", help="csv, tsv, json or jsonl (default: from the file's extension).", show_default=False)] = None,
    map_: Annotated[list[str] | None, typer.Option("--map", help="Read column SOURCE as FIELD (a lead field, fields.KEY, or - to skip it); repeatable.", metavar="SOURCE=FIELD", show_default=False)] = None,
    upsert: Annotated[bool, typer.Option("--upsert", help="Update the lead with the same email instead of rejecting the row.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Validate and report; write nothing.")] = False,
    rejects: Annotated[str | None, typer.Option("--rejects", help="Write rejected rows, as they came, with a reason column, to this file.", metavar="FILE", show_default=False)] = None,
    decimal_comma: Annotated[bool | None, typer.Option("--decimal-comma/--decimal-point", help="The file writes numbers as 1.234,56 (European) or as 1,234.56. Default: read each number the one way it can be read; one that reads two ways (1.200, 12,5) is a rejected row.", show_default=False)] = None,
) -> None:
    """Import leads from a CSV, JSON or JSONL file: CRM and spreadsheet exports as they are.

    Headers match fields case-insensitively, with common aliases (First Name + Last Name,
    Email Address, E-mail, Company Name, Lead Status, Phone Number, Lead Owner, Lead Source…);
    other columns become custom fields. Each rejected row is reported as `row N: reason` and the
    command exits 1; the valid rows are written. Values may carry a currency (USD 1,000, €1.200,50);
    a number that reads two ways (1.200, 12,5) is rejected unless --decimal-comma or
    --decimal-point says how the file writes them.

    **Examples**

        leadcli export > all.csv && leadcli import all.csv --upsert
        printf 'Name,Email Address,Lead Status\\nAda Lovelace,ada@example.com,Negotiation\\n' | leadcli import - --upsert
        leadcli export -o jsonl | leadcli --db copy.db import - --format jsonl
        leadcli export > all.csv && leadcli import all.csv --dry-run --rejects fix-me.csv  # all there already: exit 1
    """
    from leadcli.services import importer
    from leadcli.services.import_files import RawLines, Source
    from leadcli.services.import_rows import parse_maps

    ws = workspace(ctx)
    maps = parse_maps(map_ or [])
    if rejects:
        from leadcli.output.files import refuse_protected, store_files

        refuse_protected("--rejects", rejects, store=store_files(ws.settings.db), inputs=[file], config=ws.settings.config_path)
    verb = "dry run, nothing written" if dry_run else "import"
    with ExitStack() as stack:
        binary = sys.stdin.buffer if file == "-" else stack.enter_context(_open_input(file))
        source = Source(binary, file, format_)
        writer = stack.enter_context(_RejectsFile(rejects, source)) if rejects else None
        progress = stack.enter_context(_progress(file))
        decimal = None if decimal_comma is None else ("," if decimal_comma else ".")
        run = importer.Importer(ws, source, maps=maps, upsert=upsert, dry_run=dry_run, on_batch=progress, decimal=decimal)
        try:
            for rejected in run.run():
                info(f"row {rejected.row}: {rejected.reason}")
                if writer is not None and isinstance(rejected.raw, RawLines):
                    writer.write_raw("".join(rejected.raw))  # unsplittable: its lines as they came
                elif writer is not None:
                    writer.write(_reject_row(rejected, source))
        except (LeadError, KeyboardInterrupt) as exc:
            s = run.summary
            if (s.inserted or s.updated) and not dry_run:  # already in the store: say so, and how to finish
                progress.stop()
                stopped = "interrupted" if isinstance(exc, KeyboardInterrupt) else "stopped"
                info(f"import {stopped} after reading {s.rows} rows: {s.inserted} inserted, {s.updated} updated so far; "
                     "import the file again with --upsert to complete it")  # fmt: skip
            raise
    s = run.summary
    info(f"{verb}: {s.inserted} inserted, {s.updated} updated, {s.unchanged} unchanged, {s.rejected} rejected")
    if s.rejected:
        raise Failed(f"{s.rejected} row(s) rejected" + (f"; written to {rejects} with a reason column" if rejects else ""))


def _open_input(file: str) -> Any:
    try:
        return open(file, "rb")
    except OSError as exc:
        raise InvalidInput(f"cannot read {file}: {exc.strerror}") from None


class _RejectsFile:
    """`--rejects FILE`: the rejected rows as they came, in the input's format, with a reason."""

    def __init__(self, path: str, source: Any) -> None:
        from leadcli.output import writer
        from leadcli.output.files import AtomicFile

        self.path = path
        self.file = AtomicFile(path, "--rejects")  # replaced when the import ends, not before
        self.stream = self.file.__enter__()
        header = source.header
        if header is not None and header[-1:] != ["reason"]:
            header = [*header, "reason"]
        self.writer = writer(source.format, self.stream, header or [], delimiter=source.delimiter)

    def __enter__(self) -> "_RejectsFile":
        return self

    def write(self, row: Any) -> None:
        """A rejected row: a CSV/TSV row's cells as they came, a JSON record as an object."""
        from leadcli.output import CsvWriter

        if isinstance(self.writer, CsvWriter) and isinstance(row, list):
            self.writer.write_cells(row)
        else:
            self.writer.write(row)

    def write_raw(self, text: str) -> None:
        from leadcli.output import CsvWriter

        assert isinstance(self.writer, CsvWriter)  # only a CSV/TSV line can fail to split
        self.writer.write_raw(text)

    def __exit__(self, kind: Any, exc: Any, tb: Any) -> None:
        if kind is None:
            self.writer.close()
        self.file.__exit__(kind, exc, tb)


def _reject_row(rejected: Any, source: Any) -> Any:
    if source.header is None:
        return {**rejected.raw, "reason": rejected.reason}
    width = len(source.header)
    cells = list(rejected.raw)
    if source.header[-1:] == ["reason"]:  # a rejects file re-imported: replace the old reason
        width -= 1
        cells = cells[:width]
    # The reason under its header, after the row's own cells (a row the reader could not
    # split has none; one with too many keeps its extra cells after the reason).
    return [*cells[:width], *[""] * (width - len(cells)), rejected.reason, *cells[width:]]


class _progress:
    """A Rich progress bar on stderr, only when stderr is a terminal; else does nothing."""

    def __init__(self, file: str) -> None:
        self.total = os.path.getsize(file) if file != "-" and os.path.isfile(file) else None
        self.bar: Any = None

    def __enter__(self) -> "_progress":
        if sys.stderr.isatty():
            from rich.console import Console
            from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

            self.bar = Progress(
                TextColumn("importing"), BarColumn(), TextColumn("{task.fields[rows]} rows"), TimeRemainingColumn(),
                console=Console(stderr=True), transient=True,
            )  # fmt: skip
            self.bar.start()
            self.task = self.bar.add_task("import", total=self.total, rows=0)
        return self

    def __call__(self, summary: Any, bytes_read: int) -> None:
        if self.bar is not None:
            self.bar.update(self.task, completed=bytes_read, rows=summary.rows)

    def stop(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None

    def __exit__(self, *exc: object) -> None:
        self.stop()


@app.command()
@filter_options
def export(
    ctx: typer.Context,
    filters: FilterArgs,
    output: Annotated[str, typer.Option("--output", "-o", help="csv, tsv, json or jsonl.", metavar="FORMAT")] = "csv",
    file: Annotated[str | None, typer.Option("--file", help="Write to this file (replaced only when the export completes) instead of stdout.", show_default=False)] = None,
    fields: FieldsOpt = None,
) -> None:
    """Export every matching lead, complete (history, activities, custom fields), streamed.

    **Examples**

        leadcli export > leads.csv
        leadcli export --stage negotiation -o jsonl --file negotiation.jsonl
        leadcli export --fields name,email,company,current_stage
    """
    from leadcli.output import Renderer, parse_fields
    from leadcli.services.exporter import EXPORT_FIELDS, EXPORT_FORMATS, export_records

    if output not in EXPORT_FORMATS:
        raise InvalidInput(f"--output: export writes {', '.join(EXPORT_FORMATS)}, not {output!r}")
    ws = workspace(ctx)
    picked = parse_fields(fields, EXPORT_FIELDS, EXPORT_FIELDS)
    if file is not None:
        from leadcli.output.files import refuse_protected, store_files

        refuse_protected("--file", file, store=store_files(ws.settings.db), config=ws.settings.config_path)
    records = export_records(ws, filters)
    if file is None:
        count = Renderer(output).many(records, picked)
    else:
        from leadcli.output.files import AtomicFile

        with AtomicFile(file, "--file") as stream:
            count = Renderer(output, stream=stream).many(records, picked)
    info(f"exported {count} lead(s)" + (f" to {file}" if file else ""))
