"""Cells of notebooks/01_mnist.ipynb (built by notebooks/build.py)."""

CELLS = [
("md", r"""
# 01 — MNIST: from tensors to a Learner

The story of this notebook:

1. load MNIST as plain tensors;
2. train a tiny model with a **plain PyTorch loop** — the code every framework hides;
3. train the **same model with minifast** in two lines, and see what the `Learner` adds;
4. a small **CNN**, the **LR finder** (`lr_find`), the **one-cycle** schedule
   (`fit_one_cycle`) and the recorder's plots, to reach ≥ 99.3% test accuracy.

Data: the full MNIST (60,000 training / 10,000 test digits) from `get_dataset('mnist')`, which
reads `$MINIFAST_DATA`. In quick mode (`MINIFAST_QUICK=1`) it uses a small subset of the MNIST
sample bundled with minifast, so the notebook runs in seconds anywhere.
"""),
("code", r"""
%matplotlib inline
import os, time, gzip
os.environ.setdefault('TQDM_DISABLE', '1')   # plain-text epoch tables instead of widgets
QUICK = os.environ.get('MINIFAST_QUICK') == '1'

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F
from torch.utils.data import TensorDataset, DataLoader
import matplotlib.pyplot as plt
from minifast import *
from minifast.data.datasets import get_dataset

torch.manual_seed(0)
print('quick mode' if QUICK else 'full mode', '| torch', torch.__version__,
      '| threads', torch.get_num_threads())
notebook_start = time.perf_counter()
"""),
("md", r"""
## 1. The data, as tensors

MNIST comes as four IDX files: a small big-endian header, then raw `uint8` bytes.
Reading one is five lines of numpy.
"""),
("code", r"""
def read_idx(path):
    "Read an IDX file (gzipped): header = 2 zero bytes, type, n_dims, then n_dims big-endian int32 sizes."
    with gzip.open(path, 'rb') as f:
        raw = f.read()
    n_dims = raw[3]
    shape = np.frombuffer(raw, dtype='>i4', count=n_dims, offset=4)
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * n_dims).reshape(shape)

if QUICK:
    from minifast.data.samples import load_mnist_sample
    x_train, y_train, x_valid, y_valid = load_mnist_sample()
    x_train, y_train, x_valid, y_valid = x_train[:1000], y_train[:1000], x_valid[:500], y_valid[:500]
else:
    path = get_dataset('mnist')
    x_train = read_idx(path / 'train-images-idx3-ubyte.gz')
    y_train = read_idx(path / 'train-labels-idx1-ubyte.gz').astype(np.int64)
    x_valid = read_idx(path / 't10k-images-idx3-ubyte.gz')
    y_valid = read_idx(path / 't10k-labels-idx1-ubyte.gz').astype(np.int64)

print('train', x_train.shape, x_train.dtype, '| test', x_valid.shape, '| classes', np.bincount(y_train))
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
The **test set is our validation set** here: we never tune on it except to report it.
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

A two-layer MLP, cross-entropy loss, SGD with momentum, one epoch. This is the whole of
training: predict, compute the loss, backpropagate, step, zero the gradients.
"""),
("code", r"""
def mlp():
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 100), nn.ReLU(), nn.Linear(100, 10))

torch.manual_seed(0)
model = mlp()
opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
train_dl = DataLoader(train_ds, batch_size=64, shuffle=True)
valid_dl = DataLoader(valid_ds, batch_size=256)

start = time.perf_counter()
model.train()
for xb, yb in train_dl:
    loss = F.cross_entropy(model(xb), yb)   # 1. predict, 2. loss
    loss.backward()                          # 3. gradients
    opt.step()                               # 4. update
    opt.zero_grad()                          # 5. forget the gradients

model.eval()
with torch.no_grad():
    correct = sum((model(xb).argmax(1) == yb).sum().item() for xb, yb in valid_dl)
print(f'plain loop: last batch loss {loss.item():.3f}, test accuracy {correct / len(valid_ds):.4f} '
      f'({time.perf_counter() - start:.1f} s)')
"""),
("md", r"""
## 3. The same with minifast

A `DataBunch` holds the two DataLoaders; a `Learner` holds the model, the data, the loss
(cross-entropy by default), the optimiser and the callbacks. `fit(lr, 1)` runs the same loop
as above — plus train/eval switching, validation, metrics, timing and a table.
"""),
("code", r"""
data = DataBunch(train_dl, valid_dl, classes=[str(i) for i in range(10)])
torch.manual_seed(0)
learn = Learner(mlp(), data, opt_func=torch.optim.SGD)
learn.fit(0.05, 1)
"""),
("md", r"""
Which code ran? The loop is `Learner._do_one_batch` in `minifast/learner.py`: the same five
lines as our plain loop, with an *event* between each. Callbacks hook into those events:
"""),
("code", r"""
learn.show_training_loop()
"""),
("md", r"""
## 4. A CNN

Four stride-2 convolutions halve the image each time (28 → 14 → 7 → 4 → 2) while the number of
channels grows; each is followed by batch norm and ReLU. Average pooling and a linear layer
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
data = DataBunch(DataLoader(train_ds, batch_size=bs, shuffle=True),
                 DataLoader(valid_ds, batch_size=512), classes=[str(i) for i in range(10)])
torch.manual_seed(0)
learn = Learner(cnn(), data, wd=0.05)
print(f'{sum(p.numel() for p in learn.model.parameters()):,} parameters')
"""),
("md", r"""
### The LR finder

`lr_find` raises the learning rate exponentially, one batch at a time, and records the loss;
it stops when the loss explodes and then **puts the weights back** as they were.
`learn.sched.plot()` draws the smoothed loss against the lr: pick a value where the loss still
falls steeply, well before the minimum (the plot marks two suggestions).
"""),
("code", r"""
learn.lr_find(num_it=30 if QUICK else 100)
learn.sched.plot()
plt.show()
"""),
("md", r"""
### One cycle

`fit_one_cycle` warms the lr up from `max_lr/25` to `max_lr` over the first 30% of the
iterations, then anneals it with a cosine to almost zero, while the momentum does the
opposite (1cycle: Smith 2018). We use `max_lr = 1e-2`, in the steep part of the curve above.
"""),
("code", r"""
epochs = 1 if QUICK else 4
start = time.perf_counter()
learn.fit_one_cycle(epochs, 1e-2)
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

`get_preds` runs the model over the test set in eval mode and returns probabilities and
targets.
"""),
("code", r"""
probs, targets = learn.get_preds()
test_acc = (probs.argmax(1) == targets).float().mean().item()
wrong = (probs.argmax(1) != targets).nonzero().flatten()
print(f'TEST ACCURACY: {test_acc:.4f} on {len(targets):,} test digits '
      f'({len(wrong)} mistakes), trained on {len(train_ds):,} digits')
if not QUICK:
    print('meets the 99.3% target:', test_acc >= 0.993)
"""),
("code", r"""
fig, axes = plt.subplots(2, 8, figsize=(10, 3.2))
for ax, i in zip(axes.flat, wrong[:16].tolist()):
    ax.imshow(x_valid[i], cmap='gray_r'); ax.axis('off')
    ax.set_title(f'{int(targets[i])} as {int(probs[i].argmax())}', fontsize=9)
plt.suptitle('Mistakes: true label as predicted'); plt.show()
print(f'whole notebook: {(time.perf_counter() - notebook_start) / 60:.1f} min')
"""),
("md", r"""
## What next

- `02_cifar10.ipynb`: colour images, augmentation, and transfer learning.
- `05_custom_callbacks.ipynb`: write your own callbacks.
- `docs/schedules.md` explains `lr_find`, `fit_one_cycle` and SGDR in detail.
"""),
]
