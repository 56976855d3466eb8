"""docs/guide.md: every demo topic has its section, every figure exists, and the numbers quoted
are the ones in the JSON written next to the figures by the command on the page."""

import json
import os
import re

import pytest

import neuronlab as nl

DOCS = os.path.join(os.path.dirname(__file__), os.pardir, "docs")
GUIDE = open(os.path.join(DOCS, "guide.md"), encoding="utf-8").read()


def numbers(topic):
    with open(os.path.join(DOCS, "figures", f"{topic}.json"), encoding="utf-8") as f:
        return json.load(f)


def section(topic):
    """The text of the section whose heading names `neuronlab demo TOPIC`."""
    m = re.search(rf"^## [^\n]*`neuronlab demo {re.escape(topic)}`.*?(?=^## |\Z)", GUIDE, re.S | re.M)
    assert m, f"no section for neuronlab demo {topic}"
    return m.group(0)


def g(v, digits=3):
    return f"{float(v):.{digits}g}"


def test_every_topic_has_a_section_and_every_figure_exists():
    for topic in nl.demos.names():
        section(topic)
    for path in re.findall(r"\]\((figures/[^)]+)\)", GUIDE):
        assert os.path.exists(os.path.join(DOCS, path)), path
    for box in ("MSE", "an epoch", "SGD updates", "dropout, SGD and mini-batches", "ε inside the root",
                "momentum removes the noise", "x₀"):
        assert re.search(rf"\*\*The guide says\*\*[^\n]*{re.escape(box)}", GUIDE), box
    assert GUIDE.count("**The guide says**") == GUIDE.count("**In fact**") >= 9


@pytest.mark.parametrize("topic, quoted", [
    ("momentum", lambda d: [g(d["series"]["γ = 0.9"]["rms_error"]),
                            g(d["runs"]["mini-batch SGD"]["mean_cos_consecutive"]),
                            g(d["runs"]["guide momentum γ = 0.9"]["mean_cos_consecutive"])]),
    ("adagrad", lambda d: [g(d["runs"]["Adagrad (η = 0.1)"]["last"]["w₁ (frequent x₁)"]),
                           g(d["eps_placement"]["inside_root"], 1), g(d["eps_placement"]["outside_root"], 2)]),
    ("small-lr", lambda d: [g(d["runs"]["η = 0.001"]["median_ratio"][0], 2),
                            f"{100 * d['runs']['η = 0.001']['loss_drop']:.1f} %"]),
    ("dropout-masks", lambda d: [f"{d['kept_fraction'][0]:.2f} / {d['kept_fraction'][1]:.2f}"]),
    ("init", lambda d: [g(d["results"]["tanh"]["he_normal"]["forward_ratio"], 2),
                        f"{100 * d['results']['tanh']['he_normal']['max_saturation']:.1f} %",
                        f"{100 * d['results']['tanh']['xavier_normal']['max_saturation']:.1f} %"]),
    ("batch", lambda d: [f"{100 * d['runs']['SGD (K = 1)']['up_fraction']:.0f} %",
                         f"{100 * d['runs']['mini-batch (K = 32)']['up_fraction']:.0f} %"]),
    ("memory", lambda d: [g(d["runs"]["lstm"]["100"]["final_mse"]), g(d["runs"]["rnn"]["100"]["final_mse"]),
                          f"{d['runs']['lstm']['200']['solved_at']} "]),
    ("filters", lambda d: [f"{d['roughness_change']:.2f}", f"{d['relative_change']:.2f}"]),
    ("rl", lambda d: [str(d["episodes"]), f"{d['eval_mean']:.1f}", f"{d['random_mean']:.1f}"]),
])
def test_quoted_numbers_are_the_commands_numbers(topic, quoted):
    text = section(topic)
    for s in quoted(numbers(topic)):
        assert s in text, f"{topic}: {s} not in its section"


def test_the_committed_runs_show_the_claims():
    rl = numbers("rl")
    assert rl["solved"] and rl["eval_mean"] >= 475 and len(rl["evaluation"]) == 100
    init = numbers("init")
    assert init["best"]["tanh"].startswith("xavier") and init["best"]["relu"].startswith("he")
    assert not init["best_is_level"]["sigmoid"]
    mom = numbers("momentum")["runs"]
    assert mom["mini-batch SGD"]["mean_cos_consecutive"] < 0 < mom["guide momentum γ = 0.9"]["mean_cos_consecutive"]
