"""What a convolutional network learns: its first-layer filters and the feature maps of one digit.

A Conv2D layer slides each of its kernels W[:, :, 0, f] (5×5 weights) over the image; its
feature map f is Z = X ∗ W_f + B_f passed through ReLU, bright where the image matches the
kernel. At initialisation (He normal) the kernels are noise. Training adds ΔW = -η Σ ∂C/∂W,
and ∂C/∂W is a weighted sum of 5×5 image patches — so what training adds is smooth: stroke
and edge detectors. The demo measures it with a roughness ratio — the mean squared
difference of neighbouring weights over the mean squared weight, about 2 for independent
noise and smaller for smooth kernels — for W at init, W after training and ΔW, and draws
the three, plus the feature maps of both convolutional layers for one test digit.
"""

from __future__ import annotations

import numpy as np

from .. import layers as _layers
from .. import optimizers as _optim
from ..datasets import load_mnist
from ..model import Sequential
from ._common import figure, prepare, save, table, write_json

TOPIC = "filters"


def small_cnn(seed: int = 0) -> Sequential:
    """The ``cnn`` model of ``neuronlab train --model cnn`` (see :func:`neuronlab.zoo.build_cnn`)."""
    from .. import zoo

    return zoo.get("cnn").builder((28, 28), 10, activation="relu", init="he_normal", dropout=0.2, seed=seed)


def roughness(kernels: np.ndarray) -> np.ndarray:
    """Per kernel (kh, kw, ..., f): mean squared neighbour difference / mean squared weight (≈ 2 for noise)."""
    k = kernels.reshape(kernels.shape[0], kernels.shape[1], -1)
    dv = np.diff(k, axis=0) ** 2
    dh = np.diff(k, axis=1) ** 2
    diff = (dv.sum(axis=(0, 1)) + dh.sum(axis=(0, 1))) / (dv.shape[0] * dv.shape[1] + dh.shape[0] * dh.shape[1])
    return diff / (k ** 2).mean(axis=(0, 1))


def _grid(ax_row, images, cmap, symmetric):
    for ax, img in zip(ax_row, images):
        lim = float(np.abs(img).max()) or 1.0
        kw = {"vmin": -lim, "vmax": lim} if symmetric else {"vmin": 0.0, "vmax": lim}
        ax.imshow(img, cmap=cmap, interpolation="nearest", **kw)
        ax.set_xticks([])
        ax.set_yticks([])


# Longer than ~60 lines on purpose: one claim of the guide from data to figures and table,
# read top to bottom; splitting it would scatter the claim over helpers that share its locals.
def run(out_dir, seed: int = 0, quick: bool = False) -> dict:
    """Train the small CNN on MNIST, then draw its filters and the feature maps of one test digit.

    Returns
    -------
    dict
        ``test_accuracy``, ``roughness_init`` / ``roughness_trained`` / ``roughness_change``
        (means over the first layer's kernels), ``relative_change`` ‖ΔW‖ / ‖W_init‖, per-filter
        ``mean_activation`` on the digit, ``digit_label`` and ``digit_prediction``, the figure
        paths and the JSON path.
    """
    out_dir = prepare(out_dir)
    (X, y), (Xt, yt) = load_mnist(flatten=False)
    n_train, n_test = (2000, 1000) if quick else (len(X), len(Xt))
    X, y = X[:n_train].reshape(-1, 28, 28, 1), y[:n_train]
    Xt, yt = Xt[:n_test].reshape(-1, 28, 28, 1), yt[:n_test]

    model = small_cnn(seed)
    conv1 = model.layers[0]
    W_init = conv1.W.value[:, :, 0, :].copy()                    # (5, 5, 16)
    model.compile(loss="categorical_crossentropy", optimizer=_optim.Adam(lr=2e-3 if quick else 1e-3),
                  metrics=["accuracy"])
    hist = model.fit(X, y, epochs=1, batch_size=64, verbose=0)
    acc = model.evaluate(Xt, yt)["accuracy"]
    W = conv1.W.value[:, :, 0, :].copy()

    # feature maps of one digit through the inference path, layer by layer
    digit = Xt[:1]
    maps, H = [], digit
    for layer in model.layers:
        H = layer.predict(H)
        if isinstance(layer, _layers.Conv2D):
            maps.append(H[0])
    pred = int(H[0].argmax())
    n_f1, n_f2 = maps[0].shape[-1], maps[1].shape[-1]

    # figure 1: 8 kernels at initialisation, after training, and what training added; the rows
    # differ by ‖ΔW‖/‖W‖ only, so each row carries its roughness and a frame colour of its own
    dW = W - W_init
    r_init, r_trained, r_delta = roughness(W_init), roughness(W), roughness(dW)
    shown = min(8, n_f1)
    fig, axes = figure(3, shown, size=(1.25 * shown + 1.6, 5.0))
    rows = ((W_init, f"init\nroughness {r_init.mean():.2f}", "gray"),
            (W, f"trained\nroughness {r_trained.mean():.2f}", "tab:green"),
            (dW, f"ΔW = trained − init\nroughness {r_delta.mean():.2f}", "tab:purple"))
    for row, (kernels, label, color) in enumerate(rows):
        _grid(axes[row], [kernels[:, :, f] for f in range(shown)], "RdBu_r", True)
        axes[row][0].set_ylabel(label, fontsize=10, color=color)
        for ax in axes[row]:
            for spine in ax.spines.values():
                spine.set(color=color, linewidth=2.5)
    fig.suptitle(f"First-layer 5×5 kernels of {shown} of {n_f1} filters after one epoch on {n_train} MNIST images "
                 f"(test accuracy {acc:.3f})\nred > 0, blue < 0, each kernel on its own scale; "
                 f"‖ΔW‖ / ‖W_init‖ = {np.linalg.norm(dW) / np.linalg.norm(W_init):.2f}: "
                 "trained ≈ init + a smooth ΔW (roughness ≈ 2 is noise)", fontsize=10)
    figures = [save(fig, out_dir, "filters_kernels")]

    # figure 2: the digit, its 16 first-layer maps and 32 second-layer maps
    cols = max(n_f1 // 2, n_f2 // 4) + 1
    fig, axes = figure(6, cols, size=(1.3 * cols, 8.2))
    for ax in axes.flat:
        ax.axis("off")
    axes[0][0].imshow(digit[0, :, :, 0], cmap="gray_r")
    axes[0][0].set_title(f"digit {int(yt[0])}\n(predicted {pred})", fontsize=10)
    for f in range(n_f1):
        ax = axes[f // (cols - 1)][1 + f % (cols - 1)]
        ax.imshow(maps[0][:, :, f], cmap="magma")
    for f in range(n_f2):
        ax = axes[2 + f // (cols - 1)][1 + f % (cols - 1)]
        ax.imshow(maps[1][:, :, f], cmap="magma")
    axes[1][0].text(0.5, 0.5, f"rows 1-2:\nconv1\n{n_f1} maps\n28×28", ha="center", va="center", fontsize=10)
    axes[3][0].text(0.5, 0.5, f"rows 3-6:\nconv2\n{n_f2} maps\n10×10", ha="center", va="center", fontsize=10)
    fig.suptitle("Feature maps H = ReLU(X ∗ W_f + B_f) of one test digit (bright: the kernel matches)",
                 fontsize=11)
    figures.append(save(fig, out_dir, "filters_feature_maps"))

    numbers = {
        "n_train": n_train, "n_test": n_test, "train_loss": hist.history["loss"][-1], "test_accuracy": acc,
        "roughness_init": float(r_init.mean()), "roughness_trained": float(r_trained.mean()),
        "roughness_change": float(r_delta.mean()),
        "relative_change": float(np.linalg.norm(dW) / np.linalg.norm(W_init)),
        "roughness_per_filter": {"init": r_init, "trained": r_trained, "change": r_delta},
        "digit_label": int(yt[0]), "digit_prediction": pred,
        "mean_activation": {"conv1": maps[0].mean(axis=(0, 1)), "conv2": maps[1].mean(axis=(0, 1))},
        "figures": figures,
    }
    table(f"filters: first-layer kernels; training adds smooth detectors (‖ΔW‖ / ‖W_init‖ = "
          f"{numbers['relative_change']:.2f}, test accuracy {acc:.3f})",
          ["kernels", "roughness (≈2 = noise)"],
          [["W at init (He normal)", r_init.mean()], ["W after 1 epoch", r_trained.mean()],
           ["ΔW = what training added", r_delta.mean()]])
    numbers["json"] = write_json(out_dir, TOPIC, numbers)
    return numbers
