"""The web console's files at `/`: a screen's own address opened directly gets the page, built
assets are cached for good, every page carries the security headers, and a missing file is
still a 404."""

from __future__ import annotations

from pathlib import Path

import httpx

from gateway.main import create_app
from gateway.settings import GatewaySettings


async def test_the_console_is_served_beside_the_api(tmp_path: Path) -> None:
    (tmp_path / "assets").mkdir()
    (tmp_path / "index.html").write_text("<title>智慧团建</title>", encoding="utf-8")
    (tmp_path / "assets" / "index-abc123.js").write_text("console.log(1)")
    app = create_app(GatewaySettings(console_dir=tmp_path), events=False)
    transport = httpx.ASGITransport(app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
        home = await client.get("/")
        assert home.status_code == 200 and "智慧团建" in home.text
        assert home.headers["cache-control"] == "no-cache"
        # Only the console's own scripts run, it cannot be framed, nothing is sniffed.
        policy = home.headers["content-security-policy"]
        assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
        assert "unsafe-eval" not in policy and "script-src 'self' 'unsafe-inline'" not in policy
        assert home.headers["x-content-type-options"] == "nosniff"
        assert home.headers["x-frame-options"] == "DENY"
        # Reloading a screen: the console's router shows it.
        screen = await client.get("/orgs/0b7e/members")
        assert screen.status_code == 200 and "智慧团建" in screen.text
        asset = await client.get("/assets/index-abc123.js")
        assert asset.status_code == 200
        assert "immutable" in asset.headers["cache-control"]
        assert (await client.get("/assets/gone-123.js")).status_code == 404
        assert (await client.get("/healthz")).status_code == 200


def test_without_a_build_the_gateway_starts_as_before(tmp_path: Path) -> None:
    app = create_app(GatewaySettings(console_dir=tmp_path), events=False)
    assert not any(getattr(r, "name", "") == "console" for r in app.router.routes)
