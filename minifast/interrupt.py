"""InterruptGuard: Ctrl-C never lands half-way through an optimiser step or a weight restore.

Ctrl-C makes Python raise KeyboardInterrupt at the next bytecode, wherever that is. Inside
`opt.step()` that can be after some parameters were updated and before others (or after a
parameter moved but before its momentum buffer did): a model that is neither the old one nor
the new one. So for the length of a fit this default callback installs a SIGINT handler that
raises at once, as usual, *except* while it holds: from `before_step` to `after_step` it only
records the signal, and the interrupt is delivered as soon as the step is whole.
`hold_interrupts()` does the same for any block: the LR finder putting the weights back, a
DataLoader starting, resetting or stopping its workers (`data/loaders.py`).
Installing the handler once per fit (not once per step) keeps the per-batch cost to two
attribute writes; `signal.signal` is a system call. Idea: the "delayed KeyboardInterrupt" pattern.
"""
from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator

from .callback import Callback


class InterruptGuard(Callback):
    """Hold Ctrl-C during each optimiser step; deliver it as soon as the step is whole.

    Only the main thread can install signal handlers (and only it receives KeyboardInterrupt),
    so in any other thread the guard installs nothing. Nested use (a fit inside a fit)
    installs the handler once. Outside a Learner: `with guard: guard.run_step(opt.step)`.
    """

    order = 90  # last in before_step: nothing can cancel the batch between `hold` and the step

    def __init__(self):
        self.holding, self.pending, self.depth = False, False, 0
        self.previous = None  # the handler to restore, and to call to deliver a Ctrl-C

    # ---------------------------------------------------------------- the events
    def before_fit(self):
        self.__enter__()

    def before_step(self):
        self.holding = True

    def after_step(self):
        self.release()
    # A batch cancelled between before_step and after_step keeps holding until the next step
    # ends, or until after_fit, which delivers a Ctrl-C still held (no per-batch event for it).

    def after_fit(self):
        pending, self.holding, self.pending = self.pending, False, False
        try:
            if pending:  # held since a batch that a callback cancelled after its step
                self._deliver()
        finally:
            self.__exit__()

    # ---------------------------------------------------------------- the mechanism
    def __enter__(self) -> InterruptGuard:
        self.depth += 1
        if self.depth == 1 and threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGINT, self._on_sigint)
            if self.previous is None:  # a handler not installed from Python: use Python's default
                self.previous = signal.default_int_handler
        return self

    def __exit__(self, *exc_info) -> None:
        self.depth = max(self.depth - 1, 0)
        if self.depth == 0 and self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)
            self.previous = None

    def run_step(self, step: Callable[[], object]) -> None:
        """Run `step()` whole; a Ctrl-C that arrived meanwhile is delivered right after."""
        self.holding = True
        try:
            step()
        finally:
            self.release()

    def release(self) -> None:
        """Stop holding; if Ctrl-C came meanwhile, behave as if it had just been pressed."""
        self.holding = False
        if self.pending:
            self.pending = False
            self._deliver()

    def _on_sigint(self, signum, frame) -> None:
        if self.holding:
            self.pending = True
        else:
            self._deliver()

    def _deliver(self) -> None:
        if callable(self.previous):
            self.previous(signal.SIGINT, None)  # Python's default handler raises KeyboardInterrupt
        elif self.previous != signal.SIG_IGN:
            raise KeyboardInterrupt


@contextlib.contextmanager
def hold_interrupts() -> Iterator[None]:
    """`with hold_interrupts(): restore_weights()` — a Ctrl-C meanwhile waits for the block."""
    guard = InterruptGuard()
    with guard:
        guard.holding = True
        try:
            yield
        finally:
            guard.release()
