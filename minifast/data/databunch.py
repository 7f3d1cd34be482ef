"""DataBunch: the one object a Learner needs for data — a training and a validation DataLoader."""
from __future__ import annotations

from collections.abc import Sequence

from torch.utils.data import DataLoader


class DataBunch:
    """Bundle plain DataLoaders for a Learner.

    Anything with `train_dl` and `valid_dl` attributes works as a Learner's data; this class is
    the simplest such thing. `classes` (a list of names) and `c` (the number of outputs) are
    optional: they let a Learner pick a loss and name predictions.
    """

    def __init__(
        self,
        train_dl: DataLoader,
        valid_dl: DataLoader,
        test_dl: DataLoader | None = None,
        classes: Sequence[str] | None = None,
    ):
        self.train_dl, self.valid_dl, self.test_dl = train_dl, valid_dl, test_dl
        self.classes = list(classes) if classes is not None else None

    @property
    def c(self) -> int | None:
        """Number of classes, when known."""
        return len(self.classes) if self.classes is not None else None

    def __repr__(self) -> str:
        n_trn, n_val = len(self.train_dl.dataset), len(self.valid_dl.dataset)
        return f"DataBunch(train={n_trn}, valid={n_val}, classes={self.c})"
