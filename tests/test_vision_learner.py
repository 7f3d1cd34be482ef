"""ConvLearner: freezing (weights, BatchNorm statistics, per-group lrs) and the precompute cache.

Tiny images (32 px) through the real EfficientNet-Lite0 body, so each fit step takes a moment.
"""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from minifast import ConvLearner, DataBunch, efficientnet_lite0
from minifast.vision.precompute import ImageSplits, cache_key


def tensor_data(n_train: int = 4, n_valid: int = 4, bs: int = 4, seed: int = 0,
                shuffle: bool = False, x: torch.Tensor = None, y: torch.Tensor = None) -> DataBunch:
    """Random 32x32 'images' in 3 classes; with n_train == bs one epoch is one step."""
    g = torch.Generator().manual_seed(seed)
    n = n_train + n_valid
    x = torch.randn(n, 3, 32, 32, generator=g) if x is None else x
    y = torch.arange(n) % 3 if y is None else y
    return DataBunch(DataLoader(TensorDataset(x[:n_train], y[:n_train]), batch_size=bs, shuffle=shuffle),
                     DataLoader(TensorDataset(x[n_train:], y[n_train:]), batch_size=bs),
                     classes=["a", "b", "c"])


def make_learner(data, tmp_path, **kwargs) -> ConvLearner:
    torch.manual_seed(0)
    return ConvLearner.pretrained(efficientnet_lite0, data, path=tmp_path, device="cpu", **kwargs)


def snapshot(learn) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in learn.model.state_dict().items()}


def changed(before, after, prefix: str) -> dict[str, bool]:
    return {k: not torch.equal(before[k], after[k]) for k in before if k.startswith(prefix)}


# ---------------------------------------------------------------- freezing
def test_frozen_step_changes_only_the_head(tmp_path):
    learn = make_learner(tensor_data(), tmp_path)
    before = snapshot(learn)
    with learn.silent():
        learn.fit(1e-2, 1)  # one batch
    after = learn.model.state_dict()
    body = changed(before, after, "body.")
    assert not any(body.values())  # weights, running means/vars, num_batches_tracked: all equal
    head = changed(before, after, "head.")
    head_params = {f"head.{k}" for k, _ in learn.model.head.named_parameters()}
    assert all(head[k] for k in head_params)
    assert head["head.2.running_mean"] and int(after["head.2.num_batches_tracked"]) == 1


def test_unfrozen_step_changes_everything(tmp_path):
    learn = make_learner(tensor_data(), tmp_path, bn_freeze=False)
    learn.unfreeze()
    before = snapshot(learn)
    with learn.silent():
        learn.fit(1e-3, 1)
    after = learn.model.state_dict()
    params = {k for k, _ in learn.model.named_parameters()}
    assert all(not torch.equal(before[k], after[k]) for k in params)
    bn_stats = [k for k in before if k.startswith("body.") and k.endswith("running_mean")]
    assert len(bn_stats) == 49 and all(not torch.equal(before[k], after[k]) for k in bn_stats)


def test_pretrained_body_batchnorm_stays_in_eval_mode_after_unfreeze_by_default(tmp_path):
    """The course's flow (head, unfreeze, fit) must not swap the ImageNet statistics the head
    was trained on for each batch's own: ConvLearner.pretrained freezes the body's BatchNorm."""
    learn = make_learner(tensor_data(), tmp_path)
    learn.unfreeze()
    modes = {}

    def record(name):  # a forward hook must return None, or it replaces the layer's output
        def hook(module, inputs, output):
            modes.setdefault(name, module.training)
        return hook
    hooks = [m.register_forward_hook(record(name))
             for name, m in learn.model.named_modules() if isinstance(m, torch.nn.BatchNorm2d)]
    before = snapshot(learn)
    with learn.silent():
        learn.fit(1e-3, 1)
    for h in hooks:
        h.remove()
    assert len(modes) == 49 and not any(modes.values())  # every body BatchNorm in eval mode
    after = snapshot(learn)
    assert all(not torch.equal(before[k], after[k]) for k, _ in learn.model.named_parameters())
    assert torch.equal(before["body.1.running_mean"], after["body.1.running_mean"])
    assert int(after["head.2.num_batches_tracked"]) == 1  # the new head's BatchNorm still learns


@pytest.mark.parametrize("kwargs", [dict(bn_freeze=False), dict(pretrained=False), dict(train_bn=True)])
def test_body_batchnorm_trains_after_unfreeze_when_opted_out(tmp_path, kwargs):
    """Opt-outs: bn_freeze=False, random weights (no statistics worth keeping), train_bn=True."""
    learn = make_learner(tensor_data(), tmp_path, **kwargs)
    learn.unfreeze()
    before = snapshot(learn)
    with learn.silent():
        learn.fit(1e-3, 1)
    assert not torch.equal(before["body.1.running_mean"], learn.model.state_dict()["body.1.running_mean"])


def test_bn_freeze_keeps_body_statistics_while_the_body_trains(tmp_path):
    learn = make_learner(tensor_data(), tmp_path, bn_freeze=False)
    learn.unfreeze()
    learn.bn_freeze(True)
    before = snapshot(learn)
    with learn.silent():
        learn.fit(1e-3, 1)
    after = snapshot(learn)
    params = {k for k, _ in learn.model.named_parameters()}
    assert all(not torch.equal(before[k], after[k]) for k in params)  # every weight still trains
    body_stats = [k for k in before if k.startswith("body.") and
                  k.endswith(("running_mean", "running_var", "num_batches_tracked"))]
    assert len(body_stats) == 3 * 49 and all(torch.equal(before[k], after[k]) for k in body_stats)
    assert int(after["head.2.num_batches_tracked"]) == 1  # the new head's BatchNorm still learns

    learn.bn_freeze(False)  # the opt-out: the unfrozen body's statistics move again
    with learn.silent():
        learn.fit(1e-3, 1)
    assert not torch.equal(after["body.1.running_mean"], learn.model.state_dict()["body.1.running_mean"])


def test_bn_freeze_normalises_with_running_statistics(tmp_path):
    """In eval mode a BatchNorm layer's output does not depend on the rest of the batch."""
    learn = make_learner(tensor_data(), tmp_path)
    learn.unfreeze()
    learn.bn_freeze(True)
    seen = []
    hook = learn.model.body[1].register_forward_hook(lambda m, i, o: seen.append(m.training))
    with learn.silent():
        learn.fit(1e-3, 1)
    hook.remove()
    assert seen and not any(seen)


def test_train_bn_lets_frozen_batchnorm_update_its_statistics(tmp_path):
    learn = make_learner(tensor_data(), tmp_path, train_bn=True)
    before = snapshot(learn)
    with learn.silent():
        learn.fit(1e-2, 1)
    after = learn.model.state_dict()
    assert not torch.equal(before["body.1.running_mean"], after["body.1.running_mean"])
    assert torch.equal(before["body.1.weight"], after["body.1.weight"])  # still frozen
    assert torch.equal(before["body.0.weight"], after["body.0.weight"])


def test_freeze_to_groups(tmp_path):
    learn = make_learner(tensor_data(), tmp_path)
    def trainable():
        return [all(p.requires_grad for p in g.parameters()) for g in learn.layer_groups]
    assert len(learn.layer_groups) == 3 and trainable() == [False, False, True]
    learn.freeze_to(1)
    assert trainable() == [False, True, True]
    learn.unfreeze()
    assert trainable() == [True, True, True]
    learn.freeze()
    assert trainable() == [False, False, True]


def test_per_group_lrs_reach_the_optimiser(tmp_path):
    learn = make_learner(tensor_data(n_train=8), tmp_path)
    learn.unfreeze()
    with learn.silent():
        learn.fit(np.array([1e-4, 1e-3, 1e-2]), 1)
    assert [g["lr"] for g in learn.opt.param_groups] == [1e-4, 1e-3, 1e-2]
    assert learn.recorder.lrs == [[1e-4, 1e-3, 1e-2]] * 2
    with learn.silent():
        learn.fit(np.array([1e-4, 1e-3, 1e-2]), 1, cycle_len=1)  # SGDR keeps each group's ratio
    for lrs in learn.recorder.lrs:
        assert lrs[1] == pytest.approx(10 * lrs[0]) and lrs[2] == pytest.approx(100 * lrs[0])


# ---------------------------------------------------------------- precompute
def test_precompute_matches_full_frozen_model_step_for_step(tmp_path):
    data = tensor_data(n_train=12, n_valid=4, bs=4)
    cached = make_learner(data, tmp_path, precompute=True)
    full = make_learner(data, tmp_path / "full")
    full.model.load_state_dict(cached.model.state_dict())
    for learn in (cached, full):
        torch.manual_seed(1)  # the same dropout masks in the head
        with learn.silent():
            learn.fit(1e-2, 2)
    losses = [torch.tensor(learn.recorder.losses) for learn in (cached, full)]
    assert len(losses[0]) == 6
    assert torch.allclose(losses[0], losses[1], atol=1e-5, rtol=0)
    valid = [learn.recorder.metric("valid_loss") for learn in (cached, full)]
    assert valid[0] == pytest.approx(valid[1], abs=1e-5)
    head = [learn.model.head.state_dict() for learn in (cached, full)]
    assert all(torch.allclose(head[0][k].float(), head[1][k].float(), atol=1e-5) for k in head[0])
    # The control: a body whose BatchNorm trains (train_bn=True) is not what the cache holds.
    moving = make_learner(data, tmp_path / "moving", train_bn=True)
    moving.model.load_state_dict(cached.model.state_dict())
    torch.manual_seed(1)
    with moving.silent():
        moving.fit(1e-2, 1)
    assert not torch.allclose(torch.tensor(moving.recorder.losses), losses[0][:3], atol=1e-3)


def count_body_calls(learn) -> list:
    calls = []
    learn.model.body.register_forward_hook(lambda module, inp, out: calls.append(len(inp[0])))
    return calls


def test_precompute_cache_is_reused_without_running_the_body(tmp_path):
    data = tensor_data(n_train=8, n_valid=4)
    first = make_learner(data, tmp_path)
    calls = count_body_calls(first)
    first.precompute = True
    assert calls == []  # turning it on does no work
    first.precomp.prepare()
    assert sum(calls) == 12  # every train and valid image once
    assert sorted(p.name for p in first.precompute_dir.iterdir()) == ["train.pt", "valid.pt"]
    second = make_learner(data, tmp_path)
    calls = count_body_calls(second)
    second.precompute = True
    features = second.precomp.prepare().train_dl.dataset.tensors[0]
    assert calls == [] and second.precompute_dir == first.precompute_dir
    assert torch.equal(features, first.precomp.features.train_dl.dataset.tensors[0])
    assert features.shape == (8, 2560)  # concat pool of 1280 channels
    with second.silent():
        second.fit(1e-2, 1)
    assert calls == []  # training on the cache never touches the body


def test_any_change_makes_a_new_cache_entry(tmp_path):
    x = torch.randn(8, 3, 32, 32)
    learn = make_learner(tensor_data(x=x), tmp_path, precompute=True)
    learn.precomp.prepare()
    seen = {learn.precompute_dir}
    learn.precompute = False
    with torch.no_grad():
        learn.model.body[0].weight[0, 0, 0, 0] += 1e-3  # body weights
    learn.precompute = True
    learn.precomp.prepare()
    seen.add(learn.precompute_dir)
    x2 = x.clone()
    x2[5, 0, 0, 0] += 1  # one pixel of a validation image
    learn.set_data(tensor_data(x=x2))
    learn.precomp.prepare()
    seen.add(learn.precompute_dir)
    learn.set_data(tensor_data(x=x2, y=torch.tensor([0, 1, 2, 0, 1, 2, 0, 2])))  # one label
    features = learn.precomp.prepare()
    seen.add(learn.precompute_dir)
    assert len(seen) == 4 and all((d / "valid.pt").is_file() for d in seen)
    assert features.valid_dl.dataset.tensors[1][-1] == 2


def test_cache_key_covers_transforms_size_and_files():
    model = SimpleNamespace(body=torch.nn.Linear(2, 2), head=torch.nn.Sequential(), n_cached=0)
    model.body.weight.data.fill_(1.0)
    def splits(tfms="tfms=t sz=32", files="f1"):
        ds = SimpleNamespace(fingerprint=lambda: files)
        return ImageSplits({"train": DataLoader(ds), "valid": DataLoader(ds)}, tfms)
    keys = {cache_key(model, splits()), cache_key(model, splits(tfms="tfms=u sz=32")),
            cache_key(model, splits(tfms="tfms=t sz=40")), cache_key(model, splits(files="f2"))}
    assert len(keys) == 4 and cache_key(model, splits()) == cache_key(model, splits())
    model.body.weight.data[0, 0] = 2.0
    assert cache_key(model, splits()) not in keys


def test_cache_files_are_complete_and_no_temp_files_remain(tmp_path):
    learn = make_learner(tensor_data(), tmp_path, precompute=True)
    learn.precomp.prepare()
    names = sorted(p.name for p in learn.precompute_dir.parent.rglob("*") if p.is_file())
    assert names == ["train.pt", "valid.pt"]
    saved = torch.load(learn.precompute_dir / "valid.pt", weights_only=True)
    assert torch.equal(saved["y"], torch.tensor([1, 2, 0, 1]))


def test_unfreeze_turns_precompute_off_as_fastai_07(tmp_path):
    learn = make_learner(tensor_data(), tmp_path, precompute=True)
    learn.unfreeze()
    assert learn.precompute is False and learn.model.precomputed is False
    assert learn.data is learn.image_data
    assert all(p.requires_grad for p in learn.model.parameters())


def test_training_the_body_with_precompute_on_is_refused(tmp_path):
    learn = make_learner(tensor_data(), tmp_path, precompute=True)
    with pytest.raises(ValueError, match="precompute = False first"):
        learn.freeze_to(1)
    assert not any(p.requires_grad for p in learn.model.body.parameters())
    learn.precompute = False
    learn.unfreeze()
    data = learn.data
    with pytest.raises(ValueError, match=r"layer groups \[0, 1\] are trainable"):
        learn.precompute = True
    assert learn.precompute is False and learn.data is data


def test_precompute_off_keeps_the_trained_head(tmp_path):
    learn = make_learner(tensor_data(), tmp_path, precompute=True)
    with learn.silent():
        learn.fit(1e-2, 2)
    head = {k: v.clone() for k, v in learn.model.head.state_dict().items()}
    learn.precompute = False
    assert learn.data is learn.image_data
    assert all(torch.equal(head[k], v) for k, v in learn.model.head.state_dict().items())
    probs, _ = learn.get_preds()  # images through the full model
    learn.precompute = True
    features = learn.precomp.prepare().valid_dl
    head = learn.model.head[learn.model.n_cached:]  # the layers after the cached ones
    cached_probs, _ = learn.get_preds(features, forward=head)
    assert torch.allclose(probs, cached_probs, atol=1e-5)


def test_unhashable_dataset_is_refused_clearly(tmp_path):
    class Plain(torch.utils.data.Dataset):
        def __len__(self):
            return 4
        def __getitem__(self, i):
            return torch.zeros(3, 32, 32), 0
    data = DataBunch(DataLoader(Plain(), batch_size=4), DataLoader(Plain(), batch_size=4), classes=["a"])
    learn = make_learner(data, tmp_path)
    learn.precompute = True
    with pytest.raises(ValueError, match="fingerprint"), learn.silent():
        learn.fit(1e-3, 1)
    assert learn.model.precomputed is False and learn.precomp.features is None


def test_torchvision_arch_by_name_from_random_init(tmp_path):
    torch.manual_seed(0)
    learn = ConvLearner.pretrained("resnet18", tensor_data(), pretrained=False, path=tmp_path,
                                   device="cpu")
    assert learn.arch == "resnet18" and len(learn.layer_groups) == 3
    assert learn.model.head[4].in_features == 1024  # concat pool of resnet18's 512 channels
    before = snapshot(learn)
    with learn.silent():
        learn.fit(1e-2, 1)
    assert not any(changed(before, learn.model.state_dict(), "body.").values())


def test_custom_head_is_used_and_precomputed(tmp_path):
    from torch import nn

    head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(1280, 3))
    learn = make_learner(tensor_data(), tmp_path, custom_head=head, precompute=True)
    assert learn.model.head is head and learn.model.n_cached == 2
    assert learn.precomp.prepare().train_dl.dataset.tensors[0].shape == (4, 1280)
    with learn.silent():
        learn.fit(1e-2, 1)
    assert len(learn.recorder.losses) == 1


def test_unwritable_cache_folder_is_explained(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache folder should go")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))  # the user cache cannot be written either
    learn = make_learner(tensor_data(), blocker)  # <path>/tmp/precompute cannot be created
    learn.precompute = True
    with pytest.raises(OSError, match="path='some/dir'"), learn.silent():
        learn.fit(1e-3, 1)
    assert learn.model.precomputed is False and learn.data is learn.image_data


def test_channels_last_changes_the_layout_not_the_results(tmp_path):
    data = tensor_data(n_train=4, n_valid=4)
    # SGD, not Adam: Adam's first step is about lr * sign(grad), so float rounding in a tiny
    # gradient could flip a whole step; SGD's step is proportional to the gradient.
    plain = make_learner(data, tmp_path / "plain", channels_last=False, opt_func=torch.optim.SGD)
    fast = make_learner(data, tmp_path / "fast", channels_last=True, opt_func=torch.optim.SGD)
    convs = [m.weight for m in fast.model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) > 0 and all(w.is_contiguous(memory_format=torch.channels_last) for w in convs)
    assert not all(w.is_contiguous() for w in convs)  # really a different layout, not a no-op
    assert torch.allclose(plain.predict()[0], fast.predict()[0], atol=1e-5)
    before = snapshot(plain)
    params = [k for k, _ in plain.model.named_parameters()]
    for learn in (plain, fast):
        learn.unfreeze()
        learn.bn_freeze(True)  # batch statistics of 4 random images would make the step chaotic
        torch.manual_seed(1)   # the same dropout masks in the head
        with learn.silent():
            learn.fit(1e-2, 1)
    after_plain, after_fast = plain.model.state_dict(), fast.model.state_dict()
    moved = max((after_plain[k] - before[k]).abs().max().item() for k in params)
    differ = max((after_plain[k] - after_fast[k]).abs().max().item() for k in params)
    assert moved > 0.1 and differ < 1e-3  # the step moved weights by ~0.8; the layouts agree


def test_channels_last_is_the_default_on_the_cpu_only(tmp_path):
    data = tensor_data(n_train=4, n_valid=4)
    learn = make_learner(data, tmp_path)
    convs = [m.weight for m in learn.model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert all(w.is_contiguous(memory_format=torch.channels_last) for w in convs)
    assert not any(w.is_contiguous(memory_format=torch.channels_last) and not w.is_contiguous()
                   for w in make_learner(data, tmp_path, channels_last=False).model.parameters())


def test_channels_last_precompute_shares_the_cache_and_checkpoints_load_across_layouts(tmp_path):
    data = tensor_data(n_train=4, n_valid=4)
    plain = make_learner(data, tmp_path, precompute=True, channels_last=False)
    fast = make_learner(data, tmp_path, precompute=True, channels_last=True)
    plain.precomp.prepare()
    fast.precomp.prepare()
    assert fast.precompute_dir == plain.precompute_dir  # the key hashes values, not the layout
    fast.precompute = False
    fast.unfreeze()
    with fast.silent():
        fast.fit(1e-3, 1)
    fast.save("cl")
    fresh = make_learner(data, tmp_path, channels_last=False)
    fresh.load("cl")
    assert all(torch.equal(v, fast.model.state_dict()[k]) for k, v in fresh.model.state_dict().items())
