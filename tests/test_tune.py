"""tune: grid and random search over a Learner factory, on the tiny synthetic regression."""
from __future__ import annotations

import itertools

import pytest
import torch
from conftest import synth_data, synth_learner
from torch import nn

from minifast import Learner
from minifast.tune import MedianPruner, TuneResult, _combination, tune


def fit_2(learn, params):
    learn.fit(params["lr"], 2)


def make(lr):
    return synth_learner()


def test_grid_finds_the_obviously_best_lr_and_sorts_the_table():
    # y = 2x + 1 with SGD for 8 steps: 1e-4 and 1e-3 barely move, 5.0 diverges, 0.1 fits.
    result = tune(make, {"lr": [1e-4, 1e-3, 0.1, 5.0]}, fit=fit_2, verbose=False)
    assert result.best_params == {"lr": 0.1}
    assert [row["lr"] for row in result.table] == [0.1, 1e-3, 1e-4, 5.0]
    losses = [row["valid_loss"] for row in result.table]
    assert losses == sorted(losses) and losses[0] < 0.1 < 1.0 < losses[1]
    assert all(row["status"] == "done" and row["epochs"] == 2 for row in result.table)


def test_each_trial_equals_the_same_run_done_by_hand():
    result = tune(make, {"lr": [1e-3, 0.1]}, fit=fit_2, verbose=False)
    for row in result.table:
        learn = synth_learner()
        with learn.silent():
            learn.fit(row["lr"], 2)
        assert row["valid_loss"] == learn.recorder.log["valid_loss"]


def test_trials_are_seeded_identically_even_with_shared_data():
    # One DataBunch for all trials: its DataLoader's own generator would shuffle differently in
    # each trial, and the model's init would draw different numbers, unless tune reseeds both.
    data = synth_data()

    def make_shared(lr):
        return Learner(nn.Linear(1, 1), data, loss_func=nn.MSELoss(), metrics=[],
                       opt_func=torch.optim.SGD, wd=0.0, device="cpu")

    result = tune(make_shared, {"lr": [0.05, 0.05, 0.05]}, fit=fit_2, verbose=False)
    values = {row["valid_loss"] for row in result.table}
    assert len(values) == 1


def test_random_search_tries_distinct_combinations_reproducibly():
    space = {"lr": [1e-3, 1e-2, 0.1, 0.2], "bs": [8, 16, 32]}
    calls = []

    def make_bs(lr, bs):
        calls.append((lr, bs))
        return synth_learner(bs=bs)

    first = tune(make_bs, space, fit=lambda learn, p: learn.fit(p["lr"], 1), search="random",
                 n_trials=5, seed=3, verbose=False)
    assert len(set(calls)) == 5 and len(first.table) == 5
    again = tune(make_bs, space, fit=lambda learn, p: learn.fit(p["lr"], 1), search="random",
                 n_trials=5, seed=3, verbose=False)
    assert calls[:5] == calls[5:] and first.best_params == again.best_params


def test_combination_decodes_the_product_index():
    values = [[1, 2, 3], ["a", "b"], [0.5, 0.25]]
    expected = [list(c) for c in itertools.product(*values)]
    assert [_combination(values, i) for i in range(12)] == expected


def test_pruning_stops_clearly_bad_trials_after_warm_up():
    epochs_run = []

    def fit_twice(learn, params):  # a recipe of two fits: a pruned trial skips the second
        learn.fit(params["lr"], 2)
        learn.fit(params["lr"], 1)
        epochs_run.append(len(learn.recorder.values))

    result = tune(make, {"lr": [0.1, 0.05, 5.0, 1e-5]}, fit=fit_twice,
                  prune=MedianPruner(n_startup=2, n_warmup=1), verbose=False)
    by_lr = {row["lr"]: row for row in result.table}
    order = (0.1, 0.05, 5.0, 1e-5)
    assert [by_lr[lr]["status"] for lr in order] == ["done", "done", "pruned", "pruned"]
    assert [by_lr[lr]["epochs"] for lr in order] == [3, 3, 1, 1]
    assert epochs_run == [1, 1, 0, 0]  # the last fit's table: pruned trials never ran it
    assert [row["status"] for row in result.table] == ["done", "done", "pruned", "pruned"]
    assert result.best_params == {"lr": 0.1}


def test_printed_table_lists_the_trials_best_first():
    result = tune(make, {"lr": [1e-3, 0.1]}, fit=fit_2, verbose=False)
    lines = str(result).splitlines()
    assert lines[0].split() == ["lr", "valid_loss", "epochs", "status", "seconds"]
    assert lines[1].split()[0] == "0.1" and lines[2].split()[0] == "0.001" and len(lines) == 3
    assert isinstance(result, TuneResult) and "{'lr': 0.1}" in repr(result)


def test_default_recipe_is_one_epoch_of_one_cycle():
    result = tune(make, {"lr": [0.1]}, verbose=False)
    assert result.table[0]["epochs"] == 1 and result.table[0]["status"] == "done"


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(space={}), ValueError, "non-empty dict"),
    (dict(space={"lr": []}), ValueError, r"space\['lr'\] must be a non-empty list"),
    (dict(space={"lr": [0.1, 0.2]}, n_trials=1), ValueError, "search='random'"),
    (dict(space={"lr": [0.1]}, search="random"), ValueError, "needs n_trials"),
    (dict(space={"lr": [0.1]}, search="bayes"), ValueError, "'grid' or 'random'"),
    (dict(space={"lr": [0.1]}, mode="lowest"), ValueError, "mode must be"),
    (dict(space={"lr": [0.1]}, metric="accuracy"), KeyError, "columns are"),
])
def test_bad_arguments_are_refused_with_a_clear_message(kwargs, error, match):
    with pytest.raises(error, match=match):
        tune(make, fit=fit_2, verbose=False, **kwargs)
