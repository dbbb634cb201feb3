"""The browser side of wsep-server: the JS client module and the web terminal page.

``add_web_routes(app)`` (the CLI's ``--web``) serves, to plain HTTP GETs only:

- ``/`` — the terminal page (xterm.js), even when the wsep endpoint is ``/``
  too: a WebSocket upgrade still goes to the endpoint;
- ``/sessions`` — the caller's reattachable sessions (attach, observe, end);
- ``/static/wsep.js`` — the client module (an ES module, no build step),
  ``/static/terminal.js`` and ``/static/terminal.css`` — the page's own code;
- ``/static/vendor/…`` — xterm.js and its fit addon from npm.

They are served by a middleware placed first, so the public, static page loads
before any authentication (the WebSocket it opens is what carries the token).
``POST /api/check`` is an ordinary route behind the app's host, origin and
authentication middlewares, like the WebSocket: browsers hide why a handshake
was refused, so the page asks there first (see :mod:`.check`).

Every HTTP answer of the app carries headers that forbid framing it (a page
on another site cannot put the terminal in an iframe and type into it) and
restrict the page to its own scripts (:data:`SECURITY_HEADERS`).
The npm files come from the wheel (``wsep_server/web/vendor``, put there by the
build hook, which runs ``npm ci``) or, in a source checkout, from
``packages/wsep-server/web/node_modules`` after ``npm ci`` there;
``WSEP_WEB_VENDOR`` names another ``node_modules`` directory.
"""

from __future__ import annotations

import html
import os
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path

from aiohttp import hdrs, web

from .check import check_handler
from .options import WebOptions

__all__ = [
    "CHECK_PATH",
    "SECURITY_HEADERS",
    "STATIC_DIR",
    "VENDOR_FILES",
    "WebAssetsMissing",
    "add_web_routes",
    "find_vendor_dir",
]

_HERE = Path(__file__).resolve().parent
STATIC_DIR = _HERE / "static"

#: URL name under /static/vendor/ -> path inside node_modules.
VENDOR_FILES: Mapping[str, str] = {
    "xterm.mjs": "@xterm/xterm/lib/xterm.mjs",
    "xterm.css": "@xterm/xterm/css/xterm.css",
    "xterm.LICENSE.txt": "@xterm/xterm/LICENSE",
    "addon-fit.mjs": "@xterm/addon-fit/lib/addon-fit.mjs",
    "addon-fit.LICENSE.txt": "@xterm/addon-fit/LICENSE",
}

_OWN_FILES = ("wsep.js", "terminal.js", "terminal.css", "sessions.js", "messages.js")
#: Pages by path: the template under static/.
_PAGES = {"/": "index.html", "/index.html": "index.html", "/sessions": "sessions.html"}
CHECK_PATH = "/api/check"

#: Sent with every HTTP response: no framing by anyone, only the server's own
#: scripts, no Referer (the address may hold a session id).
SECURITY_HEADERS: Mapping[str, str] = {
    "Content-Security-Policy": (
        "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; "
        "object-src 'none'; img-src 'self' data:; style-src 'self' 'unsafe-inline'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}

_CONTENT_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
    ".html": "text/html; charset=utf-8",
}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class WebAssetsMissing(FileNotFoundError):
    """xterm.js is not installed where the server looks for it."""


def _candidates() -> list[Path]:
    found = []
    env = os.environ.get("WSEP_WEB_VENDOR")
    if env:
        found.append(Path(env))
    found.append(_HERE / "vendor")  # an installed wheel
    found.append(_HERE.parents[2] / "web" / "node_modules")  # a source checkout
    return found


def find_vendor_dir() -> Path:
    """The first directory holding every file of :data:`VENDOR_FILES`."""
    candidates = _candidates()
    for base in candidates:
        if all((base / rel).is_file() for rel in VENDOR_FILES.values()):
            return base
    looked = ", ".join(str(c) for c in candidates)
    raise WebAssetsMissing(
        f"xterm.js not found (looked in {looked}); run `npm ci` in packages/wsep-server/web"
    )


def _render_page(name: str, wsep_path: str, options: WebOptions) -> bytes:
    template = (STATIC_DIR / name).read_text("utf-8")
    return (
        template.replace("{{WSEP_PATH}}", html.escape(wsep_path, quote=True))
        .replace("{{WEB_OPTIONS}}", html.escape(options.to_json(), quote=True))
        .encode("utf-8")
    )


async def _add_security_headers(request: web.BaseRequest, response: web.StreamResponse) -> None:
    if response.status == 101:
        return
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)


def add_web_routes(
    app: web.Application, *, wsep_path: str = "/", options: WebOptions | None = None
) -> None:
    """Serve the terminal page and its assets on ``app`` (whose endpoint is ``wsep_path``).

    Raises :class:`WebAssetsMissing` at once if xterm.js cannot be found.
    """
    options = options if options is not None else WebOptions()
    vendor = find_vendor_dir()
    files: dict[str, Path] = {f"/static/{name}": STATIC_DIR / name for name in _OWN_FILES}
    for name, rel in VENDOR_FILES.items():
        files[f"/static/vendor/{name}"] = vendor / rel
    pages = {path: _render_page(name, wsep_path, options) for path, name in _PAGES.items()}

    @web.middleware
    async def web_assets(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.method not in (hdrs.METH_GET, hdrs.METH_HEAD) or _is_upgrade(request):
            return await handler(request)
        path = request.path
        page = pages.get(path)
        if page is not None:
            return web.Response(
                body=page,
                headers={
                    hdrs.CONTENT_TYPE: _CONTENT_TYPES[".html"],
                    hdrs.CACHE_CONTROL: "no-cache",
                },
            )
        target = files.get(path)
        if target is None:
            return await handler(request)
        return web.FileResponse(
            target,
            headers={
                hdrs.CONTENT_TYPE: _CONTENT_TYPES.get(target.suffix, "application/octet-stream"),
                hdrs.CACHE_CONTROL: "no-cache",
            },
        )

    app.middlewares.insert(0, web_assets)
    app.router.add_post(CHECK_PATH, check_handler)
    app.on_response_prepare.append(_add_security_headers)


def _is_upgrade(request: web.Request) -> bool:
    return request.headers.get(hdrs.UPGRADE, "").lower() == "websocket"
