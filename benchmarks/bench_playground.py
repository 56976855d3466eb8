"""Playground speed: page updates per second and training steps per second (issue: >= 20 and >= 300).

A 2-6-6-1 tanh network on 500 points (circle, 250 for training), batch K = 10, on this machine.

- training steps per second: ``Session.step`` (``Sequential.train_step`` on the next batch);
- server updates per second: ``Session.state`` (the decision boundary and every neuron's heat map by
  ``predict`` on a 40x40 grid, losses, weights, gradient norms) serialised to JSON;
- page updates per second: the real thing, measured in Chromium (when installed): the server
  (uvicorn) plays at 10, 20 (the default) and 30 steps per update and the page counts the updates it has drawn
  (network, heat maps, boundary, curves) in 5 seconds. The server sends at most 30 a second.

    OPENBLAS_NUM_THREADS=1 python benchmarks/bench_playground.py
"""

from __future__ import annotations

import json
import shutil
import socket
import threading
import time

from neuronlab.playground import Session

CONFIG = {"dataset": "circle", "n_samples": 500, "hidden": [6, 6], "activation": "tanh", "batch_size": 10}


def rate(fn, seconds: float = 2.0) -> float:
    """Calls per second of ``fn`` over about ``seconds``."""
    fn()
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        fn()
        n += 1
    return n / (time.perf_counter() - t0)


def browser_updates(seconds: float = 5.0) -> list | None:
    """``[(steps per update, page updates per second, training steps per second)]`` measured in Chromium
    while playing at 10 and at 30 steps per update (None without chromium)."""
    chromium = shutil.which("chromium")
    if chromium is None:
        return None
    import uvicorn
    from playwright.sync_api import sync_playwright

    from neuronlab.playground.server import allowed_hosts, create_app

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(allowed_hosts("127.0.0.1", port)), host="127.0.0.1",
                                           port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.02)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--headless", "--disable-gpu"])
            page = browser.new_page(viewport={"width": 1500, "height": 860})
            page.goto(f"http://127.0.0.1:{port}/")
            page.wait_for_function("() => P.st !== null")
            page.evaluate(f"() => api('/api/config', {json.dumps(CONFIG)})")
            out = []
            for speed in (10, 20, 30):
                page.evaluate(f"() => api('/api/play', {{playing: true, speed: {speed}}})")
                time.sleep(1.0)
                f0, s0 = page.evaluate("[P.frames, P.st.step]")
                t0 = time.perf_counter()
                time.sleep(seconds)
                f1, s1 = page.evaluate("[P.frames, P.st.step]")
                dt = time.perf_counter() - t0
                out.append((speed, (f1 - f0) / dt, (s1 - s0) / dt))
            browser.close()
    finally:
        server.should_exit = True
    return out


def main() -> None:
    s = Session(CONFIG)
    steps = rate(lambda: s.step(100)) * 100
    updates = rate(lambda: json.dumps(s.state(include_points=False)))
    print("2-6-6-1 tanh, 500 points (250 train), batch 10")
    print(f"training steps per second (Session.step):          {steps:,.0f}  (target >= 300)")
    print(f"server updates per second (state + JSON):          {updates:,.0f}")
    page = browser_updates()
    if page is None:
        print("page updates per second in Chromium: not measured (no chromium)")
    for speed, fps, sps in page or []:
        print(f"in Chromium, playing at {speed} steps per update:   {fps:5.1f} page updates per second (target >= 20), "
              f"{sps:,.0f} training steps per second")


if __name__ == "__main__":
    main()
