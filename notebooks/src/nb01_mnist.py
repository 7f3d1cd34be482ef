"""Cells of notebooks/01_mnist.ipynb (built by notebooks/build.py)."""

CELLS = [
("md", r"""
# 01 — MNIST: from tensors to a Learner

MNIST is 70,000 handwritten digits, 28×28 grey pixels each: 60,000 for training and 10,000 for
testing. The story of this notebook:

1. load MNIST as plain tensors, split off a **validation set**, and look at the data's statistics;
2. train a tiny model with a **plain PyTorch loop** — the code every framework hides;
3. train the **same model with minifast** in two lines, and see what the `Learner` adds;
4. **early stopping**: stop when the validation loss stops improving, keep the best weights
   on disk, and load them back into a fresh learner;
5. a small **CNN**, the **LR finder** (`lr_find`), the **one-cycle** schedule
   (`fit_one_cycle`) and the recorder's plots;
6. save the CNN, load it back as a user of the model would, and measure it **once** on the
   10,000 test digits.

(`00_learner_from_scratch` builds the `Learner` itself from such a loop, step by step.)

**The rule of the game.** Every choice below (the model, the learning rates, the number of
epochs, when to stop) is made on a validation set that we cut out of the 60,000 training
images. The 10,000 test images are not looked at until the very end, where they are used once:
a number measured on data that guided our choices would flatter us.

In quick mode (`MINIFAST_QUICK=1`) every cell runs on a few thousand digits, in seconds; the
numbers then mean nothing.
"""),
("code", r"""
%matplotlib inline
import gzip, os, time, warnings
# On a machine shared with other jobs, torch's two threads must sleep while they wait for each
# other, not spin: spinning threads steal the core the other one needs (set before torch loads).
os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')
warnings.filterwarnings('ignore', message='IProgress not found')   # tqdm, at import: no widgets here
from functools import partial
import numpy as np
import torch
from torch import nn
import torch.nn.functional as F
from torch.utils.data import TensorDataset, DataLoader
import matplotlib.pyplot as plt
from minifast import *   # Learner, DataBunch, get_dataset, EarlyStopping, SaveModel, ...
from minifast.course import Notebook

nb = Notebook()   # prints the mode; seeds everything; nb.work is a temporary folder for our files
"""),
("md", r"""
## 1. The data, as tensors

`get_dataset('mnist')` finds the data set's folder (in `$MINIFAST_DATA`, else the user cache,
else it downloads it). MNIST comes as four IDX files: a small big-endian header (the element
type and the size of each dimension), then the raw `uint8` bytes. Reading one is five lines of
numpy:
"""),
("code", r"""
def read_idx(path):
    "An IDX file (gzipped): 2 zero bytes, the type, n_dims, n_dims big-endian int32 sizes, the bytes."
    raw = gzip.open(path, 'rb').read()
    n_dims = raw[3]
    shape = np.frombuffer(raw, dtype='>i4', count=n_dims, offset=4)
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * n_dims).reshape(shape)

path = get_dataset('mnist')
x_all = read_idx(path / 'train-images-idx3-ubyte.gz')
y_all = read_idx(path / 'train-labels-idx1-ubyte.gz').astype(np.int64)
x_test = read_idx(path / 't10k-images-idx3-ubyte.gz')
y_test = read_idx(path / 't10k-labels-idx1-ubyte.gz').astype(np.int64)
print('training images', x_all.shape, x_all.dtype, '| test images', x_test.shape)
"""),
("md", r"""
### A validation set

We hold out 6,000 of the 60,000 training images, chosen at random (10%), as the **validation
set**: the model never trains on them, and we judge every choice by them. The test images stay
aside. (In quick mode: 2,000 training, 500 validation and 500 test digits.)
"""),
("code", r"""
N_VALID = 6000
perm = np.random.default_rng(0).permutation(len(x_all))
valid_idx, train_idx = perm[:N_VALID], perm[N_VALID:]
if nb.quick:
    train_idx, valid_idx, x_test, y_test = train_idx[:2000], valid_idx[:500], x_test[:500], y_test[:500]
x_train, y_train = x_all[train_idx], y_all[train_idx]
x_valid, y_valid = x_all[valid_idx], y_all[valid_idx]
print(f'train {len(x_train):,} | valid {len(x_valid):,} | test {len(x_test):,} digits')
"""),
("md", r"""
### Statistics of the data

Before training, look at the numbers: the pixel range, the mean and standard deviation (we
will normalise with them), and how many digits of each class each split has — a split that
lacks a class, or a very unbalanced one, would make the accuracy misleading.
"""),
("code", r"""
mean, std = x_train.mean() / 255, x_train.std() / 255    # of the training split only
print(f'pixels {x_train.min()}..{x_train.max()} (uint8) | training mean {mean:.4f}, std {std:.4f} '
      f'(in [0, 1]) | {(x_train == 0).mean():.0%} of the pixels are 0')
print('digit:   ' + ''.join(f'{d:>6}' for d in range(10)))
for name, y in (('train', y_train), ('valid', y_valid), ('test', y_test)):
    print(f'{name:<9}' + ''.join(f'{n:>6}' for n in np.bincount(y, minlength=10)))
"""),
("code", r"""
fig, axes = plt.subplots(2, 8, figsize=(10, 3))
for ax, img, label in zip(axes.flat, x_train, y_train):
    ax.imshow(img, cmap='gray_r'); ax.set_title(int(label)); ax.axis('off')
plt.show()
"""),
("md", r"""
Normalise with the *training split's* mean and standard deviation (a network learns faster when
its inputs are centred with unit variance; the validation and test images stand for new data,
so they get the same transformation, not their own statistics), and add the channel dimension:
`[N, 1, 28, 28]`.
"""),
("code", r"""
def to_tensor(x):
    return ((torch.from_numpy(x.copy()).float() / 255 - mean) / std).unsqueeze(1)

train_ds = TensorDataset(to_tensor(x_train), torch.from_numpy(y_train))
valid_ds = TensorDataset(to_tensor(x_valid), torch.from_numpy(y_valid))
test_ds = TensorDataset(to_tensor(x_test), torch.from_numpy(y_test))
x0, y0 = train_ds[0]
print(x0.shape, y0, f'normalised training pixels: mean {train_ds.tensors[0].mean():.3f}, '
      f'std {train_ds.tensors[0].std():.3f}')
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
"""),
("code", r"""
model = mlp()
opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)   # weight_decay=0
train_dl, valid_dl = mlp_loaders()
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
plain_acc = nb.result('mnist_mlp_plain_loop_acc', correct / len(valid_ds))
print(f'plain loop: last batch loss {plain_losses[-1]:.4f}, validation accuracy {plain_acc:.4f}')
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
learner_acc = nb.result('mnist_mlp_learner_same_sgd_acc', learn.recorder.log['accuracy'])
loss_diff = float(np.abs(learn.recorder.loss_values() - np.array(plain_losses)).max())
nb.result('learner_vs_plain_loop_max_loss_diff', loss_diff)
print(f'largest difference between the {len(plain_losses)} batch losses: {loss_diff:.1e}; '
      f'accuracy {learner_acc:.4f} vs plain loop {plain_acc:.4f}')
assert loss_diff < 1e-6 and abs(learner_acc - plain_acc) < 1e-6
"""),
("md", r"""
What if we had kept `Learner`'s defaults? Then it is a *different* loop: AdamW, weight decay
0.01. Adam divides each step by a running estimate of the gradient's size, so its good learning
rates are much smaller than SGD's. Here is one epoch with the defaults at SGD's lr (0.05) and
at an lr in Adam's usual range (3e-3), on the same batches from the same weights:
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
nb.result('mnist_mlp_learner_adamw_lr0.05_acc', default_accs[0.05])
nb.result('mnist_mlp_learner_adamw_lr3e-3_acc', default_accs[3e-3])
"""),
("md", r"""
So a difference between "plain loop" and "Learner" numbers is a difference of *settings*, not of
the loop: with the same optimiser and hyper-parameters they agree to the last digit. Compare
the three lines above: the optimiser and its learning rate go together.

Which code ran? The loop is `Learner._do_one_batch` in `minifast/learner.py`: the same five
lines as our plain loop, with an *event* between each. Callbacks hook into those events:
"""),
("code", r"""
learn.show_training_loop()
"""),
("md", r"""
## 4. When to stop: `EarlyStopping` and `SaveModel`

Train too long and a model starts to **memorise** its training images: the training loss keeps
falling while the validation loss turns back up (overfitting). Two callbacks watch a column of
the epoch table after each epoch (both are `Tracker`s, which keep the best value seen so far):

- `EarlyStopping(monitor='valid_loss', patience=2)` stops the fit once the validation loss has
  not improved for 2 epochs in a row, and puts back the weights of the best epoch;
- `SaveModel(monitor='valid_loss', name='mlp_best')` writes a checkpoint,
  `<path>/models/mlp_best.pth`, each time the validation loss improves.

We give the MLP many more epochs than it needs (AdamW, lr 3e-3, at most 20) and let the
callbacks decide. minifast reports the early stop as a warning (a `MinifastWarning`); we
catch it and print its message.
"""),
("code", r"""
MAX_EPOCHS = 3 if nb.quick else 20
stopper, saver = EarlyStopping('valid_loss', patience=2), SaveModel('valid_loss', name='mlp_best')
learn = Learner(mlp(), DataBunch(*mlp_loaders()), path=nb.work)
with warnings.catch_warnings(record=True) as caught:
    learn.fit(3e-3, MAX_EPOCHS, cbs=[stopper, saver])
print(*[str(w.message) for w in caught], sep='\n')
valid_losses = learn.recorder.metric('valid_loss')
best_acc = learn.recorder.metric('accuracy')[stopper.best_epoch]
print(f'ran {len(valid_losses)} of {MAX_EPOCHS} epochs; best epoch {stopper.best_epoch}: '
      f'valid loss {stopper.best:.4f}, accuracy {best_acc:.4f}')
print(f'SaveModel wrote {saver.saved[-1].name} {len(saver.saved)} times (once per improvement)')
"""),
("code", r"""
epochs_run = np.arange(len(valid_losses))
per_epoch = learn.recorder.loss_values().reshape(len(epochs_run), -1).mean(1)
plt.figure(figsize=(6, 3.5))
plt.plot(epochs_run, per_epoch, 'o-', label='train loss (epoch mean)')
plt.plot(epochs_run, valid_losses, 'o-', label='valid loss')
plt.axvline(stopper.best_epoch, color='gray', linestyle='--', label='best epoch')
plt.xlabel('epoch'); plt.legend(); plt.show()
"""),
("md", r"""
Read the plot: the training loss falls at every epoch, the validation loss falls, flattens,
and then stops improving — the gap between the two curves is what the model memorised rather
than learned. The dashed line is the epoch whose weights were kept.

**Save → load → the same model.** The checkpoint on disk holds the weights (and the
optimiser's state). Load it into a *fresh* learner, whose model is untrained, and its
validation accuracy must become the best epoch's, to the last digit. `valid_acc` measures a
learner with `get_preds`, which runs the model over a DataLoader (by default the validation
one) in eval mode and returns probabilities and targets:
"""),
("code", r"""
def valid_acc(learner, dl=None):
    probs, targets = learner.get_preds(dl)
    return (probs.argmax(1) == targets).float().mean().item()

fresh = Learner(mlp(), DataBunch(*mlp_loaders()), path=nb.work)
untrained_acc = valid_acc(fresh)
fresh.load('mlp_best')
loaded_acc = valid_acc(fresh)
print(f'fresh learner: accuracy {untrained_acc:.4f} untrained, {loaded_acc:.4f} loaded from disk | '
      f'best epoch before saving: {best_acc:.4f}')
assert abs(loaded_acc - best_acc) < 1e-6
"""),
("md", r"""
## 5. A CNN

An MLP sees a digit as 784 unrelated numbers. A **convolution** slides small 3×3 filters over
the image, so the same edge or curve detector works everywhere in it. Our CNN has
conv–batchnorm–ReLU blocks: batch norm normalises each channel's activations over the batch,
which lets us train with larger learning rates. The stride-2 convolutions halve the image
(28 → 14 → 7 → 4 → 2) while the number of channels grows; average pooling and a linear layer
give the 10 scores.
"""),
("code", r"""
def conv(n_in, n_out, stride=2):
    return nn.Sequential(nn.Conv2d(n_in, n_out, 3, stride=stride, padding=1, bias=False),
                         nn.BatchNorm2d(n_out), nn.ReLU())

def cnn():
    torch.manual_seed(0)
    return nn.Sequential(
        conv(1, 32, stride=1),   # 28x28
        conv(32, 48),            # 14x14
        conv(48, 64, stride=1),
        conv(64, 96),            # 7x7
        conv(96, 128),           # 4x4
        conv(128, 256),          # 2x2
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.1), nn.Linear(256, 10))
"""),
("md", r"""
The CPU's convolutions run faster when the weights are stored *channels-last* (NHWC) in
memory; `ConvLearner` does this by itself, and for our own model it is one line. The results
are the same up to float rounding.
"""),
("code", r"""
bs = 128
data = DataBunch(DataLoader(train_ds, batch_size=bs, shuffle=True, generator=torch.Generator().manual_seed(0)),
                 DataLoader(valid_ds, batch_size=512), classes=[str(i) for i in range(10)])
learn = Learner(cnn().to(memory_format=torch.channels_last), data, wd=0.05, path=nb.work)
print(f'{sum(p.numel() for p in learn.model.parameters()):,} parameters, '
      f'{len(data.train_dl)} batches of {bs} per epoch')
"""),
("md", r"""
### The LR finder

`lr_find` raises the learning rate exponentially, one batch at a time, and records the loss;
it stops when the loss explodes and then **puts the weights back** as they were.
`learn.sched.plot()` draws the smoothed loss against the lr, without the first 10 and last 5
points, and marks three suggestions: *steepest*, where the loss falls fastest; *min/10*
(fastai 0.7's rule), a tenth of the lr at the lowest loss; and *valley*, halfway down the
longest descent of the curve (fastai v2's default).
"""),
("code", r"""
with learn.silent():      # no epoch table: the sweep skips validation
    suggested = learn.lr_find(num_it=30 if nb.quick else 100)
lrs_found, losses_found = learn.sched.lr_curve()
print(f'{len(learn.recorder.losses)} batches, {len(lrs_found)} points drawn | suggestions: '
      f'steepest {suggested.steepest:.1e}, min/10 {suggested.min_div10:.1e}, valley {suggested.valley:.1e}')
for name in ('steepest', 'min_div10', 'valley'):
    nb.result(f'lr_find_{name}', getattr(suggested, name))
learn.sched.plot()
plt.show()
"""),
("md", r"""
Reading the plot: on the left the lr is too small to change anything; then the loss falls, and
far to the right it shoots up. A good peak lr for one-cycle sits where the loss is still falling
fast, well before the bottom of the curve: around the marks, and below the lr of the lowest
loss. One-cycle can afford the high
end of that range, because the schedule spends most batches below its peak (it starts at
`max_lr/25` and ends near zero). We take `max_lr = 1e-2`; the next cell prints where it lies
against the suggestions, and checks that it stays below the lr of the lowest loss.
"""),
("code", r"""
max_lr = 1e-2
print(f'max_lr {max_lr:g} | steepest {suggested.steepest:.1e}, valley {suggested.valley:.1e} | '
      f'lr of the lowest loss {suggested.min_div10 * 10:.1e}')
if not nb.quick:   # quick mode's 30-batch curve is too short to read
    assert max_lr < suggested.min_div10 * 10, suggested
"""),
("md", r"""
### One cycle

The recipe, fixed before we measure it: the CNN above, AdamW with weight decay 0.05, batches of
128, `fit_one_cycle` for 4 epochs at `max_lr = 1e-2`, no augmentation. `fit_one_cycle` warms the
lr up from `max_lr/25` to `max_lr` over the first 30% of the iterations, then anneals it with a
cosine to almost zero, while the momentum (Adam's β1) does the opposite (1cycle: Smith 2018).
"""),
("code", r"""
epochs = 1 if nb.quick else 4
start = time.perf_counter()
learn.fit_one_cycle(epochs, max_lr)
train_minutes = nb.result('cnn_train_minutes', (time.perf_counter() - start) / 60)
print(f'{epochs} epochs in {train_minutes:.1f} min')
"""),
("code", r"""
fig, axes = plt.subplots(1, 2, figsize=(12, 3.5))
learn.recorder.plot_loss(ax=axes[0])
learn.recorder.plot_lr(show_moms=True, ax=axes[1])
plt.show()
"""),
("md", r"""
### On the validation set

The probabilities themselves, this time, to look at the mistakes:
"""),
("code", r"""
probs, targets = learn.get_preds()
cnn_acc = nb.result('mnist_cnn_valid_acc', (probs.argmax(1) == targets).float().mean().item())
wrong = (probs.argmax(1) != targets).nonzero().flatten()
print(f'validation accuracy {cnn_acc:.4f} on {len(targets):,} digits ({len(wrong)} mistakes), '
      f'trained on {len(train_ds):,} digits')
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
## 6. Save, load, and the test set — once

A trained model is used somewhere else, later: save it to disk, and load it into a fresh
`Learner` (the same architecture, untrained). Before trusting the loaded model we check that it
gives the same validation accuracy as the one we saved.
"""),
("code", r"""
learn.save('mnist_cnn')
deployed = Learner(cnn().to(memory_format=torch.channels_last), data, path=nb.work)
deployed.load('mnist_cnn')
deployed_acc = valid_acc(deployed)
print(f'loaded from disk: validation accuracy {deployed_acc:.4f} | before saving: {cnn_acc:.4f}')
assert abs(deployed_acc - cnn_acc) < 1e-6
"""),
("md", r"""
Now, and only now, the 10,000 test digits. Nothing above looked at them, so this is an honest
estimate of the accuracy on new digits. Next to the accuracy we print the **log loss** (the mean
cross-entropy, $-\log p$ of the true class): accuracy only counts right and wrong, the log loss
also says how confident the model was — a confident mistake costs much more than a hesitant one.
"""),
("code", r"""
probs, targets = deployed.get_preds(DataLoader(test_ds, batch_size=512))
test_wrong = int((probs.argmax(1) != targets).sum())
test_acc = nb.result('mnist_full_test_acc', 1 - test_wrong / len(targets))
test_loss = nb.result('mnist_test_log_loss', F.nll_loss(probs.clamp_min(1e-12).log(), targets).item())
print(f'TEST: accuracy {test_acc:.4f} ({test_wrong} mistakes in '
      f'{len(targets):,} digits), log loss {test_loss:.4f}')
"""),
("md", r"""
## Summary: the figures of this notebook

The last cell prints the machine, the time, and one `RESULT` line per figure, and asserts them.
"""),
("code", r"""
nb.finish()
assert loss_diff < 1e-6 and abs(learner_acc - plain_acc) < 1e-6
if not nb.quick:
    assert test_acc >= 0.99 and cnn_acc >= 0.99, (test_acc, cnn_acc)
"""),
("md", r"""
## What next

- `00_learner_from_scratch.ipynb`: the `Learner` built by hand, event by event.
- `02_cifar10.ipynb`: colour images, augmentation, and transfer learning.
- `05_custom_callbacks.ipynb`: write your own callbacks.
- `docs/schedules.md` explains `lr_find`, `fit_one_cycle` and SGDR in detail.
"""),
]
