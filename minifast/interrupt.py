"""Make the optimiser step atomic under Ctrl-C: a SIGINT that arrives mid-step waits until it ends.

Ctrl-C makes Python raise KeyboardInterrupt at the next bytecode, wherever that is. Inside
`opt.step()` that can be after some parameters were updated and before others (or after a
parameter moved but before its momentum buffer did): a model that is neither the old one nor
the new one. While the step runs we install a handler that only *records* the signal, then put
the old handler back and deliver the interrupt once the step is whole. Idea: the "delayed
KeyboardInterrupt" pattern (e.g. Lightning's and many training scripts' signal guards).
"""
from __future__ import annotations

import contextlib
import signal
import threading
from typing import Iterator


@contextlib.contextmanager
def deferred_interrupt() -> Iterator[None]:
    """Run the `with` body without interruption by SIGINT; re-deliver it right after.

    Only the main thread can install signal handlers (and only it receives KeyboardInterrupt),
    so in any other thread this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
    if previous is None:  # a handler not installed from Python: restore Python's default
        previous = signal.default_int_handler
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if received:  # the body finished: now behave as if Ctrl-C had just been pressed
        if callable(previous):
            previous(signal.SIGINT, None)  # Python's default handler raises KeyboardInterrupt
        elif previous != signal.SIG_IGN:
            raise KeyboardInterrupt
