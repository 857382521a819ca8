"""The outbox and its sender with a fake transport and a hand-advanced clock: atomic spooling, retries
with backoff, giving up, and picking up after a restart."""

from __future__ import annotations

import asyncio
import email
import email.policy
import json
import os
import threading
from email.message import EmailMessage
from pathlib import Path

import pytest

from tongdai.notify.mail import Delivery, DeliveryError, MailService, Outbox, RetryPolicy, without_bcc


def message(to: str = "sales@example.test", subject: str = "Voicemail", **headers: str) -> EmailMessage:
    msg = EmailMessage()
    msg["To"], msg["Subject"] = to, subject
    for name, value in headers.items():
        msg[name] = value
    msg.set_content("A caller left a message.")
    msg.add_attachment(b"RIFF....WAVE", maintype="audio", subtype="wav", filename="vm.wav")
    return msg


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class FakeTransport:
    """Fails with `failures` (in order), then accepts; remembers what it accepted."""

    def __init__(self, *failures: DeliveryError) -> None:
        self.failures = list(failures)
        self.attempts = 0
        self.accepted: list[tuple[EmailMessage, str, list[str]]] = []

    async def send(self, message: bytes, *, sender: str, recipients: list[str]) -> None:
        self.attempts += 1
        if self.failures:
            raise self.failures.pop(0)
        parsed = email.message_from_bytes(message, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        self.accepted.append((parsed, sender, recipients))


def service(outbox: Outbox, transport: FakeTransport, clock: Clock, **kw: object) -> MailService:
    policy = RetryPolicy(max_attempts=4, first_delay_s=30, max_delay_s=100)
    return MailService(outbox, transport, sender="tongdai@example.test", policy=policy, clock=clock, **kw)  # type: ignore[arg-type]


def test_retry_policy_doubles_the_wait_up_to_its_cap_then_gives_up():
    policy = RetryPolicy(max_attempts=5, first_delay_s=30, max_delay_s=100)
    assert [policy.delay(n) for n in range(1, 6)] == [30, 60, 100, 100, None]
    assert policy.next_attempt(2, now=1000.0) == 1060.0
    assert policy.next_attempt(5, now=1000.0) is None


def test_put_has_the_message_in_the_queue_fsynced_before_it_returns(tmp_path, monkeypatch):
    synced: list[str] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    outbox = Outbox(tmp_path, sender="tongdai@example.test")
    mid = outbox.put(message())
    assert outbox.queued() == [mid]
    assert list(outbox.folder("tmp").iterdir()) == []
    stored = outbox.load(mid)
    assert stored["Subject"] == "Voicemail" and stored["From"] == "tongdai@example.test"
    assert stored["Message-ID"] and stored["Date"]
    attachment = next(stored.iter_attachments())
    assert attachment.get_content() == b"RIFF....WAVE"
    # the file's data, then the queue folder holding its new name, reached the disk
    assert synced[0].endswith(f"tmp/{mid}.eml") and synced[-1] == str(outbox.folder("queue"))


def test_given_crash_while_writing_then_nothing_is_queued_and_start_deletes_the_left_over(tmp_path, monkeypatch):
    outbox = Outbox(tmp_path)

    def crash(src: object, dst: object) -> None:
        raise OSError("power cut")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError):
        outbox.put(message())
    monkeypatch.undo()
    assert outbox.queued() == [] and len(list(outbox.folder("tmp").iterdir())) == 1
    assert Outbox(tmp_path).discard_unfinished() == 1
    assert list(outbox.folder("tmp").iterdir()) == []


def test_given_no_recipient_then_put_refuses_the_message(tmp_path):
    msg = EmailMessage()
    msg["Subject"] = "nobody"
    with pytest.raises(ValueError):
        Outbox(tmp_path).put(msg)
    assert Outbox(tmp_path).queued() == []


async def test_given_server_unreachable_then_retries_back_off_on_the_clock_and_the_mail_is_sent(tmp_path):
    clock, outbox = Clock(), Outbox(tmp_path)
    transport = FakeTransport(DeliveryError("connection refused"), DeliveryError("421 try later"))
    svc = service(outbox, transport, clock)
    mid = outbox.put(message())
    assert await svc.send_due() == clock.now + 30  # first failure: 30 s
    assert outbox.state(mid).attempts == 1 and outbox.state(mid).last_error == "connection refused"
    clock.now += 29
    assert await svc.send_due() == clock.now + 1 and transport.attempts == 1  # not due yet: nothing tried
    clock.now += 1
    assert await svc.send_due() == clock.now + 60  # second failure: the wait doubles
    clock.now += 60
    assert await svc.send_due() is None
    assert transport.attempts == 3 and outbox.queued() == [] and outbox.ids("sent") == [mid]
    note = json.loads((outbox.folder("sent") / f"{mid}.json").read_text())
    assert note["attempts"] == 3 and note["recipients"] == ["sales@example.test"]


async def test_given_every_attempt_fails_then_the_mail_moves_to_failed_with_the_reason(tmp_path):
    clock, outbox = Clock(), Outbox(tmp_path)
    transport = FakeTransport(*[DeliveryError("connection refused")] * 10)
    svc = service(outbox, transport, clock)
    mid = outbox.put(message())
    for _ in range(10):
        due = await svc.send_due()
        if due is None:
            break
        clock.now = due
    assert transport.attempts == 4  # max_attempts, then no more
    assert outbox.queued() == [] and outbox.ids("failed") == [mid]
    note = json.loads((outbox.folder("failed") / f"{mid}.json").read_text())
    assert note["reason"] == "no success in 4 attempts: connection refused" and len(note["history"]) == 4


async def test_given_server_refuses_for_good_then_failed_at_once_without_retry(tmp_path):
    clock, outbox = Clock(), Outbox(tmp_path)
    transport = FakeTransport(DeliveryError("550 no such mailbox", permanent=True))
    svc = service(outbox, transport, clock)
    mid = outbox.put(message())
    assert await svc.send_due() is None
    assert transport.attempts == 1 and outbox.ids("failed") == [mid]
    assert "550 no such mailbox" in json.loads((outbox.folder("failed") / f"{mid}.json").read_text())["reason"]


async def test_given_restart_then_queued_mail_is_due_at_once_and_keeps_its_attempt_count(tmp_path):
    clock = Clock()
    first = Outbox(tmp_path)
    mid = first.put(message())
    await service(first, FakeTransport(DeliveryError("connection refused")), clock).send_due()
    assert first.state(mid).next_attempt == clock.now + 30
    # a new process on the same spool: start makes it due now, and the sender sends it
    outbox, transport = Outbox(tmp_path), FakeTransport()
    svc = service(outbox, transport, clock)
    await svc.start()
    try:
        for _ in range(100):
            if outbox.ids("sent"):
                break
            await asyncio.sleep(0.01)
    finally:
        await svc.stop()
    assert outbox.ids("sent") == [mid] and len(transport.accepted) == 1
    assert json.loads((outbox.folder("sent") / f"{mid}.json").read_text())["attempts"] == 2


async def test_bcc_goes_in_the_envelope_only_and_sent_mail_can_be_deleted(tmp_path):
    clock, outbox, transport = Clock(), Outbox(tmp_path), FakeTransport()
    svc = service(outbox, transport, clock, keep_sent=False)
    outbox.put(message(Cc="lead@example.test", Bcc="audit@example.test"))
    await svc.send_due()
    sent, sender, recipients = transport.accepted[0]
    assert recipients == ["sales@example.test", "lead@example.test", "audit@example.test"]
    assert sender == "tongdai@example.test" and "Bcc" not in sent and sent["Cc"] == "lead@example.test"
    assert next(sent.iter_attachments()).get_content() == b"RIFF....WAVE"
    assert outbox.queued() == [] and outbox.ids("sent") == []


def test_unreadable_state_starts_afresh(tmp_path):
    outbox = Outbox(tmp_path)
    mid = outbox.put(message())
    (outbox.folder("queue") / f"{mid}.json").write_text("{not json")
    assert outbox.state(mid) == Delivery()


def test_spool_survives_a_new_outbox_object(tmp_path: Path):
    mid = Outbox(tmp_path).put(message(subject="kept"))
    assert Outbox(tmp_path).load(mid)["Subject"] == "kept"


async def test_metrics_count_failed_attempts_sent_and_given_up_mail(tmp_path):
    from prometheus_client import CollectorRegistry

    registry, clock, outbox = CollectorRegistry(), Clock(), Outbox(tmp_path)
    transport = FakeTransport(DeliveryError("connection refused"), DeliveryError("550 no", permanent=True))
    svc = service(outbox, transport, clock, registry=registry)
    outbox.put(message())
    outbox.put(message(to="other@example.test"))
    await svc.send_due()  # first: fails (retry later); second: refused for good
    assert registry.get_sample_value("tongdai_mail_queued") == 1
    clock.now += 30
    await svc.send_due()

    def value(name: str) -> float | None:
        return registry.get_sample_value(name)

    assert (value("tongdai_mail_attempts_failed_total"), value("tongdai_mail_failed_total"),
            value("tongdai_mail_sent_total"), value("tongdai_mail_queued")) == (2, 1, 1, 0)


def test_without_bcc_drops_the_field_and_its_folded_lines_only():
    raw = (b"To: a@example.test\r\nBcc: hidden@example.test,\r\n  other@example.test\r\nSubject: hi\r\n"
           b"\r\nBcc: this is the body\r\n")
    assert without_bcc(raw) == b"To: a@example.test\r\nSubject: hi\r\n\r\nBcc: this is the body\r\n"


async def test_given_put_from_another_thread_then_the_sender_wakes_at_once(tmp_path):
    sent = asyncio.Event()

    class Signalling(FakeTransport):
        async def send(self, message: bytes, *, sender: str, recipients: list[str]) -> None:
            await super().send(message, sender=sender, recipients=recipients)
            sent.set()

    outbox, transport = Outbox(tmp_path), Signalling()
    svc = MailService(outbox, transport, sender="tongdai@example.test", max_wait_s=60)
    await svc.start()
    try:
        await asyncio.sleep(0.05)  # the sender is asleep (nothing queued) for up to a minute
        threading.Thread(target=outbox.put, args=(message(),)).start()  # as Voicemails.send does, off the loop
        # nothing else wakes the loop: only put's wake-up can get the message sent within the second
        await asyncio.wait_for(sent.wait(), 1.0)
    finally:
        await svc.stop()
    assert len(transport.accepted) == 1


async def test_given_woken_just_as_it_is_stopped_then_the_sender_still_stops(tmp_path):
    svc = MailService(Outbox(tmp_path), FakeTransport(), sender="tongdai@example.test", max_wait_s=60)
    await svc.start()
    await asyncio.sleep(0.05)  # asleep, nothing queued
    svc.wake()
    await asyncio.sleep(0)  # the wake-up lands in the same turn of the loop as the stop below
    stopping = asyncio.ensure_future(svc.stop())
    done, _ = await asyncio.wait({stopping}, timeout=2)  # once, wait_for inside the sender swallowed the
    assert stopping in done and not svc.ready()         # cancellation and it slept on for a minute
