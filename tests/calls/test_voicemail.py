"""Voicemail: a caller answered by tongdai (waiting in a queue, in a tongdai run in this process with a
managed rtpengine) speaks the A-law capture through SIPp; `app.voicemails.record` forks the caller's
media to the DSP worker and stops at hang-up or at the # key; the 8 kHz mono WAV holds what was sent
(correlation); `send` e-mails it through the outbox to a real SMTP server started by the test. The
e-mail's text and the WAV conversion are checked on their own too."""

from __future__ import annotations

import asyncio
import email
import email.policy
import json
import random
import time
import wave
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest
import pytest_asyncio
from sqlalchemy import select

from tests.calls.sipp import free_udp_port, run, sipp_command
from tests.calls.test_ivr_flow import CAPTURES
from tests.calls.test_recording import sent_audio
from tests.conftest import free_port, free_udp_and_tcp_port
from tests.notify.test_smtp import Inbox, smtp_server
from tongdai import demo
from tongdai.app import App, build_app
from tongdai.calls.b2bua import Call, Leg
from tongdai.calls.voicemail import Recorded, Voicemails, sound_seconds, to_mono, voicemail_message
from tongdai.core.config import load_settings
from tongdai.directory.models import Number, Queue
from tongdai.media.recording import RATE
from tongdai.notify.mail import Outbox

# ---------------------------------------------------------------------------------------------- the e-mail


def recorded(tmp_path: Path, *, seconds: float = 12.3, sound_s: float = 9.8) -> Recorded:
    path = tmp_path / "vm.wav"
    path.write_bytes(b"RIFF-wav-bytes")
    return Recorded(path, seconds, sound_s, datetime(2026, 11, 23, 15, 4, 5, tzinfo=UTC), "key", "c1-abc")


def test_voicemail_email_names_caller_and_queue_and_carries_the_wav(tmp_path):
    msg = voicemail_message(recorded(tmp_path), b"RIFF-wav-bytes", to="sales@demo.example",
                            sender="tongdai@demo.example", queue="sales", caller="0913000333", call_id="c1-abc",
                            zone=ZoneInfo("Asia/Ho_Chi_Minh"))
    assert msg["Subject"] == "Voicemail from 0913000333 in queue sales"
    assert (msg["To"], msg["From"]) == ("sales@demo.example", "tongdai@demo.example")
    body = msg.get_body(("plain",))
    assert body is not None
    text = body.get_content()
    assert "Received:  2026-11-23 22:04:05 (Asia/Ho_Chi_Minh)" in text  # the tenant's local time
    assert "Duration:  12.3 s" in text and "Caller:    0913000333" in text and "c1-abc" in text
    assert "less than a second" not in text
    (wav,) = msg.iter_attachments()
    assert wav.get_content_type() == "audio/wav" and wav.get_content() == b"RIFF-wav-bytes"
    assert wav.get_filename() == "voicemail-0913000333-20261123-220405.wav"


def test_given_under_a_second_of_sound_then_the_email_is_still_made_and_says_so(tmp_path):
    msg = voicemail_message(recorded(tmp_path, seconds=0.6, sound_s=0.2), b"x", to="a@b.example", sender="",
                            queue="support", caller="", call_id="c2", zone=ZoneInfo("UTC"))
    body = msg.get_body(("plain",))
    assert body is not None and "less than a second of sound" in body.get_content()
    assert msg["Subject"] == "Voicemail from an unknown number in queue support"


def test_stereo_recording_becomes_mono_caller_channel_and_sound_is_measured(tmp_path):
    t = np.arange(RATE * 3) / RATE
    caller = (np.where(t < 1.5, 8000 * np.sin(2 * np.pi * 440 * t), 0)).astype("<i2")  # 1.5 s tone, 1.5 s silence
    path = tmp_path / "c.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(np.stack([caller, np.full_like(caller, 5000)], axis=1).tobytes())
    path.with_suffix(".json").write_text(json.dumps({"call_id": "c", "channels": ["caller", "agent"]}))
    seconds, sound = to_mono(path)
    assert seconds == 3.0 and abs(sound - 1.5) < 0.021
    with wave.open(str(path)) as w:
        assert (w.getnchannels(), w.getframerate(), w.getsampwidth()) == (1, RATE, 2)
        assert np.array_equal(np.frombuffer(w.readframes(w.getnframes()), "<i2"), caller)
    meta = json.loads(path.with_suffix(".json").read_text())
    assert meta["kind"] == "voicemail" and meta["channels"] == ["caller"] and meta["duration"] == 3.0
    assert sound_seconds(np.zeros(RATE, np.int16)) == 0.0


async def test_given_no_media_relay_then_record_returns_none(tmp_path):
    call = Call("c3", "t1", "0913", "1000", time.time())  # media end to end (PASSTHROUGH): nothing to fork
    leg = Leg(call, "caller", "0913", ("127.0.0.1", 5060))
    voicemails = Voicemails(None, tmp_path, Outbox(tmp_path / "mail"))  # type: ignore[arg-type]
    assert await voicemails.record(call, leg, max_s=5) is None


# ---------------------------------------------------------------------------------------------- real calls


@dataclass
class Running:
    app: App
    smtp: Inbox
    sip_port: int
    tenant_id: str

    @property
    def b2bua(self):  # type: ignore[no-untyped-def]
        sip = next(s for s in self.app.services if s.name == "sip")
        return sip.core.b2bua  # type: ignore[attr-defined]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def tongdai(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Running]:
    """tongdai in this process (SIP, a managed rtpengine, the mail service) with the demo tenant, shared
    by the module's calls; the number 1879 leads to the sales queue, where nobody answers."""
    tmp_path = tmp_path_factory.mktemp("voicemail")
    smtp_port, sip_port = free_port(), free_udp_and_tcp_port()
    box = Inbox()
    controller = smtp_server(box, smtp_port)
    rtp = random.randrange(42000, 60000, 400)
    settings = load_settings(overrides={
        "data_dir": str(tmp_path / "var"), "database.url": f"sqlite+aiosqlite:///{tmp_path}/t.db", "http.port": 0,
        "sip.udp_port": sip_port, "sip.tcp_port": sip_port, "media.rtp_port_min": rtp,
        "media.rtp_port_max": rtp + 399, "mail.smtp_host": "127.0.0.1", "mail.smtp_port": smtp_port,
        "mail.sender": "voicemail@demo.example", "routing.available_on_register": False})
    app = build_app(settings)
    await app.start()
    try:
        async with app.db.session() as s:
            await demo.load(s)
        async with app.db.session() as s:
            sales = (await s.execute(select(Queue).where(Queue.name == "sales"))).scalar_one()
            s.add(Number(tenant_id=sales.tenant_id, e164="1879", queue_id=sales.id))
            tenant_id = sales.tenant_id
        sip = next(svc for svc in app.services if svc.name == "sip")
        await sip.reload_accounts()  # type: ignore[attr-defined]
        yield Running(app, box, sip_port, tenant_id)
    finally:
        await app.stop()
        controller.stop()


async def waiting_caller(running: Running, caller: str, timeout: float = 10.0) -> tuple[Call, Leg]:
    """The call of `caller` once tongdai answered it (its media anchored in rtpengine)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for call in list(running.b2bua.calls.values()):
            leg = call.legs[0] if call.legs else None
            if call.caller == caller and leg is not None and leg.status == 200 and leg.media_peer_tag:
                return call, leg
        await asyncio.sleep(0.02)
    raise AssertionError(f"no answered call from {caller}")


def call_sipp(running: Running, scenario: str, caller: str, workdir: Path, **keys: str):  # type: ignore[no-untyped-def]
    cmd = sipp_command(scenario, running.sip_port, port=free_udp_port(), calls=1, service="1879", caller=caller,
                       keys={"audio_pcap": str(CAPTURES / "g711a.pcap"), **keys}, workdir=workdir)
    return asyncio.create_task(asyncio.to_thread(run, cmd, workdir))


def global_lag(x: np.ndarray, sent: np.ndarray) -> int:
    """Where the sent audio starts in the recording: the cross-correlation's peak."""
    n = len(x) + len(sent)
    return int(np.argmax(np.abs(np.fft.irfft(np.fft.rfft(x, n) * np.conj(np.fft.rfft(sent, n)), n)[:len(x)])))


def correlation_with_sent(samples: np.ndarray) -> float:
    """How well the recording holds the capture's audio: correlation at the best lag."""
    x, sent = samples.astype(np.float64), sent_audio()
    lag = global_lag(x, sent)
    segment = x[lag:lag + len(sent)]
    return float(np.corrcoef(segment, sent[:len(segment)])[0, 1])


def windows_found(samples: np.ndarray, window_s: float = 0.5, slack_s: float = 0.25) -> float:
    """The share of the capture's loud half-seconds found in the recording (correlation > 0.9) within
    `slack_s` of where the whole capture sits: tolerant of what a stalled event loop on a busy machine
    does to the DSP worker's jitter buffer (frames skipped or a catch-up skip of up to 200 ms), which
    shifts what follows."""
    x, sent = samples.astype(np.float64), sent_audio()
    lag, size, slack = global_lag(x, sent), int(window_s * RATE), int(slack_s * RATE)
    found = total = 0
    for start in range(0, len(sent) - size + 1, size):
        ref = sent[start:start + size] - sent[start:start + size].mean()
        if np.sqrt((ref ** 2).mean()) < 300:
            continue  # a pause in the speech: nothing to recognise
        total += 1
        lo, hi = max(0, lag + start - slack), min(len(x), lag + start + slack + size)
        found += best_correlation(x[lo:hi], ref) > 0.9
    return found / total if total else 0.0


def best_correlation(segment: np.ndarray, ref: np.ndarray) -> float:
    """The highest Pearson correlation of `ref` with any window of `segment` of its length."""
    n = len(ref)
    if len(segment) < n:
        return 0.0
    dots = np.correlate(segment, ref, mode="valid")  # ref has zero mean: no mean term needed
    sums = np.concatenate([[0.0], np.cumsum(segment)])
    squares = np.concatenate([[0.0], np.cumsum(segment ** 2)])
    window_sum, window_sq = sums[n:] - sums[:-n], squares[n:] - squares[:-n]
    spread = np.sqrt(np.maximum(window_sq - window_sum ** 2 / n, 0.0) * (ref ** 2).sum())
    with np.errstate(invalid="ignore", divide="ignore"):  # silent windows: no correlation
        corr = np.where(spread > 0, dots / spread, 0.0)
    return float(corr.max())


def loud_span(x: np.ndarray) -> float:
    loud = np.flatnonzero(np.abs(x) > 200)
    return float((loud[-1] - loud[0]) / RATE) if loud.size else 0.0


def read_mono(path: Path) -> np.ndarray:
    with wave.open(str(path)) as w:
        assert (w.getnchannels(), w.getframerate(), w.getsampwidth()) == (1, RATE, 2)
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")


def received(running: Running, address: str) -> list:  # type: ignore[type-arg]
    """What the SMTP server received for `address`."""
    return [e for e in running.smtp.received if e.rcpt_tos == [address]]


async def until(predicate, timeout: float = 10.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(0.05)
    return bool(predicate())


@pytest.mark.e2e
@pytest.mark.asyncio(loop_scope="module")
async def test_given_caller_speaks_then_hangs_up_then_voicemail_holds_the_audio_and_reaches_the_queue_by_smtp(
        tongdai, tmp_path):
    sipp = call_sipp(tongdai, "uac_queue_speak.xml", "0913000333", tmp_path)
    call, leg = await waiting_caller(tongdai, "0913000333")
    voicemails = tongdai.app.voicemails  # type: ignore[attr-defined]
    vm = await voicemails.record(call, leg, max_s=30)
    rc, count, out = await sipp
    assert (rc, count) == (0, {"successful": 1, "failed": 0}), out
    assert vm is not None and vm.ended_by == "hangup"
    assert vm.path.is_relative_to(tongdai.app.settings.data_dir / "recordings" / "voicemail")
    samples = read_mono(vm.path)
    assert abs(vm.seconds - len(samples) / RATE) < 1e-9 and 7.0 < vm.seconds < 11.0
    assert windows_found(samples) >= 0.8, correlation_with_sent(samples)  # the file is what the caller said
    assert abs(loud_span(samples) - loud_span(sent_audio())) < 0.3  # as long (a busy machine may skip a little)
    assert vm.sound_s > 5.0 and not vm.short
    # no address given: the queue's own (sales@demo.example in the demo directory)
    mid = await voicemails.send(vm, tenant_id=tongdai.tenant_id, queue="sales", caller=call.caller, call_id=call.id)
    assert mid is not None
    assert await until(lambda: received(tongdai, "sales@demo.example")), tongdai.app.outbox.state(mid)  # type: ignore[attr-defined]
    (envelope,) = received(tongdai, "sales@demo.example")
    assert envelope.mail_from == "voicemail@demo.example"
    msg = email.message_from_bytes(envelope.original_content or b"", policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    assert msg["Subject"] == "Voicemail from 0913000333 in queue sales"
    (attachment,) = msg.iter_attachments()
    assert attachment.get_content() == vm.path.read_bytes()
    assert await until(lambda: mid in tongdai.app.outbox.ids("sent"))  # type: ignore[attr-defined]


@pytest.mark.e2e
@pytest.mark.asyncio(loop_scope="module")
async def test_given_caller_presses_pound_then_recording_stops_there_and_mail_goes_to_the_given_address(
        tongdai, tmp_path):
    sipp = call_sipp(tongdai, "uac_voicemail_key.xml", "0988777666", tmp_path,
                     dtmf_pcap=str(CAPTURES / "dtmf_2833_pound.pcap"))
    call, leg = await waiting_caller(tongdai, "0988777666")
    voicemails = tongdai.app.voicemails  # type: ignore[attr-defined]
    started = time.monotonic()
    vm = await voicemails.leave(call, leg, max_s=30, queue="sales", email="night-desk@demo.example")
    stopped_after = time.monotonic() - started
    assert vm is not None and vm.ended_by == "key"
    assert not leg.ended  # the caller was still on the line: # ended the message, not the call
    assert 8.0 < stopped_after < 11.0, stopped_after  # 1.5 s + 7.6 s of speech, then the key (280 ms)
    samples = read_mono(vm.path)
    assert windows_found(samples) >= 0.8, (correlation_with_sent(samples), loud_span(samples))
    rc, count, out = await sipp
    assert (rc, count) == (0, {"successful": 1, "failed": 0}), out
    assert await until(lambda: len(received(tongdai, "night-desk@demo.example")) == 1)


@pytest.mark.e2e
@pytest.mark.asyncio(loop_scope="module")
async def test_given_caller_talks_past_the_limit_then_recording_stops_at_max_s(tongdai, tmp_path):
    sipp = call_sipp(tongdai, "uac_queue_speak.xml", "0977111222", tmp_path)
    call, leg = await waiting_caller(tongdai, "0977111222")
    vm = await tongdai.app.voicemails.record(call, leg, max_s=4)  # type: ignore[attr-defined]
    assert vm is not None and vm.ended_by == "max_s" and not leg.ended
    assert 3.8 < vm.seconds < 4.3, vm.seconds  # speech began about 2 s in and went on past the limit
    samples = read_mono(vm.path)
    assert abs(len(samples) / RATE - vm.seconds) < 1e-9 and vm.sound_s > 0.5
    rc, count, out = await sipp
    assert (rc, count) == (0, {"successful": 1, "failed": 0}), out


@pytest.mark.e2e
@pytest.mark.asyncio(loop_scope="module")
async def test_given_caller_hangs_up_without_a_word_then_the_mail_is_still_sent_and_says_so(tongdai, tmp_path):
    sipp = call_sipp(tongdai, "uac_queue.xml", "0966555444", tmp_path)  # silent; hangs up 3 s after the answer
    call, leg = await waiting_caller(tongdai, "0966555444")
    vm = await tongdai.app.voicemails.leave(call, leg, max_s=30, queue="support")  # type: ignore[attr-defined]
    assert vm is not None and vm.ended_by == "hangup" and vm.short and vm.sound_s == 0.0
    assert 1.5 < vm.seconds < 3.5, vm.seconds
    rc, count, out = await sipp
    assert (rc, count) == (0, {"successful": 1, "failed": 0}), out
    assert await until(lambda: len(received(tongdai, "support@demo.example")) == 1)  # the queue's address
    (envelope,) = received(tongdai, "support@demo.example")
    msg = email.message_from_bytes(envelope.original_content or b"", policy=email.policy.default)
    assert isinstance(msg, EmailMessage) and msg["Subject"] == "Voicemail from 0966555444 in queue support"
    body = msg.get_body(("plain",))
    assert body is not None and "less than a second of sound" in body.get_content()
    (attachment,) = msg.iter_attachments()
    assert attachment.get_content() == vm.path.read_bytes()
