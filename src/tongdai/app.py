"""The composition root: builds every service from the validated settings and runs them in one loop.

To plug a domain in, give it an object with `name`, `async start()`, `async stop()` and `ready()`,
and append it in `build_app` (one line). Services start in list order and stop in reverse order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Iterator
from typing import Any, Protocol

import uvicorn
from fastapi import APIRouter

from tongdai.api.app import create_app
from tongdai.api.state import ApiContext
from tongdai.core.config import Settings
from tongdai.core.db import Database
from tongdai.core.events import EventBus
from tongdai.core.metrics import Metrics
from tongdai.iam.security import TokenIssuer, load_or_create_key

log = logging.getLogger("tongdai")


class Service(Protocol):
    name: str

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def ready(self) -> bool: ...


class App:
    """Everything one tongdai process runs."""

    def __init__(self, settings: Settings, services: list[Service] | None = None,
                 routers: list[APIRouter] | None = None) -> None:
        self.settings = settings
        self.bus = EventBus()
        self.metrics = Metrics()
        self.db = Database(settings.database.url, echo=settings.database.echo)
        key = load_or_create_key(settings.security.secret_key.get_secret_value(), settings.data_dir)
        self.tokens = TokenIssuer(key, settings.security.token_ttl_s)
        self.ctx = ApiContext(settings=settings, db=self.db, bus=self.bus, tokens=self.tokens)
        self.services: list[Service] = list(services or [])
        self.http = create_app(self.ctx, self.metrics, routers)
        self._started: list[Service] = []
        self._stop = asyncio.Event()

    async def start(self) -> None:
        """Apply migrations, then start every service in order."""
        await self.db.upgrade()
        for svc in self.services:
            log.info("starting %s", svc.name)
            await svc.start()
            self._started.append(svc)
            self.ctx.readiness[svc.name] = svc.ready

    async def stop(self) -> None:
        while self._started:
            svc = self._started.pop()
            try:
                await svc.stop()
            except Exception:
                log.exception("stopping %s failed", svc.name)
        await self.db.dispose()

    def request_stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        """Start everything, serve HTTP until SIGINT/SIGTERM, then stop cleanly."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.request_stop)
        await self.start()
        server = _Server(uvicorn.Config(self.http, host=self.settings.http.host, port=self.settings.http.port,
                                        log_config=None, lifespan="off"))
        serving = asyncio.create_task(server.serve())
        try:
            while not server.started and not serving.done():
                await asyncio.sleep(0.02)
            if server.started:
                port = server.servers[0].sockets[0].getsockname()[1]
                url = f"http://{self.settings.http.host}:{port}"
                log.info("tongdai ready", extra={"http": url})
                sip = self.settings.sip
                sip_line = f", SIP on {sip.host}:{sip.udp_port or sip.tcp_port}" if sip.enabled else ""
                print(f"tongdai is ready: {url} (agent desktop {url}/ui/agent/, wallboard {url}/ui/supervisor/, "
                      f"administration {url}/ui/admin/, API reference {url}/docs){sip_line}. Ctrl-C stops it.",
                      file=sys.stderr, flush=True)
            stopper = asyncio.create_task(self._stop.wait())
            await asyncio.wait({serving, stopper}, return_when=asyncio.FIRST_COMPLETED)
            stopper.cancel()
        finally:
            server.should_exit = True
            with contextlib.suppress(Exception):
                await serving
            await self.stop()
            log.info("tongdai stopped")


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: the App owns the signals."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    def install_signal_handlers(self) -> None:
        return


def _routing(app: App) -> Any:
    """The one routing service, shared by call control and the API."""
    from tongdai.routing.service import RoutingService

    svc = getattr(app.http.state, "routing", None)
    if svc is None:
        svc = RoutingService(app.db, app.bus, offer_timeout_s=app.settings.routing.offer_timeout_s)
        app.http.state.routing = svc
    return svc


def _wallboard(app: App) -> Any:
    """The supervisors' wallboard, fed by the bus and the routing engines."""
    from tongdai.wallboard.service import WallboardService

    svc = WallboardService(app.db, app.bus, _routing(app))
    app.http.state.wallboard = svc
    return svc


def _inbound_calls(app: App, media: Any) -> Any:
    """The factory of the contact centre's inbound calls (built on the B2BUA when SIP is up)."""
    from tongdai.calls.inbound import InboundCalls, default_music

    def music() -> str | None:
        return str(default_music(app.settings.data_dir / "music"))

    from tongdai.media.prompts import PromptLibrary

    prompts = PromptLibrary.from_settings(app.settings.media, app.settings.data_dir)
    recordings = _recordings(app)
    app.voicemails = _voicemails(app, recordings.dsp)  # type: ignore[attr-defined]

    def build(b2bua: Any) -> Any:
        inbound = InboundCalls(b2bua, _routing(app), app.db, app.bus, music=music,
                               available_on_register=app.settings.routing.available_on_register, prompts=prompts,
                               speech=lambda: getattr(app, "speech", None),
                               voicemails=lambda: getattr(app, "voicemails", None),
                               interactions=getattr(app.http.state, "interactions", None),
                               announce_every_s=app.settings.routing.announce_every_s)
        inbound.on_answered.append(recordings.answered)
        b2bua.on_call_end.append(recordings.call_ended)
        app.recordings = recordings  # type: ignore[attr-defined]
        app.inbound = inbound  # type: ignore[attr-defined]  # scheduled callbacks are placed through it
        app.http.state.recordings = recordings  # POST /api/v1/calls/{call_id}/recording
        from tongdai.calls.conference import Conferences

        app.http.state.conferences = Conferences(b2bua, recordings.dsp)  # POST /api/v1/calls/{id}/conference
        return inbound

    return build


def _recordings(app: App) -> Any:
    """Call recording by queue policy: a DSP worker (a service) writing to the recordings directory."""
    from tongdai.calls.recording import CallRecordings
    from tongdai.media.dsp_worker import DspWorker
    from tongdai.media.recording import LocalRecordingStorage, recordings_root

    dsp = DspWorker()
    app.services.append(dsp)
    root = recordings_root(app.settings.data_dir, app.settings.media.recordings_dir)
    return CallRecordings(dsp, LocalRecordingStorage(root), app.db)


def _mail(app: App) -> Any:
    """The durable outbox (`app.outbox`) and the service that sends it over SMTP."""
    from tongdai.notify.mail import MailService, Outbox
    from tongdai.notify.settings import spool_root

    mail = app.settings.mail
    outbox = Outbox(spool_root(app.settings.data_dir, mail.spool_dir), sender=mail.sender)
    app.services.append(MailService.from_settings(mail, outbox, registry=app.metrics.registry))
    app.outbox = outbox  # type: ignore[attr-defined]
    return outbox


def _voicemails(app: App, dsp: Any) -> Any:
    """Voicemail (`app.voicemails`): recorded by the DSP worker under <recordings>/voicemail, e-mailed
    through the outbox."""
    from tongdai.calls.voicemail import Voicemails
    from tongdai.media.recording import recordings_root

    root = recordings_root(app.settings.data_dir, app.settings.media.recordings_dir) / "voicemail"
    return Voicemails(dsp, root, app.outbox, db=app.db, bus=app.bus,  # type: ignore[attr-defined]
                      sender=app.settings.mail.sender)


def _crm(app: App) -> Any:
    """The CRM: an interaction per call in the timeline, and the outside CRM the screen pop asks."""
    from tongdai.crm.interactions import InteractionRecorder
    from tongdai.crm.lookup import outside_crm

    app.http.state.outside_crm = outside_crm(app.settings.crm)
    recorder = InteractionRecorder(app.db, app.bus)
    app.http.state.interactions = recorder  # the call flow hands it a call's IVR path: recorder.remember(...)
    return recorder


def _speech(app: App) -> Any:
    """Speech recognition of callers' answers (`app.speech.listen`), a service owning its decoding processes."""
    from tongdai.calls.speech import SpeechRecognition

    settings = app.settings.speech
    speech = SpeechRecognition(workers=settings.workers, end_silence_s=settings.end_silence_s,
                               max_speech_s=settings.max_speech_s)
    app.services.append(speech)
    return speech


def _callbacks(app: App) -> Any:
    """Scheduled callbacks, placed through the inbound calls' callback path when SIP runs."""
    from tongdai.callbacks.placer import CallbackScheduler
    from tongdai.callbacks.scheduler import Policy

    cfg = app.settings.callbacks
    scheduler = CallbackScheduler(app.db, lambda: getattr(app, "inbound", None), poll_s=cfg.poll_s,
                                  policy=Policy(cfg.max_attempts, tuple(cfg.retry_after_s)))
    app.http.state.callbacks = scheduler  # the API pokes it when a callback is booked or moved
    return scheduler


def build_app(settings: Settings) -> App:
    """Build the App and every service from the settings."""
    app = App(settings)
    from tongdai.media.recording import RecordingRecoveryService, recordings_root
    from tongdai.media.rtpengine import RtpengineService

    # recordings a crash left unfinished are made valid files before anything else starts
    app.services.append(RecordingRecoveryService(recordings_root(settings.data_dir, settings.media.recordings_dir)))
    _mail(app)  # mail spooled before a restart goes out as soon as tongdai is back

    media = RtpengineService(settings.media, data_dir=settings.data_dir, bus=app.bus)
    app.services.append(media)
    app.services.append(_routing(app))  # tenants with live stored tasks are rebuilt at start
    app.services.append(_wallboard(app))  # after routing: its boards start from the engines' state
    if settings.sip.enabled:
        from tongdai.sip.service import SipService

        sip = SipService(settings.sip, data_dir=settings.data_dir, db=app.db, bus=app.bus)
        sip.anchor, sip.media_ready = media.anchor, media.ready  # calls' media goes through rtpengine
        sip.inbound_factory = _inbound_calls(app, media)
        if settings.speech.enabled:  # else app.speech stays unset: menus take keys only
            app.speech = _speech(app)  # type: ignore[attr-defined]
        app.http.router.add_websocket_route("/sip", sip.websocket.serve)  # browsers' SIP over WebSocket (RFC 7118)
        app.services.append(sip)
    from tongdai.calls.records import CallRecords

    app.services.append(CallRecords(app.db, app.bus))
    app.services.append(_crm(app))  # after the call records: a call's interaction links to its CDR
    app.services.append(_callbacks(app))  # last: callbacks due while tongdai was down are placed once all runs
    return app
