"""Cells of notebooks/05_custom_callbacks.ipynb (built by notebooks/build.py)."""

CELLS = [
("md", r"""
# 05 — Custom callbacks: see the loop, then change it

Everything optional in minifast — progress bars, the recorder, schedules, early stopping,
clipping — is a **callback**: an object whose methods are named after the *events* of the
training loop (`00_learner_from_scratch` builds that loop by hand). In this notebook we

1. look at the loop with `EventTracer`, a callback that prints every event;
2. write callbacks that **watch** (a metric logger, a gradient-norm recorder);
3. write callbacks that **stop** part of the loop (the `Cancel...Exception`s);
4. write callbacks that **change** training: a batch augmentation in `before_batch`, label
   smoothing in `after_loss`, a learning-rate warm-up, and gradient accumulation;
5. read how the built-in callbacks are written — exactly the same way — and use one of them,
   `GradientClipping`, with a threshold taken from our own measurements;
6. see what happens when a callback has a bug;
7. write three callbacks yourself, in the exercises. Each has a check; the answers are at the
   end of the notebook.

**The recipe.** The MNIST sample that ships inside minifast (8,000 training and 2,000
validation digits, no download), a small CNN with BatchNorm, batches of 64, 2 epochs. The
reference run is `fit_one_cycle(2, 1e-2)`; each callback that changes training is trained the
same way from the same initial weights, so its effect can be compared with the reference. We
measure how much the reference itself moves when only the initial weights change, because a
difference smaller than that is not evidence. There is no test set: nothing here is chosen for
a final model, so every figure is on the validation digits.
"""),
("code", r"""
%matplotlib inline
import inspect, warnings
warnings.filterwarnings('ignore', message='IProgress not found')   # tqdm: no ipywidgets here
from functools import partial
from types import SimpleNamespace
import numpy as np
import torch
from torch import nn
import torch.nn.functional as F
import matplotlib.pyplot as plt
from minifast import *
from minifast.course import Notebook, try_exercise
torch.set_num_threads(1)   # small models: one thread, and the same sums in the same order everywhere
nb = Notebook()
"""),
("md", r"""
## The data and a small model

`mnist_sample_data()` returns a `DataBunch`: a training and a validation `DataLoader` of
normalised 28×28 digits. `get_data()` makes a fresh one each time, whose shuffling starts from
the same seed, and `small_cnn()` is seeded too: two runs that differ only in one callback see
the same batches from the same initial weights, so a difference in the result comes from the
callback (or from the random numbers the callback itself draws).
"""),
("code", r"""
N_TRAIN = 512 if nb.quick else None          # None: all 8,000 training digits
EPOCHS = 1 if nb.quick else 2

def get_data(bs=64):
    return mnist_sample_data(bs=bs, n_train=N_TRAIN, seed=0)

def conv(n_in, n_out):
    return nn.Sequential(nn.Conv2d(n_in, n_out, 3, stride=2, padding=1, bias=False),
                         nn.BatchNorm2d(n_out), nn.ReLU())
"""),
("code", r"""
def small_cnn(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(conv(1, 8), conv(8, 16), conv(16, 32), conv(32, 64),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10))

data = get_data()
print(data)
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
Learner already has a few: `TrainEval` (train or eval mode), `Recorder`
(losses, lrs, metrics), `ProgressBar` (bars and the epoch table), and two safety nets:
`InterruptGuard` (a Ctrl-C waits until `opt.step()` is done) and `TerminateOnNaN`.
"""),
("code", r"""
Learner(small_cnn(), data).show_training_loop()
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
has written the row, so its `order` is larger than the Recorder's.
"""),
("code", r"""
class MetricLogger(Callback):
    "Keep one dict per epoch: {'epoch': 0, 'train_loss': ..., 'valid_loss': ..., 'accuracy': ...}."
    order = Recorder.order + 1          # the Recorder fills its row in after_epoch first

    def before_fit(self):
        self.history = []

    def after_epoch(self):
        self.history.append(dict(self.learn.recorder.log))
"""),
("md", r"""
This run is also the **reference** of section 4: `fit_one_cycle(EPOCHS, 1e-2)`, no extra
callback.
"""),
("code", r"""
logger = MetricLogger()
learn = Learner(small_cnn(), get_data(), cbs=[logger])
learn.fit_one_cycle(EPOCHS, 1e-2)
for row in logger.history:
    print({k: round(v, 4) for k, v in row.items()})
baseline_acc = nb.result('baseline_onecycle_valid_acc', logger.history[-1]['accuracy'])
"""),
("md", r"""
### A gradient-norm recorder

`before_step` fires after `loss.backward()` and before `opt.step()`: the gradients are there.
This callback records their global L2 norm (the length of all gradients as one long vector) at
every step. We train the same model at a small lr (1e-3) and a 30× larger one (3e-2) and look at
what the norms do.
"""),
("code", r"""
class GradNorms(Callback):
    "Record the global gradient L2 norm at every optimiser step."
    def before_fit(self):
        self.norms = []

    def before_step(self):
        grads = [p.grad.detach().flatten() for p in self.learn.model.parameters() if p.grad is not None]
        self.norms.append(torch.cat(grads).norm().item())
"""),
("code", r"""
norms, norm_accs = {}, {}
for lr in (1e-3, 3e-2):
    norm_cb = GradNorms()
    learn = Learner(small_cnn(), get_data(), cbs=[norm_cb])
    with learn.silent():
        learn.fit(lr, EPOCHS)
    n = norms[lr] = np.array(norm_cb.norms)
    norm_accs[lr] = learn.recorder.log['accuracy']
    print(f'lr={lr:g}: accuracy {norm_accs[lr]:.4f} | gradient norm: first step {n[0]:.2f}, median {np.median(n):.2f}, '
          f'99th percentile {np.percentile(n, 99):.2f}, max {n.max():.2f} (step {n.argmax()})')
"""),
("code", r"""
fig, ax = plt.subplots(figsize=(8, 3.5))
for lr, n in norms.items():
    ax.plot(n, label=f'lr={lr:g}', alpha=0.8)
ax.set_xlabel('step'); ax.set_ylabel('gradient norm'); ax.set_yscale('log'); ax.legend(); plt.show()
late = {lr: np.median(n[-50:]) for lr, n in norms.items()}
print(f'median norm over the last 50 steps: lr=1e-3 {late[1e-3]:.2f}, lr=3e-2 {late[3e-2]:.2f}; '
      f'the larger lr has the smaller gradients: {late[3e-2] < late[1e-3]}')
"""),
("md", r"""
Both runs start from the same gradient norm (same weights, same first batch). Then compare the
two curves, and the last line above: here a *larger* learning rate gives *smaller* gradients,
not larger ones. The reason is BatchNorm. A convolution followed by BatchNorm gives the same
output when its weights are multiplied by any factor, and the gradient of such a weight shrinks
as the weight grows (it is ∝ 1/‖w‖). A larger lr makes the weights grow faster, hence the
smaller gradients. AdamW also divides each step by a running average of the gradient's size,
so the step size barely depends on the gradient norm anyway. (Without BatchNorm and with plain
SGD, a too-high lr does show as exploding norms: that is where clipping is most useful.)

**Choosing a clipping threshold from the measurements.** `GradientClipping(max_norm)` rescales
the gradients when their norm exceeds `max_norm`. A threshold below the typical norm would
rescale every step — a smaller effective lr in disguise, not a safety net. A useful threshold
sits above nearly all normal steps and catches only the rare outlier, so we take the **99th
percentile** of the norms we measured at the lr we will train with (3e-2): by construction
about 1% of those steps are above it. The printed step numbers say where they are.
"""),
("code", r"""
clip_at = nb.result('clip_max_norm_p99', float(np.percentile(norms[3e-2], 99)))
above = np.flatnonzero(norms[3e-2] > clip_at)
print(f'max_norm = 99th percentile of the lr=3e-2 norms = {clip_at:.2f}; {len(above)} of '
      f'{len(norms[3e-2])} steps were above it: steps {above.tolist()}')
"""),
("md", r"""
## 3. Callbacks that stop: the Cancel exceptions

A callback changes the *flow* of the loop by raising one of six exceptions. Each one skips the
rest of its stage, and the matching `after_*` event still runs:

| raise | skips | still runs |
|---|---|---|
| `CancelStepException` (in `before_step`) | this batch's `opt.step()`; the gradients are still cleared | `after_step`, `after_batch` |
| `CancelBatchException` | rest of this batch: the step *and* the clearing of the gradients | `after_batch` |
| `CancelTrainException` | rest of this epoch's training | `after_train`, then validation |
| `CancelValidException` | rest of this validation | `after_validate` |
| `CancelEpochException` | rest of this epoch | `after_epoch` |
| `CancelFitException` | everything left | `after_fit` (always) |

`StopAfterNBatches` ends the whole fit after `n` training batches: a quick way to check that a
new model trains at all before a long run.
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
"""),
("code", r"""
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
(`learn.set_hyper`) before a step, the gradients in `before_step`. Four examples; the first two
are trained with the reference's `fit_one_cycle(EPOCHS, 1e-2)`.

### A batch augmentation in `before_batch`

Shift each training digit by up to 2 pixels in each direction (a different shift per digit),
with `F.affine_grid` / `F.grid_sample`; validation batches are left alone. The model never sees
exactly the same image twice, which fights overfitting. (Shifts by a fraction of a pixel
interpolate between neighbours, so the shifted digits look slightly blurred.)
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
"""),
("md", r"""
What it does to one batch. The callback only reads `learn.training` and `learn.xb`, so a
stand-in object is enough to try it outside a fit:
"""),
("code", r"""
demo = RandomShift(2.0)
demo.learn = SimpleNamespace(training=True, xb=next(iter(data.train_dl))[0][:6])
original = demo.learn.xb
demo.before_batch()
fig, axes = plt.subplots(2, 6, figsize=(9, 3.2))
for i in range(6):
    axes[0, i].imshow(original[i, 0], cmap='gray_r'); axes[1, i].imshow(demo.learn.xb[i, 0], cmap='gray_r')
    axes[0, i].axis('off'); axes[1, i].axis('off')
axes[0, 0].set_title('original', loc='left'); axes[1, 0].set_title('shifted', loc='left'); plt.show()
"""),
("code", r"""
learn = Learner(small_cnn(), get_data(), cbs=[RandomShift(2.0)])
learn.fit_one_cycle(EPOCHS, 1e-2)
shift_acc = nb.result('random_shift_valid_acc', learn.recorder.log['accuracy'])
"""),
("md", r"""
### Label smoothing in `after_loss`

Cross-entropy rewards a model for pushing one probability to 1, which it can only approach with
ever larger scores. Label smoothing (Szegedy et al. 2016) trains towards `1 - ε` for the right
class and spreads `ε` over all classes instead. In `after_loss` the learner has already computed
the plain cross-entropy `learn.loss`; the callback mixes it with the mean of `-log p` over the
classes. Its `order` (0) is below the Recorder's (50), so the Recorder records the smoothed loss.
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
"""),
("md", r"""
PyTorch has the same formula built in (`label_smoothing=` in `F.cross_entropy`), so we can
check ours on random scores before training with it:
"""),
("code", r"""
check = LabelSmoothing(0.1)
pred, targ = torch.randn(32, 10), torch.randint(0, 10, (32,))
check.learn = SimpleNamespace(training=True, pred=pred, loss=F.cross_entropy(pred, targ))
check.after_loss()
expected = F.cross_entropy(pred, targ, label_smoothing=0.1)
print(f'ours {check.learn.loss.item():.6f}  torch {expected.item():.6f}')
assert torch.allclose(check.learn.loss, expected, atol=1e-6)
"""),
("code", r"""
learn = Learner(small_cnn(), get_data(), cbs=[LabelSmoothing(0.1)])
learn.fit_one_cycle(EPOCHS, 1e-2)
smooth_acc = nb.result('label_smoothing_valid_acc', learn.recorder.log['accuracy'])
"""),
("md", r"""
### A warm-up schedule

The first steps of training are the most fragile: Adam's running averages are still empty and
the gradients point anywhere. A **linear warm-up** starts the lr near 0 and raises it to the
target over the first `n` steps. The callback sets the lr in `before_batch` from
`learn.train_iter`, this batch's index in the whole fit, which the loop keeps
(`epoch * n_iter + iter`); it reads the target lr that `fit` set, once, in `before_fit`.
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
"""),
("md", r"""
We train it with `fit(1e-2, EPOCHS)`: after the warm-up the lr stays constant at `1e-2`. That is
a different schedule from the reference's one-cycle, so its accuracy shows that the warm-up
trains, not how much a warm-up helps.
"""),
("code", r"""
WARMUP = 4 if nb.quick else 50
learn = Learner(small_cnn(), get_data(), cbs=[LinearWarmup(WARMUP)])
learn.fit(1e-2, EPOCHS)
warmup_acc = nb.result('warmup_constant_lr_valid_acc', learn.recorder.log['accuracy'])
warmup_lrs = np.array(learn.recorder.lrs)[:, 0]
print('lrs of the first steps:', np.round(warmup_lrs[:4], 5), '... step', WARMUP, ':', warmup_lrs[WARMUP])
assert np.allclose(warmup_lrs[:WARMUP], 1e-2 * np.arange(1, WARMUP + 1) / WARMUP)
assert np.all(warmup_lrs[WARMUP:] == 1e-2)
learn.recorder.plot_lr(); plt.title(f'linear warm-up over {WARMUP} steps, then constant'); plt.show()
"""),
("md", r"""
### Gradient accumulation

A batch too large for memory can be split: run `backward` on each piece, let PyTorch *add* the
gradients in `.grad`, and step once. minifast's `GradientAccumulation(n_acc)` does it with two
tricks available to any callback: it scales each piece's loss by `bs / n_acc` in
`before_backward` (so the sum of the pieces is the gradient of the mean over `n_acc` samples),
and raises `CancelBatchException` in `before_step` until `n_acc` samples are in — which skips
the step *and* the clearing of the gradients, so they keep adding up.

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
"""),
("code", r"""
runs = {}
for name, bs, cbs in [('batches of 64', 64, []), ('16 x 4 accumulated', 16, [GradientAccumulation(n_acc=64)])]:
    counter = CountSteps()
    learn = Learner(mlp(), get_data(bs), cbs=[*cbs, counter])
    with learn.silent():
        learn.fit(1e-3, 1)
    runs[name] = (learn.model, counter.steps)
    print(f'{name:>20}: {len(learn.data.train_dl)} batches, {counter.steps} optimiser steps, '
          f"accuracy {learn.recorder.log['accuracy']:.4f}")
"""),
("code", r"""
(m64, steps64), (m16, steps16) = runs.values()
accum_max_diff = max((a - b).abs().max().item() for a, b in zip(m64.parameters(), m16.parameters()))
nb.result('grad_accum_max_weight_diff', accum_max_diff)
print(f'largest weight difference after one epoch: {accum_max_diff:.1e}')
assert steps64 == steps16 and accum_max_diff < 1e-5
"""),
("md", r"""
Same number of steps, the same weights up to float rounding (the sums are done in a different
order), and so the same accuracy. The Recorder still records each small batch's true loss,
because it records in `after_loss`, before `before_backward` scales it.

### How much does the reference move by chance?

Before we compare the random shifts and label smoothing with the reference, we measure how much
the reference alone moves when only its initial weights change (model seeds 0, 1, 2). A
difference smaller than that spread is not evidence that a callback helps or hurts.
"""),
("code", r"""
baseline_seeds = [baseline_acc]                      # seed 0: the metric-logger run above
for seed in ([1] if nb.quick else [1, 2]):
    learn = Learner(small_cnn(seed), get_data())
    with learn.silent():
        learn.fit_one_cycle(EPOCHS, 1e-2)
    baseline_seeds.append(learn.recorder.log['accuracy'])
baseline_spread = nb.result('baseline_spread_3_seeds', max(baseline_seeds) - min(baseline_seeds))
print(f'reference over model seeds 0-{len(baseline_seeds) - 1}: {np.round(baseline_seeds, 4).tolist()}, '
      f'spread {baseline_spread:.4f}')
"""),
("code", r"""
for name, acc in [('+ RandomShift(2)', shift_acc), ('+ LabelSmoothing(0.1)', smooth_acc)]:
    diff = acc - baseline_acc
    print(f'{name:<24} accuracy {acc:.4f}  {diff:+.4f} vs the seed-0 reference, '
          f'{abs(diff) / max(baseline_spread, 1e-4):.1f} x the seed spread')
"""),
("md", r"""
Read the last column: a change several times the seed spread is a sign; one below it is noise.
Even a sign is weak here — only the initial weights were varied, not the shuffling order nor
the shifts' own random draws, and each run is two short epochs. Both callbacks pay off mostly in
longer trainings: shifts against overfitting, which two epochs barely reach, and label smoothing
for less over-confident probabilities, which accuracy does not measure. Read these runs as "it
trains and does what it says", not as a ranking.

## 5. The built-ins are written the same way

There is no private hook: the built-in callbacks use only what your callbacks can use. Here is
`TrainEval`, which puts the model in train mode before training and in eval mode before
validation (dropout and batch norm behave differently in the two):
"""),
("code", r"""
print(inspect.getsource(TrainEval))
"""),
("md", r"""
And `GradientAccumulation`, which we just used. Read it with the description above in mind:
`before_train` starts a window at zero; `before_backward` counts the samples and scales the
loss; `before_step` raises `CancelBatchException` while the window is not full — unless this is
the epoch's last batch, which always steps, after rescaling the gradients of a partial window
so every step uses the *mean* gradient of the samples it saw. Its `order` (5) puts it before
`GradientClipping` (20), so clipping sees the whole accumulated gradient once, just before the
real step.
"""),
("code", r"""
print(inspect.getsource(GradientAccumulation))
"""),
("md", r"""
`GradientClipping` is one event, `before_step`, exactly where our gradient-norm recorder looked:
"""),
("code", r"""
print(inspect.getsource(GradientClipping))
"""),
("md", r"""
We train at lr 3e-2 with the threshold picked in section 2 (the 99th percentile of the measured
norms). Our recorder has order 0 and the clipper 20, so the recorder still sees the raw norms:
the share of steps above the threshold is the share the clipper rescaled.
"""),
("code", r"""
norm_cb = GradNorms()
learn = Learner(small_cnn(), get_data(), cbs=[GradientClipping(clip_at), norm_cb])
with learn.silent():
    learn.fit(3e-2, EPOCHS)
clip_acc = nb.result('clipped_valid_acc', learn.recorder.log['accuracy'])
raw = np.array(norm_cb.norms)
print(f'with GradientClipping({clip_at:.2f}): accuracy {clip_acc:.4f} (without: {norm_accs[3e-2]:.4f}); '
      f'{(raw > clip_at).mean():.1%} of the steps were clipped: steps {np.flatnonzero(raw > clip_at)[:8].tolist()}')
learn.show_training_loop()
"""),
("md", r"""
Compare the two accuracies printed above. After the first clipped step the two runs follow
different paths, and a fit that ends at a constant, high lr lands at a rather random point.
Is the difference clipping or chance? Three more initial weights (model seeds 1–3), with and
without clipping, same data order:
"""),
("code", r"""
clip_runs = {False: [norm_accs[3e-2]], True: [clip_acc]}      # seed 0, from the runs above
for seed in ([1] if nb.quick else [1, 2, 3]):
    for clip in (False, True):
        learn = Learner(small_cnn(seed), get_data(), cbs=[GradientClipping(clip_at)] if clip else [])
        with learn.silent():
            learn.fit(3e-2, EPOCHS)
        clip_runs[clip].append(learn.recorder.log['accuracy'])
"""),
("code", r"""
for clip, accs in clip_runs.items():
    print(f"{'with' if clip else 'without'} clipping: accuracies {np.round(accs, 4).tolist()}, "
          f"mean {np.mean(accs):.4f}, spread {np.ptp(accs):.4f}")
paired = np.array(clip_runs[True]) - np.array(clip_runs[False])
clip_gain = nb.result('clipping_mean_acc_gain_4_seeds', float(paired.mean()))
print(f'change per seed {np.round(paired, 4).tolist()}: mean {clip_gain:+.4f}, against a spread '
      f'between seeds (without clipping) of {np.ptp(clip_runs[False]):.4f}')
"""),
("md", r"""
Compare the mean change with the spread between seeds, and look at the signs of the changes
seed by seed. A threshold at a high percentile is meant as insurance: against the rare bad batch
(a mislabelled outlier, a too-high lr without BatchNorm, a recurrent network) it caps one step,
and on a well-behaved problem like this one it leaves the normal steps alone — so we expect no
effect larger than chance. (A threshold *below* the typical norm would instead rescale every
step: a lower learning rate in disguise.)

## 6. When a callback breaks

An error inside a callback is raised unchanged — same type, same traceback — with a note saying
which callback and which event raised it. `after_fit` still runs, so progress bars are closed
and the LR finder can put the weights back.
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

Each exercise is a cell with a stub for you to fill in, then a cell that checks it. Until the
stub is filled in, the check says "not done yet" and the notebook goes on. The answers are at
the end of the notebook.
"""),
("md", r"""
**Exercise 1 — validate only every `k` epochs.** Write `ValidEvery(k)`: skip the validation of
every epoch whose number is not a multiple of `k`, with the right Cancel exception. Epochs
without validation get `nan` as their `valid_loss` in the Recorder's table.
"""),
("code", r"""
class ValidEvery(Callback):
    "Exercise 1: validate only the epochs whose number is a multiple of k."
    def __init__(self, k: int): self.k = k
    def before_validate(self):
        raise NotImplementedError('write ValidEvery.before_validate, then run the check below')
"""),
("code", r"""
def check_valid_every(ValidEvery):
    learn = Learner(small_cnn(), get_data(), cbs=[ValidEvery(2), ShortEpochs(3)])
    with learn.silent():
        learn.fit(1e-3, 4)
    valid = learn.recorder.metric('valid_loss')
    print('valid_loss per epoch:', np.round(valid, 4))
    assert np.isnan(valid).tolist() == [False, True, False, True], 'epochs 0 and 2 only should validate'
    print('correct: only epochs 0 and 2 were validated')

try_exercise(check_valid_every, ValidEvery)
"""),
("md", r"""
**Exercise 2 — skip suspicious batches.** Write `SkipHighLoss(limit)`: when a training batch's
loss is above `limit`, do not update the weights with it, but let the rest of the loop go on —
and do not let that batch's gradients leak into the next step. Count the skipped batches in
`self.skipped`. Which event, which exception? (The table of section 3 helps.) The check
uses a limit no loss reaches (nothing skipped, the weights move) and a limit every loss exceeds
(all skipped, the weights must not move), and a spy callback that checks that every batch's
backward pass starts from clear gradients.
"""),
("code", r"""
class SkipHighLoss(Callback):
    "Exercise 2: skip the optimiser step of training batches whose loss is above `limit`."
    def __init__(self, limit: float): self.limit = limit
    def before_fit(self): self.skipped = 0
    def before_step(self):
        raise NotImplementedError('write SkipHighLoss.before_step, then run the check below')
"""),
("code", r"""
class GradsClear(Callback):
    "Spy: are the gradients clear when each training batch starts its backward pass?"
    def before_fit(self): self.clear = []
    def before_backward(self):
        self.clear.append(all(p.grad is None or not p.grad.any() for p in self.learn.model.parameters()))
"""),
("code", r"""
def check_skip_high_loss(SkipHighLoss):
    for limit, expect_skipped in [(1e9, 0), (-1.0, 5)]:
        skipper, spy, model = SkipHighLoss(limit), GradsClear(), small_cnn()
        start = [p.detach().clone() for p in model.parameters()]
        learn = Learner(model, get_data(), cbs=[skipper, spy, StopAfterNBatches(5)])
        with learn.silent():
            learn.fit(1e-3, 1)
        moved = any(not torch.equal(a, b) for a, b in zip(start, model.parameters()))
        print(f'limit {limit:g}: skipped {skipper.skipped} of 5 batches, weights moved: {moved}')
        assert skipper.skipped == expect_skipped and moved == (expect_skipped == 0)
        assert all(spy.clear), 'a skipped batch left its gradients for the next batch'
    print('correct: high-loss batches are skipped, and their gradients are dropped')

try_exercise(check_skip_high_loss, SkipHighLoss)
"""),
("md", r"""
**Exercise 3 — the warm-up as a schedule.** Our `LinearWarmup` is a hand-written callback.
minifast already has a general one: `ParamScheduler({'lr': f})`, where `f(pos)` gives the lr at
the position `pos ∈ [0, 1]` of the fit (`pos` = training batches done / training batches in the
fit). Write `warmup_sched(n_batches)`, which returns such an `f`, built with `combine_scheds`
and `sched_lin` / `sched_no`, so that the lrs are *exactly* those of `LinearWarmup(WARMUP)` on
`fit(1e-2, EPOCHS)` (`n_batches` is the number of training batches in the fit). Hint: at batch
`i` the warm-up gives `1e-2 * (i + 1) / WARMUP`; find the `start` and `end` of a straight line
that passes through those values over the first `WARMUP / n_batches` of the fit. The check asks
`ParamScheduler` for its lr at every batch of the fit.
"""),
("code", r"""
def warmup_sched(n_batches):
    "Exercise 3: f(pos) for ParamScheduler that gives the lrs of LinearWarmup(WARMUP) on fit(1e-2, EPOCHS)."
    raise NotImplementedError('write warmup_sched, then run the check below')
"""),
("code", r"""
def check_warmup_sched(warmup_sched):
    n_iter = len(get_data().train_dl)
    sched = ParamScheduler({'lr': warmup_sched(EPOCHS * n_iter)})
    lrs = np.array([sched.hypers_at(i, n_iter, EPOCHS, 1)['lr'][0] for i in range(EPOCHS * n_iter)])
    print('first lrs:', np.round(lrs[:4], 5), f'| largest difference from LinearWarmup: {np.abs(lrs - warmup_lrs).max():.1e}')
    assert np.allclose(lrs, warmup_lrs, rtol=1e-9, atol=1e-12), 'not the lrs of LinearWarmup'
    print('correct: ParamScheduler with warmup_sched gives the lrs of LinearWarmup')

try_exercise(check_warmup_sched, warmup_sched)
"""),
("md", r"""
## Answers to the exercises

Each answer goes through the same check as above; the check fails loudly if the answer is wrong.

**Exercise 1.** `before_validate` runs just before the validation batches; `CancelValidException`
skips them, and `after_validate` still runs.
"""),
("code", r"""
class ValidEvery(Callback):
    def __init__(self, k: int): self.k = k
    def before_validate(self):
        if self.learn.epoch % self.k != 0:
            raise CancelValidException()

check_valid_every(ValidEvery)
"""),
("md", r"""
**Exercise 2.** `before_step` runs after `backward`, when the loss is known and the weights are
not yet updated. `CancelStepException` skips `opt.step()` and still clears the gradients.
`CancelBatchException` would skip the step too, but keep the gradients, which would then be
added to the next batch's (that is what gradient accumulation wants, and what the spy catches).
"""),
("code", r"""
class SkipHighLoss(Callback):
    def __init__(self, limit: float): self.limit = limit
    def before_fit(self): self.skipped = 0
    def before_step(self):
        if self.learn.loss.item() > self.limit:
            self.skipped += 1
            raise CancelStepException()

check_skip_high_loss(SkipHighLoss)
"""),
("md", r"""
**Exercise 3.** Batch `i` is at `pos = i / n_batches`. The warm-up's lrs lie on a straight line
that is `1e-2 / WARMUP` at batch 0 and would be `1e-2 * (WARMUP + 1) / WARMUP` at batch
`WARMUP`; `combine_scheds` runs it over the first `WARMUP / n_batches` of the fit, then a
constant `1e-2`.
"""),
("code", r"""
def warmup_sched(n_batches):
    pct = WARMUP / n_batches
    return combine_scheds([pct, 1 - pct], [partial(sched_lin, 1e-2 / WARMUP, 1e-2 * (WARMUP + 1) / WARMUP),
                                           partial(sched_no, 1e-2, 1e-2)])

check_warmup_sched(warmup_sched)
"""),
("md", r"""
## Summary

The last cell prints the machine, the wall time and one `RESULT` line per figure recorded
above, then checks the readings the text relies on.
"""),
("code", r"""
nb.result('grad_norm_median_lr1e-3', float(np.median(norms[1e-3])))
nb.result('grad_norm_median_lr3e-2', float(np.median(norms[3e-2])))
nb.finish()
assert accum_max_diff < 1e-5
assert clip_at > np.median(norms[3e-2])         # clips outliers, not the typical step
if not nb.quick:
    assert min(baseline_acc, shift_acc, smooth_acc, warmup_acc, clip_acc) >= 0.95
    # section 2: a larger lr gives smaller, not larger, gradient norms here
    assert np.median(norms[3e-2][-50:]) < np.median(norms[1e-3][-50:])
"""),
]
