"""A TCP proxy on loopback that can drop or delay chosen replies: a fault at the protocol
level, with real bytes, for a client that must survive it (a worker's Redis connection).

Each accepted connection is paired with one to the upstream server and pumped both ways by two
threads. A ``Rule`` looks at each chunk the server sends back together with the last chunk the
client sent on that connection (a Redis client waits for each reply before its next command, so
that is the request the reply answers). A matching ``drop`` closes both sockets instead of
forwarding the reply: the server applied the command, the client never hears of it, exactly as
when a connection breaks or a socket times out just after the server answered. A matching
``delay`` holds the reply for some seconds before forwarding it.
"""
from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

#: ``(request, reply) -> bool``: whether a rule applies to this reply.
Match = Callable[[bytes, bytes], bool]
CHUNK = 65536


@dataclass
class Rule:
    match: Match
    action: str  #: "drop" or "delay"
    times: int = 1
    seconds: float = 0.0
    hits: int = 0


@dataclass
class _Pair:
    client: socket.socket
    server: socket.socket
    last_request: bytes = b""
    closed: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    def close(self) -> None:
        with self.lock:
            if self.closed:
                return
            self.closed = True
        for sock in (self.client, self.server):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()


class TcpProxy:
    """``TcpProxy(upstream_port).start()``; clients connect to ``proxy.port``."""

    def __init__(self, upstream_port: int, upstream_host: str = "127.0.0.1") -> None:
        self.upstream = (upstream_host, upstream_port)
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self.port: int = self._listener.getsockname()[1]
        self._rules: list[Rule] = []
        self._rules_lock = threading.Lock()
        self._pairs: list[_Pair] = []
        self._stopped = threading.Event()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> TcpProxy:
        threading.Thread(target=self._accept, daemon=True, name="tcp-proxy-accept").start()
        return self

    def stop(self) -> None:
        self._stopped.set()
        self._listener.close()
        for pair in list(self._pairs):
            pair.close()

    def drop_reply(self, match: Match, *, times: int = 1) -> Rule:
        """Drop (and break the connection instead of forwarding) the next ``times`` matching replies."""
        return self._add(Rule(match, "drop", times=times))

    def delay_reply(self, match: Match, seconds: float, *, times: int = 1) -> Rule:
        """Hold the next ``times`` matching replies for ``seconds`` before forwarding them."""
        return self._add(Rule(match, "delay", times=times, seconds=seconds))

    def break_connections(self) -> None:
        """Close every open connection at once (as a network blip does)."""
        for pair in list(self._pairs):
            pair.close()

    def _add(self, rule: Rule) -> Rule:
        with self._rules_lock:
            self._rules.append(rule)
        return rule

    def _rule_for(self, request: bytes, reply: bytes) -> Rule | None:
        with self._rules_lock:
            for rule in self._rules:
                if rule.hits < rule.times and rule.match(request, reply):
                    rule.hits += 1
                    return rule
        return None

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.upstream, timeout=5)
                server.settimeout(None)
            except OSError:
                client.close()
                continue
            pair = _Pair(client, server)
            self._pairs = [p for p in self._pairs if not p.closed] + [pair]
            threading.Thread(target=self._requests, args=(pair,), daemon=True).start()
            threading.Thread(target=self._replies, args=(pair,), daemon=True).start()

    def _requests(self, pair: _Pair) -> None:
        try:
            while data := pair.client.recv(CHUNK):
                pair.last_request = data
                pair.server.sendall(data)
        except OSError:
            pass
        pair.close()

    def _replies(self, pair: _Pair) -> None:
        try:
            while data := pair.server.recv(CHUNK):
                rule = self._rule_for(pair.last_request, data)
                if rule is not None and rule.action == "drop":
                    break
                if rule is not None and rule.action == "delay":
                    time.sleep(rule.seconds)
                pair.client.sendall(data)
        except OSError:
            pass
        pair.close()


def dramatiq_fetch_with_messages(queue: str) -> Match:
    """A reply to Dramatiq's ``fetch`` of ``queue`` (its dispatch script) carrying messages."""
    queue_arg = f"${len(queue)}\r\n{queue}\r\n".encode()

    def match(request: bytes, reply: bytes) -> bool:
        return (b"$5\r\nfetch\r\n" in request and queue_arg in request
                and reply.startswith(b"*") and not reply.startswith(b"*0\r\n"))
    return match


def dramatiq_enqueue_of(queue: str) -> Match:
    """A reply to Dramatiq's ``enqueue`` on ``queue``."""
    queue_arg = f"${len(queue)}\r\n{queue}\r\n".encode()

    def match(request: bytes, _reply: bytes) -> bool:
        return b"$7\r\nenqueue\r\n" in request and queue_arg in request
    return match
