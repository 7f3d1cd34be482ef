"""BnFreeze: keep the BatchNorm layers of a pretrained body in eval mode while the rest trains.

A BatchNorm layer in train mode normalises each batch by that batch's own statistics and moves
its running statistics towards them. The pretrained body was trained with ImageNet's running
statistics; a few batches of new images would change what the frozen layers compute, under a
head that is learning to read them (fastai v1 `BnFreeze`, fastai 0.7 `learn.bn_freeze(True)`).
"""
from __future__ import annotations

from torch import nn

from ..callback import Callback
from ..layer_groups import modules_of, params_of


class BnFreeze(Callback):
    """Put the BatchNorm layers of frozen layer groups in eval mode at the start of training.

    `whole_body=True` does it for *every* group but the last (the new head), trainable or not:
    after `unfreeze()`, batch statistics instead of the running ones the pretrained weights and
    the trained head were used to can undo much of what the head learned. The weights and
    BatchNorm's scale/shift still train. The price: no batch statistics keep large steps in
    check, so keep the lrs modest (docs/transfer_learning.md has the measured limits).
    """

    order = -5  # after TrainEval (-10) has put the whole model in train mode

    def __init__(self, whole_body: bool = False):
        self.whole_body = whole_body

    def before_train(self):
        groups = self.learn.layer_groups
        for i, group in enumerate(groups):
            params = list(params_of(group))
            frozen = bool(params) and not any(p.requires_grad for p in params)
            if frozen or (self.whole_body and i < len(groups) - 1):
                for module in modules_of(group):
                    if isinstance(module, nn.modules.batchnorm._BatchNorm):
                        module.eval()
