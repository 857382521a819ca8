"""Events of the SIP layer."""

from __future__ import annotations

import dataclasses
from typing import ClassVar

from tongdai.core.events import Event


@dataclasses.dataclass(frozen=True, kw_only=True)
class AgentDeviceRegistered(Event):
    """A phone or softphone registered for an agent's extension."""

    name: ClassVar[str] = "agent.device_registered"
    extension: str
    contact: str


@dataclasses.dataclass(frozen=True, kw_only=True)
class AgentDeviceUnregistered(Event):
    """A device un-registered or its registration expired."""

    name: ClassVar[str] = "agent.device_unregistered"
    extension: str
    contact: str
