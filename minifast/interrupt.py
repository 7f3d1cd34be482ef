"""Make the optimiser step atomic under Ctrl-C: a SIGINT that arrives mid-step waits until it ends.

Ctrl-C makes Python raise KeyboardInterrupt at the next bytecode, wherever that is. Inside
`opt.step()` that can be after some parameters were updated and before others (or after a
parameter moved but before its momentum buffer did): a model that is neither the old one nor
the new one. So for the length of a fit we install a SIGINT handler that raises at once, as
usual, *except* while a step runs: then it only records the signal, and the interrupt is
delivered as soon as the step is whole. Installing it once per fit (not once per step) keeps
the per-batch cost to two attribute writes; `signal.signal` is a system call.
Idea: the "delayed KeyboardInterrupt" pattern of many training scripts.
"""
from __future__ import annotations

import signal
import threading
from typing import Callable


class InterruptGuard:
    """`with guard:` for a whole fit; `guard.run_step(opt.step)` for each step.

    Only the main thread can install signal handlers (and only it receives KeyboardInterrupt),
    so in any other thread the guard installs nothing and `run_step` just runs the step.
    Nested `with` blocks (a fit inside a fit) install the handler once.
    """

    def __init__(self):
        self.in_step, self.pending, self.depth = False, False, 0
        self.previous = None  # the handler to restore, and to call to deliver a Ctrl-C

    def __enter__(self) -> "InterruptGuard":
        self.depth += 1
        if self.depth == 1 and threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGINT, self._on_sigint)
            if self.previous is None:  # a handler not installed from Python: use Python's default
                self.previous = signal.default_int_handler
        return self

    def __exit__(self, *exc_info) -> None:
        self.depth -= 1
        if self.depth == 0 and self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)
            self.previous = None

    def run_step(self, step: Callable[[], object]) -> None:
        """Run `step()` whole; a Ctrl-C that arrived meanwhile is delivered right after."""
        self.in_step = True
        try:
            step()
        finally:
            self.in_step = False
        if self.pending:  # the step finished: now behave as if Ctrl-C had just been pressed
            self.pending = False
            self._deliver()

    def _on_sigint(self, signum, frame) -> None:
        if self.in_step:
            self.pending = True
        else:
            self._deliver()

    def _deliver(self) -> None:
        if callable(self.previous):
            self.previous(signal.SIGINT, None)  # Python's default handler raises KeyboardInterrupt
        elif self.previous != signal.SIG_IGN:
            raise KeyboardInterrupt
