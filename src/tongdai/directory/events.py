"""Events of the directory."""

from __future__ import annotations

import dataclasses
from typing import ClassVar

from tongdai.core.events import Event


@dataclasses.dataclass(frozen=True, kw_only=True)
class DirectoryChanged(Event):
    """A directory row was created, updated or deleted."""

    name: ClassVar[str] = "directory.changed"
    resource: str
    """e.g. "agents", "queues"."""
    object_id: str
    op: str
    """"created", "updated" or "deleted"."""
