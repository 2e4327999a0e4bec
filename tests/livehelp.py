"""Helpers for tests of long-running commands (`watch`, `serve`): real subprocesses whose
output is read line by line with timeouts, always cleaned up."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from typing import Any

from conftest import ROOT


class Proc:
    """`python -m leadcli ARGS` with stdout and stderr read by threads into queues."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        self.args = args
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "leadcli", *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
        )
        self.out: queue.Queue[str | None] = queue.Queue()
        self.err: queue.Queue[str | None] = queue.Queue()
        self.stderr_lines: list[str] = []
        for stream, sink in ((self.proc.stdout, self.out), (self.proc.stderr, self.err)):
            threading.Thread(target=_pump, args=(stream, sink), daemon=True).start()

    def wait_stderr(self, text: str, timeout: float = 20) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.err.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                break
            if line is None:
                break
            self.stderr_lines.append(line)
            if text in line:
                return line
        raise AssertionError(f"{' '.join(self.args)}: no {text!r} on stderr; got {self.stderr_lines!r}, exit {self.proc.poll()}")

    def lines(self, n: int, timeout: float = 20) -> list[str]:
        got: list[str] = []
        deadline = time.monotonic() + timeout
        while len(got) < n and time.monotonic() < deadline:
            try:
                line = self.out.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                break
            if line is None:
                break
            got.append(line)
        return got

    def events(self, n: int, timeout: float = 20) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.lines(n, timeout)]

    def rest_of_stdout(self) -> list[str]:
        out: list[str] = []
        while True:
            try:
                line = self.out.get(timeout=5)
            except queue.Empty:
                return out
            if line is None:
                return out
            out.append(line)

    def stderr_text(self) -> str:
        while True:
            try:
                line = self.err.get(timeout=2)
            except queue.Empty:
                break
            if line is None:
                break
            self.stderr_lines.append(line)
        return "".join(self.stderr_lines)

    def wait(self, timeout: float = 30) -> int:
        return self.proc.wait(timeout=timeout)

    def interrupt(self) -> int:
        self.proc.send_signal(signal.SIGINT)
        return self.wait()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _pump(stream: Any, sink: queue.Queue[str | None]) -> None:
    for line in stream:
        sink.put(line)
    sink.put(None)


class WebApp:
    """Writes to a MongoDB `leads` collection the way the Leads Artisan backend does
    (../shared/docs/leads-artisan.md): inserts without `version`, `find_one_and_update` with
    `$set` of the fields sent plus `updated_at = utcnow()` (naive UTC), a history entry on a
    stage change (naive ISO text with microseconds), deletes."""

    def __init__(self, uri: str) -> None:
        import pymongo

        self.client: Any = pymongo.MongoClient(uri)
        self.leads = self.client.get_default_database()["leads"]

    @staticmethod
    def _now() -> Any:
        from datetime import UTC, datetime

        return datetime.now(UTC).replace(tzinfo=None)

    def create(self, name: str, email: str, company: str = "Web Co") -> str:
        now = self._now()
        doc = {
            "name": name, "email": email, "company": company, "status": "Not Engaged", "engaged": False,
            "current_stage": "New Lead", "stage_history": [{"from_stage": None, "to_stage": "New Lead", "changed_at": now.isoformat()}],
            "last_contacted": None, "created_at": now, "updated_at": now,
        }  # fmt: skip
        return str(self.leads.insert_one(doc).inserted_id)

    def update(self, lead_id: str, **fields: Any) -> None:
        from bson import ObjectId

        now = self._now()
        change: dict[str, Any] = {"$set": {**fields, "updated_at": now}}
        if "current_stage" in fields:
            old = self.leads.find_one({"_id": ObjectId(lead_id)})["current_stage"]
            change["$push"] = {"stage_history": {"from_stage": old, "to_stage": fields["current_stage"], "changed_at": now.isoformat()}}
        self.leads.find_one_and_update({"_id": ObjectId(lead_id)}, change)

    def delete(self, lead_id: str) -> None:
        from bson import ObjectId

        self.leads.delete_one({"_id": ObjectId(lead_id)})

    def close(self) -> None:
        self.client.close()


def raw_handshake(port: int, path: str, headers: dict[str, str], until: bytes | None = None, timeout: float = 30) -> bytes:
    """A WebSocket handshake sent byte by byte, as a browser (or an attacker) would; returns
    everything the server sent back until it closed the connection, or (on an accepted one,
    which stays open) until `until` came: by default the end of the response's headers."""
    import base64
    import socket

    lines = [
        f"GET {path} HTTP/1.1", "Upgrade: websocket", "Connection: Upgrade",
        f"Sec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}", "Sec-WebSocket-Version: 13",
    ]  # fmt: skip
    headers = {"Host": f"127.0.0.1:{port}", **headers}
    lines += [f"{k}: {v}" for k, v in headers.items() if v is not None]
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        data = b""
        while True:
            chunk = sock.recv(65536)  # a server that neither answers nor closes: TimeoutError
            if not chunk:
                return data  # closed: a refusal says all it says
            data += chunk
            if data.startswith(b"HTTP/1.1 101") and (until or b"\r\n\r\n") in data:
                return data


def communicate_until(proc: subprocess.Popen[str], needle: str, timeout: float = 60) -> tuple[str, str, bool]:
    """Read a started process group's stdout and stderr until `needle` shows up on stdout, the
    process ends, or `timeout` passes (a safety net, not a measurement); then stop it (SIGTERM
    to its group). Returns (stdout, stderr, whether it was still running)."""
    assert proc.stdout is not None and proc.stderr is not None
    out: list[str] = []
    err: list[str] = []
    seen = threading.Event()

    def read(stream: Any, sink: list[str], watch: bool) -> None:
        for line in stream:
            sink.append(line)
            if watch and needle in line:
                seen.set()

    readers = [threading.Thread(target=read, args=(proc.stdout, out, True), daemon=True),
               threading.Thread(target=read, args=(proc.stderr, err, False), daemon=True)]  # fmt: skip
    for reader in readers:
        reader.start()
    deadline = time.monotonic() + timeout
    while not seen.is_set() and proc.poll() is None and time.monotonic() < deadline:
        seen.wait(0.05)
    running = proc.poll() is None
    if running:
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    for reader in readers:
        reader.join(timeout=10)
    return "".join(out), "".join(err), running
