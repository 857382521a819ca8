"""Asyncio client of rtpengine's "ng" control protocol: `<cookie> <bencoded dict>` over UDP.

Each request carries a fresh cookie; the reply echoes it, so replies are matched by cookie and
late or duplicate replies are dropped. A request that gets no reply is sent again with the *same*
cookie (rtpengine caches its answer per cookie, so a retransmitted offer is not a second offer).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
from dataclasses import dataclass
from typing import Any

from tongdai.core.errors import TongdaiError
from tongdai.media import bencode

log = logging.getLogger(__name__)

Params = dict[str, Any]


class NgError(TongdaiError):
    """rtpengine answered `result: error`; `reason` is its error-reason."""

    error_id = "media_engine_error"
    status = 502
    message = "the media engine refused the request"

    def __init__(self, command: str, reason: str) -> None:
        super().__init__(f"rtpengine {command}: {reason}", details={"command": command, "reason": reason})
        self.command = command
        self.reason = reason


class NgTimeout(TongdaiError):
    """rtpengine did not answer within the retries."""

    error_id = "media_engine_unreachable"
    status = 503
    message = "the media engine does not answer"


@dataclass(frozen=True)
class SdpResult:
    """Reply of offer/answer: the rewritten SDP and the whole reply for callers that need more."""

    sdp: str
    reply: Params


def parse_address(address: str) -> tuple[str, int]:
    """'host:port' or '[v6]:port' -> (host, port)."""
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"not a host:port address: {address!r}")
    return host.strip("[]"), int(port)


class _NgProtocol(asyncio.DatagramProtocol):
    def __init__(self, client: NgClient) -> None:
        self.client = client

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        self.client._reply_received(data)

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable while rtpengine restarts: the retry timer handles it
        log.debug("ng socket error: %s", exc)


class NgClient:
    """One UDP socket to one rtpengine; many requests in flight at once."""

    def __init__(self, address: str | tuple[str, int], *, timeout: float = 0.5, retries: int = 3) -> None:
        self.address = parse_address(address) if isinstance(address, str) else address
        self.timeout = timeout
        self.retries = retries
        self._transport: asyncio.DatagramTransport | None = None
        self._pending: dict[bytes, asyncio.Future[Params]] = {}
        self._prefix = os.urandom(4).hex().encode()
        self._seq = itertools.count(1)

    async def connect(self) -> None:
        """Open the socket (idempotent)."""
        if self._transport is None:
            loop = asyncio.get_running_loop()
            self._transport, _ = await loop.create_datagram_endpoint(
                lambda: _NgProtocol(self), remote_addr=self.address)

    async def close(self) -> None:
        """Close the socket; requests still waiting fail with NgTimeout."""
        if self._transport is not None:
            self._transport.close()
            self._transport = None
        for fut in self._pending.values():
            if not fut.done():
                fut.set_exception(NgTimeout("ng client closed"))
        self._pending.clear()

    async def request(self, command: str, params: Params | None = None) -> Params:
        """Send `command` with `params`, return the reply dict; raise NgError or NgTimeout."""
        await self.connect()
        assert self._transport is not None
        cookie = self._prefix + b"_%d" % next(self._seq)
        body = dict(params or {})
        body["command"] = command
        datagram = cookie + b" " + bencode.encode(body)
        future: asyncio.Future[Params] = asyncio.get_running_loop().create_future()
        self._pending[cookie] = future
        try:
            reply = await self._send_until_answered(datagram, future, command)
        finally:
            self._pending.pop(cookie, None)
        if reply.get("result") == "error":
            raise NgError(command, str(reply.get("error-reason", "unknown")))
        return reply

    async def _send_until_answered(self, datagram: bytes, future: asyncio.Future[Params],
                                   command: str) -> Params:
        for _attempt in range(self.retries + 1):
            if self._transport is None:
                break
            self._transport.sendto(datagram)
            try:
                return await asyncio.wait_for(asyncio.shield(future), self.timeout)
            except TimeoutError:
                continue
        raise NgTimeout(f"rtpengine at {self.address[0]}:{self.address[1]} did not answer {command}",
                        details={"command": command, "tries": self.retries + 1})

    def _reply_received(self, data: bytes) -> None:
        cookie, sep, payload = data.partition(b" ")
        future = self._pending.get(cookie)
        if not sep or future is None or future.done():
            return  # a late duplicate, or not ours
        try:
            reply = bencode.decode(payload)
        except bencode.BencodeError as exc:
            future.set_exception(NgError("reply", f"undecodable reply: {exc}"))
            return
        if not isinstance(reply, dict):
            future.set_exception(NgError("reply", "reply is not a dictionary"))
            return
        future.set_result(reply)

    # typed commands --------------------------------------------------------------------------

    async def ping(self) -> bool:
        """True when rtpengine answers `pong`."""
        return (await self.request("ping")).get("result") == "pong"

    async def offer(self, call_id: str, from_tag: str, sdp: str, **options: Any) -> SdpResult:
        """Offer `sdp` of the leg `from_tag`; options are ng keys (`ICE`, `flags`, `codec`...)."""
        reply = await self.request("offer", {"call-id": call_id, "from-tag": from_tag, "sdp": sdp,
                                             **options})
        return SdpResult(str(reply["sdp"]), reply)

    async def answer(self, call_id: str, from_tag: str, to_tag: str, sdp: str, **options: Any) -> SdpResult:
        """Answer the offer of `from_tag` with the `sdp` of `to_tag`."""
        reply = await self.request("answer", {"call-id": call_id, "from-tag": from_tag, "to-tag": to_tag,
                                              "sdp": sdp, **options})
        return SdpResult(str(reply["sdp"]), reply)

    async def delete(self, call_id: str, from_tag: str | None = None, **options: Any) -> Params:
        """Delete a call (or one leg when `from_tag` is given); returns the final statistics."""
        return await self.request("delete", _call(call_id, from_tag, **options))

    async def query(self, call_id: str, from_tag: str | None = None) -> Params:
        """Statistics and state of one call."""
        return await self.request("query", _call(call_id, from_tag))

    async def list_calls(self, limit: int = 32) -> list[str]:
        """Call-IDs rtpengine knows."""
        reply = await self.request("list", {"limit": limit})
        return [str(c) for c in reply.get("calls", [])]

    async def play_media(self, call_id: str, from_tag: str, file: str, **options: Any) -> int:
        """Play a file into the media the leg `from_tag` *receives*; returns the duration in ms."""
        reply = await self.request("play media", _call(call_id, from_tag, file=file, **options))
        return int(reply.get("duration", 0))

    async def stop_media(self, call_id: str, from_tag: str) -> Params:
        """Stop what `play media` plays to that leg."""
        return await self.request("stop media", _call(call_id, from_tag))

    async def play_dtmf(self, call_id: str, from_tag: str, digit: str, *, duration_ms: int = 100,
                        volume: int = 8, **options: Any) -> Params:
        """Inject an RFC 4733 digit (or in-band tone) into what the other side of `from_tag` hears."""
        return await self.request("play DTMF", _call(call_id, from_tag, code=digit, duration=duration_ms,
                                                     volume=volume, **options))

    async def block_dtmf(self, call_id: str, from_tag: str | None = None) -> Params:
        """Stop forwarding DTMF sent by the leg (they are still logged)."""
        return await self.request("block DTMF", _call(call_id, from_tag))

    async def unblock_dtmf(self, call_id: str, from_tag: str | None = None) -> Params:
        """Forward DTMF again."""
        return await self.request("unblock DTMF", _call(call_id, from_tag))

    async def silence_media(self, call_id: str, from_tag: str | None = None) -> Params:
        """Replace the leg's audio with silence (e.g. while a card number is spoken)."""
        return await self.request("silence media", _call(call_id, from_tag))

    async def unsilence_media(self, call_id: str, from_tag: str | None = None) -> Params:
        """Undo silence media."""
        return await self.request("unsilence media", _call(call_id, from_tag))

    async def start_recording(self, call_id: str, **options: Any) -> Params:
        """Start (or resume) recording the call."""
        return await self.request("start recording", _call(call_id, None, **options))

    async def stop_recording(self, call_id: str) -> Params:
        """Stop recording the call."""
        return await self.request("stop recording", _call(call_id, None))

    async def pause_recording(self, call_id: str) -> Params:
        """Pause recording; `start recording` resumes it."""
        return await self.request("pause recording", _call(call_id, None))

    async def subscribe_request(self, call_id: str, from_tags: list[str], **options: Any) -> SdpResult:
        """Fork the media of `from_tags` to a new subscriber; returns the SDP offer for it."""
        reply = await self.request("subscribe request", _call(call_id, None, **{"from-tags": from_tags},
                                                              **options))
        return SdpResult(str(reply["sdp"]), reply)

    async def subscribe_answer(self, call_id: str, to_tag: str, sdp: str, **options: Any) -> Params:
        """Complete a subscription with the subscriber's SDP answer."""
        return await self.request("subscribe answer", _call(call_id, None, **{"to-tag": to_tag}, sdp=sdp,
                                                            **options))

    async def statistics(self) -> Params:
        """Global statistics (sessions, load, totals)."""
        stats = (await self.request("statistics")).get("statistics", {})
        return dict(stats) if isinstance(stats, dict) else {}


def _call(call_id: str, from_tag: str | None, **rest: Any) -> Params:
    params: Params = {"call-id": call_id, **rest}
    if from_tag is not None:
        params["from-tag"] = from_tag
    return params
