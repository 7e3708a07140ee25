"""Benchmark: NADE.loss_and_gradient, checked against the NumPy backward pass (float64)."""

from conftest import GRAD_TOL, LL_TOL, grid, label, max_rel_err


@grid
def test_gradient(benchmark, ctx, size, batch, dtype, n_jobs):
    model, X = ctx.model(size, dtype, n_jobs), ctx.data(size, batch)
    label(benchmark, "gradient", size, batch, dtype, n_jobs)
    loss, grads = benchmark(model.loss_and_gradient, X)
    ref_loss, ref_grads = ctx.ref_grad(size, batch)
    assert abs(loss - ref_loss) <= LL_TOL[dtype] * abs(ref_loss)
    for name, g in ref_grads.items():
        assert grads[name].shape == g.shape
        assert max_rel_err(grads[name], g) <= GRAD_TOL[dtype], name
