"""Cells of notebooks/02_cifar10.ipynb (built by notebooks/build.py)."""

CELLS = [
("md", r"""
# 02 — CIFAR-10: MLP → CNN → ResNet, then transfer learning

CIFAR-10 is a set of small colour photos, 32×32 pixels, in 10 classes (planes, cars, birds,
cats, ...). We climb the usual ladder on two CPU cores, each step on the same data, and each step
should beat the one before:

1. **an MLP** (fully connected layers on the raw pixels): the baseline;
2. **a plain CNN** with BatchNorm, trained with **data augmentation** (random flips and shifts)
   and the **one-cycle** schedule;
3. **a small ResNet** (ResNet-9) trained from scratch, with its training time measured;
4. **transfer learning**: `efficientnet_lite0`, pretrained on ImageNet: first a new head on the
   frozen body's cached features, then a short fine-tuning of the body, then test-time
   augmentation (TTA).

**The data, and the rules.** The shared copy of CIFAR-10 holds 40,000 of its training images
and the first 1,000 of its test images. We split the 40,000 once (seeded) into
**36,000 for training and 4,000 for validation**. Every choice (learning rates, epochs, image
sizes, whether to keep a fine-tuned model) is made by looking at the training loss (`lr_find`)
or at the **validation** accuracy, and each recipe is written down *before* the cell that runs
it. The **1,000 test images are used once per model, at the end of its part**, to report how
it does on images nothing was chosen on. With only 1,000 test images, a test accuracy is
itself uncertain: the notebook prints its standard error next to it.

Quick mode (`MINIFAST_QUICK=1`) runs every cell on a few hundred images, to check the code; its
numbers mean nothing.
"""),
("code", r"""
%matplotlib inline
import time, warnings
warnings.filterwarnings('ignore', message='IProgress not found')   # tqdm (minifast's progress bars)
from functools import partial
import numpy as np
import torch
from torch import nn
import torch.nn.functional as F
from torch.utils.data import TensorDataset, DataLoader
import matplotlib.pyplot as plt
from minifast import *
from minifast.course import Notebook
from minifast.data.course_datasets import get_dataset, load_cifar10, CIFAR10_STATS

nb = Notebook()
"""),
("md", r"""
## The data: one split, used by every part

`load_cifar10` reads the pickled batches into `uint8` arrays `[N, 32, 32, 3]`: CIFAR-10 is
already decoded, so there are no image files to open, here or later.
"""),
("code", r"""
x_all, y_all, x_test, y_test, classes = load_cifar10(get_dataset('cifar10'))
perm = np.random.default_rng(0).permutation(len(x_all))      # the one seeded split
trn_idx, val_idx = perm[4_000:], perm[:4_000]
if nb.quick:
    trn_idx, val_idx, x_test, y_test = trn_idx[:1_000], val_idx[:256], x_test[:200], y_test[:200]
print(f'{len(x_all):,} training images {x_all.shape[1:]} -> {len(trn_idx):,} train + {len(val_idx):,} valid; '
      f'{len(x_test):,} test images')
print('images per class (train):', np.bincount(y_all[trn_idx]))
fig, axes = plt.subplots(2, 8, figsize=(12, 3.4))
for ax, i in zip(axes.flat, trn_idx):
    ax.imshow(x_all[i]); ax.set_title(classes[y_all[i]], fontsize=9); ax.axis('off')
plt.show()
"""),
("md", r"""
For parts 1–3 the images live in memory as one normalised float tensor: each channel minus its
mean, divided by its standard deviation (CIFAR-10's usual statistics), stored **channels-last**
(NHWC: the three colour values of a pixel side by side), the layout the CPU's convolution
kernels work in. A `DataLoader` over a `TensorDataset` then costs almost nothing per batch, and
a `DataBunch` hands the loaders to the `Learner`.

`test_report` is the one place that reads the test images: each part calls it once, at its end.
"""),
("code", r"""
mean, std = (torch.tensor(s).view(1, 3, 1, 1) for s in CIFAR10_STATS)

def to_tensors(x, y):
    x = torch.from_numpy(x).permute(0, 3, 1, 2).float().div(255)   # [N, 32, 32, 3] uint8 -> [N, 3, 32, 32]
    x = ((x - mean) / std).contiguous(memory_format=torch.channels_last)
    return TensorDataset(x, torch.from_numpy(y).long())

bs = 256
train_ds, valid_ds = to_tensors(x_all[trn_idx], y_all[trn_idx]), to_tensors(x_all[val_idx], y_all[val_idx])
test_dl = DataLoader(to_tensors(x_test, y_test), 512)
data = DataBunch(DataLoader(train_ds, bs, shuffle=True), DataLoader(valid_ds, 512), classes=classes)
print(data)
"""),
("code", r"""
def test_report(name, learn):
    "Test accuracy (with its standard error) of a model whose recipe is final; once per part."
    probs, targets = learn.get_preds(test_dl)
    acc = (probs.argmax(1) == targets).float().mean().item()
    print(f'{name}: TEST ACCURACY {acc:.4f} ± {np.sqrt(acc * (1 - acc) / len(targets)):.4f} (1 s.e.)')
    return nb.result(f'cifar10_{name}_test_acc', acc)
"""),
("md", r"""
## 1. An MLP baseline

Flatten each image into 3,072 numbers and feed them to two hidden layers with BatchNorm and
dropout. An MLP has no idea that neighbouring pixels belong together: a cat shifted by one pixel
is, to it, a completely different input. It is the baseline every later model must beat. (The
MLP of this course's sources, the seed notebook, had one hidden layer and no BatchNorm; the
cell below prints its test accuracy next to ours.)

**Recipe**: minifast's defaults (AdamW, weight decay 0.01), the one-cycle schedule for
**5 epochs**, and the lr from `lr_find`: it sweeps the lr upwards over 100 batches and
records the training loss; we take its `min_div10` suggestion (the lr of the lowest loss,
divided by 10: safely before the loss blows up). A baseline needs no more tuning than that.
"""),
("code", r"""
def mlp():
    return nn.Sequential(nn.Flatten(),
                         nn.Linear(3 * 32 * 32, 1024), nn.BatchNorm1d(1024), nn.ReLU(), nn.Dropout(0.3),
                         nn.Linear(1024, 512), nn.BatchNorm1d(512), nn.ReLU(), nn.Dropout(0.3),
                         nn.Linear(512, 10))

learn = Learner(mlp(), data, path=nb.work)
print(f'{sum(p.numel() for p in learn.model.parameters()):,} parameters')
with learn.silent():                                 # no epoch table for the sweep
    suggested = learn.lr_find(num_it=30 if nb.quick else 100)
learn.sched.plot()
plt.show()
print(f'suggestions: steepest {suggested.steepest:.2g}, min_div10 {suggested.min_div10:.2g}')
"""),
("code", r"""
MLP_EPOCHS = 1 if nb.quick else 5
learn.fit_one_cycle(MLP_EPOCHS, suggested.min_div10)
nb.result('cifar10_mlp_valid_acc', learn.recorder.metric('accuracy')[-1])
mlp_acc = test_report('mlp', learn)
SEED_MLP_TEST_ACC = 0.535             # the seed notebook's MLP (one hidden layer, 10 epochs of Adam)
print(f'seed MLP: test accuracy {SEED_MLP_TEST_ACC:.4f}')
"""),
("md", r"""
## 2. A plain CNN, with augmentation

A convolution slides one small filter over the whole image: the same detector for an edge or
an eye wherever it appears, with far fewer weights than a dense layer. Our CNN is four 3×3
convolutions, each followed by BatchNorm and ReLU, three of them with stride 2 (32 → 16 → 8 → 4
pixels, 32 → 256 channels), then global average pooling and one linear layer.

**Augmentation.** Each training batch is randomly changed before the model sees it: every
image is flipped left-right with probability ½ and shifted by up to 4 pixels in each
direction (pad 4 pixels of zeros, crop a random 32×32 window). The network never sees exactly
the same picture twice, so it cannot memorise the pictures; it has to learn what a horse looks
like. We do it on the **whole batch as one tensor** in a `before_batch` callback: a few tensor
operations per batch instead of a Python transform per image.
"""),
("code", r"""
def flip_and_shift(x, pad=4):
    "Random left-right flips and shifts of up to `pad` pixels, per image, on a batch [N, C, H, W]."
    n, c, h, w = x.shape
    padded = F.pad(x, (pad, pad, pad, pad))                          # zeros around: [N, C, H+2p, W+2p]
    dy, dx = torch.randint(0, 2 * pad + 1, (2, n))                   # each image's crop corner
    rows = (dy[:, None] + torch.arange(h))[:, None, :, None]         # [N, 1, H, 1]
    cols = (dx[:, None] + torch.arange(w))[:, None, None, :]         # [N, 1, 1, W]
    x = padded[torch.arange(n)[:, None, None, None], torch.arange(c)[None, :, None, None], rows, cols]
    flip = torch.rand(n) < 0.5
    return torch.where(flip[:, None, None, None], x.flip(3), x).contiguous(memory_format=torch.channels_last)

class BatchAugment(Callback):
    "Flip and shift each training batch (validation batches stay as they are)."
    def before_batch(self):
        if self.learn.training:
            self.learn.xb = flip_and_shift(self.learn.xb)
"""),
("code", r"""
originals = train_ds.tensors[0][:8]
fig, axes = plt.subplots(2, 8, figsize=(12, 3.2))
for row, imgs in zip(axes, [originals, flip_and_shift(originals)]):
    for ax, img in zip(row, imgs):
        ax.imshow((img * std[0] + mean[0]).permute(1, 2, 0).clamp(0, 1)); ax.axis('off')
axes[0, 0].set_title('original', loc='left'); axes[1, 0].set_title('flipped and shifted', loc='left')
plt.show()
"""),
("code", r"""
def conv_bn(n_in, n_out, stride=1):
    return nn.Sequential(nn.Conv2d(n_in, n_out, 3, stride, 1, bias=False), nn.BatchNorm2d(n_out), nn.ReLU())

def plain_cnn():
    model = nn.Sequential(conv_bn(3, 32), conv_bn(32, 64, 2), conv_bn(64, 128, 2), conv_bn(128, 256, 2),
                          nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(256, 10))
    return model.to(memory_format=torch.channels_last)   # weights stored NHWC, like the images
"""),
("md", r"""
**Mixed precision.** Recent server CPUs have matrix units for **bfloat16** (a 16-bit float with
float32's range but fewer digits). minifast's `MixedPrecision` callback runs the convolutions of the
forward pass in bfloat16 under `torch.autocast`, while the weights, the loss and the optimiser
stay in float32. Is it worth it here? The cells below time a few training steps of this CNN
both ways, on the same batch:
"""),
("code", r"""
def images_per_s(model, xb, yb, bf16, train=True, steps=2 if nb.quick else 6):
    "Images per second of `model` on one batch: training steps, or forward passes (`train=False`)."
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    model.train(train)
    for i in range(steps + 2):                       # 2 warm-up steps, then the timed ones
        if i == 2: start = time.perf_counter()
        with torch.autocast('cpu', dtype=torch.bfloat16, enabled=bf16), torch.set_grad_enabled(train):
            loss = F.cross_entropy(model(xb), yb)
        if train:
            loss.backward(); opt.step(); opt.zero_grad()
    return steps * len(xb) / (time.perf_counter() - start)
"""),
("code", r"""
def faster_in_bf16(name, model, xb, yb, train=True):
    "Time `model` in float32 and in bfloat16, print both, and say whether bfloat16 is faster."
    fp32, bf16 = (images_per_s(model, xb, yb, b, train) for b in (False, True))
    print(f'{name}: float32 {fp32:.0f} images/s, bfloat16 {bf16:.0f} images/s '
          f'-> {"bfloat16" if bf16 > fp32 else "float32"}')
    return bf16 > fp32

def precision(bf16):
    "The callbacks that give a learner bfloat16 autocast, if `bf16`."
    return [MixedPrecision()] if bf16 else []

cnn_bf16 = faster_in_bf16('CNN training', plain_cnn(), *train_ds[:bs])
"""),
("md", r"""
The notebook uses bfloat16 only where it measured it faster, model by model: on a CPU without
bfloat16 units it is slower, and the notebook then trains in float32.

**Recipe**: flips and shifts, the precision chosen above, AdamW and one-cycle for **6
epochs** at `lr_find`'s `min_div10`. The target is the CNN of this course's sources (the seed
notebook), whose test accuracy the next cell prints next to ours.
"""),
("code", r"""
set_seed(0)
learn = Learner(plain_cnn(), data, path=nb.work, cbs=[BatchAugment(), *precision(cnn_bf16)])
print(f'{sum(p.numel() for p in learn.model.parameters()):,} parameters')
with learn.silent():
    suggested = learn.lr_find(num_it=30 if nb.quick else 100)
learn.sched.plot()
plt.show()
print(f'suggestions: steepest {suggested.steepest:.2g}, min_div10 {suggested.min_div10:.2g}')
"""),
("code", r"""
CNN_EPOCHS = 1 if nb.quick else 6
learn.fit_one_cycle(CNN_EPOCHS, suggested.min_div10)
nb.result('cifar10_cnn_valid_acc', learn.recorder.metric('accuracy')[-1])
cnn_acc = test_report('cnn', learn)
SEED_CNN_TEST_ACC = 0.7024            # the seed notebook's CNN (10 epochs of Adam, no augmentation)
print(f'seed CNN: test accuracy {SEED_CNN_TEST_ACC:.4f}')
fig, axes = plt.subplots(1, 2, figsize=(12, 3.5))
learn.recorder.plot_loss(ax=axes[0])
learn.recorder.plot_lr(show_moms=True, ax=axes[1])
plt.show()
"""),
("md", r"""
The right plot is one-cycle (Smith 2018): the lr warms up from `lr/25` over the first 30% of
the steps, then anneals with a cosine to almost zero, while AdamW's momentum (β1) moves the
other way. The high lr in the middle explores; the long low tail settles into a minimum.
Compare the validation accuracy in the epoch table with the MLP's: same data, same optimiser,
but an architecture that knows images are made of local patterns.
"""),
("md", r"""
## 3. A small ResNet from scratch, timed

**ResNet-9** (the DAWNBench CIFAR-10 network, at a quarter of its usual widths:
16-32-64-128 channels): convolution blocks with max-pooling, and two **residual blocks** that
add their input to their output, `x + f(x)`, so each block only has to learn a correction and
gradients flow straight through the additions (He et al. 2015).

**Recipe** (fixed before the run, the target being 85% on the test images): SGD with Nesterov
momentum 0.9, weight decay 5e-4, one-cycle up to lr 0.2 for **10 epochs**, **label
smoothing** 0.1 (the target is 90% on the right class and 10% spread over all ten, so the
network is not pushed to ever more confident logits), flips and 4-pixel shifts, batch 256,
and bfloat16 if the cell below measures it faster for this network. Each piece is a `Learner`
argument or a callback:
"""),
("code", r"""
class Residual(nn.Module):
    def __init__(self, n):
        super().__init__()
        self.convs = nn.Sequential(conv_bn(n, n), conv_bn(n, n))
    def forward(self, x):
        return x + self.convs(x)

def resnet9(c1=16, c2=32, c3=64, c4=128):
    model = nn.Sequential(conv_bn(3, c1),
                          conv_bn(c1, c2), nn.MaxPool2d(2), Residual(c2),     # 32 -> 16 px
                          conv_bn(c2, c3), nn.MaxPool2d(2),                   # 16 -> 8 px
                          conv_bn(c3, c4), nn.MaxPool2d(2), Residual(c4),     # 8 -> 4 px
                          nn.AdaptiveMaxPool2d(1), nn.Flatten(), nn.Linear(c4, 10))
    return model.to(memory_format=torch.channels_last)

sgd = partial(torch.optim.SGD, momentum=0.9, nesterov=True)
smooth_loss = nn.CrossEntropyLoss(label_smoothing=0.1)
resnet_learner = partial(Learner, loss_func=smooth_loss, opt_func=sgd, wd=5e-4, path=nb.work)
"""),
("code", r"""
print(f'{sum(p.numel() for p in resnet9().parameters()):,} parameters')
resnet_bf16 = faster_in_bf16('ResNet-9 training', resnet9(), *train_ds[:bs])
"""),
("md", r"""
**Is the `Learner` as fast as a plain loop?** The same network, data, augmentation and
precision over the same batches: first a plain PyTorch loop (forward, loss, backward, step),
then `Learner.fit` for one epoch over those batches (with its callbacks: mode switching, the
recorder, the progress table, augmentation, mixed precision, and a validation pass over one
batch).
"""),
("code", r"""
n_batches = 4 if nb.quick else 20
bench = DataBunch(DataLoader(TensorDataset(*train_ds[:n_batches * bs]), bs, shuffle=True),
                  DataLoader(TensorDataset(*valid_ds[:bs]), bs))
set_seed(0)
model = resnet9()
opt = sgd(model.parameters(), lr=0.02, weight_decay=5e-4)
start = time.perf_counter()
for xb, yb in bench.train_dl:                       # the plain loop
    with torch.autocast('cpu', dtype=torch.bfloat16, enabled=resnet_bf16):
        loss = smooth_loss(model(flip_and_shift(xb)), yb)
    loss.backward(); opt.step(); opt.zero_grad()
plain_speed = nb.result('plain_loop_images_per_s', n_batches * bs / (time.perf_counter() - start))
"""),
("code", r"""
set_seed(0)
learn = resnet_learner(resnet9(), bench, cbs=[BatchAugment(), *precision(resnet_bf16)])
start = time.perf_counter()
with learn.silent():
    learn.fit(0.02, 1)                               # the same steps, plus validating 256 images
learner_speed = nb.result('learner_images_per_s', n_batches * bs / (time.perf_counter() - start))
print(f'plain loop {plain_speed:.0f} images/s | Learner {learner_speed:.0f} images/s (incl. validation) '
      f'| ratio {learner_speed / plain_speed:.3f}')
"""),
("md", r"""
Read the ratio: the `Learner`'s time also covers a validation pass over one batch (one batch
of 256 images, next to the plain loop's 20 training batches), so a ratio a little below 1 means
its callbacks cost next to nothing; the load of a shared machine moves it by a few percent
either way.

Now the real run, over the 36,000 training images, validated on the 4,000 after each epoch;
the clock covers the whole `fit_one_cycle` call, validation included.
"""),
("code", r"""
EPOCHS = nb.result('cifar10_resnet_epochs', 1 if nb.quick else 10)
set_seed(0)
learn = resnet_learner(resnet9(), data, cbs=[BatchAugment(), *precision(resnet_bf16)])
start = time.perf_counter()
learn.fit_one_cycle(EPOCHS, 0.2)
resnet_minutes = nb.result('cifar10_resnet_train_minutes', (time.perf_counter() - start) / 60)
resnet_valid = nb.result('cifar10_resnet_valid_acc', learn.recorder.metric('accuracy')[-1])
print(f'ResNet-9: {EPOCHS} epochs in {resnet_minutes:.1f} min, '
      f'{EPOCHS * len(train_ds) / (resnet_minutes * 60):.0f} training images/s incl. validation')
resnet_acc = test_report('resnet', learn)
"""),
("code", r"""
fig, axes = plt.subplots(1, 2, figsize=(12, 3.5))
learn.recorder.plot_loss(ax=axes[0])
axes[1].plot(range(1, EPOCHS + 1), learn.recorder.metric('accuracy'), 'o-')
axes[1].set_xlabel('epoch'); axes[1].set_ylabel('validation accuracy')
plt.show()
"""),
("md", r"""
**Reading the result.** The right plot is the validation accuracy after each epoch. It is not
smooth: during the high-lr middle of the one-cycle schedule it can jump down and up, then it
climbs every epoch of the cosine anneal. The last point is the model we keep: one-cycle's
low final lr is what makes the last epoch the best, so no early stopping is needed. Compare
the test line printed above with the plain CNN's: the residual blocks, the extra depth and the
tuned SGD recipe, with about as many parameters.
"""),
("md", r"""
## 4. Transfer learning with `efficientnet_lite0`

An ImageNet network has already learned edges, textures and object parts from over a million
photos. We keep its convolutional **body**, put a new **head** on it for our 10 classes, and
train in the fastai course's three steps:

1. `precompute=True`: run the frozen body **once** over the images and cache its activations
   (in `nb.work`); train the head on the cache: seconds per epoch, since the body never runs;
2. `precompute=False` and `freeze_to(1)`: back to real images with augmentation, and fine-tune
   the second half of the body together with the head;
3. TTA on the test images: average the predictions over the plain image and 4 augmented views.

CIFAR's 32-pixel images are far smaller than the photos the network was trained on, so the
transforms **upscale them to 128 px**: 16 times the pixels of the original, so every image
costs much more than in parts 1–3. The first half of the body stays frozen: its backward
pass would run at the highest resolutions, where convolutions cost the most.

**Recipe**, fixed here, before anything runs (the target: 90% on the test images with TTA):

- 128 px; **8,000** of the 36,000 training images, and 1,000 of the 4,000 validation images
  (fine-tuning runs the body forward and backward on every image, so the number of images is
  what the time of this part depends on);
- the head: 4 epochs of one-cycle on the cached activations at `lr_find`'s `min_div10`;
- fine-tuning: **3 epochs** of one-cycle, the head at 1.5e-3 and the body's second half at a
  tenth of that, 1.5e-4 (why so small: see below);
- bfloat16 wherever the cells below measure it faster for this network (inference, training);
- if fine-tuning ends below the head alone on the validation images, we go back to the
  head-only weights: a choice made on validation, before the test images are touched.
"""),
("code", r"""
import copy
arch, SZ = efficientnet_lite0, 64 if nb.quick else 128
N_TRANSFER = 160 if nb.quick else 8_000
tl_trn, tl_val = trn_idx[:N_TRANSFER], val_idx[:100 if nb.quick else 1_000]
tfms = tfms_from_model(arch, SZ, aug_tfms=transforms_side_on, max_zoom=1.1)
tl_data = ImageClassifierData.from_arrays(nb.work, (x_all[tl_trn], y_all[tl_trn]),
                                          (x_all[tl_val], y_all[tl_val]), bs=64, tfms=tfms, classes=classes)
print(f'transfer: train {len(tl_data.trn_ds):,}, valid {len(tl_data.val_ds):,} images, upscaled to {SZ} px')
transfer_start = time.perf_counter()
learn = ConvLearner.pretrained(arch, tl_data, precompute=True, path=nb.work)
"""),
("code", r"""
xb, yb = next(iter(tl_data.valid_dl))               # one batch of 64 upscaled images
infer_bf16 = faster_in_bf16('efficientnet_lite0 inference', copy.deepcopy(learn.model), xb, yb, False)
start = time.perf_counter()
with torch.autocast('cpu', dtype=torch.bfloat16, enabled=infer_bf16):
    learn.precomp.prepare()                          # one pass of the frozen body over the images
print(f'cached the activations of {N_TRANSFER + len(tl_val):,} images in {time.perf_counter() - start:.0f} s')
"""),
("code", r"""
with learn.silent():
    suggested = learn.lr_find(num_it=30 if nb.quick else 100)
learn.sched.plot()
plt.show()
head_lr = suggested.min_div10
print(f'suggestions: steepest {suggested.steepest:.2g}, min_div10 {head_lr:.2g} (the head lr)')
learn.fit_one_cycle(4, head_lr)
head_valid = nb.result('cifar10_transfer_head_valid_acc', learn.recorder.metric('accuracy')[-1])
"""),
("md", r"""
**Fine-tuning.** `freeze_to(1)` makes the body's second half trainable (the first half stays
frozen), and an array of lrs gives each of the three layer groups its own (the frozen first
half has no gradients: its lr does not matter). `ConvLearner` keeps the body's BatchNorm
layers in eval mode (`bn_freeze`, on by default for a pretrained body): they keep normalising
with their ImageNet statistics, which is what the head was just trained on. Without it, those
layers would switch to each batch's own statistics and the features the head reads would
change at the first step. The price is a narrow range of stable lrs, since nothing
renormalises the body's activations when its weights move: hence the small body lr.
"""),
("code", r"""
head_weights = copy.deepcopy(learn.model.state_dict())   # the head-only model, to fall back on
learn.precompute = False
learn.freeze_to(1)
xb, yb = next(iter(tl_data.train_dl))               # one augmented training batch
train_bf16 = faster_in_bf16('efficientnet_lite0 fine-tuning', copy.deepcopy(learn.model), xb, yb)
learn.add_cbs(precision(train_bf16))
FT_EPOCHS, ft_lr = (1 if nb.quick else 3), 1.5e-3
learn.fit_one_cycle(FT_EPOCHS, np.array([ft_lr / 100, ft_lr / 10, ft_lr]))
"""),
("code", r"""
ft_valid = nb.result('cifar10_transfer_finetuned_valid_acc', learn.recorder.metric('accuracy')[-1])
keep_ft = nb.result('cifar10_transfer_kept_finetuned', ft_valid >= head_valid)
if not keep_ft:
    learn.model.load_state_dict(head_weights)
print(f'validation: head alone {head_valid:.4f}, fine-tuned {ft_valid:.4f} -> keeping the '
      f'{"fine-tuned" if keep_ft else "head-only"} model')
"""),
("md", r"""
**The test images, once.** Now that the model is chosen, we hand the learner the test images
(`set_data` keeps the model) and run TTA over them: pass 0 is the plain image, passes 1–4 are
augmented views, and the prediction is the average of the five probability vectors. Besides
accuracy we report the **log loss** (the mean of −log of the probability given to the right
class): it also rewards being confidently right and punishes being confidently wrong.
"""),
("code", r"""
learn.set_data(ImageClassifierData.from_arrays(nb.work, (x_all[tl_trn], y_all[tl_trn]),
               (x_all[tl_val], y_all[tl_val]), bs=64, tfms=tfms, classes=classes, test=x_test))
with torch.autocast('cpu', dtype=torch.bfloat16, enabled=infer_bf16):
    log_preds, _ = learn.TTA(is_test=True)
probs = np.exp(log_preds).mean(0)                   # average the 5 views' probabilities
transfer_acc = nb.result('cifar10_transfer_test_acc', (log_preds[0].argmax(1) == y_test).mean())
tta_acc = nb.result('cifar10_transfer_tta_test_acc', (probs.argmax(1) == y_test).mean())
log_loss = nb.result('cifar10_transfer_test_log_loss', -np.log(probs[np.arange(len(y_test)), y_test]).mean())
transfer_minutes = nb.result('cifar10_transfer_minutes', (time.perf_counter() - transfer_start) / 60)
print(f'transfer: TEST ACCURACY {transfer_acc:.4f} plain, {tta_acc:.4f} with TTA '
      f'(± {np.sqrt(tta_acc * (1 - tta_acc) / len(y_test)):.4f}) | test log loss {log_loss:.3f} with TTA | '
      f'part 4 took {transfer_minutes:.1f} min')
"""),
("md", r"""
**Reading the result.** Compare, in the outputs above, the head alone with the fine-tuned model
on the validation images, and the plain test accuracy with the TTA one. At 128 px an upscaled
32-px image shifted, zoomed or flipped still looks like the training images, so averaging
five views mostly helps on the images where one view is ambiguous.

## Summary

The last cell prints the machine, the time, and one `RESULT` line per figure, then asserts the
full-mode targets: the CNN at or above the seed CNN, ResNet-9 at 85% or more, transfer
learning at 90% or more with TTA.
"""),
("code", r"""
nb.finish()
if not nb.quick:   # the targets of this notebook, in full mode
    assert cnn_acc >= SEED_CNN_TEST_ACC, cnn_acc
    assert resnet_acc >= 0.85, resnet_acc
    assert tta_acc >= 0.90, tta_acc
"""),
]
