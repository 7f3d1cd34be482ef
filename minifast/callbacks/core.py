"""TrainEvalCallback: switch train/eval mode and keep the loop's position (`pct_train`)."""
from __future__ import annotations

from ..callback import Callback


class TrainEvalCallback(Callback):
    """Put the model in train mode for training and eval mode for validation, and keep
    `learn.pct_train` (0 -> 1 over the whole fit) and `learn.train_iter` (training batches done)
    up to date, because schedules are functions of that position."""

    order = -10  # before everything that reads the mode or the position

    def before_fit(self):
        self.learn.train_iter = 0
        self.learn.pct_train = self.learn.start_epoch / max(self.learn.n_epoch, 1)

    def before_train(self):
        self.learn.model.train()

    def before_batch(self):
        learn = self.learn
        if learn.training:
            learn.pct_train = (learn.epoch + learn.iter / learn.n_iter) / learn.n_epoch

    def after_batch(self):
        if self.learn.training:
            self.learn.train_iter += 1

    def before_validate(self):
        self.learn.model.eval()
