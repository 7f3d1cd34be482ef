"""Distributed: train one model with several processes, on PyTorch's DistributedDataParallel.

    torchrun --nproc_per_node=2 train.py        # the same train.py also runs with plain python

    with distrib(learn):                        # or: learn.fit(..., cbs=[Distributed()])
        learn.fit_one_cycle(3, 1e-2)

Each process (rank) holds a copy of the model and trains on its own shard of the data; DDP
averages the gradients across ranks in `backward`, so every copy takes the same step and the
weights stay identical. This callback adds what a *training loop* needs on top of that:
  1. wrap the model in DDP (which also copies rank 0's weights to every rank), for the forward
     pass only: `learn.model` is the DDP wrapper from `before_batch` to `after_pred`, and the
     plain model everywhere else, so no other callback needs to know about DDP;
  2. give each rank its shard: `DistributedSampler` for training (`set_epoch` every epoch so the
     shuffle changes), and a non-padding split for validation so that summed metrics are exact;
  3. make every number a callback decides on the same on every rank: each training batch's loss
     is averaged across ranks, and the Recorder's per-epoch sums are summed across ranks;
  4. let only rank 0 print: `distrib(learn)` trains the other ranks inside `learn.silent()`
     (with a bare `Distributed()` do that yourself); `learn.save` and other file writers check
     `is_main_process()`.
With one process (plain `python`) every step is skipped and training is unchanged.
Sources: PyTorch DDP tutorial and `DistributedSampler`; fastai v2's `DistributedTrainer`.
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader

from ..callback import Callback
from ..distributed import (
    all_reduce_sum,
    is_distributed,
    is_main_process,
    local_rank,
    setup_distributed,
    shard_dataloader,
    unwrap_model,
    world_size,
)


class Distributed(Callback):
    """Train with DistributedDataParallel when the script runs under torchrun; a no-op otherwise.

    `find_unused_parameters=True` is needed only when some trainable parameters get no gradient
    in a forward pass (DDP then raises an error that says so). `seed` seeds the training shuffle,
    which must be the same on every rank.
    """

    order = -30  # first: the model is wrapped before any other callback sees the fit start

    def __init__(self, find_unused_parameters: bool = False, seed: int = 0):
        self.find_unused_parameters, self.seed = find_unused_parameters, seed
        self.active, self.loaders = False, {}

    def before_fit(self):
        setup_distributed()  # started here if the script did not (a torchrun launch)
        self.active, self.loaders = is_distributed(), {}
        learn = self.learn
        if not self.active:
            return
        self._place_model()
        # A new wrapper for each fit: DDP fixes the set of parameters it synchronises when it is
        # built, and freeze/unfreeze between fits changes it.
        ids = [learn.device.index] if learn.device.type == "cuda" else None
        self.plain = learn.model
        self.ddp = DistributedDataParallel(learn.model, device_ids=ids,
                                           find_unused_parameters=self.find_unused_parameters)

    def before_batch(self):
        # The forward must go through the wrapper: it prepares the gradient averaging that runs
        # in backward. Everything else (saving, hooks, state_dict keys) sees the plain model.
        if self.active:
            self.learn.model = self.ddp

    def after_pred(self):
        if self.active:
            self.learn.model = self.plain

    def _place_model(self):
        """With CUDA, rank r uses GPU `LOCAL_RANK` (not every rank on cuda:0)."""
        learn = self.learn
        if learn.device.type != "cuda":
            return
        learn.device = torch.device("cuda", local_rank())
        learn.model.to(learn.device)  # moves the same Parameter objects: the optimiser keeps them
        if learn.opt is not None and learn.opt.state:  # load_state_dict moves state to the params
            learn.opt.load_state_dict(learn.opt.state_dict())

    def before_train(self):
        if self.active:
            self.learn.dl = self._shard(self.learn.dl, train=True)
            self.learn.dl.sampler.set_epoch(self.learn.epoch)  # a new shuffle each epoch

    def before_validate(self):
        if self.active:
            self.learn.dl = self._shard(self.learn.dl, train=False)

    def _shard(self, dl: DataLoader, train: bool) -> DataLoader:
        """This rank's part of `dl`, built once per DataLoader and fit."""
        if id(dl) not in self.loaders:
            self.loaders[id(dl)] = shard_dataloader(dl, train, self.seed)
        return self.loaders[id(dl)]

    def after_loss(self):
        # Average the loss *value* over ranks but keep this rank's graph: the added term is a
        # constant, so backward (and DDP's gradient averaging) is unchanged, while the Recorder,
        # the LR finder or TerminateOnNaN see the same number on every rank and so take the same
        # decision (one rank stopping alone would leave the others waiting forever in DDP).
        learn = self.learn
        if self.active and learn.training:
            mean = all_reduce_sum([learn.loss])[0].to(learn.loss.dtype) / world_size()
            learn.loss = learn.loss + (mean.to(learn.loss.device) - learn.loss).detach()

    def after_epoch(self):
        # Before the Recorder's after_epoch (order 50) turns the sums into the epoch's row.
        if self.active and self.learn.recorder is not None:
            self.learn.recorder.combine_epoch_sums(all_reduce_sum)

    def after_fit(self):
        self.learn.model, self.loaders, self.ddp = unwrap_model(self.learn.model), {}, None


@contextlib.contextmanager
def distrib(learn: Learner, find_unused_parameters: bool = False,  # noqa: F821
            seed: int = 0) -> Iterator[Learner]:  # noqa: F821 - learner.py is above, not imported
    """`with distrib(learn): learn.fit(...)` — every fit inside trains with DDP.

    Starts the process group if torchrun launched the script (it then lives until the process
    ends). Only rank 0 prints: the other ranks train inside `learn.silent()`. With one process
    it changes nothing.
    """
    setup_distributed()
    quiet = learn.silent() if not is_main_process() else contextlib.nullcontext()
    try:
        with quiet, learn.added_cbs([Distributed(find_unused_parameters, seed)]):
            yield learn
    finally:
        learn.model = unwrap_model(learn.model)
