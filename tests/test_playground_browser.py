"""The playground in a real browser: Playwright (Python) driving the system's Chromium.

The browser is Debian's ``chromium`` (``.ci/run`` installs it when missing); Playwright's own
browser download is not used. The screenshots in docs/figures/playground*.png are taken here.
"""

import os
import re
import shutil
import socket
import threading
import time
from pathlib import Path

import pytest
import uvicorn
from playwright.sync_api import expect, sync_playwright

import neuronlab as nl
from neuronlab.playground.server import allowed_hosts, create_app

FIGURES = Path(__file__).resolve().parents[1] / "docs" / "figures"   # with NEURONLAB_SCREENSHOTS=1
TARGET_TEST_LOSS = 0.2   # binary cross-entropy on the circle set, reached by playing


@pytest.fixture(scope="module")
def base_url():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(create_app(allowed_hosts("127.0.0.1", port)), host="127.0.0.1", port=port,
                                        log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}/"
    srv.should_exit = True
    thread.join(5)


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    """Where the screenshots go: docs/figures with NEURONLAB_SCREENSHOTS=1 (for the README), else a temp dir."""
    return FIGURES if os.environ.get("NEURONLAB_SCREENSHOTS") else tmp_path_factory.mktemp("shots")


@pytest.fixture(scope="module")
def browser():
    chromium = shutil.which("chromium")
    assert chromium, "the browser tests need Debian's chromium: apt-get install -y chromium"
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium, args=[
            "--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])
        yield b
        b.close()


@pytest.fixture
def page(browser, base_url):
    pg = browser.new_page(viewport={"width": 1500, "height": 860})
    errors = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.goto(base_url)
    expect(pg.locator(".neuron canvas").first).to_be_visible()
    yield pg
    pg.close()
    assert not errors, errors


def loss_of(page, label) -> float:
    return float(page.get_by_label(label, exact=True).text_content())


def test_build_play_learn_the_circle_and_read_a_neuron(page, shots):
    page.get_by_role("radio", name="circle").click()
    page.get_by_role("button", name="Add hidden layer").click()
    expect(page.locator("#layer-count")).to_have_text("3 hidden layers")
    expect(page.get_by_role("button", name="Neuron 2 of layer 3", exact=True)).to_be_visible()
    page.get_by_role("button", name="Remove hidden layer").click()
    expect(page.locator("#layer-count")).to_have_text("2 hidden layers")
    page.get_by_role("button", name="Add a neuron in layer 1").click()
    expect(page.get_by_role("button", name="Neuron 5 of layer 1", exact=True)).to_be_visible()
    page.get_by_label("Learning rate η").fill("0.3")
    page.get_by_label("Learning rate η").press("Tab")
    page.get_by_label("Steps per update").select_option("30")
    page.get_by_role("button", name=re.compile("Guide's momentum")).click()
    expect(page.get_by_label("ema")).to_be_checked()
    assert page.evaluate("P.st.config.optimizer_params") == {"momentum": 0.9, "ema": True}
    start = loss_of(page, "Test loss")
    page.get_by_role("button", name="Play").click()
    page.wait_for_function(f"() => parseFloat(document.getElementById('test-loss').textContent) < {TARGET_TEST_LOSS}",
                           timeout=30_000)
    page.get_by_role("button", name="Pause").click()
    expect(page.get_by_role("button", name="Play")).to_be_visible()
    assert start > 0.6 and loss_of(page, "Test loss") < TARGET_TEST_LOSS
    page.get_by_label("Show test data").check()
    page.get_by_role("button", name="Neuron 2 of layer 1", exact=True).click()
    expect(page.locator("dd[aria-label=Z]")).to_have_text(re.compile(r"^−?-?\d"))
    shown = float(page.locator("dd[aria-label=Z]").text_content().replace("−", "-"))
    detail = page.evaluate("() => api('/api/detail', {layer: 1, neuron: 1, sample: 0})")  # the JSON API
    assert shown == pytest.approx(detail["Z"], rel=1e-3, abs=1e-4)
    expect(page.locator("#detail-equations li").first).to_contain_text("Z¹₂ = Σᵢ h⁰ᵢ W¹ᵢ₂ + b¹₂")
    page.get_by_role("button", name="Input x₂").click()
    expect(page.locator("#detail-equations li").first).to_contain_text("h⁰₂ = x₂ = ")
    page.get_by_role("img", name=re.compile("Decision boundary")).click(position={"x": 12, "y": 12})
    expect(page.get_by_label("Sample (training set)")).not_to_have_value("0")
    sample = int(page.get_by_label("Sample (training set)").input_value())
    expect(page.locator("#detail-hint")).to_contain_text(f"Sample {sample}:")
    page.screenshot(path=str(shots / "playground.png"))
    assert (shots / "playground.png").stat().st_size > 20_000


def test_keyboard_space_plays_and_arrow_steps(page):
    page.evaluate("document.activeElement.blur()")
    page.keyboard.press("ArrowRight")
    expect(page.get_by_label("Step count")).to_have_text("1")
    page.keyboard.press("Space")
    expect(page.get_by_role("button", name="Pause")).to_be_visible()
    page.keyboard.press("Space")
    expect(page.get_by_role("button", name="Play")).to_be_visible()
    page.get_by_role("button", name="Reset").click()             # focus on a button: space still plays
    expect(page.get_by_label("Step count")).to_have_text("0")
    page.keyboard.press("Space")
    expect(page.get_by_role("button", name="Pause")).to_be_visible()
    page.wait_for_function("() => P.st.step > 0")                # it trains (the reset was not clicked again)
    page.keyboard.press("Space")
    expect(page.get_by_role("button", name="Play")).to_be_visible()


def test_guide_mode_steps_through_the_guides_network(page, shots):
    page.get_by_role("button", name="Guide mode").click()
    expect(page.get_by_role("region", name="Guide mode")).to_be_visible()
    expect(page.get_by_role("button", name="Input x1")).to_be_visible()
    page.get_by_role("button", name="Next guide step").click()
    expect(page.locator("#guide-title")).to_have_text("Forward: neuron 1 of layer 1")
    z = nl.trace().layers[0].Z[0, 0]
    expect(page.locator("#guide-equations li").first).to_contain_text(f"= {z:.4g}")
    h = nl.trace().layers[0].H[0, 0]
    expect(page.get_by_role("button", name="Neuron 1 of layer 1", exact=True)).to_have_text(f"h {h:.4g}")
    for _ in range(4):
        page.get_by_role("button", name="Next guide step").click()
    expect(page.locator("#guide-title")).to_have_text("Backward: neuron 1 of layer 2")
    page.screenshot(path=str(shots / "playground-guide.png"))
    page.get_by_role("button", name="Exit guide").click()
    expect(page.get_by_role("region", name="Guide mode")).to_be_hidden()


def test_a_bad_csv_shows_its_error_on_the_page(page):
    page.get_by_label("Upload CSV (x₁, x₂, label)").set_input_files(
        files=[{"name": "bad.csv", "mimeType": "text/csv", "buffer": b"x1,x2,label\n1,2,0\n3,abc,1\n"}])
    expect(page.get_by_role("alert", name="Upload error")).to_contain_text("bad.csv: row 3, column 2")
    page.get_by_label("Upload CSV (x₁, x₂, label)").set_input_files(
        files=[{"name": "good.csv", "mimeType": "text/csv",
                "buffer": "".join(f"{i % 9},{i % 7},{i % 2}\n" for i in range(60)).encode()}])
    expect(page.get_by_role("alert", name="Upload error")).to_have_text("")
    expect(page.locator("#loss")).to_have_value("binary_crossentropy")
    page.wait_for_function("() => P.st.config.dataset === 'upload:classification'", timeout=5000)
