"""Live commands: `watch` (events as they happen) and `serve` (the same events over WebSocket)."""

import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer

from leadcli.cli.app import app, workspace
from leadcli.cli.console import info
from leadcli.cli.options import FieldsOpt, filter_options
from leadcli.domain.query import LeadQuery
from leadcli.services.filters import FilterArgs, build_query

SinceOpt = Annotated[int | None, typer.Option("--since", help="Replay every event after this seq first (0: all of them), then go live. Default: only new events.", show_default=False, min=0, max=2**63 - 1)]
TokenOpt = Annotated[str | None, typer.Option("--token", help="Shared secret for the WebSocket feed. Env: LEADCLI_TOKEN. Given here it shows in ps (the process list) to every user of the machine: prefer LEADCLI_TOKEN or the config file.", show_default=False)]


@contextmanager
def _ctrl_c_stops() -> Iterator[Callable[[], bool]]:
    """Ctrl-C is how a watch normally ends: the first one stops the stream at the next tick
    (within ~0.25 s), so the output is closed properly (`-o json` gets its `]`); a second one
    interrupts at once."""
    stopping = threading.Event()

    def on_interrupt(_signum: int, _frame: Any) -> None:
        if stopping.is_set():
            raise KeyboardInterrupt
        stopping.set()

    try:
        previous = signal.signal(signal.SIGINT, on_interrupt)
    except ValueError:  # not the main thread: leave Ctrl-C alone
        yield stopping.is_set
        return
    try:
        yield stopping.is_set
    finally:
        signal.signal(signal.SIGINT, previous)


def _token(given: str | None, section: dict[str, Any]) -> str | None:
    return given or os.environ.get("LEADCLI_TOKEN") or section.get("token") or None


@app.command()
@filter_options
def watch(
    ctx: typer.Context,
    filters: FilterArgs,
    output: Annotated[str | None, typer.Option("--output", "-o", help="table (readable lines), jsonl, json, csv, tsv or ids. Default: table on a terminal, jsonl in a pipe.", metavar="FORMAT", show_default=False)] = None,
    fields: FieldsOpt = None,
    since: SinceOpt = None,
    count: Annotated[int | None, typer.Option("--count", help="Stop after N events.", show_default=False, min=1)] = None,
    timeout: Annotated[float | None, typer.Option("--timeout", help="Stop after SEC seconds.", show_default=False, min=0)] = None,
    board: Annotated[bool, typer.Option("--board", help="Show the pipeline as live columns of leads, with the count and value of each stage (in a pipe: the board as it is when the watch ends).")] = False,
    server: Annotated[str | None, typer.Option("--server", help="Watch a `leadcli serve` feed (ws://HOST:PORT/ws), or the Leads Artisan web app's (ws://HOST/api/v1/ws/ID), instead of the store.", show_default=False)] = None,
    token: TokenOpt = None,
    reconnect_for: Annotated[float, typer.Option("--reconnect-for", help="Give up (exit 5) when the store or server stays unreachable this long.", min=0)] = 30.0,
) -> None:
    """Print changes to leads as they happen, until Ctrl-C, --count or --timeout.

    In a pipe, one JSON event per line (flushed), in seq order; `--since` replays first, so a
    watcher that restarts with `--since LAST_SEQ` misses nothing. On MongoDB, changes other apps
    (the Leads Artisan web app) make to the leads are shown too, with seq null and by
    "(outside leadcli)"; they are not replayed. `--server` takes a `leadcli serve` feed or the
    web app's own (ws://HOST/api/v1/ws/ID, which offers no replay).

    **Examples**

        leadcli watch
        leadcli watch --stage negotiation --owner ada
        leadcli watch --since 0 -o jsonl | jq -c 'select(.type == "lead_stage_changed")'
        leadcli watch --board
        leadcli watch --server ws://127.0.0.1:8765/ws --token "$LEADCLI_TOKEN"
    """
    from leadcli.domain.events import EVENT_FIELDS
    from leadcli.output import Renderer, is_terminal, parse_fields

    ws = workspace(ctx)
    verbose = ctx.find_root().obj.verbose
    query = build_query(ws, filters)
    fmt = output or ("table" if is_terminal(sys.stdout) else "jsonl")
    columns = parse_fields(fields, EVENT_FIELDS, EVENT_FIELDS)
    renderer = Renderer(fmt, live=True)  # checks the format before anything starts
    until = None if timeout is None else time.monotonic() + timeout
    with _ctrl_c_stops() as stopped:
        _watch(ws, query, renderer, columns, board, server, token, since, count, until, reconnect_for, stopped, verbose)


def _watch(ws: Any, query: Any, renderer: Any, columns: list[str], board: bool, server: str | None, token: str | None, since: int | None, count: int | None, until: float | None, reconnect_for: float, stopped: Callable[[], bool], verbose: bool) -> None:
    from leadcli.live.watch import select
    from leadcli.output import is_terminal

    server = server or ws.settings.watch.get("server") or None
    last: list[int | None] = [since]  # the seq of the last event seen, filtered out or not
    if server:
        from leadcli.live.client import server_events

        def connected(url: str, seq: int | None) -> None:
            last[0] = seq
            if verbose or is_terminal(sys.stderr):
                after = f"after seq {seq}" if seq is not None else "(this server offers no seq: nothing is replayed)"
                info(f"watching {url} {after} (Ctrl-C to stop)")

        events = server_events(server, _token(token, ws.settings.watch), since, until=until, budget=reconnect_for, on_connect=connected, stop=stopped)
    else:
        from leadcli.live.watch import store_events

        if since is None:
            since = last[0] = ws.store.last_seq()
        if verbose or is_terminal(sys.stderr):
            info(f"watching {ws.store.uri_description} after seq {since} (Ctrl-C to stop)")
        if verbose:
            info(f"changes come by {ws.store.change_source()}")
        events = store_events(ws, since, until=until, budget=reconnect_for, stop=stopped)

    def seen(events: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        for event in events:
            if event["seq"] is not None:  # other apps' changes have none
                last[0] = int(event["seq"])
            yield event

    # The board needs every event: a lead that leaves the filters must leave its column.
    chosen = select(seen(events), LeadQuery() if board else query, count)
    interrupted = False
    try:
        if board:
            _board(ws, query, chosen, server is not None)
        else:
            renderer.many(chosen, columns)
    except KeyboardInterrupt:
        interrupted = True  # a second Ctrl-C: stop at once, still exit 0
    if (interrupted or stopped()) and last[0] is not None and (verbose or is_terminal(sys.stderr)):
        # "\r": start the line over the "^C" the terminal echoed, so the prompt comes back clean.
        lead_in = "\r" if is_terminal(sys.stderr) else ""
        info(f"{lead_in}stopped after seq {last[0]}; resume with: leadcli watch --since {last[0]}")


def _board(ws: Any, query: Any, events: Iterable[dict[str, Any]], remote: bool) -> None:
    from leadcli.domain.lead import to_jsonable
    from leadcli.domain.matching import matches
    from leadcli.output.events import Board, show_board

    leads = [] if remote else [to_jsonable(lead) for lead in ws.store.query(query.unpaged())]
    show_board(Board(ws.pipeline, leads), ((event, matches(event.get("lead"), query)) for event in events))


@app.command()
def serve(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option("--host", help="Address to listen on (default 127.0.0.1). A non-loopback address needs --token.", show_default=False)] = None,
    port: Annotated[int | None, typer.Option("--port", help="Port to listen on (default 8765; 0 picks a free one).", show_default=False, min=0, max=65535)] = None,
    token: TokenOpt = None,
    allow_origin: Annotated[list[str] | None, typer.Option("--allow-origin", help="A web page origin allowed to connect (scheme://host:port, e.g. http://localhost:5173; `null` for file pages); repeatable. Default: none, so no web page can read the feed. Config: [serve] allow_origin.", metavar="ORIGIN", show_default=False)] = None,
    client_queue: Annotated[int, typer.Option("--client-queue", hidden=True, min=1, help="Events a client may fall behind before it is dropped.")] = 1000,
) -> None:
    """Publish the store's events to WebSocket clients at ws://HOST:PORT/ws.

    Clients may ask for `?since=SEQ` to be replayed first. With a token, each client sends
    `Authorization: Bearer TOKEN`, `?token=TOKEN`, or puts `/t/TOKEN` before the path; without
    a token, only loopback is served. On MongoDB the feed also carries changes other apps make
    to the leads (seq null, by "(outside leadcli)").

    Browsers: a request from a web page (it sends `Origin`) is refused (HTTP 403) unless its
    origin is given with `--allow-origin`; on loopback the `Host` must be a loopback name. The
    Leads Artisan web app's feed protocol is served at `/api/v1/ws/CLIENT_ID`: set the
    frontend's `VITE_WS_URL=ws://HOST:PORT/t/TOKEN/api/v1` (or `ws://127.0.0.1:PORT/api/v1`
    without a token) and allow its origin.

    **Examples**

        leadcli serve
        LEADCLI_TOKEN=s3cret leadcli serve --host 0.0.0.0 --port 9000
        leadcli serve --allow-origin http://localhost:5173
        leadcli watch --server ws://127.0.0.1:8765/ws
    """
    from leadcli.live.server import serve_events
    from leadcli.live.watch import store_opener
    from leadcli.store import describe_uri

    ws = workspace(ctx)
    section = ws.settings.serve
    secret = _token(token, section)
    bind = host or section.get("host") or "127.0.0.1"
    listen_port = int(port if port is not None else section.get("port", 8765))
    origins = allow_origin if allow_origin else _origins(section.get("allow_origin"))
    settings = ws.settings
    verbose = ctx.find_root().obj.verbose

    def on_listening(bound_host: str, bound_port: int) -> None:
        shown = f"[{bound_host}]" if ":" in bound_host else bound_host
        auth = "token required" if secret else "no token: loopback only"
        info(f"serving events of {describe_uri(settings.db)} on ws://{shown}:{bound_port}/ws ({auth}); Ctrl-C to stop")

    serve_events(
        store_opener(ws),
        bind,
        listen_port,
        secret,
        allow_origins=origins,
        others=ws.web_app,
        queue_size=client_queue,
        log=info if verbose else (lambda _m: None),
        on_listening=on_listening,
    )


def _origins(value: Any) -> list[str]:
    """`[serve] allow_origin`: one origin or a list of them."""
    from leadcli.domain.errors import InvalidInput

    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    raise InvalidInput('config: [serve] allow_origin must be an origin or a list of them, e.g. ["http://localhost:5173"]')
