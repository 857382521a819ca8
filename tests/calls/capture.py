"""Packets captured on loopback by tshark, for tests where a real peer (SIPp) owns the port."""

from __future__ import annotations

import socket
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


class RtpListener:
    """A UDP socket on 127.0.0.1 that a SIPp caller's SDP names instead of SIPp's own media port (see
    `scenario_to`): it notes when each packet arrives, and which carry speech rather than silence."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = int(self.sock.getsockname()[1])
        self.packets: list[float] = []
        self.voiced: list[float] = []  # PCMU/PCMA silence is one repeated byte: speech varies
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._listen, daemon=True)

    def _listen(self) -> None:
        while not self._done.is_set():
            try:
                data = self.sock.recv(2048)
            except TimeoutError:
                continue
            now = time.monotonic()
            self.packets.append(now)
            if len(data) > 12 and len(set(data[12:])) > 4:
                self.voiced.append(now)

    def start(self) -> RtpListener:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._done.set()
        self._thread.join(5)
        self.sock.close()

    def __enter__(self) -> RtpListener:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def scenario_to(self, scenario: Path, out: Path) -> str:
        """A copy of a SIPp scenario whose SDP names this socket (key `rtp_port`); its path."""
        out.write_text(scenario.read_text().replace("m=audio [media_port]", "m=audio [rtp_port]"))
        return str(out)

    @property
    def keys(self) -> dict[str, str]:
        """The SIPp `-key` that fills the scenario copy's port."""
        return {"rtp_port": str(self.port)}
