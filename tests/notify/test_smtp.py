"""The mail service against a real SMTP server (aiosmtpd on 127.0.0.1, a free port): a message with a
WAV attachment arrives intact; a sender killed while the server was down leaves the message on disk and
the next start delivers it once the server is up; a 5xx refusal ends in failed/ with the reason; login."""

from __future__ import annotations

import asyncio
import email
import email.policy
import json
import queue
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword

from tests.conftest import free_port
from tongdai.notify.mail import MailService, Outbox
from tongdai.notify.settings import MailSettings

WAV = b"RIFF" + bytes(range(256)) * 40  # stands for a recording: any bytes must arrive unchanged


class Inbox:
    """An aiosmtpd handler that keeps what it receives (and can refuse recipients)."""

    def __init__(self, refuse: str = "") -> None:
        self.refuse = refuse
        self.received: list[Envelope] = []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # type: ignore[no-untyped-def]
        if address == self.refuse:
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
        self.received.append(envelope)
        return "250 OK"


def smtp_server(inbox: Inbox, port: int, **kw: object) -> Controller:
    controller = Controller(inbox, hostname="127.0.0.1", port=port, **kw)
    controller.start()
    return controller


@pytest.fixture
def inbox() -> Iterator[tuple[Inbox, int]]:
    box, port = Inbox(), free_port()
    controller = smtp_server(box, port)
    try:
        yield box, port
    finally:
        controller.stop()


def settings(port: int, spool: Path, **kw: object) -> MailSettings:
    return MailSettings.model_validate({"smtp_host": "127.0.0.1", "smtp_port": port, "sender": "tongdai@demo.example",
                                        "spool_dir": str(spool), "retry_first_s": 0.2, "timeout_s": 5, **kw})


def voicemail(to: str = "sales@demo.example") -> EmailMessage:
    msg = EmailMessage()
    msg["To"], msg["Subject"] = to, "Voicemail from 0913000333 (sales)"
    msg.set_content("A caller left a message.")
    msg.add_attachment(WAV, maintype="audio", subtype="wav", filename="voicemail.wav")
    return msg


async def until(predicate, timeout: float = 10.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(0.02)
    return bool(predicate())


def parsed(envelope: Envelope) -> EmailMessage:
    msg = email.message_from_bytes(envelope.original_content or b"", policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


async def test_given_smtp_server_then_mail_with_wav_arrives_and_moves_to_sent(tmp_path, inbox):
    box, port = inbox
    conf = settings(port, tmp_path)
    outbox = Outbox(tmp_path, sender=conf.sender)
    svc = MailService.from_settings(conf, outbox)
    await svc.start()
    try:
        mid = outbox.put(voicemail())
        assert await until(lambda: outbox.ids("sent") == [mid]), outbox.queued()
    finally:
        await svc.stop()
    (envelope,) = box.received
    assert envelope.mail_from == "tongdai@demo.example" and envelope.rcpt_tos == ["sales@demo.example"]
    msg = parsed(envelope)
    assert msg["Subject"] == "Voicemail from 0913000333 (sales)" and msg["From"] == "tongdai@demo.example"
    (attachment,) = msg.iter_attachments()
    assert attachment.get_content_type() == "audio/wav" and attachment.get_content() == WAV


SENDER_SCRIPT = textwrap.dedent("""
    import asyncio, sys
    from email.message import EmailMessage
    from tongdai.notify.mail import MailService, Outbox
    from tongdai.notify.settings import MailSettings

    async def main() -> None:
        conf = MailSettings(smtp_host="127.0.0.1", smtp_port=int(sys.argv[2]), sender="tongdai@demo.example",
                            retry_first_s=3600, timeout_s=2)
        outbox = Outbox(sys.argv[1], sender=conf.sender)
        svc = MailService.from_settings(conf, outbox)
        await svc.start()
        msg = EmailMessage()
        msg["To"], msg["Subject"] = "support@demo.example", "spooled while the server was down"
        msg.set_content("hello")
        msg.add_attachment(bytes(range(256)), maintype="audio", subtype="wav", filename="v.wav")
        print(outbox.put(msg), flush=True)
        while outbox.state(outbox.queued()[0]).attempts == 0:  # the first attempt fails: nobody listens
            await asyncio.sleep(0.02)
        print("attempted", flush=True)
        await asyncio.sleep(3600)

    asyncio.run(main())
""")


async def test_given_sender_killed_while_smtp_down_then_mail_arrives_after_restart(tmp_path):
    port = free_port()  # nothing listens here yet
    errors = (tmp_path / "sender.err").open("w")  # a file: a full pipe nobody reads would block the child
    proc = subprocess.Popen([sys.executable, "-c", SENDER_SCRIPT, str(tmp_path / "spool"), str(port)],
                            stdout=subprocess.PIPE, stderr=errors, text=True)
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line.strip()) for line in proc.stdout or ()], daemon=True).start()
    try:
        mid = lines.get(timeout=30)  # bounded: a stuck child fails the test instead of hanging it
        assert lines.get(timeout=30) == "attempted", (tmp_path / "sender.err").read_text()
    finally:
        proc.send_signal(signal.SIGKILL)  # no clean stop: the process dies where it is
        proc.wait(10)
        errors.close()
    outbox = Outbox(tmp_path / "spool")
    assert outbox.queued() == [mid] and outbox.state(mid).attempts == 1
    assert "Connect" in outbox.state(mid).last_error or "refused" in outbox.state(mid).last_error.lower()
    box = Inbox()
    controller = smtp_server(box, port)  # the server comes up
    try:
        svc = MailService.from_settings(settings(port, tmp_path / "spool"), outbox)
        await svc.start()
        try:
            assert await until(lambda: len(box.received) == 1), outbox.state(mid)
            assert await until(lambda: outbox.ids("sent") == [mid])
        finally:
            await svc.stop()
    finally:
        controller.stop()
    msg = parsed(box.received[0])
    assert msg["Subject"] == "spooled while the server was down"
    assert next(msg.iter_attachments()).get_content() == bytes(range(256))
    assert json.loads((outbox.folder("sent") / f"{mid}.json").read_text())["attempts"] == 2


async def test_given_server_refuses_recipient_then_mail_moves_to_failed_with_the_reply(tmp_path):
    box, port = Inbox(refuse="nobody@demo.example"), free_port()
    controller = smtp_server(box, port)
    outbox = Outbox(tmp_path)
    svc = MailService.from_settings(settings(port, tmp_path), outbox)
    await svc.start()
    try:
        mid = outbox.put(voicemail(to="nobody@demo.example"))
        assert await until(lambda: outbox.ids("failed") == [mid])
    finally:
        await svc.stop()
        controller.stop()
    note = json.loads((outbox.folder("failed") / f"{mid}.json").read_text())
    assert note["reason"].startswith("refused by the server") and "550" in note["reason"] and note["attempts"] == 1
    assert box.received == []


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
async def test_given_smtp_login_then_the_configured_user_sends(tmp_path):
    logins: list[tuple[bytes, bytes]] = []

    def authenticator(server, session, envelope, mechanism, auth_data):  # type: ignore[no-untyped-def]
        assert isinstance(auth_data, LoginPassword)
        logins.append((auth_data.login, auth_data.password))
        return AuthResult(success=auth_data.password == b"s3cret")

    box, port = Inbox(), free_port()
    controller = smtp_server(box, port, authenticator=authenticator, auth_require_tls=False, auth_required=True)
    outbox = Outbox(tmp_path)
    svc = MailService.from_settings(settings(port, tmp_path, username="voicemail", password="s3cret"), outbox)
    await svc.start()
    try:
        mid = outbox.put(voicemail())
        assert await until(lambda: outbox.ids("sent") == [mid])
    finally:
        await svc.stop()
        controller.stop()
    assert logins == [(b"voicemail", b"s3cret")] and len(box.received) == 1


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("smtp-tls")
    cert, key = d / "smtp.pem", d / "smtp.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True, timeout=60)
    return cert, key


def tls_server(box: Inbox, port: int, cert: Path, key: Path) -> Controller:
    """A server that takes mail only after STARTTLS and a login."""
    import ssl

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(cert), str(key))

    def authenticator(server, session, envelope, mechanism, auth_data):  # type: ignore[no-untyped-def]
        return AuthResult(success=(auth_data.login, auth_data.password) == (b"voicemail", b"s3cret"))

    return smtp_server(box, port, tls_context=context, require_starttls=True, authenticator=authenticator,
                       auth_required=True)


async def test_given_starttls_with_the_servers_ca_then_mail_is_sent_encrypted_after_login(tmp_path, certificate):
    cert, key = certificate
    box, port = Inbox(), free_port()
    controller = tls_server(box, port, cert, key)
    outbox = Outbox(tmp_path)
    conf = settings(port, tmp_path, starttls=True, tls_ca_file=str(cert), username="voicemail", password="s3cret")
    svc = MailService.from_settings(conf, outbox)
    await svc.start()
    try:
        mid = outbox.put(voicemail())
        assert await until(lambda: outbox.ids("sent") == [mid]), outbox.state(mid)
    finally:
        await svc.stop()
        controller.stop()
    assert len(box.received) == 1 and next(parsed(box.received[0]).iter_attachments()).get_content() == WAV


async def test_given_server_requires_starttls_but_it_is_off_then_refused_for_good_with_the_reply(
        tmp_path, certificate):
    cert, key = certificate
    box, port = Inbox(), free_port()
    controller = tls_server(box, port, cert, key)
    outbox = Outbox(tmp_path)
    svc = MailService.from_settings(settings(port, tmp_path), outbox)
    await svc.start()
    try:
        mid = outbox.put(voicemail())
        assert await until(lambda: outbox.ids("failed") == [mid]), outbox.state(mid)
    finally:
        await svc.stop()
        controller.stop()
    note = json.loads((outbox.folder("failed") / f"{mid}.json").read_text())
    assert "530" in note["reason"] and "STARTTLS" in note["reason"] and box.received == []


async def test_given_a_certificate_nobody_vouches_for_then_attempts_fail_and_are_retried(tmp_path, certificate):
    cert, key = certificate
    box, port = Inbox(), free_port()
    controller = tls_server(box, port, cert, key)
    outbox = Outbox(tmp_path)
    svc = MailService.from_settings(settings(port, tmp_path, starttls=True, retry_first_s=60), outbox)
    await svc.start()
    try:
        mid = outbox.put(voicemail())
        assert await until(lambda: outbox.state(mid).attempts == 1)
    finally:
        await svc.stop()
        controller.stop()
    assert "certificate" in outbox.state(mid).last_error.lower() and outbox.queued() == [mid]
