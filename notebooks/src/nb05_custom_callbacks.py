"""Cells of notebooks/05_custom_callbacks.ipynb (built by notebooks/build.py)."""

CELLS = [
("md", r"""
# 05 — Custom callbacks: see the loop, then change it

Everything optional in minifast — progress bars, the recorder, schedules, early stopping,
clipping — is a **callback**: an object whose methods are named after the *events* of the
training loop. In this notebook we

1. look at the loop with `EventTracer`, a callback that prints every event;
2. write three callbacks from scratch: a metric logger, a "stop after N batches" callback
   (using the `Cancel*Exception`s), and a gradient-norm plotter;
3. read how the built-in callbacks are written — exactly the same way.

Data: the MNIST sample that ships inside minifast (no download). Set `MINIFAST_QUICK=1` to run
on a tiny subset.
"""),
("code", r"""
%matplotlib inline
import os, time, inspect
os.environ.setdefault('TQDM_DISABLE', '1')   # plain-text tables instead of progress widgets
QUICK = os.environ.get('MINIFAST_QUICK') == '1'

import torch
from torch import nn
import matplotlib.pyplot as plt
from minifast import *

torch.manual_seed(0)
print('quick mode' if QUICK else 'full mode')
"""),
("md", r"""
## The data and a small model

`mnist_sample_data()` returns a `DataBunch`: a training and a validation `DataLoader` of
normalised 28×28 digits.
"""),
("code", r"""
data = mnist_sample_data(bs=64, n_train=512 if QUICK else None)
print(data)

def conv(n_in, n_out):
    return nn.Sequential(nn.Conv2d(n_in, n_out, 3, stride=2, padding=1, bias=False),
                         nn.BatchNorm2d(n_out), nn.ReLU())

def small_cnn():
    return nn.Sequential(conv(1, 8), conv(8, 16), conv(16, 32), conv(32, 64),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10))

learn = Learner(small_cnn(), data)
"""),
("md", r"""
## 1. The events, in order

The loop fires these events, always in this order (`EVENTS` in `minifast/callback.py`):
"""),
("code", r"""
print(EVENTS)
"""),
("md", r"""
`show_training_loop()` lists which of the registered callbacks runs at each event. A new
Learner has three: `TrainEvalCallback` (train/eval mode and the loop's position),
`Recorder` (losses, lrs, metrics) and `ProgressCallback` (bars and the epoch table).
"""),
("code", r"""
learn.show_training_loop()
"""),
("md", r"""
`EventTracer` prints each event as it fires, with the state it can see. To keep the trace short
we fit one epoch on a `DataBunch` of just 2 training batches and 1 validation batch.
"""),
("code", r"""
from torch.utils.data import DataLoader, Subset

tiny = DataBunch(DataLoader(Subset(data.train_dl.dataset, range(64)), batch_size=32),
                 DataLoader(Subset(data.valid_dl.dataset, range(32)), batch_size=32))
tiny_learn = Learner(small_cnn(), tiny)
with tiny_learn.silent():
    tiny_learn.fit(1e-3, 1, cbs=[EventTracer()])
"""),
("md", r"""
## 2. Callback one: a metric logger

A callback is a class with methods named after events; the methods take no arguments and read
the learner through `self.learn`. This one copies the Recorder's row after every epoch into a
list of dicts (handy for a pandas DataFrame or a dashboard). It must run *after* the Recorder
has written the row, so its `order` is larger than the Recorder's 50.
"""),
("code", r"""
class MetricLogger(Callback):
    "Keep one dict per epoch: {'epoch': 0, 'train_loss': ..., 'valid_loss': ..., 'accuracy': ...}."
    order = Recorder.order + 1          # the Recorder fills its row in after_epoch first

    def before_fit(self):
        self.history = []

    def after_epoch(self):
        self.history.append(dict(self.learn.recorder.log))

logger = MetricLogger()
learn = Learner(small_cnn(), data, cbs=[logger])
learn.fit_one_cycle(1 if QUICK else 2, 1e-2)
for row in logger.history:
    print({k: round(v, 4) for k, v in row.items()})
"""),
("md", r"""
## 3. Callback two: stop after N batches — the Cancel exceptions

A callback changes the *flow* of the loop by raising one of five exceptions. Each one skips the
rest of its stage, and the matching `after_*` event still runs:

| raise | skips | still runs |
|---|---|---|
| `CancelBatchException` | rest of this batch (e.g. the step) | `after_batch` |
| `CancelTrainException` | rest of this epoch's training | `after_train`, then validation |
| `CancelValidException` | rest of this validation | `after_validate` |
| `CancelEpochException` | rest of this epoch | `after_epoch` |
| `CancelFitException` | everything left | `after_fit` (always) |

`StopAfterNBatches` ends the whole fit after `n` training batches: useful to check that a
new model runs at all before a long training.
"""),
("code", r"""
class StopAfterNBatches(Callback):
    "Stop the whole fit once `n` training batches are done (a smoke test for a new model)."
    def __init__(self, n: int): self.n = n

    def before_fit(self):
        self.count = 0

    def after_batch(self):
        if self.learn.training:
            self.count += 1
            if self.count >= self.n:
                raise CancelFitException()

    def after_fit(self):
        print(f'after_fit ran: stopped after {self.count} training batches')

stopper = StopAfterNBatches(5)
learn = Learner(small_cnn(), data)
learn.fit(1e-3, 3, cbs=[stopper])
print('recorded training losses:', len(learn.recorder.losses))
"""),
("md", r"""
`CancelTrainException` instead cuts only the *training* part of each epoch, so validation still
runs: every epoch then trains on `n` batches. That is a cheap way to get a quick learning curve.
"""),
("code", r"""
class ShortEpochs(Callback):
    "Train on only the first `n` batches of each epoch; validation still runs in full."
    def __init__(self, n: int): self.n = n

    def after_batch(self):
        if self.learn.training and self.learn.iter + 1 >= self.n:
            raise CancelTrainException()

learn = Learner(small_cnn(), data)
learn.fit(1e-3, 2, cbs=[ShortEpochs(10)])
print('training batches recorded:', len(learn.recorder.losses), '(2 epochs x 10)')
"""),
("md", r"""
## 4. Callback three: a gradient-norm plotter

`before_step` fires after `loss.backward()` and before `opt.step()`: the gradients are there.
This callback records their global L2 norm each step and plots it at the end of the fit.
A gradient norm that jumps by orders of magnitude is the first sign of a too-high learning rate.
"""),
("code", r"""
class GradNormPlotter(Callback):
    "Record the global gradient L2 norm at every step; `plot()` draws it."
    def before_fit(self):
        self.norms = []

    def before_step(self):
        grads = [p.grad.detach().flatten() for p in self.learn.model.parameters() if p.grad is not None]
        self.norms.append(torch.cat(grads).norm().item())

    def plot(self, ax=None, label=None):
        ax = ax or plt.subplots(figsize=(6, 3))[1]
        ax.plot(self.norms, label=label)
        ax.set_xlabel('step'); ax.set_ylabel('gradient norm'); ax.set_yscale('log')
        return ax

fig, ax = plt.subplots(figsize=(7, 3.5))
for lr in (1e-3, 3e-2):
    plotter = GradNormPlotter()
    learn = Learner(small_cnn(), data, cbs=[plotter])
    with learn.silent():
        learn.fit(lr, 1)
    print(f'lr={lr:g}: accuracy {learn.recorder.log["accuracy"]:.4f}, '
          f'max grad norm {max(plotter.norms):.2f}')
    plotter.plot(ax, label=f'lr={lr:g}')
ax.legend(); plt.show()
"""),
("md", r"""
## 5. The built-ins are written the same way

There is no private hook: the built-in callbacks use only what your callbacks can use.
Here is `TrainEvalCallback`, which puts the model in train or eval mode and keeps
`learn.pct_train` (the position in the fit that every schedule reads):
"""),
("code", r"""
print(inspect.getsource(TrainEvalCallback))
"""),
("md", r"""
And `GradientClipping`: one event, `before_step`, exactly where our plotter looked at the
gradients. Adding it to the high-lr run caps the norm the optimiser sees.
"""),
("code", r"""
print(inspect.getsource(GradientClipping))
"""),
("code", r"""
plotter = GradNormPlotter()
learn = Learner(small_cnn(), data, cbs=[GradientClipping(1.0), plotter])
with learn.silent():
    learn.fit(3e-2, 1)
print(f'with clipping: accuracy {learn.recorder.log["accuracy"]:.4f}')
print('the plotter (order 0) runs before the clipper, so it still sees the raw norms:',
      f'{max(plotter.norms):.2f}')
learn.show_training_loop()
"""),
("md", r"""
## 6. When a callback breaks

An error inside a callback is re-raised unchanged — same type, same traceback — with a note
saying which callback and which event raised it. `after_fit` still runs, so progress bars are
closed and the lr finder can put the weights back.
"""),
("code", r"""
class Buggy(Callback):
    def after_loss(self):
        self.learn.loss.no_such_method()

learn = Learner(small_cnn(), data)
try:
    with learn.silent():
        learn.fit(1e-3, 1, cbs=[Buggy()])
except AttributeError as e:
    print(type(e).__name__, e)
    print('note:', *e.__notes__)
"""),
("md", r"""
## What next

- `docs/callbacks.md` — the events, the Cancel exceptions and `order`, in one page.
- Read `minifast/callback.py` then `minifast/learner.py` (the loop, ~400 lines), then
  `minifast/schedule.py` and `minifast/callbacks/`: every built-in is one short file.
"""),
]
