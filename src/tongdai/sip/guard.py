"""Per-source protection: a request-rate limit (token bucket) and temporary bans after repeated
authentication failures. Pure: `now` is passed in; the stack asks before it processes a request."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class _Source:
    tokens: float
    updated: float
    failures: list[float] = field(default_factory=list)
    banned_until: float = 0.0


class SourceGuard:
    """`rate` requests/s with bursts of `burst` per source IP; `max_failures` authentication failures
    within `window` seconds ban the source for `ban_seconds`. Loopback and listed addresses are exempt."""

    def __init__(self, *, rate: float = 200.0, burst: float = 400.0, max_failures: int = 10, window: float = 60.0,
                 ban_seconds: float = 600.0, exempt: frozenset[str] = frozenset(), max_sources: int = 100_000) -> None:
        self.rate, self.burst = rate, burst
        self.max_failures, self.window, self.ban_seconds = max_failures, window, ban_seconds
        self.exempt = exempt
        self.max_sources = max_sources
        self._sources: dict[str, _Source] = {}
        self.dropped = 0

    def allow(self, ip: str, now: float) -> bool:
        """May a request from `ip` be processed now? (False: drop it silently.)"""
        if ip in self.exempt:
            return True
        s = self._sources.get(ip)
        if s is None:
            if len(self._sources) >= self.max_sources:
                self._prune(now)
            s = self._sources[ip] = _Source(self.burst, now)
        if s.banned_until > now:
            self.dropped += 1
            return False
        s.tokens = min(self.burst, s.tokens + (now - s.updated) * self.rate)
        s.updated = now
        if s.tokens < 1.0:
            self.dropped += 1
            return False
        s.tokens -= 1.0
        return True

    def auth_failed(self, ip: str, now: float) -> bool:
        """Count a failed authentication; True when the source is now banned."""
        if ip in self.exempt:
            return False
        s = self._sources.setdefault(ip, _Source(self.burst, now))
        s.failures = [t for t in s.failures if t > now - self.window] + [now]
        if len(s.failures) >= self.max_failures:
            s.banned_until = now + self.ban_seconds
            s.failures.clear()
            return True
        return False

    def banned(self, ip: str, now: float) -> bool:
        s = self._sources.get(ip)
        return s is not None and s.banned_until > now

    def _prune(self, now: float) -> None:
        for ip, s in list(self._sources.items()):
            if s.banned_until <= now and not s.failures:
                del self._sources[ip]
