"""Firefox ESR for Playwright's WebDriver BiDi driver, through a relay on loopback.

Playwright (1.65) sends `emulation.setMediaFeaturesOverride` (prefers-color-scheme) to every new
browser context, a command Firefox ESR 153 does not implement yet, so `new_context` fails with
"unknown command". Playwright starts this script as the browser's executable: it starts Firefox with
the same arguments, relays the BiDi WebSocket and answers that one command itself with an empty
success (no test here emulates a colour scheme); everything else goes to Firefox and back unchanged.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys

from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.server import ServerConnection, serve

FIREFOX = "/usr/bin/firefox-esr"
#: commands Firefox ESR lacks that only emulate looks, answered here instead of by Firefox
ANSWERED_HERE = frozenset({"emulation.setMediaFeaturesOverride"})
LISTENING = re.compile(r"WebDriver BiDi listening on (ws://\S+)")


async def to_firefox(client: ServerConnection, firefox: ClientConnection) -> None:
    """Playwright's commands go to Firefox, except those answered here."""
    async for message in client:
        command = json.loads(message)
        if command.get("method") in ANSWERED_HERE:
            await client.send(json.dumps({"type": "success", "id": command["id"], "result": {}}))
        else:
            await firefox.send(message)


async def to_playwright(client: ServerConnection, firefox: ClientConnection) -> None:
    """Firefox's answers and events go to Playwright as they are."""
    async for message in firefox:
        await client.send(message)


def relay_to(upstream: str):  # type: ignore[no-untyped-def]
    """A WebSocket handler that joins one client to Firefox's endpoint at the same path."""
    async def handler(client: ServerConnection) -> None:
        path = client.request.path if client.request else "/session"
        async with connect(upstream + path, max_size=None, ping_interval=None) as firefox:
            pumps = [asyncio.create_task(to_firefox(client, firefox)), asyncio.create_task(to_playwright(client, firefox))]
            _, pending = await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
            for task in pending:
                task.cancel()
    return handler


async def main(args: list[str]) -> int:
    """Run Firefox with `args`, pass its stderr through with the relay's address instead of its own."""
    firefox = await asyncio.create_subprocess_exec(FIREFOX, *args, stderr=asyncio.subprocess.PIPE)
    assert firefox.stderr is not None
    server = None
    async for raw in firefox.stderr:
        line = raw.decode(errors="replace")
        found = LISTENING.search(line)
        if found and server is None:
            upstream = found.group(1).rstrip("/")
            server = await serve(relay_to(upstream), "127.0.0.1", 0, max_size=None, ping_interval=None)
            port = server.sockets[0].getsockname()[1] if server.sockets else 0
            line = line.replace(found.group(1), f"ws://127.0.0.1:{port}")
        sys.stderr.write(line)
        sys.stderr.flush()
    code = await firefox.wait()
    if server is not None:
        server.close()
    return code


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
