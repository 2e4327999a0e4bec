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
