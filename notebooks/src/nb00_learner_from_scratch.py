"""Cells of notebooks/00_learner_from_scratch.ipynb (built by notebooks/build.py)."""

CELLS = [
("md", r"""
# 00 — The Learner from scratch

minifast's `Learner` trains a model in one line: `learn.fit(lr, epochs)`. In this notebook we
build that line ourselves, one small step at a time, so that nothing in it is magic:

1. a **plain PyTorch training loop**: predict, loss, gradients, update;
2. the same loop **in a class**, first as a whole fit, then with one batch as a method;
3. **callbacks** that the loop calls at named **events**, so that new behaviour lives outside
   the loop;
4. **Cancel exceptions**, which let a callback skip part of the loop;
5. events **inside the batch** (`after_loss`, `before_step`, ...);
6. a **Recorder** callback (losses, learning rates, a row per epoch);
7. a **scheduler** callback (the learning rate as a function of the position in training);
8. an **LR finder**, as one more callback;
9. minifast's own `Learner`, which must give **the same numbers** as our loops.

Every step is run, and checked against the step before: same initial weights and same batches
must give the same training losses, to the last bit.

**The recipe** (fixed before anything is measured): the MNIST sample that ships with minifast
(8,000 training digits, 2,000 validation digits, no download), a two-layer MLP, AdamW with
weight decay 0.01 (`Learner`'s defaults, which we read below), learning rate `3e-3`, batches of
64, 3 epochs; the schedule of section 7 goes from `3 * 3e-3` down to `3e-3 / 100`. This notebook
compares training loops, not models, so it reports accuracies on the validation digits only and
uses no test set.

**Exercises** are marked *Exercise*: fill in the function in the cell, run it and the check
below it. The answers are at the end of the notebook.
"""),
("code", r"""
%matplotlib inline
import copy, inspect, math, warnings
warnings.filterwarnings('ignore', message='IProgress not found')   # tqdm: no ipywidgets here
from functools import partial
import numpy as np
import torch
from torch import nn
import matplotlib.pyplot as plt
import minifast
from minifast import Learner, ParamScheduler, mnist_sample_data
from minifast.course import Notebook, try_exercise
torch.set_num_threads(1)   # tiny models: a second thread buys little, and one adds in the same order everywhere
nb = Notebook()
"""),
("md", r"""
## The data and the model

`mnist_sample_data()` returns a `DataBunch`: a training `DataLoader` (shuffled) and a validation
one, of normalised digits of shape `[batch, 1, 28, 28]`. Its shuffling has its **own** random
generator, seeded, so each call of `get_data()` gives the same batches in the same order.
`get_model()` seeds PyTorch's generator before it builds the model, so every model starts from
the same weights. With both fixed, two loops that do the same arithmetic print the same losses:
that is how each step below is checked.
"""),
("code", r"""
BS, EPOCHS = 64, (1 if nb.quick else 3)
N_TRAIN = 1024 if nb.quick else None       # None: all 8,000 training digits

def get_data():
    "A fresh DataBunch whose shuffling starts from seed 0: the same batches every time."
    return mnist_sample_data(bs=BS, n_train=N_TRAIN, seed=0)

def get_model():
    "The same MLP, with the same initial weights, every time."
    torch.manual_seed(42)
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))
"""),
("code", r"""
data = get_data()
xb, yb = next(iter(data.train_dl))
print(f'{len(data.train_dl.dataset):,} training digits in {len(data.train_dl)} batches; '
      f'{len(data.valid_dl.dataset):,} validation digits')
print('one batch:', tuple(xb.shape), xb.dtype, '| labels', tuple(yb.shape), yb.dtype)
fig, axes = plt.subplots(1, 8, figsize=(8, 1.4))
for ax, img, label in zip(axes, xb, yb):
    ax.imshow(img[0], cmap='gray_r'); ax.set_title(int(label)); ax.axis('off')
plt.show()
"""),
("md", r"""
## 1. A plain PyTorch loop

Training repeats five steps on every batch: **predict**, compute the **loss**, compute the
**gradients** of the loss with respect to every weight, **update** the weights a little against
their gradients, and **forget** the gradients before the next batch.

Step 3 is PyTorch's autograd. A tensor created with `requires_grad=True` remembers every
computation made with it; `backward()` then applies the chain rule from the result back to it:
"""),
("code", r"""
x = torch.tensor(-3., requires_grad=True)
y = torch.tensor(5., requires_grad=True)
z = torch.tensor(-2., requires_grad=True)
f = (x + y) * z
f.backward()                      # df/dx = z, df/dy = z, df/dz = x + y
print(f'f = {f.item()}, df/dx = {x.grad.item()}, df/dy = {y.grad.item()}, df/dz = {z.grad.item()}')
"""),
("md", r"""
A model's weights are such tensors. One batch through the model gives 10 scores per digit;
the loss, `nn.CrossEntropyLoss`, turns them into probabilities (softmax) and takes minus the
log of the right digit's probability, averaged over the batch. Random weights give each digit a
probability of about 1/10, so the first loss should be near `ln 10`:
"""),
("code", r"""
model = get_model()
loss_func = nn.CrossEntropyLoss()
pred = model(xb)                                   # 1. predict
loss = loss_func(pred, yb)                         # 2. the loss
print('scores:', tuple(pred.shape), f'| loss {loss.item():.4f} | ln(10) = {math.log(10):.4f}')
"""),
("md", r"""
Which optimiser? Our loop should do exactly what `Learner` does by default, so we read its
defaults instead of guessing. (`loss_func=None` means `nn.CrossEntropyLoss()`; `wd` is passed
to the optimiser as its `weight_decay`.)
"""),
("code", r"""
defaults = inspect.signature(Learner.__init__).parameters
print({name: defaults[name].default for name in ('loss_func', 'opt_func', 'wd')})
"""),
("md", r"""
All five steps on the same batch, five times over. The loss on that batch must go down:
"""),
("code", r"""
opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.01)
for step in range(5):
    loss = loss_func(model(xb), yb)
    loss.backward()      # 3. gradients, into p.grad for every weight p
    opt.step()           # 4. move every weight against its gradient
    opt.zero_grad()      # 5. forget them: backward() *adds* to p.grad
    print(f'step {step}: loss on this batch {loss.item():.4f}')
"""),
("md", r"""
**Exercise 1 — an update by hand.** `opt.step()` is less mysterious than it looks. Plain SGD
moves every weight `p` by `-lr * p.grad`. Write `sgd_step(params, lr)` that does this for
every parameter in `params`, without an optimiser. (Hint: the update itself must not be
recorded by autograd.) The check compares your weights with `torch.optim.SGD`'s after one step.
`try_exercise(check, answer)` (from `minifast.course`) runs it, and while your answer is still
the stub it prints "not done yet" and the notebook goes on.
"""),
("code", r"""
def sgd_step(params, lr):
    "Exercise 1: p <- p - lr * p.grad for every parameter p."
    raise NotImplementedError('write sgd_step, then run the check below')
"""),
("code", r"""
def check_sgd_step(sgd_step):
    ours, torchs = get_model(), get_model()           # two copies of the same weights
    for m in (ours, torchs):
        loss_func(m(xb), yb).backward()
    sgd_step(list(ours.parameters()), 0.1)
    torch.optim.SGD(torchs.parameters(), lr=0.1).step()
    assert all(torch.allclose(a, b) for a, b in zip(ours.parameters(), torchs.parameters())), \
        'the weights differ from those of torch.optim.SGD(lr=0.1)'
    print('correct: sgd_step moves the weights exactly as torch.optim.SGD does')

try_exercise(check_sgd_step, sgd_step)
"""),
("md", r"""
Now the whole loop. An **epoch** is one pass over the training set; after each we measure the
loss and the accuracy on the validation set, digits the model never trains on. Two details
matter there: `model.eval()` (layers such as dropout or BatchNorm behave differently when they
are not training; ours has none, but a loop must not depend on that) and `torch.no_grad()`
(no gradients are needed, so PyTorch need not remember the computation).
"""),
("code", r"""
def train_epoch(model, dl, loss_func, opt):
    "One pass over the training set; returns the loss of every batch."
    model.train()
    losses = []
    for xb, yb in dl:
        loss = loss_func(model(xb), yb)
        loss.backward()
        opt.step()
        opt.zero_grad()
        losses.append(loss.item())
    return losses
"""),
("code", r"""
def evaluate(model, dl, loss_func):
    "The mean loss and the accuracy over a whole DataLoader, without training."
    model.eval()
    total, correct, n = 0.0, 0, 0
    with torch.no_grad():
        for xb, yb in dl:
            pred = model(xb)
            total += loss_func(pred, yb).item() * len(yb)   # the loss is a mean over the batch
            correct += (pred.argmax(1) == yb).sum().item()
            n += len(yb)
    return total / n, correct / n
"""),
("code", r"""
LR = 3e-3
model, data = get_model(), get_data()
opt = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=0.01)
plain_losses = []
for epoch in range(EPOCHS):
    plain_losses += train_epoch(model, data.train_dl, loss_func, opt)
    plain_valid_loss, plain_acc = evaluate(model, data.valid_dl, loss_func)
    print(f'epoch {epoch}: valid loss {plain_valid_loss:.4f}  accuracy {plain_acc:.4f}')
"""),
("code", r"""
nb.result('mlp_plain_loop_valid_acc', plain_acc)
print(f'{len(plain_losses)} training batches; validation accuracy after {EPOCHS} epochs: {plain_acc:.4f}')
plt.figure(figsize=(6, 3)); plt.plot(plain_losses)
plt.xlabel('batch'); plt.ylabel('training loss'); plt.title('the plain loop'); plt.show()
"""),
("md", r"""
This loop works, and every framework runs one like it. But each new idea — a schedule for the
lr, a progress bar, stopping early, mixed precision — would be one more edit inside these few
lines, until nobody can read them. The rest of the notebook moves the loop into a class and
then makes it *extensible* without editing it.

## 2. The loop in a class

**Step 1: a class.** What the loop needs — model, data, lr — lives on `self`, so methods can
share it. Nothing else changes, and the check says so: the training losses are those of the
plain loop, bit for bit.
"""),
("code", r"""
def max_diff(a, b):
    "The largest difference between two lists of per-batch numbers (0.0: identical)."
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    assert a.shape == b.shape, (a.shape, b.shape)
    return float(np.abs(a - b).max())
"""),
("code", r"""
class Learner1:
    "Step 1: the loop of section 1 as a class."
    def __init__(self, model, data, lr, loss_func=nn.CrossEntropyLoss(), wd=0.01):
        self.model, self.data, self.lr, self.loss_func, self.wd = model, data, lr, loss_func, wd

    def fit(self, n_epoch):
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=self.lr, weight_decay=self.wd)
        self.losses = []
        for self.epoch in range(n_epoch):
            self.losses += train_epoch(self.model, self.data.train_dl, self.loss_func, self.opt)
            self.valid_loss, self.acc = evaluate(self.model, self.data.valid_dl, self.loss_func)
"""),
("code", r"""
learn = Learner1(get_model(), get_data(), LR)
learn.fit(EPOCHS)
print(f'accuracy {learn.acc:.4f}; largest loss difference from the plain loop: {max_diff(learn.losses, plain_losses)}')
assert max_diff(learn.losses, plain_losses) == 0 and learn.acc == plain_acc
"""),
("md", r"""
**Step 2: one batch is a method.** Training and validation both loop over batches and predict;
only training goes on to `backward` and `step`. So one method runs one batch, and one runs a
pass over either DataLoader; `self.training` says which. The batch (`self.xb`, `self.yb`) and
its results (`self.pred`, `self.loss`) now live on `self` too — remember that, it is what will
let callbacks see and change them. A class cannot be split over several cells, so the methods
that do not fit in the first cell are added with a small decorator, `add_method`.
"""),
("code", r"""
def add_method(cls):
    "`@add_method(C)` above a function adds it to class C as a method."
    def add(f):
        setattr(cls, f.__name__, f)
        return f
    return add
"""),
("code", r"""
class Learner2(Learner1):
    "Step 2: one batch and one pass over a DataLoader are methods; the state is on self."
    def do_one_batch(self):
        self.pred = self.model(self.xb)
        self.loss = self.loss_func(self.pred, self.yb)
        if self.training:
            self.loss.backward()
            self.opt.step()
            self.opt.zero_grad()
"""),
("code", r"""
@add_method(Learner2)
def do_epoch(self, training):
    "One pass over the training set (training=True) or the validation set."
    self.training = training
    self.model.train(training)
    self.dl = self.data.train_dl if training else self.data.valid_dl
    for self.iter, (self.xb, self.yb) in enumerate(self.dl):
        self.do_one_batch()
        self.record()
"""),
("code", r"""
@add_method(Learner2)
def record(self):
    "Keep what we want to know about this batch."
    if self.training:
        self.losses.append(self.loss.item())
    else:
        self.valid_sum += self.loss.item() * len(self.yb)
        self.correct += (self.pred.argmax(1) == self.yb).sum().item()
        self.n += len(self.yb)
"""),
("code", r"""
@add_method(Learner2)
def fit(self, n_epoch):
    self.opt = torch.optim.AdamW(self.model.parameters(), lr=self.lr, weight_decay=self.wd)
    self.losses = []
    for self.epoch in range(n_epoch):
        self.do_epoch(training=True)
        self.valid_sum, self.correct, self.n = 0.0, 0, 0
        with torch.no_grad():
            self.do_epoch(training=False)
        self.valid_loss, self.acc = self.valid_sum / self.n, self.correct / self.n
"""),
("code", r"""
learn = Learner2(get_model(), get_data(), LR)
learn.fit(EPOCHS)
print(f'accuracy {learn.acc:.4f}; largest loss difference from the plain loop: {max_diff(learn.losses, plain_losses)}')
assert max_diff(learn.losses, plain_losses) == 0 and learn.acc == plain_acc
"""),
("md", r"""
## 3. Callbacks

Look at `record` and `fit` above: what we *measure* (losses, accuracy) is tangled with how we
*train* (`fit` resets the counters that `record` fills). Every new measurement would mean
editing both. The way out, used by fastai and most frameworks: the loop announces **events**
("a fit starts", "a batch is done", ...) and calls every **callback** that has a method of that
name. A callback is any object; `order` says who runs first when several answer the same event.
"""),
("code", r"""
class Callback:
    "Base class: methods named after events are called at those events, lowest `order` first."
    order = 0
"""),
("code", r"""
class Learner3(Learner2):
    "Step 3: the loop calls `self.fire(event)`; the callbacks do the rest."
    def __init__(self, model, data, lr, cbs=(), **kwargs):
        super().__init__(model, data, lr, **kwargs)
        self.cbs = sorted(cbs, key=lambda cb: cb.order)
        for cb in self.cbs:
            cb.learn = self          # a callback reads and writes the learner through this

    def fire(self, event):
        for cb in self.cbs:
            method = getattr(cb, event, None)
            if method is not None:
                method()
"""),
("code", r"""
@add_method(Learner3)
def do_epoch(self, training):
    self.training = training
    self.model.train(training)
    self.dl = self.data.train_dl if training else self.data.valid_dl
    for self.iter, (self.xb, self.yb) in enumerate(self.dl):
        self.fire('before_batch')
        self.do_one_batch()
        self.fire('after_batch')
"""),
("code", r"""
@add_method(Learner3)
def fit(self, n_epoch):
    self.n_epoch = n_epoch
    self.opt = torch.optim.AdamW(self.model.parameters(), lr=self.lr, weight_decay=self.wd)
    self.fire('before_fit')
    for self.epoch in range(n_epoch):
        self.fire('before_epoch')
        self.do_epoch(training=True)
        with torch.no_grad():
            self.do_epoch(training=False)
        self.fire('after_epoch')
    self.fire('after_fit')
"""),
("md", r"""
The loop no longer records anything. Recording becomes a callback: `MetricsCB` does what
`record` did, at the events where `fit` and `record` did it, and prints a line per epoch.
"""),
("code", r"""
class MetricsCB(Callback):
    "Training losses per batch; validation loss and accuracy per epoch."
    def before_fit(self): self.losses = []
    def before_epoch(self): self.valid_sum, self.correct, self.n = 0.0, 0, 0
    def after_batch(self):
        learn = self.learn
        if learn.training:
            self.losses.append(learn.loss.item())
        else:
            self.valid_sum += learn.loss.item() * len(learn.yb)
            self.correct += (learn.pred.argmax(1) == learn.yb).sum().item()
            self.n += len(learn.yb)
    def after_epoch(self):
        self.valid_loss, self.acc = self.valid_sum / self.n, self.correct / self.n
        print(f'epoch {self.learn.epoch}: valid loss {self.valid_loss:.4f}  accuracy {self.acc:.4f}')
"""),
("code", r"""
metrics = MetricsCB()
Learner3(get_model(), get_data(), LR, cbs=[metrics]).fit(EPOCHS)
print('largest loss difference from the plain loop:', max_diff(metrics.losses, plain_losses))
assert max_diff(metrics.losses, plain_losses) == 0 and metrics.acc == plain_acc
"""),
("md", r"""
## 4. Stages, and callbacks that stop them

A callback that *watches* is now easy. A callback that changes the **flow** — stop the fit
when the loss explodes, skip validation, skip one batch — needs a way to tell the loop. The
way is an exception: each stage of the loop (fit, epoch, train, validate, batch) has its own
`Cancel...Exception`. The stage catches its own, skips what is left of it, and still fires its
`after_` event, so that callbacks can clean up.

`with_events` runs one stage this way: `before_X`, the stage, `after_X`. With it the loop needs
no `if` for cancelling. And since a callback can now run code before and after training and
validation, switching the model between train and eval mode leaves the loop too.
"""),
("code", r"""
class CancelFitException(Exception): pass    # stop the whole fit
class CancelEpochException(Exception): pass  # skip the rest of this epoch
class CancelTrainException(Exception): pass  # skip the rest of this epoch's training
class CancelValidException(Exception): pass  # skip the rest of this validation
class CancelBatchException(Exception): pass  # skip the rest of this batch
"""),
("code", r"""
class Learner4(Learner3):
    "Step 4: every stage X fires before_X and after_X; a callback may cancel the rest of it."
    def with_events(self, stage, name, cancel):
        try:
            self.fire(f'before_{name}')
            stage()
        except cancel:
            pass                            # a callback asked to skip the rest of this stage
        self.fire(f'after_{name}')
"""),
("code", r"""
@add_method(Learner4)
def fit(self, n_epoch):
    self.n_epoch = n_epoch
    self.opt = torch.optim.AdamW(self.model.parameters(), lr=self.lr, weight_decay=self.wd)
    try:
        self.fire('before_fit')
        for self.epoch in range(n_epoch):
            self.with_events(self.do_epoch, 'epoch', CancelEpochException)
    except CancelFitException:
        pass
    finally:
        self.fire('after_fit')      # always, even after an error: callbacks may have to clean up
"""),
("code", r"""
@add_method(Learner4)
def do_epoch(self):
    self.training, self.dl = True, self.data.train_dl
    self.with_events(self.all_batches, 'train', CancelTrainException)
    self.training, self.dl = False, self.data.valid_dl
    with torch.no_grad():
        self.with_events(self.all_batches, 'validate', CancelValidException)

@add_method(Learner4)
def all_batches(self):
    self.n_iter = len(self.dl)
    for self.iter, (self.xb, self.yb) in enumerate(self.dl):
        self.with_events(self.do_one_batch, 'batch', CancelBatchException)
"""),
("md", r"""
The mode switch becomes the first callback, `TrainEvalCB`. It also keeps the **position** in
the fit, `train_iter` (the index of this training batch since the fit began), which a schedule
will need in section 7. Its `order` is low, so it runs before the callbacks that read them.
"""),
("code", r"""
class TrainEvalCB(Callback):
    "Train mode for training, eval mode for validation; and the position in the fit."
    order = -10
    def before_fit(self): self.learn.train_iter = 0
    def before_train(self): self.learn.model.train()
    def before_validate(self): self.learn.model.eval()
    def before_batch(self):
        learn = self.learn
        if learn.training:
            learn.train_iter = learn.epoch * learn.n_iter + learn.iter
"""),
("code", r"""
metrics = MetricsCB()
Learner4(get_model(), get_data(), LR, cbs=[TrainEvalCB(), metrics]).fit(EPOCHS)
print('largest loss difference from the plain loop:', max_diff(metrics.losses, plain_losses))
assert max_diff(metrics.losses, plain_losses) == 0 and metrics.acc == plain_acc
"""),
("md", r"""
What the loop does when a callback cancels: `ShowEventsCB` prints a few events and raises
`CancelFitException` after the second training batch. Look for `after_fit` at the end: it still
runs.
"""),
("code", r"""
class ShowEventsCB(Callback):
    def before_fit(self): print('before_fit')
    def before_train(self): print(' before_train')
    def before_batch(self): print(f'  before_batch  iter={self.learn.iter}')
    def after_batch(self):
        print(f'  after_batch   loss={self.learn.loss.item():.4f}')
        if self.learn.iter == 1:
            raise CancelFitException()
    def after_fit(self): print('after_fit')

Learner4(get_model(), get_data(), LR, cbs=[TrainEvalCB(), ShowEventsCB()]).fit(1)
"""),
("md", r"""
**Exercise 2 — stop after `n` batches.** Before a long training run it is worth checking that a
new model trains at all. Write the callback `StopAfter(n)`: it stops the whole fit once `n`
training batches are done. Which event, which exception? The check trains with it and
`MetricsCB`: exactly the first `n` losses of the plain loop, and no validation.
"""),
("code", r"""
class StopAfter(Callback):
    "Exercise 2: stop the fit after `n` training batches."
    def __init__(self, n): self.n = n
    def after_batch(self):
        raise NotImplementedError('write StopAfter.after_batch, then run the check below')
"""),
("code", r"""
def check_stop_after(StopAfter):
    metrics = MetricsCB()
    Learner4(get_model(), get_data(), LR, cbs=[TrainEvalCB(), metrics, StopAfter(5)]).fit(EPOCHS)
    assert len(metrics.losses) == 5, f'{len(metrics.losses)} training batches ran, not 5'
    assert metrics.losses == plain_losses[:5] and metrics.n == 0, 'not the first 5 batches only'
    print('correct: the fit stopped after 5 training batches, before any validation')

try_exercise(check_stop_after, StopAfter)
"""),
("md", r"""
## 5. Events inside the batch

One last cut of the loop: events between the five steps of a batch. They are where callbacks
*change* training: `after_pred` (change the predictions), `after_loss` (change the loss: label
smoothing, or record it), `before_backward` (scale the loss), `before_step` (look at or clip
the gradients, or skip the step), `after_step`. These are minifast's events, with its names.
"""),
("code", r"""
class Learner5(Learner4):
    "Step 5: the batch fires events between its steps."
    def do_one_batch(self):
        self.pred = self.model(self.xb)
        self.fire('after_pred')
        self.loss = self.loss_func(self.pred, self.yb)
        self.fire('after_loss')
        if not self.training:
            return
        self.fire('before_backward')
        self.loss.backward()
        self.fire('before_step')
        self.opt.step()
        self.fire('after_step')
        self.opt.zero_grad()
"""),
("code", r"""
metrics = MetricsCB()
Learner5(get_model(), get_data(), LR, cbs=[TrainEvalCB(), metrics]).fit(EPOCHS)
print('largest loss difference from the plain loop:', max_diff(metrics.losses, plain_losses))
assert max_diff(metrics.losses, plain_losses) == 0
"""),
("md", r"""
## 6. A Recorder

The Recorder is `MetricsCB` grown up. It keeps the loss **and the learning rate** of every
training batch (we will schedule the lr next, and want to see it) and one row per epoch:
`train_loss`, `valid_loss`, `accuracy`. It records in `after_loss`, which fires exactly once
per batch that has a loss, and its high `order` makes it run after callbacks that change the
loss or the lr in the same event.
"""),
("code", r"""
class RecorderCB(Callback):
    "Per training batch: loss and lr. Per epoch: a row of train_loss, valid_loss, accuracy."
    order = 50
    def before_fit(self): self.losses, self.lrs, self.rows = [], [], []
    def before_epoch(self): self.sums = dict(train=0.0, n_train=0, valid=0.0, n_valid=0, correct=0)
    def after_loss(self):
        learn, s, n = self.learn, self.sums, len(self.learn.yb)
        phase = 'train' if learn.training else 'valid'
        s[phase] += learn.loss.item() * n; s['n_' + phase] += n
        if learn.training:
            self.losses.append(learn.loss.item()); self.lrs.append(learn.opt.param_groups[0]['lr'])
        else:
            s['correct'] += (learn.pred.argmax(1) == learn.yb).sum().item()
"""),
("code", r"""
@add_method(RecorderCB)
def after_epoch(self):
    s = self.sums
    row = dict(epoch=self.learn.epoch, train_loss=s['train'] / s['n_train'],
               valid_loss=s['valid'] / s['n_valid'], accuracy=s['correct'] / s['n_valid'])
    self.rows.append(row)
    print('  '.join(f'{k} {v:.4f}' if isinstance(v, float) else f'{k} {v}' for k, v in row.items()))
"""),
("code", r"""
recorder = RecorderCB()
Learner5(get_model(), get_data(), LR, cbs=[TrainEvalCB(), recorder]).fit(EPOCHS)
print('largest loss difference from the plain loop:', max_diff(recorder.losses, plain_losses))
assert max_diff(recorder.losses, plain_losses) == 0 and recorder.rows[-1]['accuracy'] == plain_acc
"""),
("md", r"""
## 7. A parameter scheduler

A constant learning rate is a compromise: large enough to make progress at the start, small
enough to settle into a minimum at the end. A **schedule** changes it during training. We write
a schedule as a plain function of the position `pos` in training, from 0 (first batch) to 1,
so it can be drawn and tested without a model. Ours is half a cosine from `3 * LR` down to
`LR / 100`: a high lr while the loss falls fast, a small one at the end.
"""),
("code", r"""
def sched_cos(start, end, pos):
    "Half a cosine from `start` (pos=0) to `end` (pos=1)."
    return end + (start - end) / 2 * (math.cos(math.pi * pos) + 1)

cos_sched = partial(sched_cos, 3 * LR, LR / 100)
positions = np.linspace(0, 1, 101)
plt.figure(figsize=(5, 2.5)); plt.plot(positions, [cos_sched(p) for p in positions])
plt.xlabel('position in training (pos)'); plt.ylabel('lr'); plt.show()
"""),
("md", r"""
The scheduler callback sets the optimiser's lr before each training batch, from the position
that `TrainEvalCB` keeps: `pos = train_iter / (n_epoch * n_iter)`.
"""),
("code", r"""
class SchedulerCB(Callback):
    "Before each training batch, set the lr to sched(pos)."
    def __init__(self, sched): self.sched = sched
    def before_batch(self):
        learn = self.learn
        if learn.training:
            pos = learn.train_iter / (learn.n_epoch * learn.n_iter)
            for group in learn.opt.param_groups:
                group['lr'] = self.sched(pos)
"""),
("code", r"""
sched_recorder = RecorderCB()
Learner5(get_model(), get_data(), LR, cbs=[TrainEvalCB(), SchedulerCB(cos_sched), sched_recorder]).fit(EPOCHS)
n_batches = EPOCHS * len(get_data().train_dl)
assert sched_recorder.lrs == [cos_sched(i / n_batches) for i in range(n_batches)]   # the lrs used
sched_acc = nb.result('mlp_cosine_valid_acc', sched_recorder.rows[-1]['accuracy'])
"""),
("code", r"""
fig, axes = plt.subplots(1, 2, figsize=(11, 3))
axes[0].plot(sched_recorder.lrs); axes[0].set_xlabel('batch'); axes[0].set_ylabel('lr')
axes[1].plot(recorder.losses, label=f'constant lr {LR:g}', alpha=0.7)
axes[1].plot(sched_recorder.losses, label='cosine schedule', alpha=0.7)
axes[1].set_ylim(0, 1); axes[1].set_xlabel('batch'); axes[1].set_ylabel('training loss'); axes[1].legend()
plt.show()
print(f"validation accuracy: constant lr {recorder.rows[-1]['accuracy']:.4f}, cosine schedule {sched_acc:.4f}")
"""),
("md", r"""
On the right, compare the two loss curves over the last epoch, where the cosine's lr is
smallest; the printed accuracies say which run ended better on the validation digits. One run
of each on one data order, so read a small difference as a hint, not a verdict.

**Exercise 3 — warm up, then anneal.** Many schedules start low, rise, then fall, because the
very first steps (with random weights and an optimiser that knows nothing yet) are the most
fragile. Write `warmup_cos(pos)`: a straight line from `LR / 10` to `3 * LR` over the first 25%
of training, then half a cosine from `3 * LR` down to `LR / 100`. The check compares it with
minifast's `combine_scheds` at 1,001 positions.
"""),
("code", r"""
def warmup_cos(pos):
    "Exercise 3: linear from LR/10 to 3*LR over pos in [0, 0.25], then cosine to LR/100."
    raise NotImplementedError('write warmup_cos, then run the check below')
"""),
("code", r"""
def check_warmup_cos(warmup_cos):
    expected = minifast.combine_scheds([0.25, 0.75], [partial(minifast.sched_lin, LR / 10, 3 * LR),
                                                      partial(minifast.sched_cos, 3 * LR, LR / 100)])
    pos = np.linspace(0, 1, 1001)
    ours, theirs = np.array([warmup_cos(p) for p in pos]), np.array([expected(p) for p in pos])
    assert np.allclose(ours, theirs, rtol=1e-9, atol=0), f'largest difference {np.abs(ours - theirs).max():.2e}'
    print('correct: warmup_cos is minifast.combine_scheds of a line and a cosine')

try_exercise(check_warmup_cos, warmup_cos)
"""),
("md", r"""
## 8. An LR finder

Which learning rate? The **LR range test** (Leslie Smith, 2015) trains for about a hundred
batches while the lr grows exponentially, from `1e-7` to `10`, and records the loss. Too small
an lr does nothing, a good one makes the loss fall fast, too large a one makes it explode. It is
one more callback:

- `before_fit`: save the weights and the optimiser's state (deep copies: training changes the
  tensors in place);
- `before_batch`: set this batch's lr; `before_validate`: skip validation
  (`CancelValidException`);
- `after_batch`: smooth the loss (a moving average, debiased as Adam debiases its averages) and
  stop (`CancelFitException`) when it passes 4 times its best value, or after `num_it` batches;
  the best value only counts from batch 10 on, because the first few averages are noise;
- `after_fit`: put the saved state back. It runs in the learner's `finally`, so even an error
  or Ctrl-C leaves the model as it was.
"""),
("code", r"""
class LRFinderCB(Callback):
    "Raise the lr exponentially, record the loss, stop when it explodes; put the model back."
    order = -20
    def __init__(self, start_lr=1e-7, end_lr=10, num_it=100, beta=0.98):
        self.start_lr, self.end_lr, self.num_it, self.beta = start_lr, end_lr, num_it, beta
    def before_fit(self):
        self.saved = copy.deepcopy((self.learn.model.state_dict(), self.learn.opt.state_dict()))
        self.step, self.avg, self.best = 0, 0.0, math.inf
        self.lrs, self.losses, self.smoothed = [], [], []
    def after_fit(self):
        model_state, opt_state = self.saved
        self.learn.model.load_state_dict(model_state)
        self.learn.opt.load_state_dict(opt_state)
"""),
("code", r"""
@add_method(LRFinderCB)
def before_batch(self):
    if self.learn.training:
        lr = self.start_lr * (self.end_lr / self.start_lr) ** (self.step / self.num_it)
        for group in self.learn.opt.param_groups:
            group['lr'] = lr

@add_method(LRFinderCB)
def before_validate(self):
    raise CancelValidException()        # the sweep needs training losses only
"""),
("code", r"""
@add_method(LRFinderCB)
def after_batch(self):
    if not self.learn.training:
        return
    self.step += 1
    self.lrs.append(self.learn.opt.param_groups[0]['lr']); self.losses.append(self.learn.loss.item())
    self.avg = self.beta * self.avg + (1 - self.beta) * self.losses[-1]
    self.smoothed.append(self.avg / (1 - self.beta ** self.step))
    if math.isnan(self.smoothed[-1]) or self.smoothed[-1] > 4 * self.best or self.step >= self.num_it:
        raise CancelFitException()
    if self.step >= 10:
        self.best = min(self.best, self.smoothed[-1])
"""),
("md", r"""
The sweep needs `num_it` training batches. The full training set has more than 100, so one
epoch is enough; quick mode's small set needs a few epochs, and the finder stops the fit when
its `num_it` batches are done.
"""),
("code", r"""
NUM_IT = 30 if nb.quick else 100
finder, model = LRFinderCB(num_it=NUM_IT), get_model()
before = copy.deepcopy(model.state_dict())
learn = Learner5(model, get_data(), LR, cbs=[TrainEvalCB(), finder])
learn.fit(math.ceil(NUM_IT / len(learn.data.train_dl)))
restored = all(torch.equal(before[k], v) for k, v in model.state_dict().items())
print(f'{len(finder.losses)} batches swept; weights restored: {restored}')
assert restored
"""),
("md", r"""
Reading the curve: we drop the first 10 points (flat: the lr is too small to matter) and the
last 5 (the explosion would squash the y axis), and mark two rules of thumb — the lr where the
loss falls fastest ("steepest"), and a tenth of the lr of the lowest loss ("min/10", an order of
magnitude before the loss turns up).
"""),
("code", r"""
lrs, smoothed = np.array(finder.lrs)[10:-5], np.array(finder.smoothed)[10:-5]
steepest = nb.result('lr_find_steepest', lrs[np.argmin(np.gradient(smoothed, np.log(lrs)))])
lowest = lrs[np.argmin(smoothed)]
plt.figure(figsize=(6, 3.5)); plt.plot(lrs, smoothed); plt.xscale('log')
for lr, name, style in [(steepest, 'steepest', 'r--'), (lowest / 10, 'min/10', 'g--'), (LR, 'our LR', 'k:')]:
    plt.axvline(lr, color=style[0], ls=style[1:], label=f'{name} {lr:.1e}')
plt.xlabel('learning rate (log scale)'); plt.ylabel('smoothed loss'); plt.legend(); plt.show()
"""),
("code", r"""
print(f'{len(lrs)} points drawn; the loss falls fastest at lr {steepest:.1e} and is lowest at {lowest:.1e}')
at_lr = np.interp(np.log(LR), np.log(lrs), smoothed)
print(f'our LR {LR:g} is {LR / steepest:.2f} x the steepest lr and {lowest / LR:.0f} x below the lr of the lowest loss;')
print(f'the smoothed loss there is {at_lr:.3f} (curve: {smoothed[0]:.3f} at the left end, {smoothed.min():.3f} at its lowest)')
"""),
("md", r"""
Where do the lrs of sections 1 to 7 sit on this curve? The lines above say it: a good lr lies
in the falling part, left of the lowest loss, where each step still lowers the loss; the cosine
schedule starts at `3 * LR` and ends far below it. The curve comes from about a hundred batches
of an untrained model, so it points at a range, not at one best value.

## 9. minifast's `Learner` runs the same loop

minifast's `Loop` (in `minifast/loop.py`, which `Learner` builds on) is our `Learner5`, grown
up, with the same names: `fire`, and `_with_events`, `_do_epoch`, `_all_batches`,
`_do_one_batch` (the leading underscore says "called by the loop, not by you"). Here is its
batch, next to ours. The one difference: the optimiser step is a stage of its own, run by
`_with_events` (`before_step`, the step, `after_step`), so that a callback can skip just the
step with one more exception, `CancelStepException`. (`zero_grad(set_to_none=True)` spells out
PyTorch's default: the gradients are dropped, not filled with zeros.)
"""),
("code", r"""
print(inspect.getsource(Learner5.do_one_batch))
print(inspect.getsource(minifast.Loop._do_one_batch))
"""),
("md", r"""
A `Learner` starts with a few callbacks of its own: `TrainEval` (our `TrainEvalCB`'s mode switch;
minifast's loop keeps `train_iter` itself, as `epoch * n_iter + iter`), `Recorder`
(our `RecorderCB`), `ProgressBar` (the bars and the table), and two safety nets,
`InterruptGuard` (a Ctrl-C waits until `opt.step()` is done) and `TerminateOnNaN`.
`show_training_loop()` lists which callbacks run at each event:
"""),
("code", r"""
Learner(get_model(), get_data()).show_training_loop()
"""),
("md", r"""
Now the check, three times. Same data (a fresh `get_data()`), same initial weights
(`get_model()`), and `Learner`'s defaults — AdamW, `wd=0.01`, cross-entropy — which are the
settings of our loops:

1. `learn.fit(LR, EPOCHS)` against the plain loop of section 1;
2. `learn.fit` with minifast's `ParamScheduler` and *its* `sched_cos` against our scheduler;
3. `learn.lr_find(num_it=NUM_IT)` against our LR finder.

Each must agree batch for batch, to 1e-6 at most.
"""),
("code", r"""
learn = Learner(get_model(), get_data())
learn.fit(LR, EPOCHS)
diff_plain = nb.result('learner_vs_plain_loop_max_loss_diff', max_diff(learn.recorder.losses, plain_losses))
print(f"{len(plain_losses)} batch losses, largest difference from the plain loop: {diff_plain:.2e}; "
      f"accuracy {learn.recorder.log['accuracy']:.4f} vs {plain_acc:.4f}")
assert diff_plain < 1e-6 and abs(learn.recorder.log['accuracy'] - plain_acc) < 1e-6
"""),
("code", r"""
learn = Learner(get_model(), get_data())
with learn.silent():
    learn.fit(LR, EPOCHS, cbs=[ParamScheduler({'lr': partial(minifast.sched_cos, 3 * LR, LR / 100)})])
diff_sched = nb.result('learner_vs_hand_scheduler_max_loss_diff',
                       max_diff(learn.recorder.losses, sched_recorder.losses))
diff_lrs = max_diff(np.array(learn.recorder.lrs)[:, 0], sched_recorder.lrs)
print(f'scheduled fit: largest loss difference {diff_sched:.2e}, largest lr difference {diff_lrs:.2e}')
assert diff_sched < 1e-6 and diff_lrs < 1e-12
"""),
("code", r"""
learn = Learner(get_model(), get_data())
with learn.silent():
    suggested = learn.lr_find(num_it=NUM_IT)
diff_find = nb.result('learner_vs_hand_lr_finder_max_loss_diff', max_diff(learn.recorder.losses, finder.losses))
diff_find_lrs = max_diff(np.array(learn.recorder.lrs)[:, 0], finder.lrs)
print(f'lr_find: {len(finder.losses)} points, largest loss difference {diff_find:.2e}, '
      f'largest lr difference {diff_find_lrs:.2e}')
assert diff_find < 1e-6 and diff_find_lrs < 1e-12
"""),
("code", r"""
print('minifast suggests', suggested)
assert np.isclose(suggested.steepest, steepest) and np.isclose(suggested.min_div10, lowest / 10)
learn.sched.plot(); plt.show()
"""),
("md", r"""
`learn.sched.plot()` drops the same first 10 and last 5 points, so its "steepest" and "min/10"
are ours (asserted above). It marks a third suggestion, `valley`: the middle of the longest
stretch of the curve where the loss keeps falling. Unlike min/10 it is always a point of the
curve, which matters for curves whose lowest loss is at their left end (fine-tuning a pretrained
model gives such curves); `valley` in `minifast/lr_finder.py` shows how it is found. Compare
the three marks with our `LR` above. From here on, the other notebooks use minifast's `Learner`:
`05_custom_callbacks` writes more callbacks for it.

## Answers to the exercises

Each answer goes through the same check as above; the check fails loudly if the answer is wrong.

**Exercise 1.** `torch.no_grad()` keeps the update out of autograd's record; `p -= ...` changes
the weight in place, so the model (and any optimiser) still holds the same tensor.
"""),
("code", r"""
def sgd_step(params, lr):
    with torch.no_grad():
        for p in params:
            p -= lr * p.grad

check_sgd_step(sgd_step)
"""),
("md", r"""
**Exercise 2.** `after_batch` of a training batch counts it; `CancelFitException` ends the fit
(`after_fit` still runs). `CancelTrainException` would only end this epoch's training, and
validation would run.
"""),
("code", r"""
class StopAfter(Callback):
    def __init__(self, n): self.n = n
    def before_fit(self): self.count = 0
    def after_batch(self):
        if self.learn.training:
            self.count += 1
            if self.count >= self.n:
                raise CancelFitException()

check_stop_after(StopAfter)
"""),
("md", r"""
**Exercise 3.** Two pieces, each seeing its own position from 0 to 1.
"""),
("code", r"""
def warmup_cos(pos):
    if pos < 0.25:
        return minifast.sched_lin(LR / 10, 3 * LR, pos / 0.25)
    return sched_cos(3 * LR, LR / 100, (pos - 0.25) / 0.75)

check_warmup_cos(warmup_cos)
"""),
("md", r"""
## Summary

The last cell prints the machine, the wall time and one `RESULT` line per figure recorded
above, then checks that minifast's `Learner` matched our loops.
"""),
("code", r"""
nb.finish()
assert max(diff_plain, diff_sched, diff_find) < 1e-6
if not nb.quick:
    assert plain_acc >= 0.94 and sched_acc >= 0.94, (plain_acc, sched_acc)
"""),
]
