"""`watch --server`: the events of a `leadcli serve` feed, reconnecting with exponential backoff
and resuming after the last seq received (`?since=`), so a server restart loses nothing and
repeats nothing. The server names its newest seq in the handshake (`X-Leadcli-Seq`), so even a
watcher that has printed nothing yet resumes from the right place.

It also reads the Leads Artisan web app's own feed (`ws://HOST/api/v1/ws/ID`, see `webapp`):
that server offers no seq and no replay, so there nothing is resumed. A frame over MAX_FRAME
bytes or a message that is neither kind ends the watch with exit 2, naming what came."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import SplitResult, parse_qsl, urlencode, urlsplit, urlunsplit

from leadcli.config import mask_uri
from leadcli.domain.errors import InvalidInput, StoreUnavailable
from leadcli.live.feed import RECONNECT_BUDGET_S, Backoff

SEQ_HEADER = "X-Leadcli-Seq"
# The largest message read: an event holds one lead, which a store keeps under 16 MB.
MAX_FRAME = 32 * 1024 * 1024
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
        raise InvalidInput(f"--server: expected ws://HOST:PORT/ws, got {_hidden(parts).geturl()!r}")
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "since"]
    if since is not None:
        query.append(("since", str(since)))
    return urlunsplit((scheme, parts.netloc, parts.path or "/ws", urlencode(query), ""))


def shown_url(server: str) -> str:
    """The feed's URL as messages name it (see _hidden)."""
    return _hidden(urlsplit(feed_url(server, None))).geturl()


def _hidden(parts: SplitResult) -> SplitResult:
    """A URL as a message may show it: without its query (`?token=`), with a token given as the
    `/t/TOKEN` path prefix `serve` accepts and a URL password masked."""
    path = parts.path
    if path.startswith("/t/"):
        path = "/t/***" + (path[3:][path[3:].find("/") :] if "/" in path[3:] else "")
    return urlsplit(mask_uri(parts._replace(path=path, query="").geturl()))  # and a ws://user:PASSWORD@ one


def server_events(
    server: str,
    token: str | None,
    since: int | None,
    *,
    until: float | None,
    budget: float = RECONNECT_BUDGET_S,
    on_connect: Callable[[str, int | None], None] = lambda _url, _seq: None,
    stop: Callable[[], bool] = lambda: False,
) -> Iterator[dict[str, Any]]:
    """Events of the feed after `since` (None: only new ones); `on_connect(url, seq)` on every
    (re)connection, with the seq it resumes after."""
    from websockets.exceptions import ConnectionClosed, ConnectionClosedError, InvalidHandshake, InvalidStatus
    from websockets.sync.client import connect

    feed_url(server, None)  # bad usage fails at once, before any retry
    headers = {"Authorization": f"Bearer {token}"} if token else None
    backoff = Backoff(budget)
    last = since
    shown = shown_url(server)
    while (until is None or time.monotonic() < until) and not stop():
        remaining = None if until is None else until - time.monotonic()
        started: float | None = time.monotonic()
        try:
            with connect(
                feed_url(server, last),
                additional_headers=headers,
                open_timeout=OPEN_TIMEOUT_S if remaining is None else max(0.1, min(OPEN_TIMEOUT_S, remaining)),
                close_timeout=1,
                max_size=MAX_FRAME,
            ) as ws:
                offered = str(ws.response.headers.get(SEQ_HEADER) or "") if ws.response is not None else ""
                resumable = offered.isascii() and offered.isdigit()
                if last is None and resumable:
                    last = int(offered)
                elif not resumable:
                    last = None  # a server without seqs (the web app's feed): nothing to resume
                backoff.succeeded()
                started = None  # once connected, an outage begins when the connection drops
                on_connect(shown, last)
                while (until is None or time.monotonic() < until) and not stop():
                    wait = TICK_S if until is None else max(0.0, min(TICK_S, until - time.monotonic()))
                    try:
                        message = ws.recv(timeout=wait)
                    except TimeoutError:
                        continue
                    except ConnectionClosedError as exc:
                        if exc.sent is not None and exc.sent.code == 1009:
                            raise InvalidInput(f"the server {shown} sent a message larger than {MAX_FRAME // (1024 * 1024)} MiB; not a leadcli event") from None
                        raise
                    event = read_message(message, shown)
                    seq = event["seq"]
                    if seq is not None:
                        if last is not None and seq <= last:
                            continue  # already printed before a reconnect
                        last = seq
                    yield event
                return
        except InvalidStatus as exc:
            status = exc.response.status_code
            if status == 401:
                raise InvalidInput(f"the server {shown} refused the token (HTTP {status}); pass the right --token or set LEADCLI_TOKEN") from None
            if status == 403:  # serve's Origin and Host checks: its answer says which
                why = exc.response.body.decode("utf-8", "replace").strip().splitlines()[:1] if exc.response.body else []
                raise InvalidInput(f"the server {shown} refused the connection (HTTP 403): {(why or ['forbidden'])[0][:200]}") from None
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


def read_message(message: str | bytes, shown: str) -> dict[str, Any]:
    """One message of a feed as an event: a leadcli event, or a web-app message converted."""
    from leadcli.domain.events import event_to_jsonable
    from leadcli.live.webapp import event_from_webapp

    try:
        data = json.loads(message)
    except (ValueError, UnicodeDecodeError):
        raise InvalidInput(f"the server {shown} sent a message that is not JSON: {str(message[:80])!r}") from None
    if isinstance(data, dict) and "seq" in data:
        seq = data["seq"]
        if not (seq is None or (isinstance(seq, int) and not isinstance(seq, bool) and seq > 0)) or not isinstance(data.get("type"), str):
            raise InvalidInput(f"the server {shown} sent an event with a bad seq or type: {str(message[:80])!r}")
        return data
    try:
        return event_to_jsonable(event_from_webapp(data))
    except InvalidInput as exc:
        raise InvalidInput(f"the server {shown} sent {exc.message}") from None
