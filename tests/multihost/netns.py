"""Hosts made of Linux network namespaces on one machine, joined by a bridge.

Each host is a namespace with its own loopback and one veth pair, whose outer end hangs on a
bridge in the root namespace; the root namespace has an address on the bridge too, so the test
process (and the sandbox it serves) is a host of the same network. Cutting a host's link sets
the outer end of its veth down: its packets go nowhere, and nobody is told (as when a machine
loses power or its cable). Needs root and ``ip`` (iproute2).

Names carry a random tag, so two runs on one machine do not collide; ``close`` removes every
namespace, veth and the bridge it made, and kills the processes it started.
"""
from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path


def why_not_available() -> str | None:
    """Why namespaces cannot be made here (``None``: they can)."""
    if os.geteuid() != 0:
        return "not root"
    if shutil.which("ip") is None:
        return "no `ip` command (iproute2)"
    probe = f"mhprobe{secrets.token_hex(3)}"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True, check=False)
    if made.returncode != 0:
        return f"`ip netns add` refused: {made.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True, check=False)
    return None


def ip(*args: str, netns: str | None = None) -> None:
    command = ["ip", *(["-n", netns] if netns else []), *args]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)}: {done.stderr.strip()}")


@dataclass
class Host:
    name: str
    netns: str
    address: str
    outer: str  #: the veth end on the bridge (root namespace)
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start(self, argv: list[str], *, env: dict[str, str], log: Path, cwd: Path | None = None,
              user: str | None = None) -> subprocess.Popen[bytes]:
        """Run ``argv`` inside this host, in a process group of its own (killed as one)."""
        prefix = ["ip", "netns", "exec", self.netns]
        if user:
            prefix += ["runuser", "-u", user, "--"]
        with open(log, "ab") as out:
            process = subprocess.Popen([*prefix, *argv], env=env, cwd=cwd, stdout=out,
                                       stderr=subprocess.STDOUT, start_new_session=True)
        self.processes.append(process)
        return process

    def kill_all(self) -> None:
        """SIGKILL every process group started here: nothing is shut down cleanly."""
        for process in self.processes:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
        for process in self.processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=10)
        self.processes.clear()

    def cut(self) -> None:
        ip("link", "set", self.outer, "down")

    def reconnect(self) -> None:
        ip("link", "set", self.outer, "up")


class Network:
    """A bridge ``10.<n>.<m>.0/24`` with the root namespace at ``.1`` and hosts from ``.10``."""

    def __init__(self) -> None:
        self.tag = secrets.token_hex(2)
        self.bridge = f"mhbr{self.tag}"
        self.prefix = f"10.{200 + secrets.randbelow(50)}.{secrets.randbelow(250)}"
        self.gateway = f"{self.prefix}.1"
        self.hosts: list[Host] = []
        ip("link", "add", self.bridge, "type", "bridge")
        ip("addr", "add", f"{self.gateway}/24", "dev", self.bridge)
        ip("link", "set", self.bridge, "up")

    def add_host(self, name: str) -> Host:
        number = len(self.hosts)
        netns, outer, inner = f"mh{self.tag}{name}", f"mh{self.tag}{name}o", f"mh{self.tag}{name}i"
        address = f"{self.prefix}.{10 + number}"
        ip("netns", "add", netns)
        host = Host(name, netns, address, outer)
        self.hosts.append(host)
        ip("link", "add", outer, "type", "veth", "peer", "name", inner)
        ip("link", "set", inner, "netns", netns)
        ip("link", "set", outer, "master", self.bridge)
        ip("link", "set", outer, "up")
        ip("addr", "add", f"{address}/24", "dev", inner, netns=netns)
        ip("link", "set", inner, "up", netns=netns)
        ip("link", "set", "lo", "up", netns=netns)
        return host

    def close(self) -> None:
        for host in self.hosts:
            host.kill_all()
            with contextlib.suppress(RuntimeError):
                ip("link", "del", host.outer)
            with contextlib.suppress(RuntimeError):
                ip("netns", "del", host.netns)
        with contextlib.suppress(RuntimeError):
            ip("link", "del", self.bridge)
