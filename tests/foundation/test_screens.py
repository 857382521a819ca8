"""The browser screens are served by tongdai itself: `/` leads to /ui/, which links to each screen."""

from __future__ import annotations

import re


async def test_root_redirects_to_the_screens_and_the_index_links_every_screen_that_exists(sqlite_api):
    client = sqlite_api.client
    r = await client.get("/")
    assert r.status_code in (302, 307) and r.headers["location"] == "/ui/"
    index = await client.get("/ui/")
    assert index.status_code == 200 and "text/html" in index.headers["content-type"]
    for link in re.findall(r'href="([a-z]+/)"', index.text):
        page = await client.get(f"/ui/{link}")
        assert page.status_code == 200, link  # no link to a screen that is not there
    assert (await client.get("/ui/no-such-screen/")).status_code == 404
