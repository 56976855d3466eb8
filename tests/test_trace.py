"""nl.trace: the scalar walk equals the library's vectorised step, torch's autograd, and prints the guide."""

import re

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import neuronlab as nl
from neuronlab.cli_guide import trace as trace_cmd
from neuronlab.trace import compare_with_library, guide_example, guide_network

RTOL = 1e-12


def close(a, b, rtol=RTOL):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    scale = max(np.abs(b).max(initial=0.0), 1e-300)
    return np.abs(a - b).max(initial=0.0) <= rtol * scale


def vectorised_step(model, X, y, lr, loss):
    """The library's own path: the public step (forward → loss → backward → Param.grad), then SGD.step."""
    model.compile(loss=loss, optimizer=nl.optimizers.SGD(lr=lr))
    X = np.asarray(X, dtype=np.float64)
    H = model.forward(X, training=True)
    H = [layer.H.copy() for layer in model.layers[:-1]] + [H]
    C, grads = model.loss_and_grads(X, y)
    model.optimizer.step(model.params())
    return H, C, list(grads.values()), model.get_weights()


def check_against_library(model, X, y, lr, loss):
    before = model.get_weights()
    t = nl.trace(model, X, y, lr=lr, loss=loss)
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights())), "trace modified the model"
    assert compare_with_library(t, model, X, y, loss) < RTOL
    H, C, grads, weights = vectorised_step(model, X, y, lr, loss)
    for lt, h in zip(t.layers, H):
        assert close(lt.H, h), lt.name
    assert close(t.C, C)
    for a, b in zip(t.gradients(), grads):
        assert close(a, b)
    for a, b in zip(t.new_weights(), weights):
        assert close(a, b)
    return t


def test_guide_network_default_matches_vectorised_step():
    model, X, y = guide_example()
    assert [layer.W.value.shape for layer in model.layers] == [(4, 2), (2, 1)]
    assert [layer.activation.name for layer in model.layers] == ["sigmoid", "sigmoid"]
    t = check_against_library(model, X, y, 0.5, "mse")
    assert t.loss_name == "mse" and t.lr == 0.5 and not t.fused
    # the walk's own arithmetic, spot-checked by hand from its inputs
    lt1 = t.layers[0]
    z11 = sum(lt1.X[0, i] * lt1.W[i, 0] for i in range(4)) + lt1.B[0]
    assert z11 == pytest.approx(lt1.Z[0, 0], rel=1e-15)
    assert lt1.H[0, 0] == pytest.approx(1 / (1 + np.exp(-z11)), rel=1e-15)
    out = t.layers[1]
    # hidden neuron 1 feeds the one output neuron: ∂C/∂h¹₁ = ∂C/∂Z²₁ W²₁₁
    assert lt1.dH[0, 0] == pytest.approx(out.dZ[0, 0] * out.W[0, 0], rel=1e-15)
    assert t.C == pytest.approx(float(((t.Y_pred - t.Y_true) ** 2).mean()), rel=1e-15)


CASES = [  # (widths, hidden activation, output activation, loss, n samples)
    ((4, 2, 1), "sigmoid", "sigmoid", "mse", 3),
    ((3, 5, 4, 2), "relu", "linear", "mse", 4),
    ((3, 4, 2), "tanh", "sigmoid", "binary_crossentropy", 5),  # fused sigmoid + BCE
    ((5, 3, 3), "leaky_relu", "softmax", "categorical_crossentropy", 4),  # fused softmax + CE
    ((2, 3, 3), "sigmoid", "softmax", "mse", 3),  # softmax Jacobian walked explicitly
    ((3, 3, 2), "tanh", "linear", "categorical_crossentropy", 2),  # unfused CE: ∂C/∂y_p = -y_t/(y_p n)
    ((3, 2, 2), "relu", "softmax", "binary_crossentropy", 3),  # unfused BCE
]


@pytest.mark.parametrize("widths,act,out_act,loss,n", CASES)
def test_trace_equals_vectorised_forward_backward_update(widths, act, out_act, loss, n):
    model, X, y = guide_example(widths, act, loss, out_act, seed=3, n_samples=n)
    if loss == "categorical_crossentropy" and out_act == "linear":  # keep y_p > 0 for log y_p
        model.set_weights([np.abs(w) for w in model.get_weights()])
        model.layers[-1].activation = nl.activations.get("sigmoid")
    rng = np.random.default_rng(7)
    model.set_weights([w + rng.normal(0, 0.3, w.shape) for w in model.get_weights()])  # nonzero biases
    t = check_against_library(model, X, y, 0.3, loss)
    fused_pairs = {("binary_crossentropy", "sigmoid"), ("categorical_crossentropy", "softmax")}
    assert t.fused == ((loss, model.layers[-1].activation.name) in fused_pairs)


def test_one_hot_and_integer_labels_give_the_same_trace():
    model, X, y = guide_example((3, 4, 3), "tanh", "categorical_crossentropy", seed=1, n_samples=4)
    a = nl.trace(model, X, y, lr=0.1, loss="categorical_crossentropy")
    b = nl.trace(model, X, np.eye(3)[y], lr=0.1, loss="categorical_crossentropy")
    assert a.C == b.C and all(np.array_equal(p, q) for p, q in zip(a.gradients(), b.gradients()))


def test_trace_equals_torch_autograd():
    model, X, y = guide_example((4, 3, 2), "tanh", "mse", "sigmoid", seed=2, n_samples=3)
    t = nl.trace(model, X, y, lr=0.7)
    Ws = [torch.tensor(w, dtype=torch.float64, requires_grad=True) for w in model.get_weights()]
    h = torch.tensor(X, dtype=torch.float64)
    h = torch.tanh(h @ Ws[0] + Ws[1])
    out = torch.sigmoid(h @ Ws[2] + Ws[3])
    C = ((out - torch.tensor(y, dtype=torch.float64)) ** 2).mean()
    C.backward()
    assert close(t.Y_pred, out.detach().numpy())
    assert close(t.C, C.item())
    for a, w in zip(t.gradients(), Ws):
        assert close(a, w.grad.numpy())
    opt = torch.optim.SGD(Ws, lr=0.7)
    opt.step()
    for a, w in zip(t.new_weights(), Ws):
        assert close(a, w.detach().numpy())


def test_walk_never_calls_the_vectorised_layers(monkeypatch):
    """The traced numbers come from the scalar walk: breaking the layers' code changes nothing."""
    model, X, y = guide_example()
    expected = nl.trace(model, X, y)

    def broken(*args, **kwargs):
        raise AssertionError("vectorised code called")
    for cls, names in [(nl.layers.Dense, ("forward", "backward", "predict", "forward_z", "backward_z", "predict_z")),
                       (nl.activations.Sigmoid, ("forward", "backward", "derivative"))]:
        for name in names:
            monkeypatch.setattr(cls, name, broken)
    got = nl.trace(model, X, y)
    assert got.C == expected.C
    assert all(np.array_equal(a, b) for a, b in zip(got.new_weights(), expected.new_weights()))


def test_float32_model_is_traced_in_float64_and_agrees_to_float32_precision(rng):
    model = nl.Sequential([nl.layers.Dense(3, "relu", input_dim=4), nl.layers.Dense(2, "softmax")], seed=0)
    model.compile(loss="categorical_crossentropy", optimizer=nl.optimizers.SGD(lr=0.2))
    X, y = rng.normal(size=(5, 4)), rng.integers(0, 2, 5)
    t = nl.trace(model, X, y, lr=0.2)  # loss taken from the compiled model
    assert t.loss_name == "categorical_crossentropy" and t.fused
    assert t.layers[0].W.dtype == np.float64
    model.loss_and_grads(X.astype(np.float32), y)
    for a, b in zip(t.gradients(), model.get_gradients()):
        assert close(a, b, rtol=1e-5)


def test_text_output_uses_the_guide_notation():
    text = str(nl.trace())
    for piece in ["1. Forward pass", "2. Loss", "3. Backward pass", "4. Update", "Z¹₁ = x₁×W¹₁₁ + x₂×W¹₂₁",
                  "h¹ⱼ = σ(Z¹ⱼ)", "∂C/∂h¹₁ = ∂C/∂Z²₁×W²₁₁", "∂C/∂W²ᵢⱼ = h¹ᵢ×∂C/∂Z²ⱼ", "η = 0.5",
                  "feeds every neuron j of layer 2"]:
        assert piece in text, piece
    t = nl.trace()
    # the printed loss is the traced value with 4 significant digits
    assert f"= {t.C:.4g}" in text


def test_markdown_output_has_latex():
    md = nl.trace().to_markdown()
    assert md.startswith("# One training step of a 4-2-1 network")
    for piece in [r"$$Z^{1}_{1} = x_{1} \cdot W^{1}_{11}", r"\frac{\partial C}{\partial W^{2}_{ij}} = h^{1}_{i}",
                  r"\frac{\partial C}{\partial h^{1}_{1}} = \frac{\partial C}{\partial Z^{2}_{1}} \cdot W^{2}_{11}",
                  r"W \leftarrow W - \eta", "|---|"]:
        assert piece in md, piece
    assert md.count("$") % 2 == 0


def test_wide_layers_are_abbreviated():
    model = guide_network((12, 3, 1))
    text = nl.trace(model, np.ones((1, 12)), [[1.0]]).to_text(max_terms=5)
    line = next(ln for ln in text.splitlines() if ln.startswith("  Z¹₁ ="))
    assert "… (8 more terms)" in line and "x₃×W¹₃₁" in line and "x₄" not in line and "x[12]×W¹[12,1]" in line


def test_bad_input_is_rejected_with_clear_errors():
    model, X, y = guide_example()
    with pytest.raises(ValueError, match=r"X must have shape \(n, 4\).*dense_1.*\(1, 3\)"):
        nl.trace(model, X[:, :3], y)
    with pytest.raises(ValueError, match="lr"):
        nl.trace(model, X, y, lr=0)
    with pytest.raises(ValueError, match="2 samples but y has 1"):
        nl.trace(model, np.vstack([X, X]), y)
    with pytest.raises(ValueError, match="give X and y"):
        nl.trace(model)
    drop = nl.Sequential([nl.layers.Dense(2, "sigmoid", input_dim=4), nl.layers.Dropout(0.5),
                          nl.layers.Dense(1, "sigmoid")], seed=0)
    with pytest.raises(ValueError, match="only Dense layers.*dropout_1.*Dropout"):
        nl.trace(drop, X, y)
    with pytest.raises(ValueError, match="unknown loss"):
        nl.trace(model, X, y, loss="hingey")


def test_cli_trace_text_md_and_options():
    runner = CliRunner()
    res = runner.invoke(trace_cmd, [])
    assert res.exit_code == 0, res.output
    assert "4-2-1 network" in res.output and "Check:" in res.output
    rel = float(res.output.rsplit("relative ", 1)[1].rstrip(".\n"))
    assert rel < 1e-12
    res = runner.invoke(trace_cmd, ["--layers", "3,4,3", "--activation", "relu", "--loss",
                                    "categorical_crossentropy", "--seed", "2", "--lr", "0.1", "--samples", "2",
                                    "--format", "md"])
    assert res.exit_code == 0, res.output
    assert "3-4-3 network (relu, softmax; loss categorical_crossentropy; η = 0.1; 2 samples)" in res.output
    assert r"\frac{\partial C}" in res.output
    res = runner.invoke(trace_cmd, ["--layers", "4,x"])
    assert res.exit_code != 0 and "comma-separated" in res.output


def test_neuronlab_command_registers_trace_and_demo():
    from neuronlab.cli import main

    assert main.commands["trace"] is trace_cmd and "demo" in main.commands
    res = CliRunner().invoke(main, ["trace", "--layers", "2,2,1", "--lr", "0.1"])
    assert res.exit_code == 0, res.output
    assert "2-2-1 network" in res.output


# ---- the two formats: one walk, two notations -----------------------------------------------
DECIMAL = re.compile(r"-?\d+\.\d+(?:e[+-]\d+)?|-?\d+e[+-]\d+")  # printed numbers (subscripts have no point)
WALKS = [  # (widths, hidden activation, output activation, loss, n samples)
    ((4, 2, 1), "sigmoid", "sigmoid", "mse", 1),  # the guide's example
    ((3, 4, 2), "tanh", "softmax", "categorical_crossentropy", 2),  # fused softmax + CE
    ((3, 4, 2), "relu", "sigmoid", "binary_crossentropy", 1),  # fused sigmoid + BCE
    ((2, 3, 3), "sigmoid", "softmax", "mse", 3),  # softmax Jacobian
    ((3, 3, 2), "leaky_relu", "linear", "binary_crossentropy", 2),  # unfused BCE
    ((9, 2, 1), "tanh", "linear", "mse", 2),  # sums cut to max_terms
]


def headings(text, md):
    """Headings of both formats as (level, title): text underlines ═ (title, sections) and ─ (layers)."""
    lines = text.splitlines()
    text_h = [(1 if under[0] == "═" else 2, line) for line, under in zip(lines, lines[1:])
              if line and set(under) <= {"═", "─"} and len(under) == len(line)]
    md_h = [(max(1, len(line) - len(line.lstrip("#")) - 1), line.lstrip("# ")) for line in md.splitlines()
            if line.startswith("#")]
    return text_h, md_h


@pytest.mark.parametrize("widths,act,out_act,loss,n", WALKS)
def test_text_and_markdown_walk_the_same_numbers_and_sections_in_the_same_order(widths, act, out_act, loss, n):
    model, X, y = guide_example(widths, act, loss, out_act, seed=1, n_samples=n)
    t = nl.trace(model, X, y, lr=0.25, loss=loss)
    text, md = t.to_text(digits=6, max_terms=5), t.to_markdown(digits=6, max_terms=5)
    text_nums, md_nums = DECIMAL.findall(text), DECIMAL.findall(md)
    assert text_nums == md_nums
    # each weight is printed in the forward table and as "before" of the update, each new weight as "after"
    for times, weights in [(2, [lt.W for lt in t.layers]), (1, [lt.W_new for lt in t.layers])]:
        for s in (f"{v:.6g}" for w in weights for v in w.ravel()):
            assert "." not in s or text_nums.count(s) >= times, s
    text_h, md_h = headings(text, md)
    assert [level for level, _ in text_h] == [level for level, _ in md_h]
    assert [(level, s) for level, s in md_h if "$" not in s] == [(level, s) for (level, s), (_, m) in
                                                                  zip(text_h, md_h) if "$" not in m]
    assert [s[:2] for level, s in text_h if level == 1][1:] == ["1.", "2.", "3.", "4."]
    assert text.endswith("\n") and not text.endswith("\n\n") and md.endswith("\n") and not md.endswith("\n\n")
    assert str(t) == t.to_text()


def test_the_formats_print_their_own_notation_around_the_same_numbers():
    t = nl.trace()  # one sample, one output: the mse equation is worked out in full
    p, yt, C = t.Y_pred[0, 0], t.Y_true[0, 0], t.C
    text, md = t.to_text(), t.to_markdown()
    title = "One training step of a 4-2-1 network (sigmoid; loss mse; η = 0.5; 1 sample)"
    assert text.startswith(f"{title}\n{'═' * len(title)}\nNotation: xᵢ inputs;")
    assert md.startswith(f"# {title}\n\nNotation: $x_{{i}}$ inputs;")
    assert f"\n  C = 1/(n·k) Σ (y_p − y_t)² = ({p:.4g} − {yt:.4g})² = {C:.4g}\n" in text
    assert f"\n$$C = \\frac{{1}}{{n k}} \\sum (y_p - y_t)^2 = ({p:.4g} - {yt:.4g})^2 = {C:.4g}$$\n\n" in md
    assert "\n4. Update: W ← W − η ∂C/∂W (η = 0.5)\n" in text
    assert "\n## 4. Update: $W \\leftarrow W - \\eta \\frac{\\partial C}{\\partial W}$ ($\\eta = 0.5$)\n\n" in md
    assert "  before  " in text and "  after = before − 0.5×∂C/∂·\n" in text
    assert ("|  | before | $\\partial C / \\partial \\cdot$ | "
            "$\\text{before} - 0.5 \\cdot \\partial C/\\partial \\cdot$ |") in md


def test_both_renderers_write_the_same_notation_interface():
    from neuronlab.trace import _MarkdownRenderer, _Renderer, _TextRenderer

    def own(cls):
        return {name for name, v in vars(cls).items() if not name.startswith("_")}
    assert own(_TextRenderer) == own(_MarkdownRenderer)
    assert not own(_TextRenderer) & {name for name, v in vars(_Renderer).items() if callable(v)}
    for name in ["sym", "d", "f", "fprime", "sum", "ellipsis", "square", "mean", "softmax_def", "update_heading",
                 "update_after", "math", "title", "heading", "eq", "para", "table", "times", "minus", "eta", "nk",
                 "forward_heading", "loss_formula", "dC_dyp", "param_grad"]:
        assert name in own(_TextRenderer), name
    for cls in (_TextRenderer, _MarkdownRenderer):
        assert set(cls.loss_formula) == set(cls.dC_dyp) == {"mse", "binary_crossentropy", "categorical_crossentropy"}


# ---- the guide's indexing: from 0, W's superscript the layer the weight leaves -------------------
def test_guide_indexing_names_symbols_as_the_guide():
    t = nl.trace(indexing="guide")
    text = t.to_text()
    for sym in ("x₀", "x₃", "W⁰₀₀", "W⁰₃₁", "Z¹₀", "h¹₁", "W¹₀₀", "Z²₀", "∂C/∂W⁰ᵢⱼ", "∂C/∂h¹₀"):
        assert sym in text, sym
    for sym in ("x₄", "W⁰₄", "W²", "Z¹₂"):
        assert sym not in text, sym
    assert "layer the weight leaves" in text
    plain = nl.trace().to_text()
    assert "W¹₁₁" in plain and "x₄" in plain and "x₀" not in plain and "W⁰" not in plain
    md = t.to_markdown()
    assert "W^{0}_{00}" in md and "x_{0}" in md and "W^{1}_{00}" in md


@pytest.mark.parametrize("widths, act, out_act, loss, n", WALKS)
def test_guide_indexing_prints_the_same_numbers_mapped_both_ways(widths, act, out_act, loss, n):
    model, X, y = guide_example(widths, act, loss, out_act, seed=1, n_samples=n)
    t = nl.trace(model, X, y, lr=0.3, loss=loss)
    ours, guide = t.to_text(8), t.to_text(8, indexing="guide")
    assert DECIMAL.findall(ours) == DECIMAL.findall(guide)
    assert len(ours.splitlines()) == len(guide.splitlines())

    def row(text, name):  # the update table's row of one weight: before, gradient, after
        return [line.split()[1:] for line in text.splitlines() if line.split()[:1] == [name]][-1]
    sub = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")
    sup = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")
    for K, lt in enumerate(t.layers, start=1):  # neuronlab W^K_ij is the guide's W^{K-1}_{i-1, j-1}
        d_in, d_out = lt.W.shape
        if max(d_in, d_out) > 9:
            continue
        for i in range(1, d_in + 1):
            for j in range(1, d_out + 1):
                a = "W" + str(K).translate(sup) + f"{i}{j}".translate(sub)
                b = "W" + str(K - 1).translate(sup) + f"{i - 1}{j - 1}".translate(sub)
                assert row(ours, a) == row(guide, b) == [f"{v:.8g}" if v else "0" for v in
                                                         (lt.W[i - 1, j - 1], lt.dW[i - 1, j - 1],
                                                          lt.W_new[i - 1, j - 1])]


def test_guide_indexing_from_the_cli_and_bad_values():
    res = CliRunner().invoke(trace_cmd, ["--indexing", "guide"])
    assert res.exit_code == 0, res.output
    assert "Z¹₀ = x₀×W⁰₀₀ + x₁×W⁰₁₀ + x₂×W⁰₂₀ + x₃×W⁰₃₀ + b¹₀" in res.output
    res = CliRunner().invoke(trace_cmd, ["--indexing", "pytorch"])
    assert res.exit_code != 0 and "pytorch" in res.output
    with pytest.raises(ValueError, match="indexing"):
        nl.trace(indexing="zero")
    with pytest.raises(ValueError, match="indexing"):
        nl.trace().to_text(indexing="one")


def test_trace_with_the_guides_momentum_is_the_first_step_from_v0_zero():
    model, X, y = guide_example()
    plain, mom = nl.trace(model, X, y, lr=0.5), nl.trace(model, X, y, lr=0.5, momentum=0.9)
    assert compare_with_library(mom, model, X, y) < RTOL  # SGD(momentum=0.9, ema=True) on a copy
    for lt_p, lt_m in zip(plain.layers, mom.layers):
        np.testing.assert_allclose(lt_m.dW, lt_p.dW, rtol=0, atol=0)  # same gradients...
        np.testing.assert_allclose(lt_m.W - lt_m.W_new, 0.1 * (lt_p.W - lt_p.W_new), rtol=1e-12)  # ...(1-γ) the step
    text = mom.to_text()
    assert "v₀ = 0" in text and "γ = 0.9" in text and "0.5×0.1×∂C/∂·" in text
    res = CliRunner().invoke(trace_cmd, ["--momentum", "0.9"])
    assert res.exit_code == 0 and "ema=True" in res.output, res.output
    with pytest.raises(ValueError, match="momentum"):
        nl.trace(momentum=1.0)
