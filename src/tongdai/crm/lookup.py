"""The outside CRM asked about a caller by webhook: an extension point with an HTTP implementation.
A failure or a timeout answers None, so the screen pop shows the local match alone."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Protocol

import httpx

from tongdai.crm.schemas import ExternalCustomer
from tongdai.crm.settings import CrmSettings

log = logging.getLogger(__name__)


class OutsideCrm(Protocol):
    async def find(self, tenant_id: str, e164: str) -> ExternalCustomer | None: ...


class NoOutsideCrm:
    """No outside CRM is configured."""

    async def find(self, tenant_id: str, e164: str) -> ExternalCustomer | None:
        return None


def _first(data: dict[str, Any], *keys: str) -> Any:
    return next((data[k] for k in keys if data.get(k) not in (None, "")), None)


def to_external(data: Any) -> ExternalCustomer | None:
    """The outside CRM's answer as a customer-like record: a JSON object (or `{"customer": {...}}`, or a
    list whose first item is one) with at least a name; None when it names nobody."""
    if isinstance(data, list):
        data = data[0] if data else None
    if isinstance(data, dict) and isinstance(data.get("customer"), dict):
        data = data["customer"]
    if not isinstance(data, dict):
        return None
    name = _first(data, "name", "full_name", "display_name")
    if not isinstance(name, str | int) or not str(name).strip():
        return None
    ext = _first(data, "external_id", "id")
    return ExternalCustomer(
        name=str(name).strip()[:200], vip_tier=str(_first(data, "vip_tier", "vip", "tier") or "").lower()[:32],
        language=str(_first(data, "language", "lang") or "").lower()[:8],
        external_id=None if ext is None else str(ext)[:100], kind=str(_first(data, "kind", "type") or "person")[:16],
        address=str(_first(data, "address") or "")[:500], email=str(_first(data, "email") or "")[:254],
        url=str(_first(data, "url", "link") or "")[:500],
    )


class HttpOutsideCrm:
    """GET {url}?phone=+E164&tenant=ID with a time limit."""

    def __init__(self, url: str, timeout_s: float) -> None:
        self.url, self.timeout_s = url, timeout_s

    async def find(self, tenant_id: str, e164: str) -> ExternalCustomer | None:
        try:
            # httpx's timeout bounds each phase; the whole exchange is bounded too
            async with asyncio.timeout(self.timeout_s), httpx.AsyncClient(timeout=self.timeout_s) as client:
                r = await client.get(self.url, params={"phone": e164, "tenant": tenant_id},
                                     headers={"Accept": "application/json"})
            if r.status_code == 404:
                return None
            r.raise_for_status()
            return to_external(r.json())
        except (httpx.HTTPError, ValueError, TimeoutError) as exc:  # the screen pop must not wait or fail for the outside CRM
            log.warning("outside CRM look-up failed: %s", exc.__class__.__name__, extra={"url": self.url})
            return None


def outside_crm(settings: CrmSettings) -> OutsideCrm:
    """The outside CRM the settings name, or none."""
    return HttpOutsideCrm(settings.lookup_url, settings.lookup_timeout_s) if settings.lookup_url else NoOutsideCrm()
