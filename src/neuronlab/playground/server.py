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
_SPEEDS = (1, 2, 5, 10, 30, 100)


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
            elif origin is not None and origin != "null" and origin not in {f"http://{h}" for h in self.hosts}:
                bad = f"Origin {origin[:100]!r} is not this server's"
            if bad:
                response = JSONResponse({"error": f"refused: {bad} (DNS rebinding protection)"}, status_code=403)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _error(message: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def create_app(hosts=("127.0.0.1:8000", "localhost:8000"), max_sessions: int = 8):
    """The ASGI app. ``hosts``: accepted Host headers (see :func:`allowed_hosts`); ``max_sessions`` per server."""
    sessions: dict[str, Session] = {}
    streams: dict[str, int] = {}

    def prune() -> None:
        now = time.monotonic()
        for sid in [s for s, sess in sessions.items() if not streams.get(s) and now - sess.last_used > IDLE_S]:
            sessions.pop(sid, None)

    def session_of(request: Request) -> Session:
        sess = sessions.get(request.query_params.get("session", ""))
        if sess is None:
            raise LookupError("this session is closed or unknown (the server restarted?): reload the page")
        return sess

    async def body_json(request: Request) -> dict:
        raw = await request.body()
        if len(raw) > 100_000:
            raise ValueError("playground: the request body is over 100 kB")
        try:
            data = json.loads(raw or b"{}")
        except json.JSONDecodeError as e:
            raise ValueError(f"playground: the request body is not JSON ({e.msg} at character {e.pos})") from None
        if not isinstance(data, dict):
            raise ValueError("playground: the request body must be a JSON object")
        return data

    def api(handler):
        """One error shape for every endpoint: {"error": message} with 400/404/413/503, never a traceback."""
        async def endpoint(request: Request):
            try:
                return await handler(request)
            except LookupError as e:
                return _error(str(e.args[0]), 404)
            except (ValueError, NeuronlabError) as e:
                return _error(str(e), 400)
        return endpoint

    async def new_session(request: Request):
        prune()
        if len(sessions) >= max_sessions:
            return _error(f"The playground already has {len(sessions)} open sessions, its limit: close another "
                          f"tab (or start the server with a larger --max-sessions) and reload.", 503)
        sid = secrets.token_urlsafe(12)
        sessions[sid] = await run_in_threadpool(Session)
        return JSONResponse({"session": sid, "max_sessions": max_sessions})

    async def close_session(request: Request):
        sessions.pop(request.query_params.get("session", ""), None)
        return JSONResponse({"closed": True})

    async def options(request: Request):
        return JSONResponse({
            "datasets": {"classification": list(_data.CLASSIFICATION), "regression": list(_data.REGRESSION)},
            "features": {k: v[0] for k, v in _data.FEATURES.items()}, "losses": LOSSES,
            "activations": [a for a in _activations.names() if a != "softmax"],
            "initializers": ["auto", *_initializers.names()],
            "optimizers": {n: optimizer_params(n) for n in _optimizers.names()},
            "defaults": DEFAULTS, "max_layers": MAX_LAYERS, "max_neurons": MAX_NEURONS, "speeds": list(_SPEEDS),
            "max_upload_bytes": _data.MAX_UPLOAD_BYTES})

    async def state(request: Request):
        sess = session_of(request)
        points = request.query_params.get("points", "1") != "0"
        return JSONResponse(await run_in_threadpool(sess.state, points))

    async def config(request: Request):
        sess, change = session_of(request), await body_json(request)
        await run_in_threadpool(sess.configure, change)
        return JSONResponse(await run_in_threadpool(sess.state))

    async def step(request: Request):
        sess, body = session_of(request), await body_json(request)
        n = check("playground", "steps", body.get("steps", 1), Integer(low=1, high=10_000))
        out = await run_in_threadpool(sess.step, n)
        return JSONResponse(out)

    async def reset(request: Request):
        sess = session_of(request)
        await run_in_threadpool(sess.reset)
        return JSONResponse({"step": 0})

    async def play(request: Request):
        sess, body = session_of(request), await body_json(request)
        with sess.lock:
            if "playing" in body:
                sess.playing = check("playground", "playing", body["playing"], Boolean())
            if "speed" in body:
                sess.speed = check("playground", "speed", body["speed"], Options(*_SPEEDS))
            sess.guide = None if sess.playing else sess.guide
            sess.version += 1
        return JSONResponse({"playing": sess.playing, "speed": sess.speed})

    async def detail(request: Request):
        sess, body = session_of(request), await body_json(request)
        out = await run_in_threadpool(sess.detail, body.get("layer"), body.get("neuron"), body.get("source"),
                                      body.get("sample"))
        return JSONResponse(out)

    async def guide(request: Request):
        sess, body = session_of(request), await body_json(request)
        action = body.get("action", "start")
        out = await run_in_threadpool(sess.start_guide if action == "start" else lambda: sess.guide_move(action))
        return JSONResponse(out)

    async def upload(request: Request):
        sess = session_of(request)
        name = request.query_params.get("filename", "upload.csv")
        declared = request.headers.get("content-length")
        cap = _data.MAX_UPLOAD_BYTES
        if declared is not None and declared.isdigit() and int(declared) > cap:
            return _error(f"{name[:80]}: the file is {int(declared):,} bytes; the playground takes at most "
                          f"{cap:,}", 413)
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > cap:
                return _error(f"{name[:80]}: the file is over {cap:,} bytes, the playground's limit", 413)
            chunks.append(chunk)
        await run_in_threadpool(sess.set_upload, b"".join(chunks), name)
        return JSONResponse({"dataset": sess.config["dataset"], "n_samples": len(sess.X)})

    async def model_file(request: Request):
        sess = session_of(request)
        data = await run_in_threadpool(sess.model_bytes)
        return Response(data, media_type="application/octet-stream",
                        headers={"Content-Disposition": 'attachment; filename="playground.safetensors"'})

    async def code(request: Request):
        sess = session_of(request)
        return PlainTextResponse(sess.python_code(), media_type="text/x-python",
                                 headers={"Content-Disposition": 'attachment; filename="playground_run.py"'})

    async def events(request: Request):
        sid = request.query_params.get("session", "")
        sess = session_of(request)
        return StreamingResponse(_event_stream(sid, sess, sessions, streams), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    async def index(request: Request):
        page = resources.files(__package__).joinpath("static/index.html").read_text(encoding="utf-8")
        return Response(page, media_type="text/html", headers=_PAGE_HEADERS)

    routes = [Route("/", index), Route("/api/options", api(options)),
              Route("/api/session", api(new_session), methods=["POST"]),
              Route("/api/close", api(close_session), methods=["POST"]),
              Route("/api/state", api(state)), Route("/api/config", api(config), methods=["POST"]),
              Route("/api/step", api(step), methods=["POST"]), Route("/api/reset", api(reset), methods=["POST"]),
              Route("/api/play", api(play), methods=["POST"]), Route("/api/detail", api(detail), methods=["POST"]),
              Route("/api/guide", api(guide), methods=["POST"]), Route("/api/upload", api(upload), methods=["POST"]),
              Route("/api/model", api(model_file)), Route("/api/code", api(code)),
              Route("/api/events", api(events)),
              Mount("/static", StaticFiles(directory=str(resources.files(__package__).joinpath("static"))))]
    app = Starlette(routes=routes)
    app.state.sessions, app.state.streams = sessions, streams
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


def serve(host: str = "127.0.0.1", port: int = 8000, open_browser: bool = True, max_sessions: int = 8,
          echo=print) -> None:
    """Run the playground with uvicorn until Ctrl-C; print the URL and open it unless ``open_browser`` is False."""
    import uvicorn

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
    uvicorn.run(app, host=host, port=port, log_level="warning")
