"""Drive a real baresip softphone from tests through its ctrl_tcp module (JSON in netstrings)."""

from __future__ import annotations

import json
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

from tests.conftest import free_port, free_udp_and_tcp_port


class Baresip:
    """One baresip process registered as an extension, with a command socket and its event log."""

    def __init__(self, workdir: Path, ext: str, password: str, server_port: int, *, answer: str = "auto",
                 rtp_port: int | None = None) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.dir = workdir
        self.sip_port = free_udp_and_tcp_port()  # baresip binds TCP on it too
        self.ctrl_port = free_port()
        subprocess.run(["sox", "-n", "-r", "8000", "-c", "1", "-b", "16", str(workdir / "tone.wav"), "synth", "30",
                        "sine", "440"], check=True, timeout=30)
        (workdir / "config").write_text(
            "module_path /usr/lib/baresip/modules\n"
            f"sip_listen 127.0.0.1:{self.sip_port}\nsip_transports udp\nnet_interface 127.0.0.1\n"
            f"audio_source aufile,{workdir / 'tone.wav'}\n"
            + (f"rtp_ports {rtp_port}-{rtp_port + 1}\n" if rtp_port else "") +
            "audio_alert aufile,/dev/null\n"
            f"ctrl_tcp_listen 127.0.0.1:{self.ctrl_port}\n"
            "module g711.so\nmodule aufile.so\nmodule account.so\nmodule menu.so\nmodule ctrl_tcp.so\n")
        (workdir / "accounts").write_text(
            f"<sip:{ext}@127.0.0.1:{server_port}>;auth_pass={password};regint=60;answermode={answer}\n")
        self.proc = subprocess.Popen(["baresip", "-f", str(workdir)], stdout=(workdir / "baresip.log").open("wb"),
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.events: list[dict[str, Any]] = []
        self._cursor = 0  # events before it were consumed by `wait_event`
        self._buffer = b""
        self.sock = self._connect()

    def _connect(self) -> socket.socket:
        deadline = time.monotonic() + 10
        while True:
            try:
                return socket.create_connection(("127.0.0.1", self.ctrl_port), timeout=0.2)
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise
                time.sleep(0.1)

    def command(self, command: str, params: str = "") -> None:
        body = json.dumps({"command": command, "params": params, "token": command}).encode()
        self.sock.sendall(str(len(body)).encode() + b":" + body + b",")

    def wait_event(self, kind: str, timeout: float = 10.0) -> dict[str, Any]:
        """The first event of type `kind` (e.g. REGISTER_OK, CALL_ESTABLISHED, CALL_CLOSED)."""
        deadline = time.monotonic() + timeout
        while True:
            for i in range(self._cursor, len(self.events)):
                if self.events[i].get("type") == kind:
                    self._cursor = i + 1
                    return self.events[i]
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {kind} within {timeout} s; events: {self.events}; log:\n{self.log()[-3000:]}")
            self._read(min(left, 0.5))

    def _read(self, timeout: float) -> None:
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(65536)
        except TimeoutError:
            return
        self._buffer += data
        while b":" in self._buffer:
            size, _, rest = self._buffer.partition(b":")
            n = int(size)
            if len(rest) < n + 1:
                return
            message = json.loads(rest[:n])
            self._buffer = rest[n + 1:]
            if message.get("event"):
                self.events.append(message)

    def wait_registered(self, timeout: float = 10.0) -> None:
        """Until the registration is confirmed (it may finish before the command socket is up)."""
        deadline = time.monotonic() + timeout
        while "200 OK () [1 binding]" not in self.log():
            if time.monotonic() > deadline:
                raise AssertionError(f"baresip did not register:\n{self.log()[-3000:]}")
            time.sleep(0.1)

    def log(self) -> str:
        return (self.dir / "baresip.log").read_text(errors="replace")

    def stop(self) -> None:
        self.sock.close()
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
