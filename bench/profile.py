"""Sampling profiles of running processes with py-spy (PyPI ``py-spy``, pinned in the bench
section of requirements.txt), summarised as text.

``Recording`` starts ``py-spy record`` on a process and its children (gunicorn's master and
workers) in raw "collapsed stacks" form, without pausing them (``--nonblocking``), and
idle threads left out (py-spy's default). ``summarise`` turns the stacks into two tables: the
share of samples in which a function is on the stack (inclusive) and at its top (self).
"""
from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

INSTALL_HINT = "py-spy is not installed: pip install -r requirements.txt (bench section)"
#: ``function (path/to/file.py:line)``: the line is dropped so that a function counts once.
FRAME = re.compile(r"^(?P<function>.*?) \((?P<file>[^()]*?)(?::\d+)?\)$")


def binary() -> str | None:
    from bench.common import BIN_DIR

    local = BIN_DIR / "py-spy"
    return str(local) if local.exists() else shutil.which("py-spy")


@dataclass
class Recording:
    output: Path
    process: subprocess.Popen[bytes]

    @classmethod
    def start(cls, pid: int, output: Path, *, seconds: float, rate: int = 200, gil: bool = False) -> Recording | None:
        """``gil``: only samples of the thread holding the GIL (where the CPU goes); otherwise
        every thread not idle, waits included (where the time goes)."""
        spy = binary()
        if spy is None:
            print(INSTALL_HINT, flush=True)
            return None
        process = subprocess.Popen(
            [spy, "record", "--pid", str(pid), "--subprocesses", "--nonblocking", "--format", "raw",
             "--rate", str(rate), "--duration", str(int(seconds)), "--output", str(output),
             *(["--gil"] if gil else [])],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        return cls(output, process)

    def finish(self, timeout: float = 30.0) -> str | None:
        """Wait for py-spy to write its file; the stacks, or ``None`` (with its error shown)."""
        try:
            _, err = self.process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.kill(self.process.pid, signal.SIGINT)
            _, err = self.process.communicate(timeout=10)
        if not self.output.exists():
            print(f"py-spy wrote no profile: {err.decode(errors='replace')[-500:]}", flush=True)
            return None
        return self.output.read_text()


def _frame_name(frame: str) -> str:
    match = FRAME.match(frame.strip())
    if match is None:
        return frame.strip()
    path = match.group("file")
    for marker in ("site-packages/", "/lib/python3."):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    else:
        from bench.common import ROOT

        path = path[len(str(ROOT)) + 1:] if path.startswith(f"{ROOT}/") else Path(path).name
    return f"{match.group('function')} ({path})"


def summarise(collapsed: str, *, top: int = 30) -> str:
    """Inclusive and self shares of the samples, per function, as two text tables."""
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in collapsed.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_frame_name(frame) for frame in stack.split(";")]
        # The first frame of a --subprocesses stack names the process and thread: not a function.
        frames = [frame for frame in frames if not frame.startswith(("process ", "thread "))]
        if not frames:
            continue
        total += count
        for name in set(frames):
            inclusive[name] += count
        own[frames[-1]] += count
    if not total:
        return "no samples\n"
    lines = [f"{total} samples of every gunicorn worker", "",
             f"inclusive: share of samples with the function on the stack (top {top})"]
    lines += [f"  {100 * count / total:5.1f}%  {name}" for name, count in inclusive.most_common(top)]
    lines += ["", f"self: share of samples with the function at the top of the stack (top {top})"]
    lines += [f"  {100 * count / total:5.1f}%  {name}" for name, count in own.most_common(top)]
    return "\n".join(lines) + "\n"
