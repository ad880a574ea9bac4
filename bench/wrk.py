"""wrk (Debian package ``wrk``) as the load generator: C, event-driven, so that the client is
never what caps a fast target (the Python generator of ``bench.loadgen`` capped bare Flask).

Each request is a real webhook body with a fresh ``action.id``, built by a Lua script inside
wrk: ``id = base + thread * 10^8 + n``. Every run takes a new ``base`` (``IdSpace``), so
the runs of one benchmark never repeat an id in one database. The script counts the answers
by status code and prints the figures as one JSON line, which ``run`` reads.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

INSTALL_HINT = "wrk is not installed: apt-get update && apt-get install -y wrk (Debian package 'wrk')"
RESULT_MARK = "WRK-JSON "
#: Ids a single wrk thread may use in one run (far more than 10 s can send).
IDS_PER_THREAD = 10**8

LUA = r"""
local path = os.getenv("WRK_PATH")
local base = tonumber(os.getenv("WRK_ID_BASE"))
local threads = {}
local counter = 0

function setup(thread)
  thread:set("thread_index", #threads)
  table.insert(threads, thread)
end

function init(args)
  statuses = {}
  headers = {["Content-Type"] = "application/json"}
end

function request()
  counter = counter + 1
  local id = base + thread_index * IDS_PER_THREAD + counter
  local body = string.format(
    '{"action":{"id":%.0f,"subject_id":%d,"subject_type":"Member","action_type":"update"}}',
    id, 1000 + counter % 50)
  return wrk.format("POST", path, headers, body)
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local codes = {}
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("statuses")) do
      codes[#codes + 1] = string.format('"%d": %d', status, count)
    end
  end
  local e = summary.errors
  io.write(string.format(
    'RESULT_MARK{"requests": %d, "duration_us": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, '
    .. '"max_us": %d, "socket_errors": %d, "statuses": [{%s}]}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, e.connect + e.read + e.write + e.timeout,
    table.concat(codes, "}, {")))
end
""".replace("IDS_PER_THREAD", str(IDS_PER_THREAD)).replace("RESULT_MARK", RESULT_MARK)


def binary() -> str | None:
    return shutil.which("wrk")


@dataclass
class WrkResult:
    requests: int
    seconds: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    socket_errors: int
    statuses: dict[int, int] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def all_2xx(self) -> bool:
        return bool(self.statuses) and all(200 <= code < 300 for code in self.statuses) and not self.socket_errors


class IdSpace:
    """Hands each wrk run a fresh range of ``action.id`` values (below 2^53: Lua numbers)."""

    def __init__(self) -> None:
        self._next = int(time.time()) * 10**5

    def take(self, threads: int) -> int:
        base = self._next
        self._next += (threads + 1) * IDS_PER_THREAD
        return base


def run(url: str, path: str, *, ids: IdSpace, seconds: float, threads: int = 2,
        connections: int = 32) -> WrkResult:
    """One wrk run against ``url`` + ``path`` (the path carries its query string)."""
    wrk = binary()
    if wrk is None:
        raise SystemExit(INSTALL_HINT)
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(LUA)
    try:
        env = {"WRK_PATH": path, "WRK_ID_BASE": str(ids.take(threads)), "PATH": "/usr/bin:/bin"}
        completed = subprocess.run(
            [wrk, "-t", str(threads), "-c", str(connections), "-d", f"{seconds:g}s", "--timeout", "10s",
             "-s", script.name, url],
            env=env, capture_output=True, text=True, timeout=seconds + 60, check=False,
        )
    finally:
        Path(script.name).unlink(missing_ok=True)
    return parse(completed.stdout, completed.stderr)


def parse(stdout: str, stderr: str = "") -> WrkResult:
    line = next((line for line in stdout.splitlines() if line.startswith(RESULT_MARK)), None)
    if line is None:
        raise SystemExit(f"wrk printed no result:\n{stdout}\n{stderr}")
    raw = json.loads(line[len(RESULT_MARK):])
    statuses: dict[int, int] = {}
    for entry in raw["statuses"]:
        for code, count in entry.items():
            statuses[int(code)] = statuses.get(int(code), 0) + count
    return WrkResult(
        requests=raw["requests"], seconds=raw["duration_us"] / 1e6, p50_ms=raw["p50_us"] / 1000,
        p90_ms=raw["p90_us"] / 1000, p99_ms=raw["p99_us"] / 1000, max_ms=raw["max_us"] / 1000,
        socket_errors=raw["socket_errors"], statuses=statuses,
    )
