"""Cells of notebooks/05_custom_callbacks.ipynb (built by notebooks/build.py)."""

CELLS = [
("md", r"""
# 05 — Custom callbacks: see the loop, then change it

Everything optional in minifast — progress bars, the recorder, schedules, early stopping,
clipping — is a **callback**: an object whose methods are named after the *events* of the
training loop (`00_learner_from_scratch` builds that loop by hand). In this notebook we

1. look at the loop with `EventTracer`, a callback that prints every event;
2. write callbacks that **watch** (a metric logger, a gradient-norm recorder) and that **stop**
   (the `Cancel*Exception`s);
3. write callbacks that **change** training: a batch augmentation in `before_batch`, label
   smoothing in `after_loss`, a learning-rate warm-up, and gradient accumulation;
4. read how the built-in callbacks are written — exactly the same way;
5. three exercises, each checked by an `assert`.

Data: the MNIST sample that ships inside minifast (8,000 training / 2,000 held-out digits, no
download). `MINIFAST_QUICK=1` runs every cell on 512 training digits.
"""),
("code", r"""
%matplotlib inline
import os, time, inspect, platform, warnings
from functools import partial
from types import SimpleNamespace
os.environ.setdefault('TQDM_DISABLE', '1')   # plain-text tables instead of progress widgets
warnings.filterwarnings('ignore', message='IProgress not found')  # tqdm: no ipywidgets here
QUICK = os.environ.get('MINIFAST_QUICK') == '1'

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F
import matplotlib.pyplot as plt
from minifast import *

torch.manual_seed(0)
print('quick mode' if QUICK else 'full mode', '| torch', torch.__version__,
      '| threads', torch.get_num_threads())
notebook_start = time.perf_counter()
"""),
("md", r"""
## The data and a small model

`mnist_sample_data()` returns a `DataBunch`: a training and a validation `DataLoader` of
normalised 28×28 digits. `get_data()` makes a fresh one each time, whose shuffling starts from
the same seed, and `small_cnn()` is seeded too: two runs that differ only in one callback see
the same batches from the same initial weights, so a difference in the result comes from the
callback.
"""),
("code", r"""
N_TRAIN = 512 if QUICK else None          # None: all 8,000 training digits
EPOCHS = 1 if QUICK else 2

def get_data(bs=64):
    return mnist_sample_data(bs=bs, n_train=N_TRAIN, seed=0)

def conv(n_in, n_out):
    return nn.Sequential(nn.Conv2d(n_in, n_out, 3, stride=2, padding=1, bias=False),
                         nn.BatchNorm2d(n_out), nn.ReLU())

def small_cnn(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(conv(1, 8), conv(8, 16), conv(16, 32), conv(32, 64),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10))

data = get_data()
print(data)
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
Learner already has a few: `TrainEvalCallback` (train/eval mode and the loop's position),
`Recorder` (losses, lrs, metrics), `ProgressCallback` (bars and the epoch table), and safety
nets such as `InterruptGuard` (a Ctrl-C waits until `opt.step()` is done).
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
## 2. Callbacks that watch

### A metric logger

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
learn = Learner(small_cnn(), get_data(), cbs=[logger])
learn.fit_one_cycle(EPOCHS, 1e-2)
for row in logger.history:
    print({k: round(v, 4) for k, v in row.items()})
baseline_acc = logger.history[-1]['accuracy']     # fit_one_cycle(EPOCHS, 1e-2), no extra callback
"""),
("md", r"""
### A gradient-norm recorder

`before_step` fires after `loss.backward()` and before `opt.step()`: the gradients are there.
This callback records their global L2 norm at every step. We train the same model at a small
lr (1e-3) and a 30× larger one (3e-2) and look at what the norms do.
"""),
("code", r"""
class GradNorms(Callback):
    "Record the global gradient L2 norm at every optimiser step."
    def before_fit(self):
        self.norms = []

    def before_step(self):
        grads = [p.grad.detach().flatten() for p in self.learn.model.parameters() if p.grad is not None]
        self.norms.append(torch.cat(grads).norm().item())

norms, norm_accs = {}, {}
fig, ax = plt.subplots(figsize=(8, 3.5))
for lr in (1e-3, 3e-2):
    recorder_cb = GradNorms()
    learn = Learner(small_cnn(), get_data(), cbs=[recorder_cb])
    with learn.silent():
        learn.fit(lr, EPOCHS)
    n = norms[lr] = np.array(recorder_cb.norms)
    norm_accs[lr] = learn.recorder.log['accuracy']
    print(f'lr={lr:g}: accuracy {learn.recorder.log["accuracy"]:.4f} | gradient norm: first step '
          f'{n[0]:.2f}, median {np.median(n):.2f}, 99th percentile {np.percentile(n, 99):.2f}, '
          f'max {n.max():.2f} (step {n.argmax()}), median of the last 50 steps {np.median(n[-50:]):.2f}')
    ax.plot(n, label=f'lr={lr:g}', alpha=0.8)
ax.set_xlabel('step'); ax.set_ylabel('gradient norm'); ax.set_yscale('log'); ax.legend(); plt.show()
"""),
("md", r"""
What the plot shows (the numbers above it say the same): both runs start from the same gradient
norm (same weights, same first batch); with the **larger** lr the norm falls **faster and lower**
and stays below the small-lr run for the rest of training. The large-lr run's largest norm is
its very first step; the small-lr run's norms stay between about 1 and 1.5 for the whole fit
(its largest is mid-training, barely above its first). Neither run ever goes far above the
norm it started with. So here a large lr does *not* show up as large gradients. The reason is BatchNorm: a convolution followed by BatchNorm gives the same output
when its weights are multiplied by any factor, and the gradient of such a weight shrinks as the
weight grows (it is ∝ 1/‖w‖). A larger lr makes the weights grow faster, hence the smaller
gradients. AdamW also divides each step by a running gradient size, so the step size barely
depends on the gradient norm anyway. (Without BatchNorm and with plain SGD, a too-high lr does
show as exploding norms: that is where clipping is most useful.)

**Choosing a clipping threshold from the measurements.** `GradientClipping(max_norm)` rescales
the gradients when their norm exceeds `max_norm`. A threshold below the typical norm would
rescale every step — a smaller effective lr in disguise, not a safety net. A useful threshold
sits above nearly all normal steps and catches only the rare outlier, so we take the **99th
percentile** of the norms we measured at the lr we will train with (3e-2): by construction
about 1% of steps get clipped, the very first ones, where the norms are highest.
"""),
("code", r"""
clip_at = float(np.percentile(norms[3e-2], 99))
clipped_share = float((norms[3e-2] > clip_at).mean())
print(f'max_norm = 99th percentile of the lr=3e-2 norms = {clip_at:.2f}; '
      f'{clipped_share:.1%} of those {len(norms[3e-2])} steps were above it')
"""),
("md", r"""
## 3. Callbacks that stop: the Cancel exceptions

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

learn = Learner(small_cnn(), get_data())
learn.fit(1e-3, 3, cbs=[StopAfterNBatches(5)])
print('recorded training losses:', len(learn.recorder.losses))
assert len(learn.recorder.losses) == 5
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

learn = Learner(small_cnn(), get_data())
learn.fit(1e-3, 2, cbs=[ShortEpochs(5)])
print('training batches recorded:', len(learn.recorder.losses), '(2 epochs x 5)')
assert len(learn.recorder.losses) == 10
"""),
("md", r"""
## 4. Callbacks that change training

A callback may *write* the learner's state, not only read it: the batch (`learn.xb`,
`learn.yb`) in `before_batch`, the loss (`learn.loss`) in `after_loss`, the hyper-parameters
(`learn.set_hyper`) before a step, the gradients in `before_step`. Four examples, each trained
with the same `fit_one_cycle(EPOCHS, 1e-2)` as the metric-logger run above, so each result can
be compared with that baseline.

### A batch augmentation in `before_batch`

Shift each training digit by up to 2 pixels in each direction (a different shift per digit),
with `F.affine_grid` / `F.grid_sample`; validation batches are left alone. The model never sees
exactly the same image twice, which fights overfitting. (Shifts by a fraction of a pixel
interpolate between neighbours, so the shifted digits below look slightly blurred.)
"""),
("code", r"""
class RandomShift(Callback):
    "Translate each training image by up to `max_px` pixels in x and y (validation untouched)."
    def __init__(self, max_px: float = 2.0): self.max_px = max_px

    def before_batch(self):
        if not self.learn.training:
            return
        xb = self.learn.xb                                   # [bs, 1, 28, 28]
        bs, size = xb.shape[0], xb.shape[-1]
        theta = torch.eye(2, 3, device=xb.device).repeat(bs, 1, 1)       # identity affine maps
        theta[:, :, 2] = (torch.rand(bs, 2, device=xb.device) * 2 - 1) * self.max_px * 2 / size
        grid = F.affine_grid(theta, list(xb.shape), align_corners=False)
        self.learn.xb = F.grid_sample(xb, grid, padding_mode='border', align_corners=False)

# What it does to one batch: the callback only reads `learn.training` and `learn.xb`,
# so a stand-in object is enough to try it outside a fit.
demo = RandomShift(2.0)
demo.learn = SimpleNamespace(training=True, xb=next(iter(data.train_dl))[0][:6])
original = demo.learn.xb
demo.before_batch()
fig, axes = plt.subplots(2, 6, figsize=(9, 3.2))
for i in range(6):
    axes[0, i].imshow(original[i, 0], cmap='gray_r'); axes[1, i].imshow(demo.learn.xb[i, 0], cmap='gray_r')
    axes[0, i].axis('off'); axes[1, i].axis('off')
axes[0, 0].set_title('original', loc='left'); axes[1, 0].set_title('shifted', loc='left'); plt.show()

learn = Learner(small_cnn(), get_data(), cbs=[RandomShift(2.0)])
learn.fit_one_cycle(EPOCHS, 1e-2)
shift_acc = learn.recorder.log['accuracy']
"""),
("md", r"""
### Label smoothing in `after_loss`

Cross-entropy rewards a model for pushing one probability to 1, which it can only approach with
ever larger logits; label smoothing (Szegedy et al. 2016) trains towards `1 - ε` for the right
class and spreads `ε` over all classes instead. In `after_loss` the learner has already computed
the plain cross-entropy `learn.loss`; the callback mixes it with the mean of `-log p` over the
classes. Its `order` (0) is below the Recorder's (50), so the Recorder records the smoothed loss.
PyTorch has the same formula built in, so we can check ours on a batch before using it.
"""),
("code", r"""
class LabelSmoothing(Callback):
    "Replace cross-entropy by its label-smoothed version: (1-eps)*CE + eps*mean over classes of -log p."
    def __init__(self, eps: float = 0.1): self.eps = eps

    def after_loss(self):
        if not self.learn.training:        # validation loss stays the plain cross-entropy
            return
        log_p = F.log_softmax(self.learn.pred, dim=1)
        self.learn.loss = (1 - self.eps) * self.learn.loss + self.eps * (-log_p.mean(dim=1)).mean()

# Check against PyTorch on random logits: the callback only needs pred, loss and training.
check = LabelSmoothing(0.1)
pred, targ = torch.randn(32, 10), torch.randint(0, 10, (32,))
check.learn = SimpleNamespace(training=True, pred=pred, loss=F.cross_entropy(pred, targ))
check.after_loss()
expected = F.cross_entropy(pred, targ, label_smoothing=0.1)
print(f'ours {check.learn.loss.item():.6f}  torch {expected.item():.6f}')
assert torch.allclose(check.learn.loss, expected, atol=1e-6)

learn = Learner(small_cnn(), get_data(), cbs=[LabelSmoothing(0.1)])
learn.fit_one_cycle(EPOCHS, 1e-2)
smooth_acc = learn.recorder.log['accuracy']
"""),
("md", r"""
### A warm-up schedule

The first steps of training are the most fragile: Adam's running averages are still empty and
the gradients point anywhere. A **linear warm-up** starts the lr near 0 and raises it to the
target over the first `n` steps. The callback sets the lr in `before_batch` from
`learn.train_iter`, this batch's index in the whole fit, which `TrainEvalCallback` (order -10)
has just updated; it reads the target lr that `fit` set, once, in `before_fit`.
"""),
("code", r"""
class LinearWarmup(Callback):
    "Raise the lr linearly from lr/n to lr over the first `n` training batches, then leave it."
    def __init__(self, n: int): self.n = n

    def before_fit(self):
        self.target = [g['lr'] for g in self.learn.opt.param_groups]   # what fit() set

    def before_batch(self):
        step = self.learn.train_iter
        if self.learn.training and step < self.n:
            self.learn.set_hyper('lr', [lr * (step + 1) / self.n for lr in self.target])
        elif self.learn.training and step == self.n:
            self.learn.set_hyper('lr', self.target)

WARMUP = 4 if QUICK else 50
learn = Learner(small_cnn(), get_data(), cbs=[LinearWarmup(WARMUP)])
learn.fit(1e-2, EPOCHS)
warmup_acc = learn.recorder.log['accuracy']
lrs = np.array(learn.recorder.lrs)[:, 0]
print('lrs of the first steps:', np.round(lrs[:4], 5), '... step', WARMUP, ':', lrs[WARMUP])
assert np.allclose(lrs[:WARMUP], 1e-2 * np.arange(1, WARMUP + 1) / WARMUP) and np.all(lrs[WARMUP:] == 1e-2)
learn.recorder.plot_lr(); plt.title(f'linear warm-up over {WARMUP} steps, then constant'); plt.show()
"""),
("md", r"""
### Gradient accumulation

A batch too large for memory can be split: run `backward` on each piece, let PyTorch *add* the
gradients in `.grad`, and step once. minifast's `GradientAccumulation(n_acc)` does it with two
tricks available to any callback: it scales each piece's loss by `bs / n_acc` in
`before_backward` (so the sum of the pieces is the gradient of the mean over `n_acc` samples),
and raises `CancelBatchException` in `before_step` until `n_acc` samples are in — which skips
the step *and* the `zero_grad`, so the gradients keep adding up.

Claim: 4 batches of 16 with `n_acc=64` train exactly like batches of 64. A model without
BatchNorm (whose statistics *are* per batch) lets us check it: same data order (the shuffled
order does not depend on the batch size), same initial weights, then compare the weights.
"""),
("code", r"""
def mlp():
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 64), nn.ReLU(), nn.Linear(64, 10))

class CountSteps(Callback):
    def before_fit(self): self.steps = 0
    def after_step(self): self.steps += 1

runs = {}
for name, bs, cbs in [('batches of 64', 64, []), ('16 x 4 accumulated', 16, [GradientAccumulation(n_acc=64)])]:
    counter = CountSteps()
    learn = Learner(mlp(), get_data(bs), cbs=[*cbs, counter])
    with learn.silent():
        learn.fit(1e-3, 1)
    runs[name] = (learn.model, counter.steps, learn.recorder.log['accuracy'])
    print(f'{name:>20}: {len(learn.data.train_dl)} batches, {counter.steps} optimiser steps, '
          f"accuracy {learn.recorder.log['accuracy']:.4f}")
(m64, steps64, acc64), (m16, steps16, acc16) = runs.values()
accum_max_diff = max((a - b).abs().max().item() for a, b in zip(m64.parameters(), m16.parameters()))
print(f'largest weight difference after one epoch: {accum_max_diff:.1e}')
assert steps64 == steps16 and accum_max_diff < 1e-5
"""),
("md", r"""
Same number of steps, same weights up to float rounding (the sums are done in a different
order), same accuracy. The Recorder still records each small batch's true loss, because it
records in `after_loss`, before `before_backward` scales it.

### Summary of the four, against the baseline

Same model, same data order, `fit_one_cycle(EPOCHS, 1e-2)` for the first two and the baseline
(the warm-up run used a constant `1e-2` after its warm-up, so it is not a like-for-like
comparison). These are single runs of two short epochs, so first we measure how much the
baseline alone moves when only its initial weights change (model seeds 0, 1, 2): a difference
smaller than that spread is not evidence that a callback helps or hurts. Read the table as "it
runs and does what it says", not as a ranking.
"""),
("code", r"""
baseline_seeds = [baseline_acc]                      # seed 0: the metric-logger run above
for seed in ([1] if QUICK else [1, 2]):
    learn = Learner(small_cnn(seed), get_data())
    with learn.silent():
        learn.fit_one_cycle(EPOCHS, 1e-2)
    baseline_seeds.append(learn.recorder.log['accuracy'])
baseline_spread = max(baseline_seeds) - min(baseline_seeds)
print(f'baseline over model seeds 0-{len(baseline_seeds) - 1}: {np.round(baseline_seeds, 4).tolist()}, '
      f'spread {baseline_spread:.4f}\n')
for name, acc in [('baseline (one-cycle), seed 0', baseline_acc), ('+ RandomShift(2)', shift_acc),
                  ('+ LabelSmoothing(0.1)', smooth_acc), (f'warm-up {WARMUP} steps, constant lr', warmup_acc)]:
    print(f'{name:<36} accuracy {acc:.4f}  ({acc - baseline_acc:+.4f} vs seed-0 baseline)')
"""),
("md", r"""
Reading it (full mode): with one-cycle, the baseline hardly depends on the initial weights — the
three seeds end within a twentieth of a point of each other, because the schedule anneals the
lr to almost zero and every run settles into an equally good minimum. (Section 5 below trains
runs that end at a constant, high lr: those end over two points apart.) Against that small spread,
the random shifts gained about a quarter of a point and label smoothing lost about as much,
each several times the seed spread. Only the initial weights were varied, not the shuffling
order nor the shifts' own random draws, so this is one data order's answer: a sign, not a
verdict. Label smoothing mostly pays off in longer trainings and in calibration (less
over-confident probabilities), which two epochs do not show. The warm-up run ended a point
lower, but it trained at a constant lr after its warm-up — a different schedule, not a
measure of the warm-up. The last cell asserts these readings.
"""),
("md", r"""
## 5. The built-ins are written the same way

There is no private hook: the built-in callbacks use only what your callbacks can use.
Here is `TrainEvalCallback`, which puts the model in train or eval mode and keeps
`learn.train_iter` and `learn.pct_train` (the position in the fit that every schedule — and our
warm-up — reads):
"""),
("code", r"""
print(inspect.getsource(TrainEvalCallback))
"""),
("md", r"""
And `GradientAccumulation`, which we just used. Read it with the description above in mind:
`before_train` starts a window at zero (and drops gradients a cancelled epoch may have left);
`before_backward` counts the samples and scales the loss; `before_step` raises
`CancelBatchException` while the window is not full — unless this is the epoch's last batch,
which always steps, after rescaling the gradients of a partial window so every step uses the
*mean* gradient of the samples it saw. Its `order` (5) puts it before `GradientClipping` (20),
so clipping sees the whole accumulated gradient once, just before the real step.
"""),
("code", r"""
print(inspect.getsource(GradientAccumulation))
"""),
("md", r"""
`GradientClipping` is one event, `before_step`, exactly where our gradient-norm recorder looked.
We train at lr 3e-2 with the threshold picked above (the 99th percentile of the measured
norms). Our recorder has order 0 and the clipper 20, so the recorder still sees the raw norms;
the share of steps above the threshold is the share the clipper rescaled.
"""),
("code", r"""
print(inspect.getsource(GradientClipping))
"""),
("code", r"""
norm_cb = GradNorms()
learn = Learner(small_cnn(), get_data(), cbs=[GradientClipping(clip_at), norm_cb])
with learn.silent():
    learn.fit(3e-2, EPOCHS)
clip_acc = learn.recorder.log['accuracy']
raw = np.array(norm_cb.norms)
print(f'with GradientClipping({clip_at:.2f}): accuracy {clip_acc:.4f}; '
      f'{(raw > clip_at).mean():.1%} of the steps were clipped (steps {np.flatnonzero(raw > clip_at)[:8].tolist()}...)')
learn.show_training_loop()
"""),
("md", r"""
As planned, the clipper touched about 1% of the steps, nearly all at the start. The accuracy
differs from the unclipped lr=3e-2 run above — but after the first clipped step the two runs
follow different paths, and a fit that ends at a constant, high lr lands at a rather random
point. Is the difference clipping or chance? Three more initial weights (model seeds 1–3), with
and without clipping, same data order:
"""),
("code", r"""
clip_runs = {False: [norm_accs[3e-2]], True: [clip_acc]}      # seed 0, from the runs above
for seed in ([1] if QUICK else [1, 2, 3]):
    for clip in (False, True):
        learn = Learner(small_cnn(seed), get_data(), cbs=[GradientClipping(clip_at)] if clip else [])
        with learn.silent():
            learn.fit(3e-2, EPOCHS)
        clip_runs[clip].append(learn.recorder.log['accuracy'])
for clip, accs in clip_runs.items():
    accs = np.array(accs)
    print(f"{'with' if clip else 'without'} clipping at {clip_at:.2f}: accuracies {np.round(accs, 4).tolist()}, "
          f"mean {accs.mean():.4f}, spread {accs.max() - accs.min():.4f}")
clip_gain = float(np.mean(clip_runs[True]) - np.mean(clip_runs[False]))
"""),
("md", r"""
What the four pairs say: clipping moved the mean accuracy by about half a point, but seed by
seed the change goes both ways (seed 0 gained two points, seeds 1 and 2 lost a little), and the
spread between seeds without clipping (over two points) is several times that mean change. On
this well-behaved problem, with no spikes to catch, clipping neither helps nor hurts measurably
— which is what a threshold at a high percentile is meant to do: insurance against the rare bad
batch (a mislabelled outlier, a too-high lr without BatchNorm, a recurrent net) that leaves the
normal steps alone. (A threshold *below* the typical norm, say 0.2 here, would instead rescale
every step: a lower learning rate in disguise.) The last cell asserts these readings.

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
## 7. Exercises

Each exercise has a cell with a solution already filled in (so that the notebook runs from top
to bottom) and an `assert` that checks it. Delete the solution, write your own, and run the
cell: the `assert` tells you whether it works.

**Exercise 1 — validate only every `k` epochs.** Write `ValidEvery(k)`: skip the validation of
every epoch whose number is not a multiple of `k`, with the right Cancel exception. Epochs
without validation get `nan` as their `valid_loss` in the Recorder's table.
"""),
("code", r"""
class ValidEvery(Callback):
    # --- solution (delete and write your own) ---
    def __init__(self, k: int): self.k = k
    def before_validate(self):
        if self.learn.epoch % self.k != 0:
            raise CancelValidException()
    # --- end of solution ---

learn = Learner(small_cnn(), get_data(), cbs=[ValidEvery(2), ShortEpochs(3)])
with learn.silent():
    learn.fit(1e-3, 4)
valid = learn.recorder.metric('valid_loss')
print('valid_loss per epoch:', np.round(valid, 4))
assert not np.isnan(valid[0]) and np.isnan(valid[1]) and not np.isnan(valid[2]) and np.isnan(valid[3])
"""),
("md", r"""
**Exercise 2 — skip suspicious batches.** Write `SkipHighLoss(limit)`: when a training batch's
loss is above `limit`, do not update the weights with it (but let the rest of the loop go on),
and count how many batches were skipped in `self.skipped`. Which event, which exception? The
check below uses a limit no loss reaches (nothing skipped, the weights move) and a limit every
loss exceeds (all skipped, the weights must not move at all).
"""),
("code", r"""
class SkipHighLoss(Callback):
    # --- solution (delete and write your own) ---
    def __init__(self, limit: float): self.limit = limit
    def before_fit(self): self.skipped = 0
    def before_step(self):
        if self.learn.loss.item() > self.limit:
            self.skipped += 1
            raise CancelBatchException()      # skips opt.step(); after_batch still runs
    # --- end of solution ---

for limit, expect_skipped in [(1e9, 0), (-1.0, 5)]:
    skipper, model = SkipHighLoss(limit), small_cnn()
    start_weights = [p.detach().clone() for p in model.parameters()]
    learn = Learner(model, get_data(), cbs=[skipper, StopAfterNBatches(5)])
    with learn.silent():
        learn.fit(1e-3, 1)
    moved = any(not torch.equal(a, b) for a, b in zip(start_weights, model.parameters()))
    print(f'limit {limit:g}: skipped {skipper.skipped} of 5 batches, weights moved: {moved}')
    assert skipper.skipped == expect_skipped and moved == (expect_skipped == 0)
"""),
("md", r"""
**Exercise 3 — the warm-up as a schedule.** Our `LinearWarmup` is a hand-written callback. minifast
already has a general one: `ParamScheduler({'lr': f})`, where `f(pos)` gives the lr at the
position `pos ∈ [0, 1]` of the fit (`pos` = training batches done / training batches in the
fit). Write `f` with `combine_scheds` and `sched_lin` / `sched_no` so that the lrs are *exactly*
those of `LinearWarmup(WARMUP)` on `fit(1e-2, EPOCHS)`. Hint: at batch `i` the warm-up gives
`1e-2 * (i + 1) / WARMUP`; find `start` and `end` of a straight line that passes through those
values, over the first `WARMUP / n_batches` of the fit.
"""),
("code", r"""
n_batches = EPOCHS * len(get_data().train_dl)
# --- solution (delete and write your own) ---
pct = WARMUP / n_batches
f = combine_scheds([pct, 1 - pct], [partial(sched_lin, 1e-2 / WARMUP, 1e-2 * (WARMUP + 1) / WARMUP),
                                    partial(sched_no, 1e-2, 1e-2)])
# --- end of solution ---
learn = Learner(small_cnn(), get_data())
with learn.silent():
    learn.fit(1e-2, EPOCHS, cbs=[ParamScheduler({'lr': f})])
sched_lrs = np.array(learn.recorder.lrs)[:, 0]
print('first lrs:', np.round(sched_lrs[:4], 5), '| largest difference from LinearWarmup:',
      f'{np.abs(sched_lrs - lrs).max():.1e}')
assert np.allclose(sched_lrs, lrs, rtol=1e-9, atol=1e-12)
"""),
("md", r"""
## Summary: the figures of this notebook

The last cell prints the machine, the time, and one `RESULT` line per figure, and asserts them.
"""),
("code", r"""
minutes = (time.perf_counter() - notebook_start) / 60
print(f'hardware: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs | '
      f'torch {torch.__version__}, {torch.get_num_threads()} threads | '
      f'{"quick" if QUICK else "full"} mode, wall time {minutes:.1f} min')
results = {
    'baseline_onecycle_valid_acc': baseline_acc,
    'random_shift_valid_acc': shift_acc,
    'label_smoothing_valid_acc': smooth_acc,
    'warmup_constant_lr_valid_acc': warmup_acc,
    'baseline_spread_3_seeds': baseline_spread,
    'grad_norm_median_lr1e-3': float(np.median(norms[1e-3])),
    'grad_norm_median_lr3e-2': float(np.median(norms[3e-2])),
    'clip_max_norm_p99': clip_at,
    'clipped_valid_acc': clip_acc,
    'clipping_mean_acc_gain_4_seeds': clip_gain,
    'grad_accum_max_weight_diff': accum_max_diff,
    'minutes': minutes,
}
for name, value in results.items():
    print(f'RESULT {name} {value:.4g}')

assert accum_max_diff < 1e-5
assert clip_at > np.median(norms[3e-2])         # clips outliers, not the typical step
if not QUICK:
    # section 4's reading: one-cycle's seed spread is small; both changes are larger than it
    assert baseline_spread < 0.002 and shift_acc - baseline_acc > 2 * baseline_spread
    assert baseline_acc - smooth_acc > 2 * baseline_spread
    assert min(baseline_acc, shift_acc, smooth_acc, warmup_acc, clip_acc) >= 0.95
    # the prose of section 2: a larger lr gives smaller, not larger, gradient norms here, and
    # the large-lr run's largest norm is at its start
    assert np.median(norms[3e-2]) < np.median(norms[1e-3])
    assert np.median(norms[3e-2][-50:]) < np.median(norms[1e-3][-50:])
    assert norms[3e-2].argmax() < 5
    # section 5's reading of the clipping runs: the mean change is smaller than the seed spread,
    # and the per-seed changes have both signs
    paired = np.array(clip_runs[True]) - np.array(clip_runs[False])
    assert abs(clip_gain) < np.ptp(clip_runs[False]) / 2 and paired.min() < 0 < paired.max(), paired
"""),
]
