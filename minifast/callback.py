"""The callback core: the list of events, the Callback base class and the Cancel exceptions.

Read this file first. A training loop is a fixed sequence of *events*; a callback is any object
with methods named after some of them. The Learner calls those methods, in `order`, at each
event, and the callback changes what happens by reading and writing the learner's state
(`self.learn.model`, `self.learn.loss`, ...). Idea: fastai v2 / miniai (fastai course 2022).
"""
from __future__ import annotations

# Every event of one `fit`, in the order it fires. A stage X is wrapped by before_X / after_X.
EVENTS = (
    "before_fit",
    "before_epoch",
    "before_train",
    "before_batch",
    "after_pred",
    "after_loss",
    "before_backward",
    "before_step",
    "after_step",
    "after_batch",
    "after_train",
    "before_validate",
    "after_validate",
    "after_epoch",
    "after_fit",
)


class CancelFitException(Exception):
    """Raise in a callback to stop training altogether; `after_fit` still runs."""


class CancelEpochException(Exception):
    """Raise to skip the rest of this epoch (training and validation); `after_epoch` runs."""


class CancelTrainException(Exception):
    """Raise to skip the rest of this epoch's training phase; `after_train` runs."""


class CancelValidException(Exception):
    """Raise to skip the rest of this epoch's validation phase; `after_validate` runs."""


class CancelStepException(Exception):
    """Raise in `before_step` to skip this batch's optimiser step; the gradients are still
    cleared (`zero_grad`), so the next batch starts from zero (mixed precision on overflow)."""


class CancelBatchException(Exception):
    """Raise to skip the rest of this batch: the step *and* the `zero_grad` after it, so the
    gradients are kept (gradient accumulation); `after_batch` runs."""


# What `Loop.fire` lets through untouched: they are how callbacks steer the loop.
CANCEL_EXCEPTIONS = (CancelStepException, CancelBatchException, CancelTrainException, CancelValidException,
                     CancelEpochException, CancelFitException)


class Callback:
    """Base class for callbacks: subclass it and define any of the methods named in EVENTS.

    Event methods take no arguments: everything a callback needs is on `self.learn`, which the
    loop sets when the callback is added. Callbacks run sorted by `order`, lowest first, so a
    callback that must see the state after another one has a larger `order`.
    """

    order: int = 0
    # False for callbacks that record or act on the run (loggers, checkpoints, early stopping):
    # `learn.lr_find()` takes them off for its sweep, which is a probe, not part of the run.
    run_in_lr_find: bool = True
    # The Loop (or Learner) this callback was added to. Not imported for the hint: loop.py
    # imports this file, and the core has no import circles, not even for type checkers.
    learn: Loop  # noqa: F821

    @property
    def name(self) -> str:
        """The class name, used by `show_training_loop` and error messages."""
        return type(self).__name__

    def __repr__(self) -> str:
        return f"{self.name}(order={self.order})"
