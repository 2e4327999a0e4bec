"""Live-update latency: how soon a write shows up in `watch` and at `serve`'s WebSocket clients.

    python bench/bench_watch.py [--writes 30] [--clients 100]

1. SQLite `watch -o jsonl` (a real subprocess): the delay from a writer process (`leadcli add`)
   exiting to the event's line appearing, and from a commit made in this process to the line.
   Baseline, same run: a bare in-process loop polling `PRAGMA data_version` every 50 ms and
   reading the new event row (what the tail does, minus process boundary, JSON and output).
2. `serve` fan-out to N WebSocket clients: from a commit to each client receiving the event.
   Baseline, same run: a bare websockets server that broadcasts a publisher's message to N
   clients (no store, no tail).
Prints p50/p95 and ratios; exits 0 whatever the figures (targets: watch p50 <= 150 ms,
p95 <= 300 ms). Loopback only; every process it starts is stopped.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def report(label: str, seconds: list[float]) -> tuple[float, float]:
    ms = [s * 1000 for s in seconds]
    p50, p95 = pct(ms, 0.5), pct(ms, 0.95)
    print(f"  {label:<52} p50 {p50:7.1f} ms   p95 {p95:7.1f} ms   (n={len(ms)})")
    return p50, p95


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def env_for(home: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "LEADCLI_HOME": home, "LEADCLI_USER": "bench"}


def insert_lead(store: Any, i: int, tag: str) -> None:
    from leadcli.domain.dates import now_utc
    from leadcli.domain.lead import new_id

    now = now_utc()
    lead = {
        "id": new_id(), "name": f"Lead {tag}{i}", "email": f"{tag}{i}@example.com", "current_stage": "New Lead",
        "engaged": False, "status": "Not Engaged", "tags": [], "fields": {}, "created_at": now, "updated_at": now,
        "stage_history": [], "version": 1,
    }  # fmt: skip
    store.insert(lead, {"type": "lead_created", "by": "bench", "at": now, "changes": {}})


class LineTimes(threading.Thread):
    """Reads a process's stdout; records when each line arrives, keyed by email."""

    def __init__(self, stream: Any) -> None:
        super().__init__(daemon=True)
        self.stream = stream
        self.arrived: dict[str, float] = {}
        self.cond = threading.Condition()

    def run(self) -> None:
        import json

        for line in self.stream:
            at = time.monotonic()
            email = json.loads(line)["lead"]["email"]
            with self.cond:
                self.arrived[email] = at
                self.cond.notify_all()

    def wait_for(self, email: str, timeout: float = 10) -> float:
        with self.cond:
            self.cond.wait_for(lambda: email in self.arrived, timeout=timeout)
            return self.arrived[email]


def bench_watch(home: str, writes: int) -> None:
    from leadcli.store import open_store

    db = str(Path(home) / "leads.db")
    open_store(db).close()
    env = env_for(home)
    watcher = subprocess.Popen(
        [sys.executable, "-m", "leadcli", "--verbose", "--db", db, "watch", "-o", "jsonl"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        assert watcher.stderr is not None and "watching" in watcher.stderr.readline()
        lines = LineTimes(watcher.stdout)
        lines.start()
        after_exit = []
        for i in range(writes):
            email = f"proc{i}@example.com"
            subprocess.run(
                [sys.executable, "-m", "leadcli", "--db", db, "add", "--name", f"P {i}", "--email", email, "-o", "ids"],
                env=env, stdout=subprocess.DEVNULL, check=True,
            )  # fmt: skip
            exited = time.monotonic()
            after_exit.append(lines.wait_for(email) - exited)
        store = open_store(db)
        after_commit = []
        for i in range(writes):
            time.sleep(0.037)  # not in step with the 50 ms poll
            insert_lead(store, i, "commit")
            committed = time.monotonic()
            after_commit.append(lines.wait_for(f"commit{i}@example.com") - committed)
        store.close()
    finally:
        watcher.terminate()
        watcher.wait(timeout=10)

    # Baseline: the bare poll the tail does, in-process, same interval.
    db_base = str(Path(home) / "base.db")
    store = open_store(db_base)
    reader = sqlite3.connect(db_base, isolation_level=None, check_same_thread=False)
    seen: dict[int, float] = {}
    stop = threading.Event()

    def bare_poll() -> None:
        version, last = None, 0
        while not stop.is_set():
            now_version = reader.execute("PRAGMA data_version").fetchone()[0]
            if now_version != version:
                version = now_version
                for (seq,) in reader.execute("SELECT seq FROM events WHERE seq > ? ORDER BY seq", (last,)):
                    seen[seq] = time.monotonic()
                    last = seq
            time.sleep(0.05)

    poller = threading.Thread(target=bare_poll, daemon=True)
    poller.start()
    bare = []
    for i in range(writes):
        time.sleep(0.037)
        insert_lead(store, i, "bare")
        committed = time.monotonic()
        seq = store.last_seq()
        deadline = time.monotonic() + 10
        while seq not in seen and time.monotonic() < deadline:
            time.sleep(0.001)
        bare.append(seen[seq] - committed)
    stop.set()
    poller.join()
    polls = 2000
    start = time.perf_counter()
    for _ in range(polls):
        reader.execute("PRAGMA data_version").fetchone()
    poll_cost = (time.perf_counter() - start) / polls
    reader.close()
    store.close()

    print(f"watch on SQLite ({writes} writes each):")
    p50, p95 = report("writer process exit -> line (< 0: line came first)", after_exit)
    c50, _ = report("commit -> line in `watch -o jsonl`", after_commit)
    b50, _ = report("baseline: bare data_version poll (50 ms) -> row read", bare)
    print(f"  one PRAGMA data_version poll costs {poll_cost * 1e6:.1f} µs")
    print(f"  target p50 <= 150 ms, p95 <= 300 ms: {'met' if p50 <= 150 and p95 <= 300 else 'NOT met'};"
          f" commit->line / bare poll = {c50 / b50 if b50 else float('nan'):.2f}x at p50")


async def receive_all(url: str, clients: int, expected: int, ready: threading.Event, out: list[list[float]]) -> None:
    from websockets.asyncio.client import connect

    conns = [await connect(url, open_timeout=30, max_size=None) for _ in range(clients)]
    ready.set()

    async def one(conn: Any) -> list[float]:
        times = []
        for _ in range(expected):
            await conn.recv()
            times.append(time.monotonic())
        return times

    out.extend(await asyncio.gather(*(one(c) for c in conns)))
    for conn in conns:
        await conn.close()


def fan_out(url: str, clients: int, writes: int, publish: Any) -> list[float]:
    """Latency of each client receiving each published message."""
    ready = threading.Event()
    received: list[list[float]] = []
    thread = threading.Thread(target=lambda: asyncio.run(receive_all(url, clients, writes, ready, received)), daemon=True)
    thread.start()
    ready.wait(timeout=60)
    time.sleep(0.3)
    sent = []
    for i in range(writes):
        time.sleep(0.037)
        sent.append(publish(i))
    thread.join(timeout=120)
    return [times[i] - sent[i] for times in received for i in range(writes)]


BARE_SERVER = textwrap.dedent(
    """
    import asyncio, sys
    from websockets.asyncio.server import serve, broadcast
    clients = set()
    async def handler(ws):
        if ws.request.path == "/publish":
            async for message in ws:
                broadcast(clients, message)
        else:
            clients.add(ws)
            try:
                await ws.wait_closed()
            finally:
                clients.discard(ws)
    async def main():
        async with serve(handler, "127.0.0.1", int(sys.argv[1])):
            print("ready", flush=True)
            await asyncio.Future()
    asyncio.run(main())
    """
)


def bench_serve(home: str, clients: int, writes: int) -> None:
    from websockets.sync.client import connect

    from leadcli.store import open_store

    db = str(Path(home) / "serve.db")
    store = open_store(db)
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "leadcli", "--db", db, "serve", "--port", str(port), "--client-queue", "10000"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env_for(home),
    )  # fmt: skip
    try:
        assert server.stderr is not None and "serving" in server.stderr.readline()

        def write(i: int) -> float:
            insert_lead(store, i, "fan")
            return time.monotonic()

        leadcli = fan_out(f"ws://127.0.0.1:{port}/ws", clients, writes, write)
    finally:
        server.terminate()
        server.wait(timeout=10)
        store.close()

    port = free_port()
    bare = subprocess.Popen([sys.executable, "-c", BARE_SERVER, str(port)], stdout=subprocess.PIPE, text=True)
    try:
        assert bare.stdout is not None and bare.stdout.readline().strip() == "ready"
        payload = '{"seq": 1, "lead": {"name": "' + "x" * 700 + '"}}'  # about an event's size
        with connect(f"ws://127.0.0.1:{port}/publish") as publisher:

            def publish(_i: int) -> float:
                publisher.send(payload)
                return time.monotonic()

            baseline = fan_out(f"ws://127.0.0.1:{port}/ws", clients, writes, publish)
    finally:
        bare.terminate()
        bare.wait(timeout=10)

    print(f"serve fan-out to {clients} WebSocket clients ({writes} events):")
    p50, _ = report("commit -> event at each client", leadcli)
    b50, _ = report("baseline: bare websockets broadcast -> each client", baseline)
    print(f"  leadcli / bare at p50 = {p50 / b50 if b50 else float('nan'):.2f}x (the difference is mostly the 50 ms poll)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writes", type=int, default=30)
    parser.add_argument("--clients", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        bench_watch(home, args.writes)
        bench_serve(home, args.clients, args.writes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
