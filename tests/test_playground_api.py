"""The playground's JSON API through Starlette's TestClient, and its event stream through a real uvicorn."""

import json
import socket
import threading
import time

import httpx2 as httpx
import numpy as np
import pytest
import uvicorn
from starlette.testclient import TestClient

import neuronlab as nl
from neuronlab.playground.detail import trace_network
from neuronlab.playground.server import allowed_hosts, create_app


@pytest.fixture
def client():
    with TestClient(create_app({"testserver"}, max_sessions=3)) as c:
        yield c


def new_session(client) -> str:
    r = client.post("/api/session")
    assert r.status_code == 200, r.text
    return r.json()["session"]


def test_state_config_step_reset(client):
    sid = new_session(client)
    st = client.get(f"/api/state?session={sid}").json()
    assert st["step"] == 0 and st["network"]["widths"] == [2, 4, 2, 1] and len(st["points"]["X"]) == 500
    r = client.post(f"/api/config?session={sid}", json={"hidden": [5], "activation": "relu", "lr": 0.2})
    assert r.status_code == 200 and r.json()["network"]["widths"] == [2, 5, 1]
    r = client.post(f"/api/step?session={sid}", json={"steps": 30})
    assert r.json()["step"] == 30 and r.json()["epoch"] == pytest.approx(30 * 10 / 250)
    st = client.get(f"/api/state?session={sid}&points=0").json()
    assert "points" not in st and st["step"] == 30 and len(st["gradients"]["norms"]) == 2
    client.post(f"/api/reset?session={sid}")
    assert client.get(f"/api/state?session={sid}").json()["step"] == 0


def test_options_list_every_registered_piece(client):
    o = client.get("/api/options").json()
    assert set(o["optimizers"]) == set(nl.optimizers.names())
    assert o["optimizers"]["sgd"]["dampening"] == 0.0 and "momentum" in o["optimizers"]["rmsprop"]
    assert set(o["activations"]) == set(nl.activations.names()) - {"softmax"}
    assert set(o["initializers"]) == {"auto", *nl.initializers.names()}


def test_bad_requests_get_one_clear_error(client):
    sid = new_session(client)
    r = client.post(f"/api/config?session={sid}", json={"hidden": [0]})
    assert r.status_code == 400 and r.json() == {"error": "playground: hidden[0] must be an integer >= 1 and <= 8, "
                                                          "got 0"}
    r = client.post(f"/api/config?session={sid}", content=b"{not json")
    assert r.status_code == 400 and "not JSON" in r.json()["error"]
    r = client.post("/api/step?session=nope", json={})
    assert r.status_code == 404 and "reload the page" in r.json()["error"]


def test_detail_through_the_api_equals_nl_trace(client):
    sid = new_session(client)
    client.post(f"/api/config?session={sid}", json={"hidden": [3], "lr": 0.5})
    client.post(f"/api/step?session={sid}", json={"steps": 25})
    d = client.post(f"/api/detail?session={sid}", json={"layer": 1, "neuron": 2, "sample": 4}).json()
    sess = client.app.app.state.sessions[sid]
    t = nl.trace(trace_network(sess.model), sess.F_train[4:5], sess.y_train[4:5], lr=0.5)
    lt = t.layers[0]
    assert d["Z"] == lt.Z[0, 2] and d["dC_dZ"] == lt.dZ[0, 2] and d["dC_dW"] == lt.dW[:, 2].tolist()
    assert d["W_new"] == lt.W_new[:, 2].tolist() and d["b_new"] == lt.B_new[2]


def test_guide_mode_walks_the_guides_network(client):
    sid = new_session(client)
    g = client.post(f"/api/guide?session={sid}", json={"action": "start"}).json()
    assert g["widths"] == [4, 2, 1] and g["step"]["phase"] == "input"
    g = client.post(f"/api/guide?session={sid}", json={"action": "next"}).json()
    t = nl.trace()
    assert g["step"]["phase"] == "forward" and g["step"]["equations"][0].endswith(f"{t.layers[0].Z[0, 0]:.4g}")
    assert client.get(f"/api/state?session={sid}").json()["guide"]["index"] == 1
    r = client.post(f"/api/guide?session={sid}", json={"action": "sideways"})
    assert r.status_code == 400 and "guide action" in r.json()["error"]


def test_upload_errors_and_success(client):
    sid = new_session(client)
    r = client.post(f"/api/upload?session={sid}&filename=bad.csv", content=b"x1,x2,label\n1,2,0\n3,abc,1\n")
    assert r.status_code == 400 and r.json()["error"].startswith("bad.csv: row 3, column 2")
    assert "/tmp" not in r.json()["error"]
    r = client.post(f"/api/upload?session={sid}&filename=big.csv", content=b"1,2,0\n" * 300_000)
    assert r.status_code == 413 and "at most 1,000,000" in r.json()["error"]
    rows = "".join(f"{i},{(i * 7) % 5},{i % 2}\n" for i in range(40)).encode()
    r = client.post(f"/api/upload?session={sid}&filename=ok.csv", content=rows)
    assert r.status_code == 200 and r.json() == {"dataset": "upload:classification", "n_samples": 40}


def test_downloads(client, tmp_path):
    sid = new_session(client)
    client.post(f"/api/step?session={sid}", json={"steps": 3})
    r = client.get(f"/api/model?session={sid}")
    assert r.status_code == 200 and "playground.safetensors" in r.headers["content-disposition"]
    (tmp_path / "m.safetensors").write_bytes(r.content)
    model = nl.load_model(tmp_path / "m.safetensors")
    sess = client.app.app.state.sessions[sid]
    np.testing.assert_array_equal(model.get_weights()[0], sess.model.get_weights()[0])
    code = client.get(f"/api/code?session={sid}").text
    assert "nl.Sequential([" in code and "train(3, K=10)" in code


def test_host_and_origin_are_checked(client):
    assert client.get("/api/options", headers={"Host": "evil.example"}).status_code == 403
    r = client.post("/api/session", headers={"Origin": "http://evil.example"})
    assert r.status_code == 403 and "DNS rebinding" in r.json()["error"]
    assert client.post("/api/session", headers={"Origin": "null"}).status_code == 403   # sandboxed frames
    assert client.post("/api/session", headers={"Origin": "https://testserver"}).status_code == 403
    assert client.post("/api/session", headers={"Origin": "http://testserver"}).status_code == 200
    assert allowed_hosts("127.0.0.1", 8000) == {"127.0.0.1:8000", "localhost:8000", "[::1]:8000"}
    assert allowed_hosts("192.168.1.5", 80) == {"192.168.1.5:80"}


def test_session_cap_has_a_clear_message(client):
    for _ in range(3):
        new_session(client)
    r = client.post("/api/session")
    assert r.status_code == 503 and "3 open sessions, its limit" in r.json()["error"]


def test_sessions_without_a_stream_expire_when_idle(client, monkeypatch):
    import neuronlab.playground.server as server

    old = [new_session(client) for _ in range(3)]
    monkeypatch.setattr(server, "IDLE_S", -1.0)      # every session without an event stream is idle
    sid = new_session(client)
    assert sid not in old and set(client.app.app.state.sessions) == {sid}


def test_request_bodies_are_capped(client):
    sid = new_session(client)
    r = client.post(f"/api/config?session={sid}", content=b'{"seed": 1' + b" " * 200_000 + b"}")
    assert r.status_code == 400 and "at most 100,000" in r.json()["error"]


def test_page_and_static_files_carry_no_external_reference(client):
    page = client.get("/")
    assert page.status_code == 200 and "default-src 'self'" in page.headers["content-security-policy"]
    for path in ("/", "/static/app.js", "/static/style.css"):
        text = client.get(path).text
        assert "http://" not in text.replace("http://www.w3.org/2000/svg", "") and "https://" not in text


# -- the event stream and the play loop, on a real server -------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server():
    port = _free_port()
    app = create_app(allowed_hosts("127.0.0.1", port), max_sessions=4)
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}", app.app
    srv.should_exit = True
    thread.join(5)


def test_event_stream_plays_and_a_closed_stream_stops_the_loop(server):
    base, app = server
    with httpx.Client(base_url=base, timeout=10) as http:
        sid = http.post("/api/session").json()["session"]
        sess = app.state.sessions[sid]
        states = []
        with http.stream("GET", f"/api/events?session={sid}") as stream:
            http.post(f"/api/play?session={sid}", json={"playing": True, "speed": 10})
            for line in stream.iter_lines():
                if line.startswith("data: "):
                    states.append(json.loads(line[6:]))
                if len(states) >= 6:
                    break
        assert states[0]["points"] and "points" not in states[-1]
        assert states[-1]["step"] > states[1]["step"] and states[-1]["playing"]
        deadline = time.monotonic() + 5
        while sid in app.state.sessions and time.monotonic() < deadline:
            time.sleep(0.02)
        assert sid not in app.state.sessions      # the tab closed: loop stopped, session dropped
        steps = sess.steps
        time.sleep(0.2)
        assert not sess.playing and sess.steps == steps
        r = http.post(f"/api/step?session={sid}", json={})
        assert r.status_code == 404


def test_cli_prints_the_url_and_warns_for_another_host(monkeypatch):
    from click.testing import CliRunner

    from neuronlab.cli import main

    calls = []
    monkeypatch.setattr(uvicorn.Server, "run",
                        lambda self, sockets=None: calls.append((self.config.app, sockets[0].getsockname()[1])))
    opened = []
    monkeypatch.setattr("webbrowser.open", lambda url: opened.append(url))
    port = _free_port()
    r = CliRunner().invoke(main, ["playground", "--no-browser", "--port", str(port)])
    assert r.exit_code == 0, r.output
    assert f"http://127.0.0.1:{port}/" in r.output and "warning" not in r.output
    app, bound = calls[-1]
    assert app.hosts == allowed_hosts("127.0.0.1", port) and bound == port
    r = CliRunner().invoke(main, ["playground", "--no-browser", "--host", "0.0.0.0", "--port", "0"])
    assert "warning: listening on 0.0.0.0, not 127.0.0.1" in r.output
    assert any(h.startswith("127.0.0.1:") for h in calls[-1][0].hosts)
    assert not opened


def test_cli_says_when_the_port_is_taken():
    from click.testing import CliRunner

    from neuronlab.cli import main

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        r = CliRunner().invoke(main, ["playground", "--no-browser", "--port", str(port)])
    assert r.exit_code == 1 and "http://" not in r.output
    assert f"cannot listen on 127.0.0.1:{port}" in r.output and "choose another --port" in r.output
