"""rtpengine for `tongdai run`: a managed, supervised process (default) or an external one.

Managed: tongdai starts Debian's `/usr/bin/rtpengine` in userspace (`--table=-1`) in the foreground
as its child, waits for `pong` on the ng socket, restarts it with backoff when it dies and reports
each fault (log line + `RtpengineFailed` on the bus). The child gets SIGTERM if tongdai dies, so a
crashed tongdai never leaves an rtpengine holding the ng port. Where the program is missing, tongdai
still runs: one clear log line, and /readyz reports `rtpengine: false`.

Both modes receive rtpengine's DTMF events (JSON over UDP, `--dtmf-log-dest`) and publish them as
`RtpengineDigit`.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import logging
import os
import signal
import socket
import time
from pathlib import Path
from typing import Any

from tongdai.core.events import Event, EventBus
from tongdai.media.engine_events import RtpengineDigit, RtpengineFailed, RtpengineRestarted
from tongdai.media.ng import NgClient, NgError, NgTimeout, parse_address
from tongdai.media.session import RtpengineAnchor
from tongdai.media.settings import MediaSettings

log = logging.getLogger(__name__)

#: RFC 4733 event codes as rtpengine reports them -> digits
DTMF_CODES = "0123456789*#ABCD"
#: a run longer than this resets the restart backoff
STABLE_RUN_S = 30.0
_PR_SET_PDEATHSIG = 1


def free_udp_port(host: str) -> int:
    """A UDP port free on `host` a moment ago."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _die_with_parent() -> None:
    # runs in the child between fork and exec: SIGTERM it when tongdai's thread exits
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def rtpengine_command(settings: MediaSettings, *, ng: tuple[str, int], dtmf: tuple[str, int] | None,
                      recording_dir: Path) -> list[str]:
    """The command line of a managed rtpengine."""
    cmd = [
        settings.rtpengine_binary,
        "--config-file=none",  # not Debian's /etc/rtpengine/rtpengine.conf: it fixes CLI/HTTP ports
        "--foreground", "--log-stderr", "--table=-1",
        f"--listen-ng={_hostport(ng)}", f"--interface={settings.rtpengine_interface}",
        f"--port-min={settings.rtp_port_min}", f"--port-max={settings.rtp_port_max}",
        f"--recording-dir={recording_dir}", f"--recording-method={settings.rtpengine_recording_method}",
        f"--log-level={settings.rtpengine_log_level}",
        "--delete-delay=0",  # a deleted call frees its ports at once, not 30 s later
    ]
    if dtmf is not None:
        cmd.append(f"--dtmf-log-dest={_hostport(dtmf)}")
    if settings.rtpengine_threads:
        cmd.append(f"--num-threads={settings.rtpengine_threads}")
    return cmd


def _hostport(addr: tuple[str, int]) -> str:
    host = f"[{addr[0]}]" if ":" in addr[0] else addr[0]
    return f"{host}:{addr[1]}"


def parse_dtmf_log(data: bytes) -> RtpengineDigit | None:
    """One `--dtmf-log-dest` datagram -> event (None when it is not a DTMF report)."""
    try:
        obj = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(obj, dict) or "callid" not in obj or "event" not in obj:
        return None
    code = obj["event"]
    digit = DTMF_CODES[int(code)] if str(code).isdigit() and int(code) < len(DTMF_CODES) else str(code)
    return RtpengineDigit(call_id=str(obj["callid"]), source_tag=str(obj.get("source_tag", "")), digit=digit,
                          duration_ms=int(obj.get("duration", 0)), volume=int(obj.get("volume", 0)),
                          source_address=str(obj.get("source_ip", "")), at=float(obj.get("timestamp", 0.0)))


class _DtmfProtocol(asyncio.DatagramProtocol):
    def __init__(self, on_digit: Any) -> None:
        self.on_digit = on_digit

    def datagram_received(self, data: bytes, addr: Any) -> None:
        event = parse_dtmf_log(data)
        if event is None:
            log.warning("ignored a DTMF log datagram that is not rtpengine JSON: %r", data[:200])
        else:
            self.on_digit(event)


class RtpengineService:
    """The `rtpengine` service of the composition root: `ng` is the client call control uses."""

    name = "rtpengine"

    def __init__(self, settings: MediaSettings, *, data_dir: Path, bus: EventBus) -> None:
        self.settings = settings
        self.bus = bus
        self.media_dir = Path(data_dir) / "media"
        self.recording_dir = Path(settings.rtpengine_recording_dir or self.media_dir / "rtpengine-recordings")
        host, port = parse_address(settings.rtpengine_ng_address)
        if port == 0 and not settings.rtpengine_managed:
            raise ValueError("media.rtpengine_ng_address needs a port for an external rtpengine")
        self.ng_address = (host, port or free_udp_port(host))
        self.ng = NgClient(self.ng_address, timeout=settings.ng_timeout_s, retries=settings.ng_retries)
        #: the media anchor for call control
        self.anchor = RtpengineAnchor(self.ng)
        self.dtmf_address: tuple[str, int] | None = None
        self.process: asyncio.subprocess.Process | None = None
        self.restarts = 0
        self.available = False
        self._healthy = False
        self._stopping = False
        self._supervisor: asyncio.Task[None] | None = None
        self._dtmf_transport: asyncio.DatagramTransport | None = None
        self._publishing: set[asyncio.Task[None]] = set()

    @property
    def log_path(self) -> Path:
        return self.media_dir / "rtpengine.log"

    async def start(self) -> None:
        """Open the DTMF socket, then start (managed) or check (external) rtpengine; never raises
        because rtpengine is missing."""
        self._stopping = False
        await self._open_dtmf_listener()
        if not self.settings.rtpengine_managed:
            self._healthy = await self._answers_ping(self.settings.ng_timeout_s * 4)
            self.available = True
            if not self._healthy:
                log.error("external rtpengine at %s does not answer ng ping", _hostport(self.ng_address))
            self._supervisor = asyncio.create_task(self._watch_external())
            return
        if not os.access(self.settings.rtpengine_binary, os.X_OK):
            log.error("rtpengine not found at %s: calls will have no media (install the Debian package "
                      "rtpengine-daemon, or set media.rtpengine_managed=false and media.rtpengine_ng_address)",
                      self.settings.rtpengine_binary)
            return
        self.available = True
        await self._spawn()
        self._supervisor = asyncio.create_task(self._supervise())

    def ready(self) -> bool:
        """rtpengine runs and answered its last health check."""
        if self.settings.rtpengine_managed:
            return self._healthy and self.process is not None and self.process.returncode is None
        return self._healthy

    async def stop(self) -> None:
        """Stop supervising, stop the managed process (SIGTERM, then SIGKILL), close the sockets."""
        self._stopping = True
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor
            self._supervisor = None
        await self._terminate()
        await self.ng.close()
        if self._dtmf_transport is not None:
            self._dtmf_transport.close()
            self._dtmf_transport = None
        self._healthy = False

    # process ---------------------------------------------------------------------------------

    async def _spawn(self) -> None:
        self.recording_dir.mkdir(parents=True, exist_ok=True)
        cmd = rtpengine_command(self.settings, ng=self.ng_address, dtmf=self.dtmf_address,
                                recording_dir=self.recording_dir)
        with self.log_path.open("ab") as out:
            self.process = await asyncio.create_subprocess_exec(
                *cmd, stdin=asyncio.subprocess.DEVNULL, stdout=out, stderr=out, preexec_fn=_die_with_parent)
        self._started_at = time.monotonic()
        self._healthy = await self._answers_ping(5.0)
        if self._healthy:
            log.info("rtpengine started", extra={"pid": self.process.pid, "ng": _hostport(self.ng_address)})
        else:
            log.error("rtpengine (pid %s) does not answer on %s; see %s", self.process.pid,
                      _hostport(self.ng_address), self.log_path)

    async def _answers_ping(self, within: float) -> bool:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if self.process is not None and self.process.returncode is not None:
                return False
            with contextlib.suppress(NgTimeout, NgError, OSError):
                if await self.ng.ping():
                    return True
            await asyncio.sleep(0.02)
        return False

    async def _supervise(self) -> None:
        delay = 0.1
        while not self._stopping:
            assert self.process is not None
            code = await self.process.wait()
            if self._stopping:
                return
            self._healthy = False
            uptime = time.monotonic() - self._started_at
            tail = self._log_tail()
            log.error("rtpengine exited with code %s after %.1f s; restarting in %.1f s. Last log lines:\n%s",
                      code, uptime, delay, tail)
            await self._publish(RtpengineFailed(exit_code=code, uptime_s=round(uptime, 3),
                                                restarts=self.restarts, log_tail=tail, at=time.time()))
            delay = 0.1 if uptime > STABLE_RUN_S else delay
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.settings.rtpengine_restart_max_s)
            self.restarts += 1
            try:
                await self._spawn()
            except OSError as exc:  # e.g. the program was removed: keep trying with the backoff
                log.error("rtpengine could not be started again: %s", exc)
                self._started_at = time.monotonic()  # counts as a failed run: the backoff keeps growing
                continue
            if self._healthy:
                log.warning("rtpengine restarted", extra={"pid": self.process.pid, "restarts": self.restarts})
                await self._publish(RtpengineRestarted(pid=self.process.pid, restarts=self.restarts,
                                                       at=time.time()))

    async def _watch_external(self) -> None:
        # an external rtpengine is not ours to restart: keep /readyz truthful and log changes
        while not self._stopping:
            await asyncio.sleep(5.0)
            healthy = await self._answers_ping(self.settings.ng_timeout_s * 2)
            if healthy != self._healthy:
                log.log(logging.INFO if healthy else logging.ERROR, "external rtpengine at %s %s",
                        _hostport(self.ng_address), "answers again" if healthy else "stopped answering")
            self._healthy = healthy

    async def _terminate(self) -> None:
        proc = self.process
        if proc is None or proc.returncode is not None:
            return
        proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), 5.0)
        except TimeoutError:
            log.warning("rtpengine ignored SIGTERM for 5 s; killing it")
            proc.kill()
            await proc.wait()

    def _log_tail(self, lines: int = 15) -> str:
        try:
            with self.log_path.open("rb") as f:
                f.seek(max(0, f.seek(0, os.SEEK_END) - 8192))
                return b"\n".join(f.read().splitlines()[-lines:]).decode(errors="replace")
        except OSError:
            return ""

    # DTMF ------------------------------------------------------------------------------------

    async def _open_dtmf_listener(self) -> None:
        if not self.settings.dtmf_listen_address or self._dtmf_transport is not None:
            return
        host, port = parse_address(self.settings.dtmf_listen_address)
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(lambda: _DtmfProtocol(self._digit),
                                                           local_addr=(host, port))
        self._dtmf_transport = transport
        self.dtmf_address = transport.get_extra_info("sockname")[:2]

    def _digit(self, event: RtpengineDigit) -> None:
        task = asyncio.get_running_loop().create_task(self._publish(event))
        self._publishing.add(task)
        task.add_done_callback(self._publishing.discard)

    async def _publish(self, event: Event) -> None:
        await self.bus.publish(event)
