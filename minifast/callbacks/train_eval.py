"""TrainEval: put the model in train mode for training and eval mode for validation."""
from __future__ import annotations

from ..callback import Callback


class TrainEval(Callback):
    """Put the model in train mode for training and eval mode for validation: dropout and
    batch norm behave differently in the two. Idea: fastai v2's callback of the same name."""

    order = -10  # before everything that reads the mode

    def before_train(self):
        self.learn.model.train()

    def before_validate(self):
        self.learn.model.eval()


TrainEvalCallback = TrainEval  # fastai v2's name for it
