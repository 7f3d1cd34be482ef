"""Cells of notebooks/01_mnist.ipynb (built by notebooks/build.py)."""

CELLS = [
("md", r"""
# 01 — MNIST: from tensors to a Learner

The story of this notebook:

1. load MNIST as plain tensors;
2. train a tiny model with a **plain PyTorch loop** — the code every framework hides;
3. train the **same model with minifast** in two lines, and see what the `Learner` adds;
4. a small **CNN**, the **LR finder** (`lr_find`), the **one-cycle** schedule
   (`fit_one_cycle`) and the recorder's plots.

(`00_learner_from_scratch` builds the `Learner` itself from such a loop, step by step.)

Data: the MNIST sample bundled with minifast — 8,000 training digits and 2,000 held-out digits
drawn from MNIST's test set — so the whole notebook runs in a few minutes on two CPU cores. With
`MINIFAST_MNIST_FULL=1` it reads the full MNIST (60,000 / 10,000 digits) from
`get_dataset('mnist')` instead, which takes about ten times longer. In quick mode (`MINIFAST_QUICK=1`) it uses 1,000 / 500 digits of the sample.
"""),
("code", r"""
%matplotlib inline
import os, time, gzip, platform, warnings
from functools import partial
os.environ.setdefault('TQDM_DISABLE', '1')   # plain-text epoch tables instead of widgets
warnings.filterwarnings('ignore', message='IProgress not found')  # tqdm: no ipywidgets here
QUICK = os.environ.get('MINIFAST_QUICK') == '1'
FULL_MNIST = os.environ.get('MINIFAST_MNIST_FULL') == '1' and not QUICK

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F
from torch.utils.data import TensorDataset, DataLoader
import matplotlib.pyplot as plt
from minifast import *   # Learner, DataBunch, get_dataset, ...

torch.manual_seed(0)
print('quick mode' if QUICK else 'full mode', '| torch', torch.__version__,
      '| threads', torch.get_num_threads())
notebook_start = time.perf_counter()
"""),
("md", r"""
## 1. The data, as tensors

The bundled sample is a `.npz` of four `uint8` / `int64` arrays. The full MNIST comes as four
IDX files: a small big-endian header, then raw `uint8` bytes; reading one is five lines of
numpy (used with `MINIFAST_MNIST_FULL=1`).
"""),
("code", r"""
def read_idx(path):
    "Read an IDX file (gzipped): header = 2 zero bytes, type, n_dims, then n_dims big-endian int32 sizes."
    with gzip.open(path, 'rb') as f:
        raw = f.read()
    n_dims = raw[3]
    shape = np.frombuffer(raw, dtype='>i4', count=n_dims, offset=4)
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * n_dims).reshape(shape)

if not FULL_MNIST:
    from minifast.data.samples import load_mnist_sample
    x_train, y_train, x_valid, y_valid = load_mnist_sample()
    if QUICK:
        x_train, y_train, x_valid, y_valid = x_train[:1000], y_train[:1000], x_valid[:500], y_valid[:500]
else:
    path = get_dataset('mnist')
    x_train = read_idx(path / 'train-images-idx3-ubyte.gz')
    y_train = read_idx(path / 'train-labels-idx1-ubyte.gz').astype(np.int64)
    x_valid = read_idx(path / 't10k-images-idx3-ubyte.gz')
    y_valid = read_idx(path / 't10k-labels-idx1-ubyte.gz').astype(np.int64)

print('train', x_train.shape, x_train.dtype, '| held-out', x_valid.shape, '| digits per class', np.bincount(y_train))
"""),
("code", r"""
fig, axes = plt.subplots(2, 8, figsize=(10, 3))
for ax, img, label in zip(axes.flat, x_train, y_train):
    ax.imshow(img, cmap='gray_r'); ax.set_title(int(label)); ax.axis('off')
plt.show()
"""),
("md", r"""
Normalise with the training set's mean and standard deviation (a network learns faster when
its inputs are centred with unit variance), and add the channel dimension: `[N, 1, 28, 28]`.
The held-out digits (from MNIST's test set) are our validation set: we report on them, we
do not tune on them.
"""),
("code", r"""
mean, std = x_train.mean() / 255, x_train.std() / 255
def to_tensor(x):
    return ((torch.from_numpy(x.copy()).float() / 255 - mean) / std).unsqueeze(1)

train_ds = TensorDataset(to_tensor(x_train), torch.from_numpy(y_train))
valid_ds = TensorDataset(to_tensor(x_valid), torch.from_numpy(y_valid))
print(f'mean {mean:.4f} std {std:.4f}', train_ds[0][0].shape, train_ds[0][1])
"""),
("md", r"""
## 2. A plain PyTorch training loop

A two-layer MLP, cross-entropy loss, SGD with momentum 0.9 and no weight decay, one epoch. This
is the whole of training: predict, compute the loss, backpropagate, step, zero the gradients.
`mlp_loaders()` makes fresh DataLoaders whose shuffling starts from the same seed, and `mlp()`
seeds the weights: each run below sees the same batches from the same starting point.
"""),
("code", r"""
def mlp():
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 100), nn.ReLU(), nn.Linear(100, 10))

def mlp_loaders():
    "Fresh loaders: the training shuffle starts from seed 0 every time."
    return (DataLoader(train_ds, batch_size=64, shuffle=True, generator=torch.Generator().manual_seed(0)),
            DataLoader(valid_ds, batch_size=256))

model = mlp()
opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)   # weight_decay=0
train_dl, valid_dl = mlp_loaders()

start = time.perf_counter()
model.train()
plain_losses = []
for xb, yb in train_dl:
    loss = F.cross_entropy(model(xb), yb)   # 1. predict, 2. loss
    loss.backward()                          # 3. gradients
    opt.step()                               # 4. update
    opt.zero_grad()                          # 5. forget the gradients
    plain_losses.append(loss.item())

model.eval()
with torch.no_grad():
    correct = sum((model(xb).argmax(1) == yb).sum().item() for xb, yb in valid_dl)
plain_acc = correct / len(valid_ds)
print(f'plain loop: last batch loss {plain_losses[-1]:.4f}, accuracy {plain_acc:.4f} '
      f'({time.perf_counter() - start:.1f} s)')
"""),
("md", r"""
## 3. The same with minifast

A `DataBunch` holds the two DataLoaders; a `Learner` holds the model, the data, the loss
(cross-entropy by default), the optimiser and the callbacks. To run *the same loop* as above it
needs *the same optimiser*: `Learner`'s defaults are `opt_func=torch.optim.AdamW` and `wd=0.01`,
so we ask for SGD with momentum 0.9 and no weight decay. `fit(0.05, 1)` then does exactly the
arithmetic of our loop — plus train/eval switching, validation, metrics, timing and a table —
and the `assert` checks it, batch by batch.
"""),
("code", r"""
sgd_momentum = partial(torch.optim.SGD, momentum=0.9)
data = DataBunch(*mlp_loaders(), classes=[str(i) for i in range(10)])
learn = Learner(mlp(), data, opt_func=sgd_momentum, wd=0)
learn.fit(0.05, 1)
learner_acc = learn.recorder.log['accuracy']
loss_diff = float(np.abs(learn.recorder.loss_values() - np.array(plain_losses)).max())
print(f'largest difference between the {len(plain_losses)} batch losses: {loss_diff:.1e}; '
      f'accuracy {learner_acc:.4f} vs plain loop {plain_acc:.4f}')
assert loss_diff < 1e-6 and abs(learner_acc - plain_acc) < 1e-6
"""),
("md", r"""
What if we had kept `Learner`'s defaults? Then it is a *different* loop: AdamW, weight decay
0.01. Adam divides each step by a running estimate of the gradient's size, so its good learning
rates are much smaller than SGD's; the lr 0.05 that suits SGD with momentum is too large for it.
Measured on the same data and weights:
"""),
("code", r"""
default_accs = {}
for lr in (0.05, 3e-3):
    learn = Learner(mlp(), DataBunch(*mlp_loaders()))   # defaults: AdamW, wd=0.01
    with learn.silent():
        learn.fit(lr, 1)
    default_accs[lr] = learn.recorder.log['accuracy']
    print(f'Learner defaults (AdamW, wd=0.01), lr={lr:g}: accuracy {default_accs[lr]:.4f}')
print(f'SGD momentum 0.9, wd=0, lr=0.05 (the plain loop):  accuracy {plain_acc:.4f}')
"""),
("md", r"""
So a difference between "plain loop" and "Learner" numbers is a difference of settings, not of
the loop: with the same optimiser and hyper-parameters they agree to the last digit. AdamW falls
behind when it is given SGD's learning rate, and at an lr in its own range (3e-3, which
`lr_find` would suggest for it) it ends this one epoch ahead of SGD with momentum.

Which code ran? The loop is `Learner._do_one_batch` in `minifast/learner.py`: the same five
lines as our plain loop, with an *event* between each. Callbacks hook into those events:
"""),
("code", r"""
learn.show_training_loop()
"""),
("md", r"""
## 4. A CNN

Six convolutions; the four with stride 2 halve the image each time (28 → 14 → 7 → 4 → 2)
while the number of channels grows; each is followed by batch norm and ReLU. Average pooling and a linear layer
give the 10 scores.
"""),
("code", r"""
def conv(n_in, n_out, stride=2):
    return nn.Sequential(nn.Conv2d(n_in, n_out, 3, stride=stride, padding=1, bias=False),
                         nn.BatchNorm2d(n_out), nn.ReLU())

def cnn():
    return nn.Sequential(
        conv(1, 32, stride=1),   # 28x28
        conv(32, 48),            # 14x14
        conv(48, 64, stride=1),
        conv(64, 96),            # 7x7
        conv(96, 128),           # 4x4
        conv(128, 256),          # 2x2
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.1), nn.Linear(256, 10))

bs = 128
data = DataBunch(DataLoader(train_ds, batch_size=bs, shuffle=True, generator=torch.Generator().manual_seed(0)),
                 DataLoader(valid_ds, batch_size=512), classes=[str(i) for i in range(10)])
torch.manual_seed(0)
learn = Learner(cnn(), data, wd=0.05)
print(f'{sum(p.numel() for p in learn.model.parameters()):,} parameters')
"""),
("md", r"""
### The LR finder

`lr_find` raises the learning rate exponentially, one batch at a time, and records the loss;
it stops when the loss explodes and then **puts the weights back** as they were.
`learn.sched.plot()` draws the smoothed loss against the lr, without the first 10 and last 5
points, and marks two suggestions. An epoch of the sample is only 63 batches of 128, so we ask
for `num_it=100` batches (the sweep runs on into a second epoch): enough points to read the curve.
"""),
("code", r"""
NUM_IT = 30 if QUICK else 100
with learn.silent():      # no epoch table: the sweep skips validation
    suggested = learn.lr_find(num_it=NUM_IT)
lrs_found, losses_found = learn.sched.lr_curve()
print(f'{len(learn.recorder.losses)} batches, {len(lrs_found)} points drawn | suggestions: '
      f'steepest {suggested.steepest:.1e}, min/10 {suggested.min_div10:.1e}')
learn.sched.plot()
plt.show()
"""),
("md", r"""
Reading the plot (full mode): the smoothed loss falls steadily from the left edge to about
1e-1 — fastest near 2.5e-3, the red "steepest" mark — is lowest around 0.2, and shoots up past
1. The two suggestions bracket the good region: 2.5e-3 (steepest) and 2.4e-2 (min/10, fastai
0.7's rule: a tenth of the lr of the lowest loss). We take `max_lr = 1e-2`, between the two
marks: the loss is still falling fast there, and it is an order of magnitude below where the
curve turns up. For one-cycle the peak may sit towards the high end of that range, because the
schedule spends most batches below its peak (it starts at `max_lr/25` and ends near zero). The
next cell checks this reading against the suggestions, so the text cannot silently disagree
with a re-run's plot.
"""),
("code", r"""
max_lr = 1e-2
print(f'max_lr {max_lr:g}: steepest {suggested.steepest:.1e} <= max_lr <= lr of the lowest loss '
      f'{suggested.min_div10 * 10:.1e}: {suggested.steepest <= max_lr <= suggested.min_div10 * 10}')
if not QUICK:   # quick mode's 30-batch curve is too short to read
    assert suggested.steepest <= max_lr <= suggested.min_div10
    assert 1e-3 <= suggested.steepest <= 5e-3 and 0.1 <= suggested.min_div10 * 10 <= 0.5, suggested
"""),
("md", r"""
### One cycle

`fit_one_cycle` warms the lr up from `max_lr/25` to `max_lr` over the first 30% of the
iterations, then anneals it with a cosine to almost zero, while the momentum (Adam's β1) does the
opposite (1cycle: Smith 2018).
"""),
("code", r"""
epochs = 1 if QUICK else 5
start = time.perf_counter()
learn.fit_one_cycle(epochs, max_lr)
train_minutes = (time.perf_counter() - start) / 60
print(f'{epochs} epochs in {train_minutes:.1f} min')
"""),
("code", r"""
fig, axes = plt.subplots(1, 2, figsize=(12, 3.5))
learn.recorder.plot_loss(ax=axes[0])
learn.recorder.plot_lr(show_moms=True, ax=axes[1])
plt.show()
"""),
("md", r"""
### The result

`get_preds` runs the model over the held-out digits in eval mode and returns probabilities and
targets.
"""),
("code", r"""
probs, targets = learn.get_preds()
cnn_acc = (probs.argmax(1) == targets).float().mean().item()
wrong = (probs.argmax(1) != targets).nonzero().flatten()
print(f'ACCURACY: {cnn_acc:.4f} on {len(targets):,} held-out digits '
      f'({len(wrong)} mistakes), trained on {len(train_ds):,} digits')
"""),
("code", r"""
fig, axes = plt.subplots(2, 8, figsize=(10, 3.2))
for ax in axes.flat:
    ax.axis('off')
for ax, i in zip(axes.flat, wrong[:16].tolist()):
    ax.imshow(x_valid[i], cmap='gray_r')
    ax.set_title(f'{int(targets[i])} as {int(probs[i].argmax())}', fontsize=9)
plt.suptitle('Mistakes: true label as predicted'); plt.show()
"""),
("md", r"""
## Summary: the figures of this notebook

The last cell prints the machine, the time, and one `RESULT` line per figure, and asserts them.
"""),
("code", r"""
minutes = (time.perf_counter() - notebook_start) / 60
print(f'hardware: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs | '
      f'torch {torch.__version__}, {torch.get_num_threads()} threads | '
      f'{"quick" if QUICK else "full"} mode, {"full MNIST" if FULL_MNIST else "bundled sample"}, '
      f'wall time {minutes:.1f} min')
results = {
    'mnist_mlp_plain_loop_acc': plain_acc,
    'mnist_mlp_learner_same_sgd_acc': learner_acc,
    'learner_vs_plain_loop_max_loss_diff': loss_diff,
    'mnist_mlp_learner_adamw_lr0.05_acc': default_accs[0.05],
    'mnist_mlp_learner_adamw_lr3e-3_acc': default_accs[3e-3],
    'lr_find_steepest': suggested.steepest,
    'lr_find_min_div10': suggested.min_div10,
    'mnist_cnn_valid_acc': cnn_acc,
    'cnn_train_minutes': train_minutes,
    'minutes': minutes,
}
for name, value in results.items():
    print(f'RESULT {name} {value:.4g}')

assert loss_diff < 1e-6 and abs(learner_acc - plain_acc) < 1e-6
if not QUICK:
    assert cnn_acc >= 0.985, cnn_acc
    # section 3's explanation: AdamW falls behind only at SGD's lr, and is ahead at its own
    assert default_accs[0.05] < plain_acc < default_accs[3e-3], default_accs
"""),
("md", r"""
## What next

- `00_learner_from_scratch.ipynb`: the `Learner` built by hand, event by event.
- `02_cifar10.ipynb`: colour images, augmentation, and transfer learning.
- `05_custom_callbacks.ipynb`: write your own callbacks.
- `docs/schedules.md` explains `lr_find`, `fit_one_cycle` and SGDR in detail.
"""),
]
