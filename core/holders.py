"""Who holds a lock, a lease or a limiter slot: the process, named so that a peer can tell it died.

A holder is one process: its host, its pid and the time it started. The start time defeats pid
reuse: a new process that got the dead one's pid started later, so it is another holder. The
host is the hostname, the kernel's boot id and the pid namespace together: two containers that
share a hostname (or a kernel) but not a pid namespace are different hosts, because a pid means
nothing outside its namespace; a reboot is a new host, because every process of the old boot
is gone.

Each holder's grants are listed in Redis (``workers.holders`` sweeps them):

- ``holders:host:<host>``: a set of the holder ids that registered on that host;
- ``holders:<holder id>:locks``: a hash, organisation lock key -> fencing token (``core.locks``);
- ``holders:<holder id>:slots``: a hash, concurrency slot id -> the limiter's slot set
  (``core.ratelimit``).

An event's lease records its holder id in the database row (``events.lease_holder``).

The registry is written in the same Lua script that takes the lock or the slot, so nothing is
ever held without being listed (a process killed between the two would otherwise leak it until
its TTL). Entries expire after ``REGISTRY_TTL_SECONDS``, refreshed at every grant, so a host that
never comes back leaves nothing behind for ever; the grants themselves expire with their TTL.
"""
from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path

import psutil

#: How long a holder's listing outlives its last grant (far longer than any lock TTL).
REGISTRY_TTL_SECONDS = 24 * 3600
REGISTRY_TTL_MS = REGISTRY_TTL_SECONDS * 1000
#: Separates the parts of a holder id; never in a hostname, a boot id or a namespace name.
SEPARATOR = "/"


@dataclass(frozen=True)
class Holder:
    """One process: ``host`` (``this_host()``), ``pid`` and ``started`` (its start time, as
    ``psutil`` reports it, to the hundredth of a second: the kernel counts in ticks)."""

    host: str
    pid: int
    started: str

    @property
    def id(self) -> str:
        return SEPARATOR.join((self.host, str(self.pid), self.started))

    @classmethod
    def parse(cls, holder_id: str | bytes) -> Holder | None:
        """The holder an id names; ``None`` for an id this module did not make."""
        text = holder_id.decode() if isinstance(holder_id, bytes) else holder_id
        host, _, rest = text.rpartition(SEPARATOR)
        host, _, pid = host.rpartition(SEPARATOR)
        if not host or not pid.isdigit() or not rest:
            return None
        return cls(host=host, pid=int(pid), started=rest)

    def is_alive(self) -> bool:
        """Whether this process still runs. Only meaningful on its own host (the caller checks
        ``host == this_host()``): a pid names nothing elsewhere. A process this one may not
        inspect counts as alive; only a certainly dead one is ever released."""
        try:
            process = psutil.Process(self.pid)
            if _started(process) != self.started:
                return False  # the pid was reused by a later process
            return bool(process.status() != psutil.STATUS_ZOMBIE)  # killed, not yet reaped
        except psutil.NoSuchProcess:
            return _signalable(self.pid)
        except psutil.Error:
            return True


def _signalable(pid: int) -> bool:
    """Whether ``pid`` exists though ``/proc`` does not show it: a ``hidepid`` mount hides the
    processes of other users there, but not from ``kill(pid, 0)`` (EPERM: it exists). Such a
    process counts as alive: its start time cannot be read, so a reused pid cannot be told."""
    if os.name != "posix":  # elsewhere signal 0 is no probe
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _started(process: psutil.Process) -> str:
    return f"{process.create_time():.2f}"


def _host() -> str:
    parts = [socket.gethostname().replace(SEPARATOR, "_")]
    boot_id = Path("/proc/sys/kernel/random/boot_id")
    parts.append(boot_id.read_text().strip() if boot_id.exists() else f"{psutil.boot_time():.0f}")
    try:
        parts.append(os.readlink("/proc/self/ns/pid"))  # e.g. "pid:[4026531836]"
    except OSError:
        pass  # no pid namespaces here (macOS): the hostname and boot name the host
    return ":".join(parts)


_cached: tuple[int, Holder] | None = None


def this_process() -> Holder:
    """This process as a holder (recomputed after a fork: a child is a holder of its own)."""
    global _cached
    pid = os.getpid()
    if _cached is None or _cached[0] != pid:
        _cached = (pid, Holder(host=_host(), pid=pid, started=_started(psutil.Process(pid))))
    return _cached[1]


def this_host() -> str:
    return this_process().host


def host_key(host: str) -> str:
    return f"holders:host:{host}"


def locks_key(holder_id: str) -> str:
    return f"holders:{holder_id}:locks"


def slots_key(holder_id: str) -> str:
    return f"holders:{holder_id}:slots"
