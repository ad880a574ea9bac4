"""A small HTTP load generator: N threads, each with one keep-alive connection, raw sockets.

wrk is not installed; ``http.client`` costs more CPU per request than the server under test
on this machine, so each thread writes pre-built requests and reads answers by their
``Content-Length`` itself. ``client_capacity`` measures the generator against a trivial
server (canned answers from a separate process) so that a report can show the client was not
the bottleneck.
"""
from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

from bench.common import free_port, percentile

#: Seconds a single request may take before the run is declared broken.
REQUEST_TIMEOUT = 30.0


@dataclass
class LoadResult:
    requests: int
    seconds: float
    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def p(self, share: float) -> float:
        """A latency percentile in milliseconds."""
        return percentile(self.latencies, share) * 1000


def build_request(method: str, path: str, body: bytes = b"") -> bytes:
    head = (f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: keep-alive\r\n\r\n")
    return head.encode() + body


class _Connection:
    def __init__(self, port: int) -> None:
        self.port = port
        self.sock: socket.socket | None = None
        self.buffer = b""

    def _open(self) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=REQUEST_TIMEOUT)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock, self.buffer = sock, b""
        return sock

    def call(self, request: bytes) -> int:
        """Send one request, read its whole answer; the status. Reconnects once if the server
        closed the kept-alive connection (gunicorn's keep-alive timeout)."""
        for attempt in (0, 1):
            sock = self.sock or self._open()
            try:
                sock.sendall(request)
                return self._answer(sock)
            except (ConnectionError, _Closed):
                self.close()
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def _answer(self, sock: socket.socket) -> int:
        while b"\r\n\r\n" not in self.buffer:
            self._fill(sock)
        head, _, rest = self.buffer.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split()[1])
        length, closing = 0, False
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"connection" and value.strip().lower() == b"close":
                closing = True
        while len(rest) < length:
            rest += self._recv(sock)
        self.buffer = rest[length:]
        if closing:
            self.close()
        return status

    def _fill(self, sock: socket.socket) -> None:
        self.buffer += self._recv(sock)

    @staticmethod
    def _recv(sock: socket.socket) -> bytes:
        chunk = sock.recv(65536)
        if not chunk:
            raise _Closed()
        return chunk

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
        self.sock = None


class _Closed(Exception):
    pass


def run_load(port: int, make_request: Callable[[int], bytes], *, total: int, clients: int) -> LoadResult:
    """``total`` requests over ``clients`` keep-alive connections; request ``i`` is
    ``make_request(i)`` (prebuilt before the clock starts)."""
    prepared = [make_request(i) for i in range(total)]
    shares = [prepared[i::clients] for i in range(clients)]
    latencies: list[list[float]] = [[] for _ in range(clients)]
    statuses: list[dict[int, int]] = [{} for _ in range(clients)]
    start = threading.Barrier(clients + 1)

    def client(index: int) -> None:
        connection = _Connection(port)
        own_latencies, own_statuses = latencies[index], statuses[index]
        start.wait()
        for request in shares[index]:
            began = time.perf_counter()
            status = connection.call(request)
            own_latencies.append(time.perf_counter() - began)
            own_statuses[status] = own_statuses.get(status, 0) + 1
        connection.close()

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    merged: dict[int, int] = {}
    for own in statuses:
        for status, count in own.items():
            merged[status] = merged.get(status, 0) + count
    return LoadResult(total, elapsed, [x for own in latencies for x in own], merged)


#: A trivial HTTP server: an asyncio loop writing one canned 202 per request it reads.
_TRIVIAL_SERVER = r"""
import asyncio, sys
ANSWER = b"HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
async def serve(reader, writer):
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            if length:
                await reader.readexactly(length)
            writer.write(ANSWER)
    except (asyncio.IncompleteReadError, ConnectionError):
        writer.close()
async def main():
    server = await asyncio.start_server(serve, "127.0.0.1", int(sys.argv[1]))
    print("ready", flush=True)
    async with server:
        await server.serve_forever()
asyncio.run(main())
"""


def client_capacity(make_request: Callable[[int], bytes], *, total: int, clients: int) -> LoadResult:
    """The generator's own rate against a trivial server in a separate process."""
    port = free_port()
    server = subprocess.Popen([sys.executable, "-c", _TRIVIAL_SERVER, str(port)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None and server.stdout.readline().strip() == "ready"
        return run_load(port, make_request, total=total, clients=clients)
    finally:
        server.terminate()
        server.wait(timeout=10)
