"""PyTorch exchange: to_torch computes what model.predict computes (1e-6 in float32, 1e-12 in
float64), from_torch reads a PyTorch network written by hand, and the round trip is exact.

Parametrized over ``nl.layers.registry`` and ``nl.activations`` so that nothing new skips it.
"""

import numpy as np
import pytest
import torch

import neuronlab as nl
from interop_cases import EXAMPLES, Doubler, examples
from neuronlab.interop import ExportError, from_torch, to_torch
from neuronlab.interop.torch import TO_TORCH, flatten_permutation, torch_classes
from neuronlab.layers.recurrent import LegacyFlattenTime

L = nl.layers
TOL = {"float32": 1e-6, "float64": 1e-12}


def torch_input(X):
    """What the PyTorch network takes: NCHW images, long tokens, else X."""
    if X.ndim == 4:
        return torch.from_numpy(L.to_nchw(X))
    return torch.from_numpy(np.ascontiguousarray(X))


def torch_shape(model):
    """One sample as PyTorch sees it: (C, H, W) for images."""
    s = model.input_shape
    return (s[2], s[0], s[1]) if len(s) == 3 else s


def run(module, X):
    """The module's output, with images back in NHWC."""
    with torch.no_grad():
        out = module(torch_input(X)).numpy()
    return L.to_nhwc(out) if out.ndim == 4 else out


def test_every_registered_layer_family_has_a_converter():
    names = L.registry.names()
    assert set(names) <= set(EXAMPLES)
    assert {L.registry.lookup(n) for n in names} <= set(TO_TORCH)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", L.registry.names())
def test_to_torch_equals_predict_and_the_round_trip_is_exact(name, dtype):
    for case, model, X in examples(name, dtype):
        module = to_torch(model)
        assert not module.training
        assert all(p.dtype == getattr(torch, dtype) for p in module.parameters())
        want = model.predict(X)
        np.testing.assert_allclose(run(module, X), want, rtol=TOL[dtype], atol=TOL[dtype], err_msg=case)
        back = from_torch(module, torch_shape(model), dtype=None if model.params() else dtype)
        assert back.dtype == model.dtype, case
        kept = [type(la) for la in model.layers if not isinstance(la, LegacyFlattenTime)]  # an nn.Identity
        assert [type(la) for la in back.layers] == kept, case
        for a, b in zip(model.get_weights(), back.get_weights(), strict=True):
            np.testing.assert_array_equal(a, b, err_msg=case)
        buffers = [b for la in model.layers for b in la.buffers().values()]
        for a, b in zip(buffers, [b for la in back.layers for b in la.buffers().values()], strict=True):
            np.testing.assert_array_equal(a, b, err_msg=case)
        np.testing.assert_array_equal(back.predict(X), want, err_msg=case)


@pytest.mark.parametrize("name", nl.activations.names())
def test_every_activation_converts_both_ways_or_is_refused_by_name(name, rng):
    act = nl.activations.get(name)
    model = nl.Sequential([L.Dense(6, act, input_dim=4), L.Dense(3, act)], seed=0, dtype="float64")
    X = rng.normal(0, 2, (7, 4))
    try:
        module = to_torch(model)
    except ExportError as e:
        assert name not in ("linear", "sigmoid", "tanh", "relu", "leaky_relu", "softmax")
        assert f"activation {name!r} of layer 'dense_1'" in str(e)
        return
    np.testing.assert_allclose(run(module, X), model.predict(X), rtol=1e-12, atol=1e-12)
    back = from_torch(module, (4,))
    assert [la.activation.name for la in back.layers] == [act.name] * 2
    np.testing.assert_array_equal(back.predict(X), model.predict(X))


def _hand_written_torch_cnn():
    torch.manual_seed(0)
    nn = torch.nn
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(4, 6, 3, stride=2, padding="valid"), nn.BatchNorm2d(6), nn.Tanh(),
                         nn.Flatten(), nn.Dropout(0.5), nn.Linear(6 * 2 * 2, 5), nn.Softmax(dim=1)).eval()


def test_from_torch_reads_a_hand_written_pytorch_cnn_and_undoes_its_nchw_flatten(rng):
    net = _hand_written_torch_cnn()
    with torch.no_grad():
        net[4].running_mean.uniform_(-0.5, 0.5)
        net[4].running_var.uniform_(0.5, 2.0)
    model = from_torch(net, (1, 10, 10))
    assert [type(la).__name__ for la in model.layers] == ["Conv2D", "MaxPool2D", "Conv2D", "BatchNorm", "Flatten",
                                                          "Dropout", "Dense"]
    assert model.layers[-1].activation.name == "softmax" and model.layers[3].activation.name == "tanh"
    X = rng.normal(size=(8, 10, 10, 1)).astype(np.float32)
    np.testing.assert_allclose(model.predict(X), run(net, X), rtol=1e-6, atol=1e-6)
    # without the Flatten permutation (a port by hand) the outputs are wrong, with no error
    dense = model.layers[-1]
    dense.W.value[...] = net[8].weight.detach().numpy().T
    assert np.abs(model.predict(X) - run(net, X)).max() > 1e-3


def test_the_flatten_permutation_maps_nchw_order_to_nhwc_order():
    h, w, c = 2, 3, 4
    image = np.arange(h * w * c).reshape(h, w, c)      # NHWC flatten order: value = its NHWC index
    torch_flat = image.transpose(2, 0, 1).ravel()      # what torch.flatten sees in NCHW
    np.testing.assert_array_equal(flatten_permutation(h, w, c), torch_flat)


def test_recurrent_modules_come_wrapped_and_a_bare_one_is_refused_with_the_fix():
    model = examples("lstm")[0][1]
    module = to_torch(model)
    assert isinstance(module[0], torch_classes().RecurrentOutput) and isinstance(module[0].rnn, torch.nn.LSTM)
    assert module[0].rnn.batch_first
    with pytest.raises(ExportError, match=r"module 0 \(LSTM\) returns a tuple; wrap it as .*RecurrentOutput"):
        from_torch(torch.nn.Sequential(torch.nn.LSTM(3, 4, batch_first=True)), (5, 3))


@pytest.mark.parametrize("module, match", [
    (lambda nn: nn.Sequential(nn.Linear(4, 3), nn.Upsample(scale_factor=2)),
     r"module 1 \(Upsample\) has no neuronlab counterpart"),
    (lambda nn: nn.Sequential(nn.Conv2d(1, 2, 3), nn.MaxPool2d(2), nn.ReLU()),
     r"module 2 \(ReLU\) does not follow a Linear, Conv2d or BatchNorm"),
    (lambda nn: nn.Sequential(nn.Conv2d(1, 2, 3, dilation=2)), r"module 0 \(Conv2d\) uses groups, dilation"),
    (lambda nn: nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten()), r"nn.Flatten of images reaches no Linear"),
    (lambda nn: nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(5, 3)),
     r"dense_1/W: the module gives shape \(5, 3\) where the layer has \(72, 3\); does input_shape match"),
])
def test_from_torch_names_the_module_it_cannot_convert(module, match):
    with pytest.raises(ExportError, match=match):
        from_torch(module(torch.nn), (1, 8, 8))


def test_to_torch_names_a_users_own_layer_and_an_unbuilt_model():
    model = nl.Sequential([L.Dense(3, input_dim=2), Doubler(name="double_it")], seed=0)
    with pytest.raises(ExportError, match=r"layer 1 'double_it' \(Doubler\) has no PyTorch counterpart"):
        to_torch(model)
    with pytest.raises(ExportError, match="not built"):
        to_torch(nl.Sequential([L.Dense(3)]))
    rnn = nl.Sequential([L.SimpleRNN(3, activation="sigmoid", input_shape=(4, 2))], seed=0)
    with pytest.raises(ExportError, match="torch.nn.RNN has only tanh and relu"):
        to_torch(rnn)


def test_a_torch_module_trains_on_from_the_exchanged_weights(rng):
    """The PyTorch side is a normal module: one SGD step there, the same step here."""
    model = nl.Sequential([L.Dense(5, "tanh", input_dim=3), L.Dense(2)], seed=0, dtype="float64")
    module = to_torch(model).train()
    X, Y = rng.normal(size=(8, 3)), rng.normal(size=(8, 2))
    loss = torch.nn.functional.mse_loss(module(torch.from_numpy(X)), torch.from_numpy(Y))
    loss.backward()
    with torch.no_grad():
        for p in module.parameters():
            p -= 0.1 * p.grad
    model.compile(loss="mse", optimizer=nl.optimizers.SGD(lr=0.1))
    model.train_step(X, Y)
    for a, b in zip(model.get_weights(), from_torch(module, (3,)).get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def test_a_dense_on_nhwc_pixels_is_refused_with_the_fix():
    model = nl.Sequential([L.Conv2D(2, 3, input_shape=(5, 5, 1)), L.Dense(3)], seed=0)
    with pytest.raises(ExportError, match=r"layer 'dense_1': a Dense on NHWC images .* add a Flatten before it"):
        to_torch(model)
