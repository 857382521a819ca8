"""Durable outgoing e-mail: an outbox spooled on disk and a service that sends it over SMTP.

`Outbox.put` writes a message to `<spool>/tmp/`, fsyncs it, renames it into `<spool>/queue/` and
fsyncs that directory before it returns: once `put` has returned, the message survives a crash, a kill
or a restart. `MailService` sends what is queued, oldest first. A failed attempt is tried again after
a growing delay (`RetryPolicy`, pure) up to a bounded number of attempts; the state of a message
(attempts, next attempt, last error) sits next to it in `queue/<id>.json`, so a restart keeps it. A
sent message moves to `sent/` (or is deleted); one the server refuses for good (5xx) or that runs out
of attempts moves to `failed/` with a JSON note saying why. Delivery is at least once: a crash between
the server's "250 OK" and the move to `sent/` sends that message again after the restart.

Spool layout::

    <spool>/tmp/<id>.eml       being written (left-overs of a crash are deleted at start)
    <spool>/queue/<id>.eml     waiting to be sent; <id>.json: attempts, next_attempt, last_error
    <spool>/sent/<id>.eml      sent; <id>.json: when, to whom, after how many attempts
    <spool>/failed/<id>.eml    given up; <id>.json: the reason
"""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import json
import logging
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from email.utils import formatdate, getaddresses, make_msgid
from pathlib import Path
from typing import Any, Protocol

from tongdai.notify.settings import MailSettings

log = logging.getLogger(__name__)

FOLDERS = ("tmp", "queue", "sent", "failed")


# ---------------------------------------------------------------------------------------------- retry policy


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """When to try a message again after a failure; pure (takes `now`)."""

    max_attempts: int = 8
    first_delay_s: float = 30.0
    max_delay_s: float = 1800.0
    factor: float = 2.0

    def delay(self, attempts: int) -> float | None:
        """The wait after `attempts` failed attempts, or None when they are used up."""
        if attempts >= self.max_attempts:
            return None
        return float(min(self.max_delay_s, self.first_delay_s * self.factor ** max(0, attempts - 1)))

    def next_attempt(self, attempts: int, now: float) -> float | None:
        """The time of the next attempt after `attempts` failed ones (None: give up)."""
        wait = self.delay(attempts)
        return None if wait is None else now + wait


@dataclass(slots=True)
class Delivery:
    """The delivery state of one queued message (kept in `queue/<id>.json`)."""

    attempts: int = 0
    next_attempt: float = 0.0
    last_error: str = ""
    history: list[str] = field(default_factory=list)


class DeliveryError(Exception):
    """An attempt to hand a message to the SMTP server failed; `permanent`: trying again cannot help."""

    def __init__(self, reason: str, *, permanent: bool = False) -> None:
        super().__init__(reason)
        self.reason, self.permanent = reason, permanent


# ---------------------------------------------------------------------------------------------- outbox


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_atomic(path: Path, data: bytes) -> None:
    """Write `data` to `path` through a temporary file in the same folder, fsynced, then renamed."""
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def recipients_of(message: email.message.Message) -> list[str]:
    """Every address in To, Cc and Bcc."""
    fields = [str(v) for name in ("to", "cc", "bcc") for v in message.get_all(name, [])]
    return [addr for _, addr in getaddresses(fields) if addr]


def without_bcc(raw: bytes) -> bytes:
    """The message without its Bcc header (the envelope carries those addresses; the others must not
    see them)."""
    head, sep, body = raw.partition(b"\r\n\r\n")
    if not sep:
        head, sep, body = raw.partition(b"\n\n")
    kept, skipping = [], False
    for line in head.splitlines(keepends=True):
        if line[:1] not in (b" ", b"\t"):  # a new field (else a folded continuation of the last one)
            skipping = line[:4].lower() == b"bcc:"
        if not skipping:
            kept.append(line)
    return b"".join(kept) + sep + body


class Outbox:
    """Messages waiting to be sent, kept on disk under `root` (see the module's spool layout)."""

    def __init__(self, root: Path, *, sender: str = "") -> None:
        self.root = Path(root)
        self.sender = sender
        #: called after each put (the mail service wakes up to send it)
        self.on_put: list[Callable[[], None]] = []
        for name in FOLDERS:
            (self.root / name).mkdir(parents=True, exist_ok=True)

    def folder(self, name: str) -> Path:
        """One of tmp, queue, sent, failed."""
        return self.root / name

    def put(self, message: EmailMessage) -> str:
        """Spool `message` durably and return its id; it is on disk when this returns."""
        if not recipients_of(message):
            raise ValueError("a message needs at least one recipient (To, Cc or Bcc)")
        self._complete_headers(message)
        mid = f"{time.time_ns():020d}-{secrets.token_hex(4)}"
        tmp = self.folder("tmp") / f"{mid}.eml"
        with tmp.open("xb") as f:
            f.write(message.as_bytes(policy=email.policy.SMTP))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.folder("queue") / f"{mid}.eml")
        _fsync_dir(self.folder("queue"))  # the rename itself must reach the disk
        log.info("mail spooled", extra={"mail_id": mid, "subject": str(message.get("subject", ""))})
        for wake in self.on_put:
            wake()
        return mid

    def _complete_headers(self, message: EmailMessage) -> None:
        if "From" not in message and self.sender:
            message["From"] = self.sender
        if "Date" not in message:
            message["Date"] = formatdate(usegmt=True)
        if "Message-ID" not in message:
            domain = self.sender.rpartition("@")[2] or "localhost"
            message["Message-ID"] = make_msgid(domain=domain)

    def queued(self) -> list[str]:
        """Ids of the messages waiting, oldest first."""
        return sorted(p.stem for p in self.folder("queue").glob("*.eml"))

    def ids(self, folder: str) -> list[str]:
        """Ids of the messages in one folder, oldest first."""
        return sorted(p.stem for p in self.folder(folder).glob("*.eml"))

    def load(self, mid: str, folder: str = "queue") -> EmailMessage:
        """The message `mid` as stored."""
        raw = (self.folder(folder) / f"{mid}.eml").read_bytes()
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(msg, EmailMessage)
        return msg

    def envelope(self, mid: str) -> tuple[bytes, list[str]]:
        """What goes on the wire for a queued message (without its Bcc header) and its recipients; only
        the header is parsed (a full parse of a message with a WAV costs more than sending it)."""
        raw = (self.folder("queue") / f"{mid}.eml").read_bytes()
        headers = BytesHeaderParser(policy=email.policy.default).parsebytes(raw)
        return without_bcc(raw), recipients_of(headers)

    def state(self, mid: str) -> Delivery:
        """The delivery state of a queued message (fresh if it has none yet)."""
        path = self.folder("queue") / f"{mid}.json"
        try:
            return Delivery(**json.loads(path.read_text()))
        except FileNotFoundError:
            return Delivery()
        except (ValueError, TypeError):
            log.warning("unreadable delivery state of mail %s: starting it afresh", mid)
            return Delivery()

    def save_state(self, mid: str, state: Delivery) -> None:
        """Keep the delivery state of a queued message (atomically)."""
        _write_atomic(self.folder("queue") / f"{mid}.json", json.dumps(asdict(state)).encode())

    def mark_sent(self, mid: str, note: dict[str, Any], *, keep: bool = True) -> None:
        """Move a sent message to sent/ with `note` (or delete it when not `keep`)."""
        self._move(mid, "sent" if keep else None, note)

    def mark_failed(self, mid: str, note: dict[str, Any]) -> None:
        """Move a message that cannot be sent to failed/ with `note` saying why."""
        self._move(mid, "failed", note)

    def _move(self, mid: str, folder: str | None, note: dict[str, Any]) -> None:
        source = self.folder("queue") / f"{mid}.eml"
        if folder is None:
            source.unlink(missing_ok=True)
        else:
            _write_atomic(self.folder(folder) / f"{mid}.json", json.dumps(note, indent=2).encode())
            os.replace(source, self.folder(folder) / f"{mid}.eml")
        (self.folder("queue") / f"{mid}.json").unlink(missing_ok=True)
        _fsync_dir(self.folder("queue"))

    def discard_unfinished(self) -> int:
        """Delete what a crash left in tmp/ (never accepted: `put` had not returned); how many."""
        left = list(self.folder("tmp").iterdir())
        for path in left:
            path.unlink(missing_ok=True)
        return len(left)


# ---------------------------------------------------------------------------------------------- SMTP


class MailTransport(Protocol):
    """Hands one message to a mail server; raises DeliveryError when it cannot."""

    async def send(self, message: bytes, *, sender: str, recipients: list[str]) -> None:
        """Send `message` (as it goes on the wire) from `sender` (envelope) to `recipients`."""
        ...


class SmtpTransport:
    """SMTP with aiosmtplib: STARTTLS and login as the settings say."""

    def __init__(self, settings: MailSettings) -> None:
        self.settings = settings

    async def send(self, message: bytes, *, sender: str, recipients: list[str]) -> None:
        """One SMTP session per message; errors become DeliveryError (5xx replies: permanent)."""
        import aiosmtplib

        s = self.settings
        password = s.password.get_secret_value()
        try:
            refused, _ = await aiosmtplib.send(
                message, sender=sender, recipients=recipients, hostname=s.smtp_host, port=s.smtp_port,
                start_tls=s.starttls, username=s.username or None, password=password if s.username else None,
                timeout=s.timeout_s, cert_bundle=s.tls_ca_file or None)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [r.code for r in exc.recipients]
            raise DeliveryError(f"every recipient refused: {exc.recipients}",
                                permanent=all(c >= 500 for c in codes)) from exc
        except aiosmtplib.SMTPResponseException as exc:
            raise DeliveryError(f"{exc.code} {exc.message}", permanent=exc.code >= 500) from exc
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise DeliveryError(f"{type(exc).__name__}: {exc}") from exc
        if refused:
            log.warning("some recipients refused: %s", {k: str(v) for k, v in refused.items()})


# ---------------------------------------------------------------------------------------------- service


class MailMetrics:
    """Prometheus counters of the mail service (on the App's registry)."""

    def __init__(self, registry: Any) -> None:
        from prometheus_client import Counter, Gauge

        self.sent = Counter("tongdai_mail_sent_total", "Messages handed to the SMTP server", registry=registry)
        self.failed = Counter("tongdai_mail_failed_total", "Messages given up (moved to failed/)", registry=registry)
        self.retries = Counter("tongdai_mail_attempts_failed_total", "Failed delivery attempts", registry=registry)
        self.queued = Gauge("tongdai_mail_queued", "Messages waiting in the outbox", registry=registry)


class MailService:
    """Sends the outbox over SMTP: at start what an earlier run left, then each message as it is put."""

    name = "mail"

    def __init__(self, outbox: Outbox, transport: MailTransport | None, *, sender: str,
                 policy: RetryPolicy | None = None, keep_sent: bool = True,
                 clock: Callable[[], float] = time.time, registry: Any = None, max_wait_s: float = 60.0) -> None:
        self.outbox, self.transport, self.sender = outbox, transport, sender
        self.policy = policy or RetryPolicy()
        self.keep_sent, self.clock, self.max_wait_s = keep_sent, clock, max_wait_s
        self.metrics = MailMetrics(registry) if registry is not None else None
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        outbox.on_put.append(self.wake)

    @classmethod
    def from_settings(cls, settings: MailSettings, outbox: Outbox, *, registry: Any = None) -> MailService:
        """The service as configured (no SMTP host: mail stays spooled)."""
        policy = RetryPolicy(settings.max_attempts, settings.retry_first_s, settings.retry_max_s)
        transport = SmtpTransport(settings) if settings.smtp_host else None
        return cls(outbox, transport, sender=settings.sender, policy=policy, keep_sent=settings.keep_sent,
                   registry=registry)

    async def start(self) -> None:
        """Clear crash left-overs and start sending (what was queued before a restart is due at once)."""
        dropped = await asyncio.to_thread(self.outbox.discard_unfinished)
        if dropped:
            log.warning("deleted %d unfinished mail files a crash left in %s", dropped, self.outbox.folder("tmp"))
        if self.transport is None:
            log.warning("mail.smtp_host is empty: mail is spooled in %s but not sent", self.outbox.root)
        await asyncio.to_thread(self._due_now)
        self._stopping = False
        self._loop = asyncio.get_running_loop()
        self._task = self._loop.create_task(self._run())

    async def stop(self) -> None:
        """Stop sending; whatever is queued stays on disk for the next start."""
        if self._task is not None:
            # the flag and the wake-up end the loop even if a cancellation were lost on the way
            self._stopping = True
            self._wake.set()
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self._loop = None

    def ready(self) -> bool:
        """Whether the sender runs (an unreachable SMTP server does not make tongdai unready)."""
        return self._task is not None and not self._task.done()

    def wake(self) -> None:
        """Look at the outbox now (a message was put); safe from any thread (put runs in worker threads)."""
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._wake.set)

    def _due_now(self) -> None:
        """A restart is a fresh chance: every queued message is due now, its attempt count kept."""
        for mid in self.outbox.queued():
            state = self.outbox.state(mid)
            if state.next_attempt:
                state.next_attempt = 0.0
                self.outbox.save_state(mid, state)

    async def _run(self) -> None:
        while not self._stopping:
            self._wake.clear()
            try:
                next_due = await self.send_due()
            except Exception:  # a broken spool file must not end the sender for good
                log.exception("mail sender failed; trying again shortly")
                next_due = self.clock() + 5.0
            if self._stopping:
                return
            wait = self.max_wait_s if next_due is None else min(self.max_wait_s, max(0.0, next_due - self.clock()))
            # asyncio.timeout, not wait_for: Python 3.11's wait_for can swallow a cancellation that
            # arrives as the event is set, and stop() then waited on a sender that went on sleeping
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await self._wake.wait()

    async def send_due(self) -> float | None:
        """Try every queued message that is due at `clock()`; the time the next one falls due (None: none)."""
        if self.transport is None:
            return None
        next_due: float | None = None
        queued = self.outbox.queued()
        for mid in queued:
            state = self.outbox.state(mid)
            if state.next_attempt > self.clock():
                next_due = state.next_attempt if next_due is None else min(next_due, state.next_attempt)
                continue
            retry_at = await self.attempt(mid, state)
            if retry_at is not None:
                next_due = retry_at if next_due is None else min(next_due, retry_at)
        if self.metrics is not None:
            self.metrics.queued.set(len(self.outbox.queued()))
        return next_due

    async def attempt(self, mid: str, state: Delivery) -> float | None:
        """One attempt at message `mid`; when to try again (None: sent or given up)."""
        assert self.transport is not None
        message, recipients = await asyncio.to_thread(self.outbox.envelope, mid)
        try:
            await self.transport.send(message, sender=self.sender, recipients=recipients)
        except DeliveryError as exc:
            return await asyncio.to_thread(self._failed, mid, state, exc)
        note = {"sent_at": self.clock(), "attempts": state.attempts + 1, "recipients": recipients}
        await asyncio.to_thread(self.outbox.mark_sent, mid, note, keep=self.keep_sent)
        log.info("mail sent", extra={"mail_id": mid, "attempts": state.attempts + 1})
        if self.metrics is not None:
            self.metrics.sent.inc()
        return None

    def _failed(self, mid: str, state: Delivery, exc: DeliveryError) -> float | None:
        now = self.clock()
        state.attempts += 1
        state.last_error = exc.reason
        state.history.append(f"{formatdate(now, usegmt=True)}: {exc.reason}")
        retry_at = None if exc.permanent else self.policy.next_attempt(state.attempts, now)
        if self.metrics is not None:
            self.metrics.retries.inc()
        if retry_at is None:
            why = "refused by the server" if exc.permanent else f"no success in {state.attempts} attempts"
            self.outbox.mark_failed(mid, {"failed_at": now, "reason": f"{why}: {exc.reason}", **asdict(state)})
            log.error("mail given up: %s", exc.reason, extra={"mail_id": mid, "attempts": state.attempts})
            if self.metrics is not None:
                self.metrics.failed.inc()
            return None
        state.next_attempt = retry_at
        self.outbox.save_state(mid, state)
        log.warning("mail not sent (attempt %d), next in %.0f s: %s", state.attempts, retry_at - now, exc.reason,
                    extra={"mail_id": mid})
        return retry_at
