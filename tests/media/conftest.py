"""Fixtures of the media tests: a real rtpengine on free ports with its own directories."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tongdai.media.ng import NgClient
from tongdai.media.rtpengine import free_udp_port, rtpengine_command
from tongdai.media.settings import MediaSettings

RTPENGINE = "/usr/bin/rtpengine"
needs_rtpengine = pytest.mark.skipif(not os.access(RTPENGINE, os.X_OK), reason="rtpengine-daemon not installed")


def media_settings(**overrides: object) -> MediaSettings:
    """Settings with a private RTP port range, so parallel runs do not meet."""
    base = random.randrange(42000, 60000, 400)
    values: dict[str, object] = {"rtp_port_min": base, "rtp_port_max": base + 399, "rtpengine_log_level": 6}
    values.update(overrides)
    return MediaSettings.model_validate(values)


@dataclass
class Rtpengine:
    """A running rtpengine child of the test process."""

    ng: tuple[str, int]
    workdir: Path
    proc: subprocess.Popen[bytes]
    settings: MediaSettings

    def client(self) -> NgClient:
        return NgClient(self.ng, timeout=0.5, retries=3)

    def log(self) -> str:
        return (self.workdir / "rtpengine.log").read_text(errors="replace")


def start_rtpengine(workdir: Path, **overrides: object) -> Rtpengine:
    """Start rtpengine in userspace and wait until its ng socket answers."""
    settings = media_settings(**overrides)
    ng = ("127.0.0.1", free_udp_port("127.0.0.1"))
    cmd = rtpengine_command(settings, ng=ng, dtmf=None, recording_dir=workdir / "recordings")
    (workdir / "recordings").mkdir(parents=True, exist_ok=True)
    with (workdir / "rtpengine.log").open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    engine = Rtpengine(ng, workdir, proc, settings)
    _wait_for_pong(engine)
    return engine


def _wait_for_pong(engine: Rtpengine, timeout: float = 10.0) -> None:
    import socket

    deadline = time.monotonic() + timeout
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.1)
        while time.monotonic() < deadline:
            if engine.proc.poll() is not None:
                raise RuntimeError(f"rtpengine exited:\n{engine.log()}")
            s.sendto(b"probe d7:command4:pinge", engine.ng)
            try:
                if b"pong" in s.recv(2048):
                    return
            except OSError:
                time.sleep(0.05)
    raise RuntimeError(f"rtpengine did not answer ping:\n{engine.log()}")


def stop_rtpengine(engine: Rtpengine) -> None:
    if engine.proc.poll() is None:
        engine.proc.terminate()
        try:
            engine.proc.wait(5)
        except subprocess.TimeoutExpired:
            engine.proc.kill()
            engine.proc.wait(5)


@pytest.fixture(scope="module")
def rtpengine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rtpengine]:
    """One rtpengine for the test module."""
    if not os.access(RTPENGINE, os.X_OK):
        pytest.skip("rtpengine-daemon not installed")
    workdir = tmp_path_factory.mktemp("rtpengine")
    engine = start_rtpengine(workdir)
    try:
        yield engine
    finally:
        stop_rtpengine(engine)
        shutil.rmtree(workdir, ignore_errors=True)
