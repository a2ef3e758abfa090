"""The web console's built files (gateway/console/dist) at `/`; the API stays under /api/v1.

A path that names no file (a screen's own address, /orgs/<id>, opened directly or reloaded) is
answered with index.html, so the console's router can show it. Built assets carry a hash in
their names and are cached for a year; index.html is asked for afresh each time, so a new
release is seen at the next load.
"""

from __future__ import annotations

from pathlib import Path

from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from shared.logging import get_logger

log = get_logger(__name__)

# Where `make up` builds it, beside the gateway's source.
DEFAULT_DIR = Path(__file__).resolve().parents[2] / "console" / "dist"


# The console runs only its own scripts and talks only to its own origin: an injected script
# (a member's name that carries markup, a hostile file) has nowhere to run or to send a token.
# Inline styles stay allowed because Element Plus positions popovers and tables with them.
SECURITY_HEADERS = {
    "Content-Security-Policy": "; ".join(
        (
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self' 'unsafe-inline'",
            "img-src 'self' data: blob:",
            "font-src 'self' data:",
            "connect-src 'self'",
            "object-src 'none'",
            "base-uri 'self'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        )
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
    "Cross-Origin-Opener-Policy": "same-origin",
}


class ConsoleFiles(StaticFiles):
    async def get_response(self, path: str, scope: Scope) -> Response:
        try:
            response = await super().get_response(path, scope)
        except HTTPException as exc:
            if exc.status_code != 404 or "." in path.rsplit("/", 1)[-1]:
                raise
            response = await super().get_response("index.html", scope)
        if path.startswith("assets/"):
            response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
        else:
            response.headers["Cache-Control"] = "no-cache"
        response.headers.update(SECURITY_HEADERS)
        return response


def console_mount(directory: Path | None) -> Mount | None:
    """The console at `/`, if it was built; without it the API works as before."""
    directory = directory or DEFAULT_DIR
    if not (directory / "index.html").is_file():
        log.warning("console_not_built", directory=str(directory))
        return None
    return Mount("/", app=ConsoleFiles(directory=directory, html=True), name="console")
