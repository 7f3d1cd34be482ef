"""TrainEval: switch train/eval mode and keep the loop's position (`train_iter`)."""
from __future__ import annotations

from ..callback import Callback


class TrainEval(Callback):
    """Put the model in train mode for training and eval mode for validation, and keep
    `learn.train_iter`: this training batch's index in the whole fit, counted from epoch 0 so a
    resumed fit is at the right place. The schedules (`ParamScheduler`) are functions of it.
    Idea: fastai v2's callback of the same name."""

    order = -10  # before everything that reads the mode or the position

    def before_fit(self):
        self.learn.train_iter = 0

    def before_train(self):
        self.learn.model.train()

    def before_batch(self):
        learn = self.learn
        if learn.training:
            learn.train_iter = learn.epoch * learn.n_iter + learn.iter

    def before_validate(self):
        self.learn.model.eval()


TrainEvalCallback = TrainEval  # fastai v2's name for it
