"""The callback core: event order, Cancel exceptions, ordering, dispatch errors."""
import pytest
import torch

from minifast import (
    EVENTS,
    Callback,
    CancelBatchException,
    CancelEpochException,
    CancelFitException,
    CancelTrainException,
    CancelValidException,
)
from tests.conftest import synth_learner


class EventLog(Callback):
    """Records the name of every event it sees, written out as a user would."""

    def __init__(self):
        self.seen = []

    def before_fit(self):
        self.seen.append("before_fit")

    def before_epoch(self):
        self.seen.append("before_epoch")

    def before_train(self):
        self.seen.append("before_train")

    def before_batch(self):
        self.seen.append("before_batch")

    def after_pred(self):
        self.seen.append("after_pred")

    def after_loss(self):
        self.seen.append("after_loss")

    def before_backward(self):
        self.seen.append("before_backward")

    def before_step(self):
        self.seen.append("before_step")

    def after_step(self):
        self.seen.append("after_step")

    def after_batch(self):
        self.seen.append("after_batch")

    def after_train(self):
        self.seen.append("after_train")

    def before_validate(self):
        self.seen.append("before_validate")

    def after_validate(self):
        self.seen.append("after_validate")

    def after_epoch(self):
        self.seen.append("after_epoch")

    def after_fit(self):
        self.seen.append("after_fit")


BATCH = ["before_batch", "after_pred", "after_loss", "before_backward", "before_step",
         "after_step", "after_batch"]
VALID_BATCH = ["before_batch", "after_pred", "after_loss", "after_batch"]


def test_event_order_one_epoch_two_train_one_valid_batch():
    learn = synth_learner(n_train=32, n_valid=16, bs=16)  # 2 train batches, 1 valid batch
    log = EventLog()
    learn.fit(0.1, 1, cbs=[log])
    assert log.seen == (["before_fit", "before_epoch", "before_train"] + BATCH + BATCH
                        + ["after_train", "before_validate"] + VALID_BATCH
                        + ["after_validate", "after_epoch", "after_fit"])


class Raiser(Callback):
    """Raise `exc` at `event` (once per batch index given, or every time)."""

    order = -20  # before the log, so a cancelled event is never logged

    def __init__(self, event, exc, only_iter=None):
        self.event, self.exc, self.only_iter = event, exc, only_iter
        setattr(self, event, self._raise)

    def _raise(self):
        if self.only_iter is None or (self.learn.training and self.learn.iter == self.only_iter):
            raise self.exc()


def run_with(event, exc, only_iter=None):
    learn = synth_learner(n_train=32, n_valid=16, bs=16)
    log = EventLog()
    learn.fit(0.1, 1, cbs=[Raiser(event, exc, only_iter), log])
    return log.seen, learn


def test_cancel_batch_skips_rest_of_batch_only():
    seen, _ = run_with("after_loss", CancelBatchException)
    # every batch stops after its loss: no backward/step, but after_batch still fires
    cut = ["before_batch", "after_pred", "after_batch"]
    assert seen == (["before_fit", "before_epoch", "before_train"] + cut + cut
                    + ["after_train", "before_validate"] + cut
                    + ["after_validate", "after_epoch", "after_fit"])


def test_cancel_train_skips_rest_of_training_then_validates():
    seen, _ = run_with("before_batch", CancelTrainException, only_iter=0)
    assert seen == (["before_fit", "before_epoch", "before_train", "after_train",
                     "before_validate"] + VALID_BATCH + ["after_validate", "after_epoch", "after_fit"])


def test_cancel_valid_skips_validation_only():
    seen, _ = run_with("before_validate", CancelValidException)
    assert seen == (["before_fit", "before_epoch", "before_train"] + BATCH + BATCH
                    + ["after_train", "after_validate", "after_epoch", "after_fit"])


def test_cancel_epoch_skips_rest_of_epoch():
    seen, _ = run_with("after_train", CancelEpochException)
    assert seen == (["before_fit", "before_epoch", "before_train"] + BATCH + BATCH
                    + ["after_epoch", "after_fit"])


def test_cancel_fit_stops_everything_but_after_fit():
    seen, _ = run_with("before_step", CancelFitException, only_iter=1)
    assert seen == (["before_fit", "before_epoch", "before_train"] + BATCH
                    + ["before_batch", "after_pred", "after_loss", "before_backward", "after_fit"])


def test_after_fit_runs_when_an_error_escapes():
    learn = synth_learner()
    log = EventLog()
    with pytest.raises(ZeroDivisionError) as info:
        learn.fit(0.1, 1, cbs=[Raiser("after_pred", ZeroDivisionError), log])
    assert log.seen[-1] == "after_fit"
    # the same exception, with a note naming the callback and event
    assert any("Raiser.after_pred" in note for note in info.value.__notes__)


def test_callbacks_run_sorted_by_order():
    calls = []

    class Tag(Callback):
        def __init__(self, order, tag):
            self.order, self.tag = order, tag

        def before_fit(self):
            calls.append(self.tag)

    learn = synth_learner()
    learn.fit(0.1, 1, cbs=[Tag(5, "c"), Tag(-5, "a"), Tag(0, "b")])
    assert calls == ["a", "b", "c"]
    assert [cb.order for cb in learn.cbs] == sorted(cb.order for cb in learn.cbs)


def test_fit_cbs_are_for_one_fit_only():
    learn = synth_learner()
    log = EventLog()
    learn.fit(0.1, 1, cbs=[log])
    assert log not in learn.cbs
    n = len(log.seen)
    learn.fit(0.1, 1)
    assert len(log.seen) == n


def test_added_cbs_context_and_add_remove():
    learn = synth_learner()
    log = EventLog()
    with learn.added_cbs([log]):
        assert log in learn.cbs and log.learn is learn
    assert log not in learn.cbs
    learn.add_cb(log)
    assert learn.get_cb(EventLog) is log
    learn.remove_cb(log)
    assert learn.get_cb(EventLog) is None


def test_show_training_loop_lists_callbacks_per_event(capsys):
    learn = synth_learner()
    learn.show_training_loop()
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == list(EVENTS)
    assert "Recorder" in next(line for line in lines if line.startswith("after_loss"))


def test_a_callback_can_change_the_loss():
    class ZeroLoss(Callback):
        def after_loss(self):
            self.learn.loss = self.learn.loss * 0

    learn = synth_learner()
    before = [p.detach().clone() for p in learn.model.parameters()]
    learn.fit(0.1, 1, cbs=[ZeroLoss()])
    assert all(torch.equal(a, b) for a, b in zip(before, learn.model.parameters()))


class FailsInAfterFit(Callback):
    order = 1

    def after_fit(self):
        raise RuntimeError("cleanup failed")


class RestoresInAfterFit(Callback):
    order = 2

    def before_fit(self):
        self.restored = False

    def after_fit(self):
        self.restored = True


def test_every_after_fit_runs_even_when_one_raises_and_the_first_error_is_raised():
    learn, later = synth_learner(), RestoresInAfterFit()
    with learn.silent(), pytest.raises(RuntimeError, match="cleanup failed") as info:
        learn.fit(0.1, 1, cbs=[FailsInAfterFit(), later])
    assert later.restored  # the callback after the failing one still put things back
    assert "(raised in callback FailsInAfterFit.after_fit)" in info.value.__notes__
    assert learn.progress is not None and learn.progress.bar is None  # bars closed too


def test_the_batch_reads_like_the_textbook():
    """pred, loss, backward, step, zero_grad: no wrapper around the optimiser step."""
    import inspect

    from minifast import Learner
    source = inspect.getsource(Learner._do_one_batch)
    for line in ("self.pred = self.model(self.xb)", "self.loss.backward()", "self._step",
                 "self.opt.zero_grad(set_to_none=True)"):
        assert line in source
    names = [cb.name for cb in synth_learner().cbs]
    assert names == ["TrainEval", "Recorder", "TerminateOnNaN", "ProgressBar",
                     "InterruptGuard"]


def test_the_loop_keeps_its_position_in_the_fit():
    """`train_iter` counts training batches from epoch 0 on a bare Loop too (no callback keeps
    it); a fit that starts part-way (as Resume makes it) starts at that epoch's first batch."""
    from minifast.loop import Loop
    seen = []

    class Probe(Callback):
        start = 0

        def before_fit(self):
            self.learn.start_epoch = self.start

        def before_batch(self):
            if self.learn.training:
                seen.append(self.learn.train_iter)

    learn = synth_learner()
    n_iter = len(learn.data.train_dl)
    for start in (0, 1):
        probe = Probe()
        probe.start = start
        seen.clear()
        Loop(learn.model, learn.data, cbs=[probe]).fit_epochs(3, 0.1)
        assert seen == list(range(start * n_iter, 3 * n_iter))
    seen.clear()
    with learn.silent():
        learn.fit(0.1, 2, cbs=[Probe()])  # with the Learner's default callbacks
    assert seen == list(range(2 * n_iter))


class Counts(Callback):
    def __init__(self):
        self.n = 0

    def after_batch(self):
        self.n += 1


def test_learn_called_with_an_event_fires_it_like_fire():
    learn, counts = synth_learner(), Counts()
    learn.add_cb(counts)
    learn("after_batch")
    learn.fire("after_batch")
    assert counts.n == 2


def test_the_handler_table_follows_add_and_remove():
    """Each event calls exactly the callbacks registered now, in order; nothing stale is called."""
    learn, counts = synth_learner(), Counts()
    learn.fire("after_batch")
    learn.add_cb(counts)
    handlers = [cb for cb, _ in learn.handlers["after_batch"]]
    assert counts in handlers and [cb.order for cb in handlers] == sorted(cb.order for cb in handlers)
    learn.fire("after_batch")
    learn.remove_cb(counts)
    learn.fire("after_batch")
    assert counts.n == 1
    assert counts not in [cb for cbs in learn.handlers.values() for cb, _ in cbs]


def test_callbacks_change_only_through_add_and_remove_with_clear_errors():
    learn = synth_learner()
    with pytest.raises(AttributeError):  # a tuple: learn.cbs.append would bypass the handler table
        learn.cbs.append(EventLog())
    with pytest.raises(ValueError, match="EventLog is not one of this learner's callbacks"):
        learn.remove_cb(EventLog())
    with pytest.raises(ValueError, match="unknown event 'after_bacth'.*before_fit"):
        learn.fire("after_bacth")
