"""One measurement for ``bench.growth``: ``GET /api/integrations/<id>/links.csv`` for N organisations.

The rental stand-in (in this process) is seeded with its bulk control route, every
``LINKED_EVERY``-th organisation is given a link in the service's database, and the web process
is started as the Procfile says (gunicorn, ``gunicorn.conf.py``), fresh for each count, so that
a worker's peak resident memory (VmHWM) is that download's alone. The CSV is read as a stream.

Which gunicorn worker served the download is the one whose CPU time grew most while it ran:
its VmHWM is the figure. The time the rental stand-in spent answering its pages is timed in
this process (``RentalTimer``): the stand-in filters all of an account's members for every
page, so at 100,000 organisations its pages cost more than the service's own work.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import requests

from bench.common import ADMIN_TOKEN, Sandbox, Service, peak_rss_mb, wire_integration

#: One organisation in this many is linked (the rest have an empty link cell).
LINKED_EVERY = 10
#: Rows of links inserted per statement while seeding.
INSERT_CHUNK = 5_000
#: Seconds the download may take before the run is declared broken.
DOWNLOAD_TIMEOUT = 600
READ_CHUNK = 64 * 1024


@dataclass
class RentalTimer:
    """Seconds the rental stand-in spent answering ``/api/v1`` calls (its pages)."""

    seconds: float = 0.0
    calls: int = 0
    _started: dict[int, float] = field(default_factory=dict)

    def install(self, app: Any) -> RentalTimer:
        import threading

        app.before_request(lambda: self._started.__setitem__(threading.get_ident(), time.perf_counter()))
        app.after_request(self._after)
        return self

    def _after(self, response: Any) -> Any:
        import threading

        from flask import request

        began = self._started.pop(threading.get_ident(), None)
        if began is not None and request.path.startswith("/api/v1/"):
            self.seconds += time.perf_counter() - began
            self.calls += 1
        return response

    def reset(self) -> None:
        self.seconds, self.calls = 0.0, 0


def measure(service: Service, sandbox: Sandbox, timer: RentalTimer, count: int) -> dict[str, Any]:
    """Seed ``count`` organisations, start a fresh web process, download the CSV; what it took."""
    rt = service.runtime()
    try:
        wired = wire_integration(rt, sandbox, subdomain=f"csv{count}")
        seeded = sandbox.post(sandbox.current_rms, "members/bulk", {"subdomain": wired.subdomain, "count": count})
        linked = _link_some(rt, wired.id, seeded["ids"])
    finally:
        rt.close()
    web = service.start_web()
    try:
        workers = _gunicorn_workers(web.pid)
        idle = {pid: peak_rss_mb(pid) for pid in workers}
        cpu_before = {pid: _cpu_seconds(pid) for pid in workers}
        timer.reset()
        download = _download(service.url, wired.id)
        server = max(workers, key=lambda pid: _cpu_seconds(pid) - cpu_before[pid])
        peak = peak_rss_mb(server)
    finally:
        web.stop()
        service.processes.remove(web)
    return {"count": count, "linked": linked, **download, "peak_rss_mb": peak,
            "idle_rss_mb": idle[server], "rental_seconds": timer.seconds, "rental_calls": timer.calls}


def _link_some(rt: Any, integration_id: str, member_ids: list[int]) -> int:
    """A link for every LINKED_EVERY-th organisation, written straight into the store."""
    from sqlalchemy import insert

    from core.tables import Link

    rows = [{"integration_id": integration_id, "organisation_id": member_id,
             "organisation_name": f"linked {member_id}", "contact_id": f"csv-contact-{member_id}",
             "contact_name": f"linked {member_id}"} for member_id in member_ids[::LINKED_EVERY]]
    with rt.db.engine.begin() as connection:
        for start in range(0, len(rows), INSERT_CHUNK):
            connection.execute(insert(Link), rows[start:start + INSERT_CHUNK])
    return len(rows)


def _download(base_url: str, integration_id: str) -> dict[str, Any]:
    """Stream the CSV; wall time, status, bytes, data rows and rows with a link."""
    began = time.monotonic()
    response = requests.get(f"{base_url}/api/integrations/{integration_id}/links.csv", stream=True,
                            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=DOWNLOAD_TIMEOUT)
    size = lines = linked = 0
    tail = b""
    for chunk in response.iter_content(READ_CHUNK):
        size += len(chunk)
        text = tail + chunk
        complete, separator, tail = text.rpartition(b"\r\n")
        if separator:
            rows = complete.split(b"\r\n")
            lines += len(rows)
            linked += sum(1 for row in rows if not row.endswith(b","))
    lines += bool(tail)
    seconds = time.monotonic() - began
    # The header row is not a data row, and has no empty link cell either.
    return {"status": response.status_code, "seconds": seconds, "bytes": size,
            "rows": max(0, lines - 1), "rows_linked": max(0, linked - 1)}


def _gunicorn_workers(shell_pid: int) -> list[int]:
    """The worker processes: children of the gunicorn master, itself the shell's child."""
    import psutil

    try:
        masters = psutil.Process(shell_pid).children()
    except psutil.Error:
        return []
    return [worker.pid for master in masters for worker in master.children()] or [m.pid for m in masters]


def _cpu_seconds(pid: int) -> float:
    import psutil

    try:
        times = psutil.Process(pid).cpu_times()
    except psutil.Error:
        return 0.0
    return times.user + times.system
