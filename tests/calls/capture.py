"""Packets captured on loopback by tshark, for tests where a real peer (SIPp) owns the port."""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def loopback_capture(port: int, path: Path, *, start_timeout_s: float = 30.0) -> Iterator[Path]:
    """Capture UDP packets to `port` on `lo` into `path` (pcap) while the block runs.

    Waits for tshark to say it is capturing before the block starts (a cold first start takes
    seconds), and for one more second after it, so that the last packets are written."""
    proc = subprocess.Popen(["tshark", "-i", "lo", "-F", "pcap", "-f", f"udp dst port {port}", "-w", str(path)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    started = threading.Event()
    said: list[str] = []

    def watch() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            said.append(line)
            if "Capturing on" in line:
                started.set()

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        if not started.wait(start_timeout_s):
            raise AssertionError(f"tshark did not start capturing within {start_timeout_s} s: {''.join(said)[-500:]}")
        time.sleep(0.2)
        yield path
    finally:
        time.sleep(1)
        proc.terminate()
        proc.wait(10)
        watcher.join(5)
