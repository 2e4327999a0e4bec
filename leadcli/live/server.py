"""`serve`: one tail of the store fanned out to every WebSocket client at `/ws`, and in the
Leads Artisan web app's own protocol at `/api/v1/ws/{client_id}` (see `webapp`).

Who may connect is decided before anything else, on every route: a browser's `Origin` must be
one the server was told to trust (`--allow-origin`; clients that send no Origin, which browsers
always do, are not affected), and on a loopback bind the `Host` header must name a loopback
host, so a web page the user merely visits (or a DNS-rebinding name) cannot read the store. A
token can be sent as `Authorization: Bearer T`, `?token=T`, or as a path prefix `/t/T/…` for
browsers, which can send neither a header nor a query string on the URL the web app builds.

The tail runs in a thread (store calls block) and hands each event, encoded once, to the
asyncio loop; every client has its own bounded queue, so a slow or dead client is dropped
(it can reconnect with `?since=`) and never delays the others, and writers never wait on
clients at all — they only write to the store. `?since=SEQ` replays from the store up to the
point where the client joined the live feed, so nothing is missed or doubled between the two.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import json
import logging
import signal
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from leadcli.domain.errors import InvalidInput, LeadError
from leadcli.domain.events import event_to_jsonable
from leadcli.live.client import SEQ_HEADER
from leadcli.live.feed import RECONNECT_BUDGET_S, follow_tail
from leadcli.live.webapp import webapp_message
from leadcli.store.tail import BATCH

QUEUE_SIZE = 1000
MAX_SEQ = 2**63 - 1  # what the stores can hold
PATH = "/ws"
WEBAPP_PREFIX = "/api/v1/ws/"
TOKEN_PREFIX = "/t/"
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, token: str | None) -> None:
    if not token and not is_loopback(host):
        raise InvalidInput(f"--host {host} is not a loopback address: refusing to serve leads without --token (or LEADCLI_TOKEN)")


def normalise_origin(origin: str) -> str:
    """`Origin` as browsers send it: scheme://host[:port], lowercased, no trailing slash."""
    return origin.strip().rstrip("/").lower()


def check_origins(origins: list[str]) -> list[str]:
    """The --allow-origin values, checked: `null`, `*`, or scheme://host[:port]."""
    out = []
    for origin in origins:
        value = normalise_origin(origin)
        parts = urlsplit(value)
        if value not in ("null", "*") and (parts.scheme not in ("http", "https") or not parts.netloc or parts.path):
            raise InvalidInput(f"--allow-origin: expected an origin like http://localhost:5173 (scheme://host[:port]), got {origin!r}")
        out.append(value)
    return out


def host_name(header: str) -> str:
    """The host part of a `Host` header (`[::1]:8765` → `::1`, `Example:80` → `example`)."""
    text = header.strip().lower()
    if text.startswith("["):
        return text[1 : text.find("]")] if "]" in text else text
    return text.rsplit(":", 1)[0] if text.count(":") == 1 else text


def host_allowed(header: str | None, bind: str) -> bool:
    """On a loopback bind, the `Host` a request names must be a loopback one (a page that
    reaches 127.0.0.1 through a rebinding DNS name sends its own name). Other binds need a
    token, which a page cannot guess, so any name reaching them is fine."""
    if not is_loopback(bind):
        return True
    if not header:
        return False
    name = host_name(header)
    return name in LOOPBACK_NAMES or name.endswith(".localhost") or (is_loopback(name) and name != "localhost")


def split_route(path: str) -> tuple[str | None, str]:
    """(token given as a `/t/TOKEN` prefix or None, the rest of the path)."""
    if path.startswith(TOKEN_PREFIX):
        token, _, rest = path[len(TOKEN_PREFIX) :].partition("/")
        return unquote(token), "/" + rest
    return None, path


@dataclass(eq=False)
class Client:
    connection: Any
    queue: asyncio.Queue[tuple[int | None, str]]
    webapp: bool = False
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)


class Hub:
    """Fans events out to clients; `position` is the seq of the last leadcli event published
    (changes by other apps have no seq and do not move it)."""

    def __init__(self, position: int, queue_size: int = QUEUE_SIZE, log: Callable[[str], None] = lambda _m: None) -> None:
        self.position = position
        self.queue_size = queue_size
        self.clients: set[Client] = set()
        self.log = log

    def join(self, connection: Any, webapp: bool = False) -> Client:
        client = Client(connection, asyncio.Queue(self.queue_size), webapp)
        self.clients.add(client)
        return client

    def leave(self, client: Client) -> None:
        self.clients.discard(client)

    def publish(self, seq: int | None, text: str, webapp_text: str | None = None) -> None:
        """One event, encoded for `/ws` clients (`text`) and web-app clients (`webapp_text`)."""
        if seq is not None:
            self.position = seq
        for client in list(self.clients):
            message = webapp_text if client.webapp else text
            if message is None:
                continue
            try:
                client.queue.put_nowait((seq, message))
            except asyncio.QueueFull:
                self.drop(client)

    def drop(self, client: Client) -> None:
        """A client that fell `queue_size` events behind: cut it off, it may come back with ?since=."""
        self.leave(client)
        for task in client.tasks:
            task.cancel()
        self.log(f"dropped a client that fell {self.queue_size} events behind")
        asyncio.get_running_loop().create_task(_close(client.connection, 1013, "too slow: reconnect with ?since=SEQ"))


async def _close(connection: Any, code: int, reason: str) -> None:
    try:
        await asyncio.wait_for(connection.close(code, reason), timeout=2)
    except Exception:  # noqa: BLE001 - a dead peer cannot be closed politely; drop it
        connection.transport.abort()


def _authorized(request: Any, token: str | None, query: dict[str, list[str]], in_path: str | None) -> bool:
    if not token:
        return True
    header = request.headers.get("Authorization") or ""
    given = header[7:].strip() if header.lower().startswith("bearer ") else None
    if given is None and query.get("token"):
        given = query["token"][0]
    if given is None:
        given = in_path
    return given is not None and hmac.compare_digest(given.encode(), token.encode())


class EventServer:
    def __init__(
        self,
        open_store: Callable[[], Any],
        *,
        token: str | None,
        bind: str = "127.0.0.1",
        allow_origins: list[str] | None = None,
        others: bool = True,
        queue_size: int = QUEUE_SIZE,
        budget: float = RECONNECT_BUDGET_S,
        log: Callable[[str], None] = lambda _m: None,
    ) -> None:
        self.open_store = open_store
        self.token = token
        self.bind = bind
        self.allow_origins = set(allow_origins or [])
        self.others = others
        self.queue_size = queue_size
        self.budget = budget
        self.log = log
        self.hub: Hub | None = None
        self._stop = threading.Event()
        self._replayer: Any = None

    # -- the tail thread ---------------------------------------------------------------------

    def _pump(self, hub: Hub, loop: asyncio.AbstractEventLoop, ready: asyncio.Future[int], failed: asyncio.Future[None]) -> None:
        """The tail thread. The hub exists before it starts and learns its starting position in
        a loop callback queued ahead of any event's, so an event the first poll finds (a write
        that landed while serve started) is never handed to a hub that is not there yet, nor
        published before the position it follows."""
        try:
            store = self.open_store()
            start = store.last_seq()
            loop.call_soon_threadsafe(_started, hub, ready, start)
            tail = store.changes(start, others=self.others)
            for event in follow_tail(tail, budget=self.budget, what=f"the store {store.uri_description}", stop=self._stop.is_set):
                shown = event_to_jsonable(event)
                text = json.dumps(shown, ensure_ascii=False)
                message = webapp_message(shown)
                webapp_text = json.dumps(message, ensure_ascii=False) if message is not None else None
                loop.call_soon_threadsafe(hub.publish, shown["seq"], text, webapp_text)
        except Exception as exc:  # noqa: BLE001 - whatever ends the tail ends serve (exit 5 for a store error), never silently
            if not self._stop.is_set():
                loop.call_soon_threadsafe(_fail, ready, failed, exc)

    def _replay(self, since: int, upto: int) -> list[tuple[int, str]]:
        """Events in (since, upto], already encoded; runs in the replay thread. Each replay opens
        the store afresh: one kept open would go on reading the file that was there when it was
        opened, after the tail has followed a store file replaced by a copy that continues it."""
        store = self.open_store()
        try:
            return self._replay_from(store, since, upto)
        finally:
            store.close()

    @staticmethod
    def _replay_from(store: Any, since: int, upto: int) -> list[tuple[int, str]]:
        out: list[tuple[int, str]] = []
        position = since
        while position < upto:
            events = store.events_after(position, BATCH)
            for event in events:
                if int(event["seq"]) > upto:
                    return out
                out.append((int(event["seq"]), json.dumps(event_to_jsonable(event), ensure_ascii=False)))
            if len(events) < BATCH:
                break
            position = int(events[-1]["seq"])
        return out

    # -- WebSocket ---------------------------------------------------------------------------

    def _refused(self, request: Any) -> str | None:
        """Why a request may not be served whatever its route, or None: a browser origin not
        allowed, or (on a loopback bind) a Host that is not a loopback name."""
        origins, hosts = request.headers.get_all("Origin"), request.headers.get_all("Host")
        if len(origins) > 1 or len(hosts) > 1:
            return "a request may name one Origin and one Host\n"
        origin = origins[0] if origins else None
        if origin is not None and "*" not in self.allow_origins and normalise_origin(origin) not in self.allow_origins:
            return f"origin {origin[:100]!r} is not allowed; start serve with --allow-origin ORIGIN to let a web page connect\n"
        if not host_allowed(hosts[0] if hosts else None, self.bind):
            return "this server is bound to loopback and answers only to a loopback Host name\n"
        return None

    def _process_request(self, connection: Any, request: Any) -> Any:
        refused = self._refused(request)
        if refused:
            return connection.respond(HTTPStatus.FORBIDDEN, refused)
        parts = urlsplit(request.path)
        query = parse_qs(parts.query)
        in_path, route = split_route(parts.path)
        webapp = route.startswith(WEBAPP_PREFIX) and len(route) > len(WEBAPP_PREFIX) and "/" not in route[len(WEBAPP_PREFIX) :]
        if route != PATH and not webapp:
            return connection.respond(HTTPStatus.NOT_FOUND, f"no such feed; connect to {PATH} (or {WEBAPP_PREFIX}CLIENT_ID for the web app)\n")
        if not _authorized(request, self.token, query, in_path):
            response = connection.respond(
                HTTPStatus.UNAUTHORIZED, "a token is required: Authorization: Bearer TOKEN, ?token=TOKEN, or the path prefix /t/TOKEN\n"
            )
            response.headers["WWW-Authenticate"] = "Bearer"
            return response
        since = query.get("since", [None])[0]
        if since is not None and not (since.isascii() and since.isdigit() and int(since) <= MAX_SEQ):
            return connection.respond(HTTPStatus.BAD_REQUEST, f"since must be a whole number from 0 to {MAX_SEQ}\n")
        connection.leadcli_since = None if webapp or since is None else int(since)
        connection.leadcli_webapp = webapp
        return None

    def _process_response(self, connection: Any, request: Any, response: Any) -> Any:
        assert self.hub is not None
        # The joining point: events after it come live; `since` up to it comes from the store.
        connection.leadcli_joined = self.hub.position
        if response.status_code == 101:
            response.headers[SEQ_HEADER] = str(self.hub.position)
        return None

    async def _handler(self, connection: Any) -> None:
        assert self.hub is not None
        client = self.hub.join(connection, webapp=connection.leadcli_webapp)
        self.log(f"client {connection.remote_address[0]} joined ({len(self.hub.clients)} connected)")
        sender = asyncio.create_task(self._send(connection, client))
        reader = asyncio.create_task(_discard_incoming(connection))
        client.tasks += [sender, reader]
        try:
            # Whichever ends first (the client left, or was dropped) ends the other.
            await asyncio.wait({sender, reader}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self.hub.leave(client)
            sender.cancel()
            reader.cancel()

    async def _send(self, connection: Any, client: Client) -> None:
        from websockets.exceptions import ConnectionClosed

        joined = connection.leadcli_joined
        since = connection.leadcli_since
        last = joined if since is None else since
        try:
            if last < joined:
                loop = asyncio.get_running_loop()
                for replayed, text in await loop.run_in_executor(self._replayer, self._replay, last, joined):
                    await connection.send(text)
                    last = replayed
                last = max(last, joined)
            while True:
                seq, text = await client.queue.get()
                if seq is not None and seq <= last:
                    continue
                await connection.send(text)
                if seq is not None:
                    last = seq
        except ConnectionClosed:
            pass
        except LeadError as exc:
            self.log(f"replay failed: {exc.message}")
            await _close(connection, 1011, "the store is unavailable")

    async def run(self, host: str, port: int, on_listening: Callable[[str, int], None]) -> None:
        from concurrent.futures import ThreadPoolExecutor

        from websockets.asyncio.server import serve

        logging.getLogger("websockets").setLevel(logging.CRITICAL)  # requests may carry ?token=
        loop = asyncio.get_running_loop()
        ready: asyncio.Future[int] = loop.create_future()
        failed: asyncio.Future[None] = loop.create_future()
        self._replayer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="leadcli-replay")
        self.hub = Hub(0, self.queue_size, self.log)  # its position is set before any event is published
        pump = threading.Thread(target=self._pump, args=(self.hub, loop, ready, failed), name="leadcli-tail", daemon=True)
        pump.start()
        await ready
        stop = loop.create_future()
        try:
            loop.add_signal_handler(signal.SIGTERM, _resolve, stop, None)
        except (NotImplementedError, RuntimeError):
            pass
        try:
            async with serve(
                self._handler,
                host,
                port,
                process_request=self._process_request,
                process_response=self._process_response,
                close_timeout=2,
                max_size=64 * 1024,
                ping_interval=20,
                ping_timeout=20,
                reuse_address=True,
            ) as server:
                sockets = [s for s in server.sockets if s.family in (socket.AF_INET, socket.AF_INET6)]
                on_listening(host, sockets[0].getsockname()[1] if sockets else port)
                done, _ = await asyncio.wait({failed, stop}, return_when=asyncio.FIRST_COMPLETED)
                for future in done:
                    future.result()  # a store that stayed unreachable ends the server with exit 5
        finally:
            self._stop.set()
            self._replayer.shutdown(wait=False, cancel_futures=True)


async def _discard_incoming(connection: Any) -> None:
    """Clients have nothing to say; whatever they send is read and ignored."""
    try:
        async for _message in connection:
            pass
    except Exception:  # noqa: BLE001 - a client's protocol error closes only that client
        pass


def _resolve(future: asyncio.Future[Any], value: Any) -> None:
    if not future.done():
        future.set_result(value)


def _started(hub: Hub, ready: asyncio.Future[int], start: int) -> None:
    hub.position = start
    _resolve(ready, start)


def _fail(ready: asyncio.Future[int], failed: asyncio.Future[None], exc: BaseException) -> None:
    """The tail ended: before serve was up (`ready`), or while it serves (`failed`)."""
    target = failed if ready.done() else ready
    if not target.done():
        target.set_exception(exc)


def serve_events(
    open_store: Callable[[], Any],
    host: str,
    port: int,
    token: str | None,
    *,
    allow_origins: list[str] | None = None,
    others: bool = True,
    queue_size: int = QUEUE_SIZE,
    log: Callable[[str], None],
    on_listening: Callable[[str, int], None],
) -> None:
    check_bind(host, token)
    server = EventServer(open_store, token=token, bind=host, allow_origins=check_origins(allow_origins or []), others=others, queue_size=queue_size, log=log)
    try:
        asyncio.run(server.run(host, port, on_listening))
    except OSError as exc:
        raise InvalidInput(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
