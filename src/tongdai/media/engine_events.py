"""Events about rtpengine: faults of the managed process and the digits it reports."""

from __future__ import annotations

import dataclasses
from typing import ClassVar

from tongdai.core.events import Event

PROVIDER = frozenset({"provider_admin"})


@dataclasses.dataclass(frozen=True, kw_only=True)
class RtpengineFailed(Event):
    """The managed rtpengine exited unexpectedly; calls in progress lost their media."""

    name: ClassVar[str] = "media.rtpengine_failed"
    audience: ClassVar[frozenset[str] | None] = PROVIDER
    exit_code: int
    uptime_s: float
    restarts: int
    log_tail: str


@dataclasses.dataclass(frozen=True, kw_only=True)
class RtpengineRestarted(Event):
    """The managed rtpengine is running again after a failure and answers on its ng socket."""

    name: ClassVar[str] = "media.rtpengine_restarted"
    audience: ClassVar[frozenset[str] | None] = PROVIDER
    pid: int
    restarts: int


@dataclasses.dataclass(frozen=True, kw_only=True)
class RtpengineDigit(Event):
    """rtpengine saw the end of an RFC 4733 digit on a leg (from its --dtmf-log-dest JSON)."""

    name: ClassVar[str] = "media.rtpengine_digit"
    call_id: str
    #: the from-tag of the leg that sent the digit
    source_tag: str
    digit: str
    duration_ms: int
    volume: int
    source_address: str
