"""The playground's web server: a Starlette app (JSON API + server-sent events + the static page).

Every API call names its session (``?session=<id>``, from ``POST /api/session``). One tab,
one session; at most ``max_sessions`` at once, past which ``POST /api/session`` answers 503
with a message the page shows. The event stream ``GET /api/events`` runs the session's play
loop; when the tab closes the stream ends, the loop stops and the session is dropped.
Requests whose Host or Origin is not this server's are refused (DNS rebinding).
"""

from __future__ import annotations

import asyncio
import json
import secrets
import socket
import time
from importlib import resources

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from .. import activations as _activations
from .. import initializers as _initializers
from .. import optimizers as _optimizers
from ..core import NeuronlabError
from ..validation import Boolean, Integer, Options, check
from . import datasets as _data
from .config import DEFAULTS, LOSSES, MAX_LAYERS, MAX_NEURONS, optimizer_params
from .session import Session

__all__ = ["create_app", "serve", "allowed_hosts"]

FRAME_S = 1 / 30          # the play loop's page updates: at most 30 a second
IDLE_S = 600              # a session without an event stream is dropped after 10 idle minutes
_SPEEDS = (1, 2, 5, 10, 20, 30, 100)


def allowed_hosts(host: str, port: int | None) -> set[str]:
    """The Host header values this server answers to: its own address (and localhost) with the port."""
    names = {host, "127.0.0.1", "localhost", "[::1]"} if host in ("127.0.0.1", "localhost", "::1") else {host}
    names = {f"[{n}]" if ":" in n and not n.startswith("[") else n for n in names}
    return {f"{n}:{port}" for n in names} if port else names


class HostOriginGuard:
    """ASGI middleware: 403 unless Host is one of ``hosts`` and Origin (when sent) is ``http://<host>``."""

    def __init__(self, app, hosts: set[str]):
        self.app, self.hosts = app, hosts

    async def __call__(self, scope, receive, send):
        if scope["type"] in ("http", "websocket"):
            headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
            host, origin = headers.get("host", ""), headers.get("origin")
            bad = None
            if host not in self.hosts:
                bad = f"Host {host[:100]!r} is not this server's"
            elif origin is not None and origin not in {f"http://{h}" for h in self.hosts}:  # "null" included
                bad = f"Origin {origin[:100]!r} is not this server's"
            if bad:
                response = JSONResponse({"error": f"refused: {bad} (DNS rebinding protection)"}, status_code=403)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _error(message: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _api(handler):
    """One error shape for every endpoint: {"error": message} with 400/404/413, never a traceback."""
    async def endpoint(request: Request):
        try:
            return await handler(request)
        except LookupError as e:
            return _error(str(e.args[0]), 404)
        except (ValueError, NeuronlabError) as e:
            return _error(str(e), 400)
    return endpoint


async def _read_body(request: Request, cap: int, name: str) -> bytes:
    """The request body, refused (ValueError) past ``cap`` bytes, by Content-Length and while reading."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > cap:
        raise OverflowError(f"{name}: {int(declared):,} bytes; the playground takes at most {cap:,}")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > cap:
            raise OverflowError(f"{name}: over {cap:,} bytes, the playground's limit")
        chunks.append(chunk)
    return b"".join(chunks)


class _Playground:
    """The sessions of one server and the endpoints that act on them (each an ``async def (request)``)."""

    def __init__(self, max_sessions: int):
        self.sessions: dict[str, Session] = {}
        self.streams: dict[str, int] = {}      # open event streams per session
        self.max_sessions = max_sessions

    # -- helpers ------------------------------------------------------------------------------
    def prune(self) -> None:
        """Drop sessions with no event stream that were not used for IDLE_S seconds (scripts that left)."""
        now = time.monotonic()
        idle = [s for s, sess in self.sessions.items() if not self.streams.get(s) and now - sess.last_used > IDLE_S]
        for sid in idle:
            self.sessions.pop(sid, None)

    def session_of(self, request: Request) -> Session:
        sess = self.sessions.get(request.query_params.get("session", ""))
        if sess is None:
            raise LookupError("this session is closed or unknown (the server restarted?): reload the page")
        return sess

    @staticmethod
    async def body_json(request: Request) -> dict:
        try:
            raw = await _read_body(request, 100_000, "the request body")
        except OverflowError as e:
            raise ValueError(f"playground: {e}") from None
        try:
            data = json.loads(raw or b"{}")
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise ValueError(f"playground: the request body is not JSON ({getattr(e, 'msg', e)})") from None
        if not isinstance(data, dict):
            raise ValueError("playground: the request body must be a JSON object")
        return data

    # -- endpoints ----------------------------------------------------------------------------
    async def new_session(self, request: Request):
        self.prune()
        if len(self.sessions) >= self.max_sessions:
            return _error(f"The playground already has {len(self.sessions)} open sessions, its limit: close another "
                          f"tab (or start the server with a larger --max-sessions) and reload.", 503)
        sid = secrets.token_urlsafe(12)
        self.sessions[sid] = await run_in_threadpool(Session)
        return JSONResponse({"session": sid, "max_sessions": self.max_sessions})

    async def close_session(self, request: Request):
        self.sessions.pop(request.query_params.get("session", ""), None)
        return JSONResponse({"closed": True})

    async def options(self, request: Request):
        return JSONResponse({
            "datasets": {"classification": list(_data.CLASSIFICATION), "regression": list(_data.REGRESSION)},
            "features": {k: v[0] for k, v in _data.FEATURES.items()}, "losses": LOSSES,
            "activations": [a for a in _activations.names() if a != "softmax"],
            "initializers": ["auto", *_initializers.names()],
            "optimizers": {n: optimizer_params(n) for n in _optimizers.names()},
            "defaults": DEFAULTS, "max_layers": MAX_LAYERS, "max_neurons": MAX_NEURONS, "speeds": list(_SPEEDS),
            "max_upload_bytes": _data.MAX_UPLOAD_BYTES})

    async def state(self, request: Request):
        sess = self.session_of(request)
        points = request.query_params.get("points", "1") != "0"
        return JSONResponse(await run_in_threadpool(sess.state, points))

    async def config(self, request: Request):
        sess, change = self.session_of(request), await self.body_json(request)
        await run_in_threadpool(sess.configure, change)
        return JSONResponse(await run_in_threadpool(sess.state))

    async def step(self, request: Request):
        sess, body = self.session_of(request), await self.body_json(request)
        n = check("playground", "steps", body.get("steps", 1), Integer(low=1, high=10_000))
        return JSONResponse(await run_in_threadpool(sess.step, n))

    async def reset(self, request: Request):
        await run_in_threadpool(self.session_of(request).reset)
        return JSONResponse({"step": 0})

    async def play(self, request: Request):
        sess, body = self.session_of(request), await self.body_json(request)
        with sess.lock:
            if "playing" in body:
                sess.playing = check("playground", "playing", body["playing"], Boolean())
            if "speed" in body:
                sess.speed = check("playground", "speed", body["speed"], Options(*_SPEEDS))
            sess.guide = None if sess.playing else sess.guide
            sess.version += 1
        return JSONResponse({"playing": sess.playing, "speed": sess.speed})

    async def detail(self, request: Request):
        sess, body = self.session_of(request), await self.body_json(request)
        return JSONResponse(await run_in_threadpool(sess.detail, body.get("layer"), body.get("neuron"),
                                                    body.get("source"), body.get("sample")))

    async def guide(self, request: Request):
        sess, body = self.session_of(request), await self.body_json(request)
        action = body.get("action", "start")
        out = await run_in_threadpool(sess.start_guide if action == "start" else lambda: sess.guide_move(action))
        return JSONResponse(out)

    async def upload(self, request: Request):
        sess = self.session_of(request)
        name = "".join(c for c in request.query_params.get("filename", "upload.csv")[:80] if c.isprintable())
        try:
            data = await _read_body(request, _data.MAX_UPLOAD_BYTES, name)
        except OverflowError as e:
            return _error(f"{e} (the file is too large)", 413)
        await run_in_threadpool(sess.set_upload, data, name)
        return JSONResponse({"dataset": sess.config["dataset"], "n_samples": len(sess.X)})

    async def model_file(self, request: Request):
        data = await run_in_threadpool(self.session_of(request).model_bytes)
        return Response(data, media_type="application/octet-stream",
                        headers={"Content-Disposition": 'attachment; filename="playground.safetensors"'})

    async def code(self, request: Request):
        return PlainTextResponse(self.session_of(request).python_code(), media_type="text/x-python",
                                 headers={"Content-Disposition": 'attachment; filename="playground_run.py"'})

    async def events(self, request: Request):
        sid, sess = request.query_params.get("session", ""), self.session_of(request)
        return StreamingResponse(_event_stream(sid, sess, self.sessions, self.streams),
                                 media_type="text/event-stream", headers={"Cache-Control": "no-store"})

    async def index(self, request: Request):
        page = resources.files(__package__).joinpath("static/index.html").read_text(encoding="utf-8")
        return Response(page, media_type="text/html", headers=_PAGE_HEADERS)


def create_app(hosts=("127.0.0.1:8000", "localhost:8000"), max_sessions: int = 8):
    """The ASGI app. ``hosts``: accepted Host headers (see :func:`allowed_hosts`); ``max_sessions`` per server.

    The Starlette app is ``create_app(...).app``; its ``state.sessions`` maps session ids to
    :class:`~neuronlab.playground.session.Session`.
    """
    pg = _Playground(max_sessions)
    get = [("/api/options", pg.options), ("/api/state", pg.state), ("/api/model", pg.model_file),
           ("/api/code", pg.code), ("/api/events", pg.events)]
    post = [("/api/session", pg.new_session), ("/api/close", pg.close_session), ("/api/config", pg.config),
            ("/api/step", pg.step), ("/api/reset", pg.reset), ("/api/play", pg.play), ("/api/detail", pg.detail),
            ("/api/guide", pg.guide), ("/api/upload", pg.upload)]
    routes = [Route("/", pg.index)] + [Route(path, _api(fn)) for path, fn in get]
    routes += [Route(path, _api(fn), methods=["POST"]) for path, fn in post]
    routes.append(Mount("/static", StaticFiles(directory=str(resources.files(__package__).joinpath("static")))))
    app = Starlette(routes=routes)
    app.state.sessions, app.state.streams = pg.sessions, pg.streams
    return HostOriginGuard(app, set(hosts))


_PAGE_HEADERS = {"Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'",
                 "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}


async def _event_stream(sid: str, sess: Session, sessions: dict, streams: dict):
    """Server-sent events: the session's state after every change, and the play loop while playing.

    The loop lives in this generator, so a closed tab (the stream cancelled) stops it; the
    session is dropped when its last stream ends.
    """
    streams[sid] = streams.get(sid, 0) + 1
    sent_version, sent_data, last_beat = -1, -1, time.monotonic()
    try:
        while sid in sessions:
            t0 = time.monotonic()
            if sess.playing:
                await run_in_threadpool(sess.step, sess.speed)
            if sess.version != sent_version:
                sent_version = sess.version
                st = await run_in_threadpool(sess.state, sess.data_version != sent_data)
                sent_data = sess.data_version
                yield f"data: {json.dumps(st, separators=(',', ':'))}\n\n"
                last_beat = time.monotonic()
            elif time.monotonic() - last_beat > 15:
                yield ": keep-alive\n\n"
                last_beat = time.monotonic()
            await asyncio.sleep(max(FRAME_S - (time.monotonic() - t0), 0.005))
    finally:
        sess.playing = False
        streams[sid] -= 1
        if not streams[sid]:
            streams.pop(sid, None)
            sessions.pop(sid, None)


def _listen(host: str, port: int) -> socket.socket:
    """A socket bound to (host, port) before anything is printed; port 0 picks a free one."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        raise OSError(f"playground: cannot listen on {host}:{port} ({e.strerror or e}); choose another --port "
                      f"(0 picks a free one)") from None
    return sock


def serve(host: str = "127.0.0.1", port: int = 8000, open_browser: bool = True, max_sessions: int = 8,
          echo=print) -> None:
    """Run the playground with uvicorn until Ctrl-C; print the URL and open it unless ``open_browser`` is False.

    Raises OSError (one line) when the address cannot be used, before printing a URL.
    """
    import uvicorn

    sock = _listen(host, port)
    port = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else shown}:{port}/"
    if host not in ("127.0.0.1", "localhost", "::1"):
        echo(f"warning: listening on {host}, not 127.0.0.1: anyone who can reach this machine on port {port} "
             f"can use the playground (and its CPU)")
    hosts = allowed_hosts(host, port)
    if host in ("0.0.0.0", "::"):
        hosts |= allowed_hosts("127.0.0.1", port)
    app = create_app(hosts, max_sessions)
    echo(f"neuronlab playground: {url}  (Ctrl-C stops it)")
    if open_browser:
        import threading
        import webbrowser

        threading.Timer(1.0, webbrowser.open, args=(url,)).start()
    try:
        uvicorn.Server(uvicorn.Config(app, log_level="warning")).run(sockets=[sock])
    finally:
        sock.close()
