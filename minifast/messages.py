"""MinifastWarning: the one base class of every message minifast gives while it works.

A library should not `print`: a user who wants quiet must be able to turn every message off in
one place. minifast's messages (a NaN stopped the fit, a bad image was skipped, a checkpoint was
saved) are warnings of this class or a subclass, so `warnings.simplefilter("ignore",
MinifastWarning)` -- or `with learn.silent():` -- silences them all, and a test can catch them.
"""
from __future__ import annotations


class MinifastWarning(UserWarning):
    """Base class of minifast's messages; filter it to silence them all."""
