"""`watch --server`: the events of a `leadcli serve` feed, reconnecting with exponential backoff
and resuming after the last seq received (`?since=`), so a server restart loses nothing and
repeats nothing. The server names its newest seq in the handshake (`X-Leadcli-Seq`), so even a
watcher that has printed nothing yet resumes from the right place."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from leadcli.domain.errors import InvalidInput, StoreUnavailable
from leadcli.live.feed import RECONNECT_BUDGET_S, Backoff

SEQ_HEADER = "X-Leadcli-Seq"
OPEN_TIMEOUT_S = 5.0
TICK_S = 0.25


def feed_url(server: str, since: int | None) -> str:
    """`ws://host:port/ws` from what a user typed (`host:port`, `http://…`, `ws://…`), with `since`."""
    text = server.strip()
    if "://" not in text:
        text = "ws://" + text
    parts = urlsplit(text)
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
    if scheme not in ("ws", "wss") or not parts.hostname:
        raise InvalidInput(f"--server: expected ws://HOST:PORT/ws, got {server!r}")
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "since"]
    if since is not None:
        query.append(("since", str(since)))
    return urlunsplit((scheme, parts.netloc, parts.path or "/ws", urlencode(query), ""))


def server_events(
    server: str,
    token: str | None,
    since: int | None,
    *,
    until: float | None,
    budget: float = RECONNECT_BUDGET_S,
    on_connect: Callable[[str, int], None] = lambda _url, _seq: None,
    stop: Callable[[], bool] = lambda: False,
) -> Iterator[dict[str, Any]]:
    """Events of the feed after `since` (None: only new ones); `on_connect(url, seq)` on every
    (re)connection, with the seq it resumes after."""
    from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
    from websockets.sync.client import connect

    feed_url(server, None)  # bad usage fails at once, before any retry
    headers = {"Authorization": f"Bearer {token}"} if token else None
    backoff = Backoff(budget)
    last = since
    shown = urlsplit(feed_url(server, None))._replace(query="").geturl()
    while (until is None or time.monotonic() < until) and not stop():
        remaining = None if until is None else until - time.monotonic()
        started: float | None = time.monotonic()
        try:
            with connect(
                feed_url(server, last),
                additional_headers=headers,
                open_timeout=OPEN_TIMEOUT_S if remaining is None else max(0.1, min(OPEN_TIMEOUT_S, remaining)),
                close_timeout=1,
                max_size=None,
            ) as ws:
                if last is None:
                    last = int(ws.response.headers.get(SEQ_HEADER) or 0) if ws.response is not None else 0
                backoff.succeeded()
                started = None  # once connected, an outage begins when the connection drops
                on_connect(shown, last)
                while (until is None or time.monotonic() < until) and not stop():
                    wait = TICK_S if until is None else max(0.0, min(TICK_S, until - time.monotonic()))
                    try:
                        message = ws.recv(timeout=wait)
                    except TimeoutError:
                        continue
                    event = json.loads(message)
                    seq = int(event["seq"])
                    if seq <= last:
                        continue  # already printed before a reconnect
                    last = seq
                    yield event
                return
        except InvalidStatus as exc:
            status = exc.response.status_code
            if status in (401, 403):
                raise InvalidInput(f"the server {shown} refused the token (HTTP {status}); pass the right --token or set LEADCLI_TOKEN") from None
            if status == 404:
                raise InvalidInput(f"no event feed at {shown} (HTTP 404); the feed is at ws://HOST:PORT/ws") from None
            problem: Exception = exc
        except (OSError, ConnectionClosed, InvalidHandshake, TimeoutError, EOFError) as exc:
            problem = exc
        delay = backoff.failed(problem, f"the server {shown}", started)
        if until is not None and time.monotonic() + delay >= until:
            raise StoreUnavailable(f"the server {shown} was unreachable when the watch ended: {problem}")
        deadline = time.monotonic() + delay
        while time.monotonic() < deadline and not stop():
            time.sleep(min(0.1, delay))
