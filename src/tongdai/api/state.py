"""What the HTTP layer needs from the composition root."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tongdai.core.config import Settings
from tongdai.core.db import Database
from tongdai.core.events import EventBus
from tongdai.iam.security import TokenIssuer


@dataclass
class ApiContext:
    settings: Settings
    db: Database
    bus: EventBus
    tokens: TokenIssuer
    #: name -> callable returning True when that part of tongdai is ready (for /readyz)
    readiness: dict[str, Any] = field(default_factory=dict)
