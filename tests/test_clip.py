"""GradientClipping: checked against torch.nn.utils.clip_grad_norm_ / clip_grad_value_ by hand."""
import pytest
import torch
from torch import nn

from minifast import Callback, GradientClipping, Learner
from tests.conftest import synth_data


class GradSnapshot(Callback):
    """Copy the gradients at before_step, at a chosen order (before or after clipping's 20)."""

    def __init__(self, order: int):
        self.order, self.grads = order, []

    def before_step(self):
        self.grads.append([p.grad.clone() for p in self.learn.model.parameters()])


def mlp_learner() -> Learner:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(1, 8), nn.Tanh(), nn.Linear(8, 1))
    return Learner(model, synth_data(), loss_func=nn.MSELoss(), metrics=[],
                   opt_func=torch.optim.SGD, wd=0.0, device="cpu")


def fit_with_snapshots(clip: GradientClipping):
    learn = mlp_learner()
    raw, clipped = GradSnapshot(order=15), GradSnapshot(order=25)
    with learn.silent():
        learn.fit(0.1, 1, cbs=[clip, raw, clipped])
    return raw.grads, clipped.grads


def test_max_norm_matches_the_formula_by_hand():
    max_norm = 0.1
    raw, clipped = fit_with_snapshots(GradientClipping(max_norm=max_norm))
    assert len(raw) == 4  # 64 items / bs 16
    for before, after in zip(raw, clipped):
        total = torch.sqrt(sum((g ** 2).sum() for g in before))
        assert total > max_norm  # the test really clips
        coef = max_norm / (total + 1e-6)  # clip_grad_norm_'s definition
        for b, a in zip(before, after):
            torch.testing.assert_close(a, b * coef, rtol=1e-6, atol=0)
        after_norm = torch.sqrt(sum((g ** 2).sum() for g in after))
        assert after_norm <= max_norm * (1 + 1e-5)


def test_max_norm_leaves_small_gradients_alone():
    raw, clipped = fit_with_snapshots(GradientClipping(max_norm=1e6))
    for before, after in zip(raw, clipped):
        for b, a in zip(before, after):
            assert torch.equal(a, b)


def test_max_value_clamps_each_gradient():
    raw, clipped = fit_with_snapshots(GradientClipping(max_value=0.05))
    assert any((g.abs() > 0.05).any() for before in raw for g in before)
    for before, after in zip(raw, clipped):
        for b, a in zip(before, after):
            assert torch.equal(a, b.clamp(-0.05, 0.05))


def test_training_equals_a_hand_written_loop_with_clip_grad_norm():
    learn = mlp_learner()
    with learn.silent():
        learn.fit(0.1, 2, cbs=[GradientClipping(max_norm=0.2)])
    model = mlp_learner().model  # same seed: same initial weights
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    data = synth_data()  # same seed: same shuffles
    for _ in range(2):
        for xb, yb in data.train_dl:
            nn.functional.mse_loss(model(xb), yb).backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 0.2)
            opt.step()
            opt.zero_grad()
    for p, q in zip(learn.model.parameters(), model.parameters()):
        assert torch.equal(p, q)


def test_last_norm_is_the_norm_before_clipping():
    learn = mlp_learner()
    clip, raw = GradientClipping(max_norm=0.1), GradSnapshot(order=15)
    with learn.silent():
        learn.fit(0.1, 1, cbs=[clip, raw])
    total = torch.sqrt(sum((g ** 2).sum() for g in raw.grads[-1]))
    torch.testing.assert_close(clip.last_norm, total)


@pytest.mark.parametrize("kwargs", [{}, {"max_norm": 0}, {"max_value": -1.0}])
def test_bad_arguments_are_refused(kwargs):
    with pytest.raises(ValueError, match="GradientClipping"):
        GradientClipping(**kwargs)
