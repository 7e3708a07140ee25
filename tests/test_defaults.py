"""fit's default schedule and batch size (docs/training.md §1, §7, §8), replayed by hand."""

import numpy as np
import pytest

from nadefast import NADE, OrderAgnosticNADE


def _validation_nll(model, X):
    return -float(np.mean(model.score_samples(X)))


def test_plateau_schedule_replayed_by_hand(backend):
    """One SGD step (with momentum) per epoch; after 10 epochs without an improvement (by
    more than 1e-4 of the best) the fit goes back to the best parameters with 10x smaller
    steps and a fresh optimizer state (no velocity)."""
    rng = np.random.default_rng(5)
    X = (rng.random((12, 6)) < 0.4).astype(np.uint8)
    X_valid = (rng.random((40, 6)) < 0.6).astype(np.uint8)  # unlike X: overfitting shows
    fit = dict(batch_size=12, optimizer="sgd", learning_rate=0.8, momentum=0.5, patience=30,
               epochs=45)
    kw = dict(dtype="float64", random_state=1, backend=backend)
    model = NADE(5, **kw).fit(X, X_valid, lr_schedule="plateau", **fit)

    replay = NADE(5, **kw).fit(X, epochs=0, batch_size=12)
    names = ("W_", "b_", "V_", "c_")
    current = {k: np.array(getattr(replay, k)) for k in names}
    best, best_loss = dict(current), _validation_nll(replay, X_valid)
    scale, bad, reductions, epochs, losses = 1.0, 0, 0, 0, []
    velocity = {k: 0.0 for k in names}
    while epochs < fit["epochs"] and bad < fit["patience"]:
        _, grads = replay.loss_and_gradient(X)
        for k in names:
            velocity[k] = 0.5 * velocity[k] + grads[k[:-1]]
            current[k] = current[k] - 0.8 * scale * velocity[k]
            setattr(replay, k, current[k])
        epochs += 1
        loss = _validation_nll(replay, X_valid)
        losses.append(loss)
        if loss < best_loss - 1e-4 * abs(best_loss):
            best, best_loss, bad = dict(current), loss, 0
        else:
            bad += 1
            if bad % 10 == 0 and bad < fit["patience"]:
                scale, reductions = scale * 0.1, reductions + 1
                current = dict(best)
                velocity = {k: 0.0 for k in names}
                for k in names:
                    setattr(replay, k, current[k])
    assert reductions >= 2  # the replay went through the schedule's reductions
    # every epoch's validation loss follows the replay: the restarts and smaller steps included
    np.testing.assert_allclose([h["valid_nll"] for h in model.history_], losses, rtol=1e-12)
    for k in names:
        np.testing.assert_allclose(getattr(model, k), best[k], rtol=1e-12, atol=1e-14, err_msg=k)
    constant = NADE(5, **kw).fit(X, X_valid, lr_schedule="constant", **fit)
    assert not np.allclose([h["valid_nll"] for h in constant.history_][:len(losses)],
                           losses[:len(constant.history_)])


@pytest.mark.parametrize("Model", [NADE, OrderAgnosticNADE])
def test_plateau_schedule_resumes_bit_for_bit_across_a_reduction(Model, tmp_path):
    rng = np.random.default_rng(9)
    X = (rng.random((60, 8)) < 0.3).astype(np.uint8)
    X_valid = (rng.random((30, 8)) < 0.6).astype(np.uint8)
    fit = dict(batch_size=20, learning_rate=0.05, patience=30, lr_schedule="plateau")
    full = Model(6, random_state=2).fit(X, X_valid, epochs=40, **fit)
    assert len(full.history_) > 14  # the stop below falls after the first reduction (epoch 10+)
    ckpt = tmp_path / "c.ckpt"
    Model(6, random_state=2).fit(X, X_valid, epochs=40, checkpoint=ckpt, **fit,
                                 checkpoint_every=14)
    stopped = Model(6, random_state=2)
    # run to epoch 14, then resume to the end
    import nadefast._training as training

    original = training.Trainer.stopped_early
    try:
        training.Trainer.stopped_early = lambda self: original(self) or self.epoch >= 14
        stopped.fit(X, X_valid, epochs=40, checkpoint=tmp_path / "d.ckpt", **fit)
    finally:
        training.Trainer.stopped_early = original
    resumed = Model(6).fit(X, X_valid, epochs=40, checkpoint=tmp_path / "d.ckpt", resume=True,
                           **fit)
    np.testing.assert_array_equal(resumed.W_, full.W_)
    assert [h["valid_nll"] for h in resumed.history_] == [h["valid_nll"] for h in full.history_]


@pytest.mark.parametrize("rows, batch", [(130, 10), (400, 10), (1400, 35), (2000, 50), (5000, 100)])
def test_auto_batch_size_is_about_40_steps_per_epoch(rows, batch):
    X = (np.random.default_rng(rows).random((rows, 4)) < 0.4).astype(np.uint8)
    auto = NADE(3, random_state=0).fit(X, epochs=1, lr_schedule="constant")
    given = NADE(3, random_state=0).fit(X, epochs=1, lr_schedule="constant", batch_size=batch)
    np.testing.assert_array_equal(auto.W_, given.W_)
    other = NADE(3, random_state=0).fit(X, epochs=1, lr_schedule="constant", batch_size=batch + 1)
    assert not np.array_equal(auto.W_, other.W_)


def test_batch_size_must_be_a_positive_int_or_auto():
    X = np.zeros((10, 3), np.uint8)
    with pytest.raises(ValueError, match="batch_size must be a positive integer or 'auto'"):
        NADE(2).fit(X, batch_size="automatic")
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        NADE(2).fit(X, batch_size=0)
