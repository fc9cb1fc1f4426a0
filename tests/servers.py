"""Real ``xieshang serve`` processes for the HTTP, browser and load tests.

Each server is the installed console script in its own process group, on a free port of
127.0.0.1, with its output in a file (read by tests that check what the server logs). It is
stopped by its process group id, never by name.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

XIESHANG = shutil.which("xieshang", path=os.path.dirname(sys.executable))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")


@contextmanager
def running_server(*args: str, env: dict[str, str] | None = None) -> Iterator[Server]:
    """``xieshang serve --port P ARGS...``, waited for until /healthz answers."""
    assert XIESHANG is not None, "the console script must be installed (make test does)"
    port = free_port()
    log = Path(tempfile.mkdtemp(prefix="xieshang-serve-")) / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [XIESHANG, "serve", "--port", str(port), *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: workers are stopped with it
            env={**os.environ, **(env or {})},
        )
    server = Server(process, port, log)
    try:
        wait_until_up(server)
        yield server
    finally:
        stop(server)


def wait_until_up(server: Server, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise AssertionError(f"the server exited early:\n{server.output()}")
        try:
            if httpx.get(f"{server.url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"the server did not answer within {timeout} s:\n{server.output()}")


def stop(server: Server) -> None:
    if server.process.poll() is None:
        os.killpg(server.process.pid, signal.SIGTERM)
        try:
            server.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.process.pid, signal.SIGKILL)
            server.process.wait(timeout=20)


def post_json(
    server: Server, path: str, body: bytes, headers: Sequence[tuple[str, str]] = ()
) -> httpx.Response:
    return httpx.post(
        f"{server.url}{path}",
        content=body,
        headers={"content-type": "application/json", **dict(headers)},
        timeout=60,
    )
