"""Business hours of a directory calendar, pure: is it open at a moment?"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def is_open(timezone: str, weekly: dict[str, Any], holidays: list[dict[str, Any]], at: datetime) -> bool:
    """Open at `at` (an aware datetime): not a holiday in the calendar's time zone, and inside one of
    the day's intervals (`[["08:00", "17:30"], ...]`, end excluded)."""
    local = at.astimezone(ZoneInfo(timezone))
    if any(str(h.get("date")) == local.date().isoformat() for h in holidays or []):
        return False
    hhmm = local.strftime("%H:%M")
    return any(start <= hhmm < end for start, end in (weekly or {}).get(DAYS[local.weekday()], []))
