"""Learning-rate schedules and ReduceLROnPlateau against torch.optim.lr_scheduler, and inside fit."""

import numpy as np
import pytest
import torch
from torch.optim import lr_scheduler as tls

import neuronlab as nl
from neuronlab.schedules import CosineDecay, ExponentialDecay, LearningRateScheduler, ReduceLROnPlateau, StepDecay

LR0 = 0.1


def torch_lrs(make, epochs, lr0=LR0):
    """The lr torch uses in each of ``epochs`` epochs (scheduler.step() after each)."""
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=lr0)
    sched = make(opt)
    out = []
    for _ in range(epochs):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return out


CASES = [
    (StepDecay(3, gamma=0.5), lambda o: tls.StepLR(o, step_size=3, gamma=0.5), 20),
    (StepDecay(1), lambda o: tls.StepLR(o, step_size=1), 8),
    (ExponentialDecay(0.9), lambda o: tls.ExponentialLR(o, gamma=0.9), 30),
    (CosineDecay(T=20), lambda o: tls.CosineAnnealingLR(o, T_max=20), 21),
    (CosineDecay(T=15, lr_min=0.01), lambda o: tls.CosineAnnealingLR(o, T_max=15, eta_min=0.01), 16),
    (CosineDecay(T=12, lr_min=0.001, warmup=5, warmup_start_factor=0.1),
     lambda o: tls.SequentialLR(o, [tls.LinearLR(o, start_factor=0.1, total_iters=5),
                                    tls.CosineAnnealingLR(o, T_max=12, eta_min=0.001)], milestones=[5]), 18),
    (CosineDecay(T=10, warmup=4),  # default warm-up start = LinearLR's default 1/3
     lambda o: tls.SequentialLR(o, [tls.LinearLR(o, total_iters=4), tls.CosineAnnealingLR(o, T_max=10)],
                                milestones=[4]), 15),
]


@pytest.mark.filterwarnings("ignore::UserWarning")  # SequentialLR passes an epoch to CosineAnnealingLR
@pytest.mark.parametrize("schedule,make,epochs", CASES, ids=[repr(c[0]) for c in CASES])
def test_schedule_matches_torch(schedule, make, epochs):
    ours = [schedule(t, LR0) for t in range(epochs)]
    np.testing.assert_allclose(ours, torch_lrs(make, epochs), rtol=1e-12, atol=1e-15)


def test_cosine_stays_at_its_floor_and_exponential_decay_steps():
    c = CosineDecay(T=10, lr_min=0.01)
    assert [c(t, 1.0) for t in (10, 11, 50)] == [0.01, 0.01, 0.01]
    e = ExponentialDecay(0.5, decay_steps=10)  # Keras' form: the rate per 10 steps
    assert e(10, 2.0) == pytest.approx(1.0) and e(5, 2.0) == pytest.approx(2.0 * 0.5 ** 0.5)


def test_registry():
    assert nl.schedules.names() == ["step", "exponential", "cosine"]
    assert repr(nl.schedules.get("cosine", T=5)) == repr(CosineDecay(T=5))


@pytest.mark.parametrize("make,arg", [
    (lambda: StepDecay(0), "step_size"), (lambda: StepDecay(2, gamma=0.0), "gamma"),
    (lambda: ExponentialDecay(-1.0), "gamma"), (lambda: CosineDecay(T=0), "T"),
    (lambda: CosineDecay(T=5, warmup=-1), "warmup"), (lambda: CosineDecay(T=5, lr_min=-0.1), "lr_min"),
    (lambda: LearningRateScheduler(StepDecay(2), per="batch"), "per"),
    (lambda: LearningRateScheduler(42), "schedule"), (lambda: LearningRateScheduler(StepDecay(2), gamma=0.5), "gamma"),
    (lambda: ReduceLROnPlateau(factor=1.0), "factor"), (lambda: ReduceLROnPlateau(mode="up"), "mode"),
    (lambda: ReduceLROnPlateau(patience=-1), "patience"), (lambda: ReduceLROnPlateau(threshold_mode="x"), "threshold"),
])
def test_bad_arguments(make, arg):
    with pytest.raises(ValueError, match=arg):
        make()


# -- inside fit ------------------------------------------------------------------------------
def model_and_data(seed=0, dtype="float64", n=24):
    data = np.random.default_rng(5)
    X, y = data.normal(size=(n, 4)), data.integers(0, 3, n)
    model = nl.Sequential([nl.layers.Dense(6, "tanh", input_dim=4), nl.layers.Dense(3, "softmax")],
                          seed=seed, dtype=dtype)
    return model, X, y


def test_per_epoch_schedule_is_recorded_in_history():
    model, X, y = model_and_data()
    model.compile(optimizer=nl.optimizers.SGD(lr=0.2))
    h = model.fit(X, y, epochs=7, batch_size=8, verbose=0, callbacks=[LearningRateScheduler("step", step_size=2)])
    assert h.history["lr"] == pytest.approx([0.2, 0.2, 0.02, 0.02, 0.002, 0.002, 0.0002])
    # a second fit continues from the same η₀, at the epochs it is given
    sched = LearningRateScheduler(ExponentialDecay(0.5))
    model.compile(optimizer=nl.optimizers.SGD(lr=1.0))
    model.fit(X, y, epochs=2, batch_size=8, verbose=0, callbacks=[sched])
    h = model.fit(X, y, epochs=4, initial_epoch=2, batch_size=8, verbose=0, callbacks=[sched])
    assert h.history["lr"] == pytest.approx([0.25, 0.125])


def test_per_step_schedule_sets_the_lr_of_every_update():
    model, X, y = model_and_data()
    model.compile(optimizer=nl.optimizers.Adam(lr=0.01))
    used = []
    recorder = nl.callbacks.LambdaCallback(on_batch_end=lambda b, logs: used.append(model.optimizer.lr))
    schedule = CosineDecay(T=9, warmup=3)
    h = model.fit(X, y, epochs=4, batch_size=8, verbose=0,
                  callbacks=[recorder, LearningRateScheduler(schedule, per="step")])
    assert used == pytest.approx([schedule(t, 0.01) for t in range(12)])
    assert h.history["lr"][-1] == pytest.approx(schedule(12, 0.01))


def test_function_schedule():
    model, X, y = model_and_data()
    model.compile(optimizer="sgd")
    h = model.fit(X, y, epochs=3, verbose=0, callbacks=[LearningRateScheduler(lambda t: 0.1 / (t + 1))])
    assert h.history["lr"] == pytest.approx([0.1, 0.05, 0.1 / 3])
    bad = LearningRateScheduler(lambda t: float("nan"))
    with pytest.raises(ValueError, match="lr = nan"):
        model.fit(X, y, epochs=1, verbose=0, callbacks=[bad])


@pytest.mark.parametrize("per", ["epoch", "step"])
def test_training_with_a_schedule_matches_torch(per):
    """SGD with momentum and a step decay: fit ends at torch's weights (float64, full batches of 8)."""
    model, X, y = model_and_data()
    model.compile(optimizer=nl.optimizers.SGD(lr=0.3, momentum=0.9))
    w0 = model.get_weights()
    model.fit(X, y, epochs=6, batch_size=8, shuffle=False, verbose=0,
              callbacks=[LearningRateScheduler(StepDecay(2, gamma=0.5), per=per)])

    lin1, lin2 = torch.nn.Linear(4, 6).double(), torch.nn.Linear(6, 3).double()
    with torch.no_grad():
        for lin, W, B in ((lin1, w0[0], w0[1]), (lin2, w0[2], w0[3])):
            lin.weight.copy_(torch.from_numpy(W.T.copy()))  # torch's weight is our W transposed
            lin.bias.copy_(torch.from_numpy(B))
    params = [*lin1.parameters(), *lin2.parameters()]
    opt = torch.optim.SGD(params, lr=0.3, momentum=0.9)
    sched = tls.StepLR(opt, step_size=2, gamma=0.5)
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    for _ in range(6):
        for b in range(3):
            opt.zero_grad()
            out = lin2(torch.tanh(lin1(Xt[8 * b:8 * b + 8])))
            torch.nn.functional.cross_entropy(out, yt[8 * b:8 * b + 8]).backward()
            opt.step()
            if per == "step":
                sched.step()
        if per == "epoch":
            sched.step()
    ours = model.get_weights()
    theirs = [lin1.weight.detach().numpy().T, lin1.bias.detach().numpy(),
              lin2.weight.detach().numpy().T, lin2.bias.detach().numpy()]
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


# -- ReduceLROnPlateau -------------------------------------------------------------------------------
METRIC = [1.0, 0.9, 0.95, 0.9, 0.91, 0.9, 0.89995, 0.92, 0.8, 0.85, 0.85, 0.86, 0.84, 0.9, 0.9, 0.9,
          0.79, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8]


@pytest.mark.parametrize("kw", [
    dict(),
    dict(patience=2),
    dict(patience=1, factor=0.5, cooldown=2),
    dict(patience=0, factor=0.5, min_lr=0.02),
    dict(patience=1, threshold=0.05, threshold_mode="abs"),
    dict(patience=1, threshold=0.1, threshold_mode="rel", factor=0.3),
    dict(mode="max", patience=1, factor=0.5),
    dict(mode="max", patience=2, threshold=0.02, threshold_mode="abs", cooldown=1),
])
def test_reduce_on_plateau_matches_torch(kw):
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=LR0)
    theirs = tls.ReduceLROnPlateau(opt, **kw)
    ours = ReduceLROnPlateau(monitor="val_loss", **kw)
    mine = nl.optimizers.SGD(lr=LR0)
    a, b = [], []
    for value in METRIC:
        theirs.step(value)
        ours.step(value, mine)
        a.append(mine.lr)
        b.append(opt.param_groups[0]["lr"])
    assert a == pytest.approx(b, rel=1e-15)
    assert min(a) < LR0, "the case never reduces: it tests nothing"


def test_reduce_on_plateau_in_fit():
    model, X, y = model_and_data()
    model.compile(optimizer=nl.optimizers.SGD(lr=1e-3))
    cb = ReduceLROnPlateau(patience=1, factor=0.5, threshold=0.5)  # nothing improves by half
    h = model.fit(X, y, epochs=6, verbose=0, validation_data=(X, y), callbacks=[cb])
    # the lr recorded for an epoch is the one it trained with; reductions show from the next epoch
    assert h.history["lr"] == pytest.approx([1e-3, 1e-3, 1e-3, 5e-4, 5e-4, 2.5e-4])
    assert ReduceLROnPlateau(monitor="val_accuracy").mode == "max"
    with pytest.raises(ValueError, match="val_loss"):
        model.fit(X, y, epochs=1, verbose=0, callbacks=[ReduceLROnPlateau()])


def test_function_schedule_may_return_numpy_scalars():
    # np.float32 / np.float64 from a user's function were refused as "not a finite number"
    m = nl.Sequential([nl.layers.Dense(1, input_dim=2)], seed=0)
    m.compile("mse", nl.optimizers.SGD(lr=0.1))
    cb = nl.schedules.LearningRateScheduler(lambda t: np.float32(0.01) * np.float32(0.5) ** t)
    hist = m.fit(np.ones((4, 2)), np.ones(4), epochs=2, callbacks=[cb], verbose=0)
    assert hist.history["lr"] == pytest.approx([0.01, 0.005])
    with pytest.raises(ValueError, match="schedule gave lr"):
        m.fit(np.ones((4, 2)), np.ones(4), epochs=1, verbose=0,
              callbacks=[nl.schedules.LearningRateScheduler(lambda t: True)])
