"""Interruption, checkpoints, oversized requests, and one model shared by threads."""

import importlib
import threading

import numpy as np
import pytest

import nadefast._validation as validation
from nadefast import NADE

from reference import random_params


def _data(seed=0, rows=240, n=20):
    rng = np.random.default_rng(seed)
    prototypes = rng.integers(0, 2, size=(3, n))
    X = prototypes[rng.integers(3, size=rows)] ^ (rng.random((rows, n)) < 0.1)
    return X[: rows * 3 // 4].astype(np.uint8), X[rows * 3 // 4 :].astype(np.uint8)


def _params(model):
    return {name: np.array(getattr(model, name)) for name in ("W_", "b_", "V_", "c_")}


FIT = dict(epochs=7, batch_size=16, learning_rate=3e-3, patience=None)
BATCHES_PER_EPOCH = 12  # 180 training rows of _data() in batches of 16


def _fixed_kernels(backend):
    """The class of a backend's fixed-order kernel objects (nadefast.backends._<backend>)."""
    return importlib.import_module(f"nadefast.backends._{backend}").FixedKernels


def _interrupt_at_batch(monkeypatch, backend, batch):
    """Make the fit raise KeyboardInterrupt at its `batch`-th mini-batch (counting from 1);
    returns the original method, to be restored with _restore(monkeypatch, backend, original)."""
    calls = {"n": 0}
    kernels = _fixed_kernels(backend)
    original = kernels.gradient

    def interrupting(self, *args):
        calls["n"] += 1
        if calls["n"] == batch:
            raise KeyboardInterrupt
        return original(self, *args)

    monkeypatch.setattr(kernels, "gradient", interrupting)
    return original


def _restore(monkeypatch, backend, original):
    monkeypatch.setattr(_fixed_kernels(backend), "gradient", original)


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_resumed_fit_is_bit_identical(tmp_path, optimizer, backend):
    train, valid = _data()
    fit = {**FIT, "optimizer": optimizer, "learning_rate": 3e-3 if optimizer == "adam" else 0.1}
    full = NADE(12, random_state=3, backend=backend).fit(train, valid, **fit)

    ckpt = tmp_path / "run.ckpt"
    NADE(12, random_state=3, backend=backend).fit(train, valid, **{**fit, "epochs": 3},
                                                  checkpoint=ckpt)
    # a new process would start from a fresh estimator; its random_state no longer matters
    resumed = NADE(12, random_state=999, backend=backend).fit(train, valid, **fit, checkpoint=ckpt,
                                                              resume=True)
    for name, value in _params(full).items():
        np.testing.assert_array_equal(getattr(resumed, name), value, err_msg=name)
    assert [h["train_nll"] for h in resumed.history_] == [h["train_nll"] for h in full.history_]
    assert resumed.best_epoch_ == full.best_epoch_


def test_interrupted_fit_keeps_best_parameters_and_resumes(tmp_path, monkeypatch, capsys, backend):
    train, valid = _data(1)
    full = NADE(12, random_state=5, backend=backend).fit(train, valid, **FIT)

    ckpt = tmp_path / "run.ckpt"
    original = _interrupt_at_batch(monkeypatch, backend, 4 * BATCHES_PER_EPOCH + 3)  # in epoch 5
    model = NADE(12, random_state=5, backend=backend)
    with pytest.raises(KeyboardInterrupt):
        model.fit(train, valid, **FIT, checkpoint=ckpt, checkpoint_every=2)
    assert "interrupted in epoch 5" in capsys.readouterr().err
    # usable, holding the best of the 4 completed epochs
    assert len(model.history_) == 4
    best = int(np.argmin([h["valid_nll"] for h in model.history_])) + 1
    assert model.best_epoch_ == best
    assert -model.score(valid) == pytest.approx(model.history_[best - 1]["valid_nll"], rel=1e-12)

    _restore(monkeypatch, backend, original)
    resumed = NADE(12, backend=backend).fit(train, valid, **FIT, checkpoint=ckpt,
                                            resume=True)  # from epoch 4
    for name, value in _params(full).items():
        np.testing.assert_array_equal(getattr(resumed, name), value, err_msg=name)


def test_resume_refuses_a_foreign_checkpoint(tmp_path):
    train, valid = _data(2)
    ckpt = tmp_path / "run.ckpt"
    NADE(8, random_state=0).fit(train, valid, **{**FIT, "epochs": 1}, checkpoint=ckpt)
    with pytest.raises(ValueError, match="batch_size=16.*batch_size=8"):
        NADE(8).fit(train, valid, **{**FIT, "batch_size": 8}, checkpoint=ckpt, resume=True)
    with pytest.raises(ValueError, match="data_digest"):
        NADE(8).fit(train[::-1], valid, **FIT, checkpoint=ckpt, resume=True)
    with pytest.raises(ValueError, match="n_hidden=8.*n_hidden=9"):
        NADE(9).fit(train, valid, **FIT, checkpoint=ckpt, resume=True)
    (tmp_path / "junk.ckpt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="not a readable nadefast checkpoint"):
        NADE(8).fit(train, valid, **FIT, checkpoint=tmp_path / "junk.ckpt", resume=True)
    # resume=True without a file yet starts afresh (scripts can always pass it)
    fresh = NADE(8, random_state=0).fit(train, valid, **{**FIT, "epochs": 1},
                                        checkpoint=tmp_path / "new.ckpt", resume=True)
    assert len(fresh.history_) == 1 and (tmp_path / "new.ckpt").exists()


def test_checkpoints_hold_the_public_layout_and_older_formats_are_refused_by_name(tmp_path):
    train, valid = _data(2)
    ckpt = tmp_path / "run.ckpt"
    model = NADE(8, random_state=0).fit(train, valid, **{**FIT, "epochs": 2}, checkpoint=ckpt)
    with np.load(ckpt) as f:
        assert int(f["format_version"]) == 2
        # the public shapes, whatever the build's padded width
        assert f["param.W"].shape == (8, 20) and f["param.V"].shape == (20, 8)
        assert f["opt.m.W"].shape == (8, 20) and f["best.b"].shape == (8,)
        np.testing.assert_array_equal(f["best.W"], model.W_)
        arrays = dict(f)
    arrays["format_version"] = np.array(1)  # nadefast 0.1 wrote the kernels' padded arrays
    with open(tmp_path / "old.ckpt", "wb") as f:
        np.savez(f, **arrays)
    with pytest.raises(ValueError, match="checkpoint in format version 1.*reads version 2"):
        NADE(8).fit(train, valid, **FIT, checkpoint=tmp_path / "old.ckpt", resume=True)
    arrays["format_version"] = np.array(3)
    with open(tmp_path / "new.ckpt", "wb") as f:
        np.savez(f, **arrays)
    with pytest.raises(ValueError, match="newer nadefast \\(format version 3\\)"):
        NADE(8).fit(train, valid, **FIT, checkpoint=tmp_path / "new.ckpt", resume=True)


def test_oversized_requests_fail_fast_and_clearly(rng, monkeypatch):
    """Compiled only: the memory guards, checked before any backend runs."""
    model = NADE.from_params(*random_params(rng, 784, 3))
    with pytest.raises(MemoryError, match=r"sample\(1000000000000\) needs .* more than this machine has"):
        model.sample(10**12)
    X = np.zeros((1, 784), dtype=np.uint8)
    with pytest.raises(MemoryError, match="n_hidden=1000000000"):
        NADE(10**9).fit(X)
    # the guard compares with physical memory: pretend the machine is tiny
    monkeypatch.setattr(validation, "available_memory", lambda: 1000)
    with pytest.raises(MemoryError, match="hidden_states needs"):
        model.hidden_states(np.zeros((5, 784), dtype=np.uint8))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_one_model_shared_by_four_threads(rng, dtype, backend):
    """Scoring, sampling and conditionals never mutate the model: concurrent calls
    (the compiled kernels release the GIL) give exactly the sequential results."""
    n, d = 60, 40
    model = NADE.from_params(*random_params(rng, n, d, 0.5), ordering=rng.permutation(n),
                             dtype=dtype, backend=backend)
    model.n_jobs = 2
    Xs = [(rng.random((50 + 7 * i, n)) < 0.3).astype(np.uint8) for i in range(4)]
    jobs = [(kind, i) for i in range(4) for kind in ("score", "sample", "cond")] * 3

    def run(kind, i):
        if kind == "score":
            return model.score_samples(Xs[i])
        if kind == "sample":
            return model.sample(40 + i, random_state=i)
        return model.conditionals(Xs[i])

    expected = {job: run(*job) for job in set(jobs)}
    before = _params(model)
    results, errors = [], []

    def worker(my_jobs):
        try:
            for job in my_jobs:
                results.append((job, run(*job)))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(jobs[t::4],)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert len(results) == len(jobs)
    for job, value in results:
        np.testing.assert_array_equal(value, expected[job], err_msg=str(job))
    for name, value in before.items():
        np.testing.assert_array_equal(getattr(model, name), value)


def test_linear_schedule_resumes_bit_identically_and_refuses_another_length(tmp_path, monkeypatch,
                                                                            backend):
    train, valid = _data(2)
    fit = {**FIT, "lr_schedule": "linear"}
    full = NADE(12, random_state=4, backend=backend).fit(train, valid, **fit)

    ckpt = tmp_path / "run.ckpt"
    original = _interrupt_at_batch(monkeypatch, backend, 3 * BATCHES_PER_EPOCH + 5)  # in epoch 4
    with pytest.raises(KeyboardInterrupt):
        NADE(12, random_state=4, backend=backend).fit(train, valid, **fit, checkpoint=ckpt)
    _restore(monkeypatch, backend, original)
    # the schedule is laid out over 7 epochs: a fit of 9 cannot continue it
    with pytest.raises(ValueError, match="schedule_epochs=7"):
        NADE(12).fit(train, valid, **{**fit, "epochs": 9}, checkpoint=ckpt, resume=True)
    with pytest.raises(ValueError, match="lr_schedule='linear'"):
        NADE(12).fit(train, valid, **FIT, checkpoint=ckpt, resume=True)
    resumed = NADE(12, backend=backend).fit(train, valid, **fit, checkpoint=ckpt, resume=True)
    for name, value in _params(full).items():
        np.testing.assert_array_equal(getattr(resumed, name), value, err_msg=name)
