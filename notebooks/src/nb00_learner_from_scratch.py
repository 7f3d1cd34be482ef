"""Cells of notebooks/00_learner_from_scratch.ipynb (built by notebooks/build.py)."""

CELLS = [
("md", r"""
# 00 — The Learner from scratch

Before using minifast's `Learner`, we build one. The path is the fastai course 2022's
"09_learner" notebook, run on MNIST at every step:

1. a **plain PyTorch loop** — predict, loss, backward, step, zero the gradients;
2. the same loop cut into stages with **events**, and **callbacks** that hook into them;
3. a **Recorder** callback (losses, learning rates, a table per epoch);
4. a **parameter scheduler** (the learning rate as a function of the position in training);
5. an **LR finder** (raise the lr batch by batch, watch the loss, put the weights back);
6. minifast's own `Learner`, which must give **the same numbers** as our hand-built loop on the
   same seed — checked with `assert` below — and its real source next to ours;
7. one more callback from the course: `ActivationStats`, and the "colorful dimension" plot of a
   plain CNN against one with BatchNorm.

Data: the MNIST sample that ships inside minifast (8,000 training and 2,000 held-out digits, no
download). `MINIFAST_QUICK=1` runs every cell on 1,024 training digits in seconds.
"""),
("code", r"""
%matplotlib inline
import os, time, math, copy, inspect, platform, warnings
from functools import partial
os.environ.setdefault('TQDM_DISABLE', '1')   # plain-text epoch tables instead of widgets
warnings.filterwarnings('ignore', message='IProgress not found')  # tqdm: no ipywidgets here
QUICK = os.environ.get('MINIFAST_QUICK') == '1'

import numpy as np
import torch
from torch import nn
import matplotlib.pyplot as plt
# Only the names we use, so that our own Callback and Cancel exceptions below are really ours.
from minifast import Learner, ParamScheduler, ActivationStats, mnist_sample_data
import minifast
# One thread: these models are tiny (a second thread buys little), and with one thread every
# sum is added in the same order on every machine, so the numbers the text reads come out the
# same. (The CNN at lr 0.4 in section 7 is chaotic: with two threads it lands elsewhere.)
torch.set_num_threads(1)

print('quick mode' if QUICK else 'full mode', '| torch', torch.__version__,
      '| threads', torch.get_num_threads())
notebook_start = time.perf_counter()
"""),
("md", r"""
## The data and the model

`mnist_sample_data()` returns a `DataBunch`: a training `DataLoader` (shuffled) and a
validation one, of normalised digits `[bs, 1, 28, 28]`. Its shuffling has its **own** random
generator, seeded: each call of `get_data()` below gives the same batches in the same order.
`get_model()` seeds the global generator before building the model, so every model starts from
the same weights. With both fixed, two training loops that do the same arithmetic must print
the same losses — that is how we check, at the end, that minifast runs our loop.
"""),
("code", r"""
BS = 64
N_TRAIN = 1024 if QUICK else None          # None: all 8,000 training digits of the sample
EPOCHS = 1 if QUICK else 3

def get_data():
    "A fresh DataBunch whose shuffling starts from seed 0: the same batches every time."
    return mnist_sample_data(bs=BS, n_train=N_TRAIN, seed=0)

def get_model():
    "The same two-layer MLP, with the same initial weights, every time."
    torch.manual_seed(42)
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))

data = get_data()
xb, yb = next(iter(data.train_dl))
print(f'{len(data.train_dl.dataset):,} training digits in {len(data.train_dl)} batches, '
      f'{len(data.valid_dl.dataset):,} validation digits')
print('one batch:', tuple(xb.shape), xb.dtype, '| labels', yb[:12].tolist())
"""),
("md", r"""
## 1. A plain PyTorch loop

Which optimiser? We want our loop to do exactly what `Learner` does by default, so we read its
defaults instead of guessing: `opt_func=torch.optim.AdamW`, `wd=0.01`, and `create_opt` passes
`wd` as the optimiser's `weight_decay`. The loss is `nn.CrossEntropyLoss()` (a mean over the
batch), which is what `loss_func=None` picks.
"""),
("code", r"""
params = inspect.signature(Learner.__init__).parameters
print('Learner defaults: opt_func =', params['opt_func'].default.__name__, '| wd =', params['wd'].default)
print(inspect.getsource(Learner.create_opt))
"""),
("code", r"""
LR = 3e-3   # constant learning rate for sections 1-3

def plain_fit(model, data, lr, epochs):
    "Train and validate; return the training loss of every batch (floats)."
    loss_func = nn.CrossEntropyLoss()
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    losses = []
    for epoch in range(epochs):
        model.train()
        for xb, yb in data.train_dl:
            loss = loss_func(model(xb), yb)   # 1. predict, 2. loss
            loss.backward()                   # 3. gradients
            opt.step()                        # 4. update the weights
            opt.zero_grad()                   # 5. forget the gradients
            losses.append(loss.item())
        model.eval()
        total_loss, correct, n = 0.0, 0, 0
        with torch.no_grad():
            for xb, yb in data.valid_dl:
                pred = model(xb)
                total_loss += loss_func(pred, yb).item() * len(yb)
                correct += (pred.argmax(1) == yb).sum().item()
                n += len(yb)
        print(f'epoch {epoch}: train loss (last batch) {losses[-1]:.4f}  '
              f'valid loss {total_loss / n:.4f}  accuracy {correct / n:.4f}')
    return losses, correct / n

start = time.perf_counter()
plain_losses, plain_acc = plain_fit(get_model(), get_data(), LR, EPOCHS)
print(f'{len(plain_losses)} batches in {time.perf_counter() - start:.1f} s')
"""),
("md", r"""
Everything is in one function: the loop, the evaluation, the printing. To add anything — a
progress bar, a schedule, early stopping — we would have to edit it. The fix of fastai (and of
most frameworks) is to cut the loop into **stages** and fire an **event** before and after each,
so that new behaviour lives in separate objects, *callbacks*, that the loop calls.

## 2. The same loop with events and callbacks

Three ideas, each a few lines:

- a **callback** is any object whose methods are named after events (`before_batch`,
  `after_loss`, ...); `order` says who runs first;
- `learn('after_loss')` calls that method of every callback that has one;
- a callback changes the *flow* by raising a `Cancel…Exception`: each stage catches its own and
  still fires its `after_` event. `with_events` does this for every stage, so the loop needs no
  `if` for it.
"""),
("code", r"""
class Callback:
    order = 0

class CancelFitException(Exception): pass
class CancelEpochException(Exception): pass
class CancelTrainException(Exception): pass
class CancelValidException(Exception): pass
class CancelBatchException(Exception): pass
"""),
("code", r"""
class MiniLearner:
    "The loop of section 1, cut into stages; every stage fires before_X and after_X."
    def __init__(self, model, data, lr, cbs=(), wd=0.01):
        self.model, self.data, self.lr, self.wd = model, data, lr, wd
        self.loss_func = nn.CrossEntropyLoss()
        self.cbs = sorted(cbs, key=lambda cb: cb.order)
        for cb in self.cbs:
            cb.learn = self          # callbacks read and write the learner through this

    def __call__(self, event):
        for cb in self.cbs:
            method = getattr(cb, event, None)
            if method is not None:
                method()

    def with_events(self, stage, name, cancel):
        try:
            self(f'before_{name}')
            stage()
        except cancel:
            pass
        self(f'after_{name}')

    def fit(self, n_epoch):
        self.n_epoch = n_epoch
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=self.lr, weight_decay=self.wd)
        try:
            self('before_fit')
            for self.epoch in range(n_epoch):
                self.with_events(self.one_epoch, 'epoch', CancelEpochException)
        except CancelFitException:
            pass
        finally:
            self('after_fit')        # always: callbacks may have weights to put back

    def one_epoch(self):
        self.training, self.dl = True, self.data.train_dl
        self.with_events(self.all_batches, 'train', CancelTrainException)
        self.training, self.dl = False, self.data.valid_dl
        with torch.no_grad():
            self.with_events(self.all_batches, 'validate', CancelValidException)

    def all_batches(self):
        self.n_iter = len(self.dl)
        for self.iter, (self.xb, self.yb) in enumerate(self.dl):
            self.with_events(self.one_batch, 'batch', CancelBatchException)

    def one_batch(self):
        self.pred = self.model(self.xb)
        self('after_pred')
        self.loss = self.loss_func(self.pred, self.yb)
        self('after_loss')
        if not self.training:
            return
        self('before_backward')
        self.loss.backward()
        self('before_step')
        self.opt.step()
        self('after_step')
        self.opt.zero_grad()
"""),
("md", r"""
The loop no longer knows about train and eval mode: that is the first callback. It also keeps
the **position** in training — `train_iter` (this batch's index in the whole fit) and
`pct_train` (0 → 1) — which a schedule will need. A second callback counts the validation
accuracy, and a third one, for this demonstration only, prints a few events and stops the
fit after two batches with `CancelFitException`: `after_fit` still runs.
"""),
("code", r"""
class TrainEvalCB(Callback):
    order = -10                       # first: the others may read the mode or the position
    def before_fit(self):
        self.learn.train_iter, self.learn.pct_train = 0, 0.0
    def before_train(self):
        self.learn.model.train()
    def before_batch(self):
        learn = self.learn
        if learn.training:
            learn.train_iter = learn.epoch * learn.n_iter + learn.iter
            learn.pct_train = learn.train_iter / (learn.n_epoch * learn.n_iter)
    def before_validate(self):
        self.learn.model.eval()

class AccuracyCB(Callback):
    def before_validate(self):
        self.correct, self.n = 0, 0
    def after_loss(self):
        if not self.learn.training:
            self.correct += (self.learn.pred.argmax(1) == self.learn.yb).sum().item()
            self.n += len(self.learn.yb)
    def after_validate(self):
        print(f'epoch {self.learn.epoch}: accuracy {self.correct / self.n:.4f}')

class ShowEvents(Callback):
    def before_fit(self): print('before_fit')
    def before_batch(self): print(f'  before_batch  iter={self.learn.iter} training={self.learn.training}')
    def after_loss(self): print(f'  after_loss    loss={self.learn.loss.item():.4f}')
    def after_step(self): print('  after_step')
    def after_batch(self):
        if self.learn.iter == 1:
            raise CancelFitException()
    def after_fit(self): print('after_fit (runs even after CancelFitException)')

MiniLearner(get_model(), get_data(), LR, cbs=[TrainEvalCB(), ShowEvents()]).fit(1)
"""),
("code", r"""
MiniLearner(get_model(), get_data(), LR, cbs=[TrainEvalCB(), AccuracyCB()]).fit(EPOCHS)
"""),
("md", r"""
The accuracies are those of the plain loop, to the last digit: same weights, same batches, same
arithmetic. Only the structure changed.

## 3. A Recorder

The Recorder keeps what happened: the loss and the lr of every training batch, and one row per
epoch (`train_loss`, `valid_loss`, `accuracy`). It records in `after_loss`, so it sees every
batch that has a loss; its high `order` lets callbacks that change the loss (label smoothing in
`05_custom_callbacks`) run first.
"""),
("code", r"""
class RecorderCB(Callback):
    order = 50
    def before_fit(self):
        self.losses, self.lrs, self.rows = [], [], []
    def before_epoch(self):
        self.train_sum = self.valid_sum = self.correct = 0.0
        self.n_train = self.n_valid = 0
    def after_loss(self):
        learn, n = self.learn, len(self.learn.yb)
        if learn.training:
            self.losses.append(learn.loss.item())
            self.lrs.append(learn.opt.param_groups[0]['lr'])
            self.train_sum += learn.loss.item() * n; self.n_train += n
        else:
            self.valid_sum += learn.loss.item() * n; self.n_valid += n
            self.correct += (learn.pred.argmax(1) == learn.yb).sum().item()
    def after_epoch(self):
        row = dict(epoch=self.learn.epoch, train_loss=self.train_sum / self.n_train,
                   valid_loss=self.valid_sum / self.n_valid, accuracy=self.correct / self.n_valid)
        self.rows.append(row)
        print('  '.join(f'{k} {v:.4f}' if isinstance(v, float) else f'{k} {v}' for k, v in row.items()))

recorder = RecorderCB()
MiniLearner(get_model(), get_data(), LR, cbs=[TrainEvalCB(), recorder]).fit(EPOCHS)
assert recorder.losses == plain_losses   # bit for bit the plain loop's losses
plt.figure(figsize=(6, 3)); plt.plot(recorder.losses)
plt.xlabel('batch'); plt.ylabel('training loss'); plt.title('RecorderCB, constant lr'); plt.show()
"""),
("md", r"""
## 4. A parameter scheduler

A schedule is a plain function of the position `pos ∈ [0, 1]` in training. The scheduler
callback sets the optimiser's lr from it before each training batch; the position comes from
`TrainEvalCB`. Here: half a cosine from `3·LR` down to `LR/100` — a high lr while the loss
falls fast, a small one at the end to settle in a minimum.
"""),
("code", r"""
def sched_cos(start, end, pos):
    return end + (start - end) / 2 * (math.cos(math.pi * pos) + 1)

class SchedulerCB(Callback):
    def __init__(self, sched):
        self.sched = sched
    def before_batch(self):
        if self.learn.training:
            for group in self.learn.opt.param_groups:
                group['lr'] = self.sched(self.learn.pct_train)

cos_sched = partial(sched_cos, 3 * LR, LR / 100)
sched_recorder = RecorderCB()
MiniLearner(get_model(), get_data(), LR, cbs=[TrainEvalCB(), SchedulerCB(cos_sched), sched_recorder]).fit(EPOCHS)
sched_acc = sched_recorder.rows[-1]['accuracy']

fig, axes = plt.subplots(1, 2, figsize=(11, 3))
axes[0].plot(sched_recorder.lrs); axes[0].set_xlabel('batch'); axes[0].set_ylabel('lr')
axes[1].plot(recorder.losses, label=f'constant lr {LR:g}', alpha=0.7)
axes[1].plot(sched_recorder.losses, label='cosine from 3x to 1/100', alpha=0.7)
axes[1].set_xlabel('batch'); axes[1].set_ylabel('training loss'); axes[1].legend(); plt.show()
print(f"final accuracy: constant lr {recorder.rows[-1]['accuracy']:.4f}, cosine schedule {sched_acc:.4f}")
"""),
("md", r"""
## 5. An LR finder

Which lr? The LR range test (Smith 2015) trains for a few dozen batches while the lr grows
exponentially from `1e-5` to `10`, and records the loss. The callback:

- saves the weights and the optimiser state in `before_fit` (deep copies: training changes the
  tensors in place);
- sets the lr in `before_batch`, and skips validation (`CancelValidException`);
- smooths the loss (a debiased moving average, as Adam smooths its moments) and stops with
  `CancelFitException` once it passes 4× its best;
- puts everything back in `after_fit` — which runs in the learner's `finally`, so even an error
  or Ctrl-C leaves the model as it was.

With 8,000 digits in batches of 64 an epoch has 125 batches; we sweep over `num_it=100` of them
so the curve has enough points to read (in quick mode, 30 batches over two short epochs).
"""),
("code", r"""
class LRFinderCB(Callback):
    order = -20
    def __init__(self, start_lr=1e-5, end_lr=10, num_it=100, beta=0.98):
        self.start_lr, self.end_lr, self.num_it, self.beta = start_lr, end_lr, num_it, beta
    def before_fit(self):
        self.saved = copy.deepcopy((self.learn.model.state_dict(), self.learn.opt.state_dict()))
        self.step, self.avg, self.best = 0, 0.0, math.inf
        self.lrs, self.losses, self.smoothed = [], [], []
    def before_batch(self):
        if self.learn.training:
            lr = self.start_lr * (self.end_lr / self.start_lr) ** (self.step / self.num_it)
            for group in self.learn.opt.param_groups:
                group['lr'] = lr
    def after_batch(self):
        if not self.learn.training:
            return
        self.step += 1
        loss = self.learn.loss.item()
        self.lrs.append(self.learn.opt.param_groups[0]['lr']); self.losses.append(loss)
        self.avg = self.beta * self.avg + (1 - self.beta) * loss
        smooth = self.avg / (1 - self.beta ** self.step)
        self.smoothed.append(smooth)
        if math.isnan(smooth) or smooth > 4 * self.best or self.step >= self.num_it:
            raise CancelFitException()
        self.best = min(self.best, smooth)
    def before_validate(self):
        raise CancelValidException()
    def after_fit(self):
        model_state, opt_state = self.saved
        self.learn.model.load_state_dict(model_state)
        self.learn.opt.load_state_dict(opt_state)

NUM_IT = 30 if QUICK else 100
finder, model = LRFinderCB(num_it=NUM_IT), get_model()
before = copy.deepcopy(model.state_dict())
learn0 = MiniLearner(model, get_data(), LR, cbs=[TrainEvalCB(), finder])
learn0.fit(math.ceil(NUM_IT / len(learn0.data.train_dl)))
assert all(torch.equal(before[k], v) for k, v in model.state_dict().items()), 'weights not restored'

# As fastai: drop the first 10 points (flat) and the last 5 (the explosion squashes the y axis).
lrs, smoothed = np.array(finder.lrs)[10:-5], np.array(finder.smoothed)[10:-5]
slopes = np.gradient(smoothed, np.log(lrs))
steepest, min_div10 = lrs[np.argmin(slopes)], lrs[np.argmin(smoothed)] / 10
plt.figure(figsize=(6, 3.5)); plt.plot(lrs, smoothed); plt.xscale('log')
plt.axvline(steepest, color='r', ls='--', label=f'steepest {steepest:.1e}')
plt.axvline(min_div10, color='g', ls='--', label=f'min/10 {min_div10:.1e}')
plt.axvline(LR, color='k', ls=':', label=f'our LR {LR:g}')
plt.xlabel('learning rate (log scale)'); plt.ylabel('smoothed loss'); plt.legend(); plt.show()
print(f'{len(finder.lrs)} batches, {len(lrs)} points drawn; lowest smoothed loss at lr {lrs[np.argmin(smoothed)]:.1e}; '
      f'steepest descent at {steepest:.1e}; weights restored')
"""),
("md", r"""
How to read it: the flat part on the left is an lr too small to move the weights; the loss
then falls, fastest at the "steepest" mark, reaches its lowest point and turns up when the lr
is too large (the final explosion is in the 5 points not drawn). On the full-mode curve above
the loss falls slowly up to about 1e-3, fastest near 2e-3, then more slowly to its lowest point
near 1e-1, and rises steeply beyond it. A good constant lr sits in the falling part, at most about
a tenth of the lr of the minimum ("min/10", fastai 0.7's rule, here 1e-2). The `LR = 3e-3` of
sections 1–3 is just past the steepest point; the cosine schedule's peak, `3·LR = 9e-3`, is
about min/10. The cell below checks these readings (in full mode), so this text fails loudly
instead of silently disagreeing with a re-run's plot.
"""),
("code", r"""
lr_min_loss = lrs[np.argmin(smoothed)]
print(f'steepest {steepest:.1e} <= LR {LR:g} <= lowest loss {lr_min_loss:.1e}: ',
      steepest / 3 <= LR <= lr_min_loss)
print(f'3*LR = {3 * LR:g} < lr of the lowest loss {lr_min_loss:.1e}: ', 3 * LR < lr_min_loss)
if not QUICK:   # quick mode's 30-batch curve is too short to read
    assert steepest / 3 <= LR <= lr_min_loss and 3 * LR < lr_min_loss
    assert 1e-3 <= steepest <= 5e-3 and 3e-2 <= lr_min_loss <= 3e-1, (steepest, lr_min_loss)
"""),
("md", r"""
## 6. minifast's `Learner` runs the same loop

Here is the real `Learner._do_one_batch` and `Learner._with_events` from `minifast/learner.py`,
after ours. The differences are small: `self.opt.zero_grad(set_to_none=True)` (PyTorch's
default too), moving the batch to the device before the batch events (in `_all_batches`, and
only when the device is not the CPU), errors raised in a callback get a note naming the
callback, and events are fired with `self.fire(event)`, a plain method: `learn('after_loss')`
does the same, but calling an object costs a little more than calling a method, and the loop
fires seven events per training batch.
"""),
("code", r"""
print('# ---- ours (this notebook)')
print(inspect.getsource(MiniLearner.one_batch))
print(inspect.getsource(MiniLearner.with_events))
print('# ---- minifast/learner.py')
print(inspect.getsource(Learner._do_one_batch))
print(inspect.getsource(Learner._with_events))
"""),
("md", r"""
minifast's default callbacks are ours, grown up: `TrainEvalCallback` (our `TrainEvalCB`),
`Recorder` (our `RecorderCB`), `ProgressCallback` (the bars and table), plus safety nets such as
`InterruptGuard` (Ctrl-C never lands half-way through `opt.step()`). None of them changes the
arithmetic of a batch. `show_training_loop()` lists them per event:
"""),
("code", r"""
learn = Learner(get_model(), get_data())
learn.show_training_loop()
"""),
("md", r"""
Now the check. Same data (fresh `get_data()`), same initial weights (`get_model()`), and
`Learner`'s defaults — AdamW, `wd=0.01`, cross-entropy — which are the settings of our loops:

1. `learn.fit(LR, EPOCHS)` against the plain loop of section 1;
2. `learn.fit(...)` with minifast's `ParamScheduler` and *its* `sched_cos` against our
   scheduler of section 4;
3. `learn.lr_find(start_lr=1e-5, num_it=NUM_IT)` against our finder of section 5 (lrs and losses).

Each must agree batch for batch to 1e-6.
"""),
("code", r"""
def max_diff(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    assert a.shape == b.shape, (a.shape, b.shape)
    return float(np.abs(a - b).max())

# 1. constant lr
learn = Learner(get_model(), get_data())
learn.fit(LR, EPOCHS)
diff_plain = max_diff(learn.recorder.loss_values(), plain_losses)
acc_learner = learn.recorder.log['accuracy']
print(f'1. {len(plain_losses)} batch losses: max |minifast - plain loop| = {diff_plain:.2e}; '
      f'accuracy {acc_learner:.4f} vs {plain_acc:.4f}')
assert diff_plain < 1e-6 and abs(acc_learner - plain_acc) < 1e-6
assert abs(learn.recorder.log['valid_loss'] - recorder.rows[-1]['valid_loss']) < 1e-6
"""),
("code", r"""
# 2. the same cosine schedule, written with minifast's own sched_cos and ParamScheduler
learn = Learner(get_model(), get_data())
with learn.silent():
    learn.fit(LR, EPOCHS, cbs=[ParamScheduler({'lr': partial(minifast.sched_cos, 3 * LR, LR / 100)})])
diff_sched = max_diff(learn.recorder.loss_values(), sched_recorder.losses)
diff_lrs = max_diff(np.array(learn.recorder.lrs)[:, 0], sched_recorder.lrs)
print(f'2. scheduled fit: max loss difference {diff_sched:.2e}, max lr difference {diff_lrs:.2e}, '
      f"accuracy {learn.recorder.log['accuracy']:.4f} vs {sched_acc:.4f}")
assert diff_sched < 1e-6 and diff_lrs < 1e-12

# 3. the LR finder
learn = Learner(get_model(), get_data())
with learn.silent():
    suggested = learn.lr_find(start_lr=1e-5, num_it=NUM_IT)  # our finder's start
diff_find = max_diff(learn.recorder.loss_values(), finder.losses)
diff_find_lrs = max_diff(np.array(learn.recorder.lrs)[:, 0], finder.lrs)
print(f'3. lr_find: {len(finder.losses)} points, max loss difference {diff_find:.2e}, '
      f'max lr difference {diff_find_lrs:.2e}')
assert diff_find < 1e-6 and diff_find_lrs < 1e-12
print('minifast suggests', suggested)
assert np.isclose(suggested.steepest, steepest) and np.isclose(suggested.min_div10, min_div10)
learn.sched.plot(); plt.show()
"""),
("md", r"""
minifast's `sched.plot()` skips the same first 10 and last 5 points, so its two suggestions
are ours (asserted above).

## 7. Looking inside while it trains: ActivationStats

The course's next step (lesson 16) asks *why* a network trains well or badly, by watching the
activations of each layer. `ActivationStats` is a callback with PyTorch forward hooks: after each
training batch it records, for each layer we give it, the mean, the std and a histogram of the
absolute activations. `color_dim()` draws the histograms over time, one image per layer — the
"colorful dimension" plot: x is the batch, y the activation size (0 at the bottom), brightness
the (log) count.

We train the same small CNN twice, with plain SGD at a high lr (0.4), once without and once
with BatchNorm, and watch the ReLUs.
"""),
("code", r"""
def cnn(bn):
    layers = []
    for n_in, n_out in [(1, 8), (8, 16), (16, 32), (32, 64)]:
        layers += [nn.Conv2d(n_in, n_out, 3, stride=2, padding=1, bias=not bn)]
        layers += [nn.BatchNorm2d(n_out)] if bn else []
        layers += [nn.ReLU()]
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10))

stats_runs = {}
for bn in (False, True):
    torch.manual_seed(0)
    model = cnn(bn)
    stats = ActivationStats([m for m in model.modules() if isinstance(m, nn.ReLU)], bins=40, hist_range=(0, 10))
    learn = Learner(model, get_data(), opt_func=torch.optim.SGD, wd=0, cbs=[stats])
    with learn.silent():
        learn.fit(0.4, 1)
    acc, dead = learn.recorder.log['accuracy'], stats.dead_fraction()[-1]   # last ReLU
    stats_runs[bn] = (acc, stats)
    name = 'with BatchNorm' if bn else 'plain'
    print(f'{name:>14}: accuracy {acc:.4f} after 1 epoch; last ReLU: activations below 0.25 '
          f'{dead[:10].mean():.0%} in the first 10 batches, {dead[-10:].mean():.0%} in the last 10')
    fig = stats.color_dim(figsize=(10, 2.2)); fig.suptitle(name, y=1.05); plt.show()
"""),
("md", r"""
Read the two pictures with the numbers printed above them (the bottom bin of each histogram
holds the activations below 0.25). Without BatchNorm, PyTorch's default initialisation makes
each layer's outputs smaller than its inputs, so at the start of training the deeper layers'
activations are all close to zero: the last ReLU's histogram is one bright line at the bottom,
its gradients are tiny, and it takes many batches before the band widens — the run ends the
epoch well behind. With BatchNorm each layer's outputs are re-centred and re-scaled every
batch, so from the first batch the histograms are a wide band (about half of a ReLU's outputs
are exactly 0, as they should be for centred inputs) and the same lr trains at once. The
course fixes the plain network with a better initialisation (Kaiming/He: scale the weights so
the std stays 1) — try `nn.init.kaiming_normal_` on the convolutions. `plot_stats()` shows the
same story as means and stds: in the plain CNN the deeper ReLUs' stds start near zero and stay
there for dozens of batches, then jump and swing from batch to batch (checked below).
"""),
("code", r"""
plain_stats = stats_runs[False][1]
plain_stats.plot_stats(figsize=(10, 3)).suptitle('plain CNN: mean and std of each ReLU'); plt.show()
last_std = plain_stats.stacked('std')[-1]   # [layers, batches]: the deepest ReLU, per batch
print(f'plain CNN, last ReLU: std {last_std[:10].mean():.3f} over the first 10 batches, '
      f'{last_std[-10:].mean():.3f} over the last 10')
if not QUICK:
    assert last_std[:10].mean() < 0.1 < 0.5 < last_std[-10:].mean()
"""),
("md", r"""
## Summary: the figures of this notebook

The last cell prints the machine, the time, and one `RESULT` line per figure, and asserts them.
"""),
("code", r"""
minutes = (time.perf_counter() - notebook_start) / 60
plain_cnn_acc, bn_cnn_acc = stats_runs[False][0], stats_runs[True][0]
print(f'hardware: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs | '
      f'torch {torch.__version__}, {torch.get_num_threads()} threads | '
      f'{"quick" if QUICK else "full"} mode, wall time {minutes:.1f} min')
results = {
    'mlp_plain_loop_valid_acc': plain_acc,
    'mlp_cosine_valid_acc': sched_acc,
    'learner_vs_plain_loop_max_loss_diff': diff_plain,
    'learner_vs_hand_scheduler_max_loss_diff': diff_sched,
    'learner_vs_hand_lr_finder_max_loss_diff': diff_find,
    'lr_find_steepest': steepest,
    'cnn_sgd_lr0.4_plain_valid_acc': plain_cnn_acc,
    'cnn_sgd_lr0.4_batchnorm_valid_acc': bn_cnn_acc,
    'minutes': minutes,
}
for name, value in results.items():
    print(f'RESULT {name} {value:.4g}')

assert max(diff_plain, diff_sched, diff_find) < 1e-6
if not QUICK:
    assert plain_acc >= 0.94 and sched_acc >= 0.94, (plain_acc, sched_acc)
    assert bn_cnn_acc >= 0.95 and bn_cnn_acc > plain_cnn_acc + 0.05, (bn_cnn_acc, plain_cnn_acc)
"""),
]
