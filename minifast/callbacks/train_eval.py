"""TrainEvalCallback: switch train/eval mode and keep the loop's position (`train_iter`, `pct_train`)."""
from __future__ import annotations

from ..callback import Callback


class TrainEvalCallback(Callback):
    """Put the model in train mode for training and eval mode for validation, and keep the
    position in the fit up to date: `learn.train_iter` (this training batch's index in the whole
    fit, counted from epoch 0 so a resumed fit is at the right place) and `learn.pct_train`
    (0 -> 1 over the fit). The schedules (`ParamScheduler`) are functions of that position."""

    order = -10  # before everything that reads the mode or the position

    def before_fit(self):
        self.learn.train_iter = 0
        self.learn.pct_train = self.learn.start_epoch / max(self.learn.n_epoch, 1)

    def before_train(self):
        self.learn.model.train()

    def before_batch(self):
        learn = self.learn
        if learn.training:
            learn.train_iter = learn.epoch * learn.n_iter + learn.iter
            learn.pct_train = learn.train_iter / (learn.n_epoch * learn.n_iter)

    def before_validate(self):
        self.learn.model.eval()
