"""Cells of notebooks/04_dog_breeds.ipynb (built by notebooks/build.py)."""

CELLS = [
("md", r"""
# 04 — Dog breeds: when ImageNet already knows your classes

Kaggle-style data: one folder of images named by id, and a `labels.csv` saying which breed each
id is. Here: 16 breeds from Stanford Dogs, 60 images each, 224×224 px. Stanford Dogs was built
from **ImageNet**, the data our pretrained model learned from: these 16 breeds are ImageNet
classes, and these photos come from ImageNet. So the question of this notebook is what transfer
learning still has to do when the pretrained model already knows the classes. We answer it by
measuring each step of the course's dog-breeds lesson (seed 001) on this data:

1. the labels, a held-out test set, the validation split (`from_csv`, `get_cv_idxs`);
2. the ImageNet classifier used as it is: its top-5 guesses for a few dogs;
3. **the recipe**, stated before we measure it;
4. a head on cached activations (`precompute=True`), `lr_find`, one-cycle;
5. the image size, and progressive resizing (`set_data`);
6. the rest of the lesson: an epoch on augmented images, `unfreeze()` with differential learning
   rates, TTA;
7. what the model gets wrong: log loss, the confusion matrix, the most-wrong images;
8. the recipe on 3 splits against a linear baseline, then the test set, once;
9. deployment: `learn.export`, then `minifast predict` on the command line.

Every choice is made on the validation set of one split, the walkthrough's (seed 42).
Everything the notebook writes goes into a temporary folder (`nb.work`). Quick mode
(`MINIFAST_QUICK=1`): 6 images per breed, 32 px, one short epoch per step, nothing asserted.
"""),
("code", r"""
%matplotlib inline
import csv, os, sys, time, warnings
warnings.filterwarnings('ignore', message='IProgress not found')   # before minifast imports tqdm
from collections import Counter
from pathlib import Path

import numpy as np
import torch, torchvision
import torch.nn.functional as F
import matplotlib.pyplot as plt
from PIL import Image
from minifast import *
from minifast.course import Notebook, over_splits

nb = Notebook()
os.environ['PATH'] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"  # `!minifast` of this Python
"""),
("md", r"""
## 1. The labels, a test set, the split

How many rows, how many breeds, how balanced? We hold out 10% of the rows as a **test set**
(`get_cv_idxs(n, val_pct=0.1, seed=0)`): their images go into a `test/` folder and their labels
out of the CSV, as on Kaggle; we read those labels once, at the very end.
"""),
("code", r"""
PATH = get_dataset('dogbreeds')
with open(PATH / 'labels.csv') as f:
    rows = list(csv.DictReader(f))
if nb.quick:   # the first 6 images of each breed
    rows = [r for i, r in enumerate(rows) if [q['breed'] for q in rows[:i]].count(r['breed']) < 6]
counts = Counter(r['breed'] for r in rows)
print(f'{len(rows)} labelled images, {len(counts)} breeds, {min(counts.values())} to '
      f'{max(counts.values())} per breed; e.g. {rows[0]}')
test_idx = {int(i) for i in get_cv_idxs(len(rows), val_pct=0.1, seed=0)}
"""),
("md", r"""
The course's layout, in the temporary folder: `train/` (a link to the data's image folder), a
new `labels.csv` without the test rows, and `test/` with links to the test images. Nothing is
copied and nothing is written into the data folder.
"""),
("code", r"""
ROOT = nb.work / 'dogbreeds'
(ROOT / 'test').mkdir(parents=True)
(ROOT / 'train').symlink_to((PATH / 'train').resolve(), target_is_directory=True)
test_truth = {}   # test file name -> breed: read once, at the end
with open(ROOT / 'labels.csv', 'w', newline='') as f:
    writer = csv.DictWriter(f, fieldnames=['id', 'breed']); writer.writeheader()
    for i, r in enumerate(rows):
        if i in test_idx:
            (ROOT / 'test' / f"{r['id']}.jpg").symlink_to((PATH / 'train' / f"{r['id']}.jpg").resolve())
            test_truth[f"{r['id']}.jpg"] = r['breed']
        else:
            writer.writerow(r)
n_rows = len(rows) - len(test_idx)
print(f'{n_rows} rows for training and validation, {len(test_truth)} test images with hidden labels')
"""),
("md", r"""
`get_data(seed, sz)` is one split: `get_cv_idxs(n_rows, seed=seed)` picks a random 20% of the
rows for validation (the walkthrough uses seed 42; section 8 two more). `sz` is the image size;
section 5 chooses it, so we start at the size of the files.
"""),
("code", r"""
arch = efficientnet_lite0
SIZES, bs = ((24, 32), 8) if nb.quick else ((160, 224), 64)

def get_data(seed, sz):
    tfms = tfms_from_model(arch, sz, aug_tfms=transforms_side_on, max_zoom=1.1)
    return ImageClassifierData.from_csv(ROOT, 'train', ROOT / 'labels.csv', bs=bs, tfms=tfms,
                                        val_idxs=get_cv_idxs(n_rows, seed=seed), suffix='.jpg',
                                        test_name='test')

data = get_data(42, SIZES[-1])
print(data, '| file sizes:', dict(Counter(Image.open(f).size for f in data.trn_ds.fnames[:100])))
data.show_batch(4 if nb.quick else 8)
plt.show()
"""),
("md", r"""
## 2. The ImageNet classifier, used as it is

`efficientnet_lite0()` returns the whole ImageNet model: the body, and after it one `Linear`
layer with 1,000 outputs, a score per ImageNet class. The names of the classes ship with
torchvision (no download). What does it say about four validation images, before we train
anything? (`val_ds[i]` is image `i` through the validation transform: resize, centre crop,
normalise with the statistics the model was trained with.)
"""),
("code", r"""
imagenet = efficientnet_lite0().eval()
names = torchvision.models.ResNet18_Weights.IMAGENET1K_V1.meta['categories']
picks = range(0, len(data.val_ds), len(data.val_ds) // 4)[:4]   # four validation images
with torch.no_grad():
    probs = imagenet(torch.stack([data.val_ds[i][0] for i in picks])).softmax(1)
for i, p in zip(picks, probs):
    top = p.topk(5)
    print(f'a {data.classes[data.val_ds.y[i]]:>20}: ' +
          ', '.join(f'{names[j]} {q:.2f}' for q, j in zip(top.values.tolist(), top.indices.tolist())))
"""),
("md", r"""
Read each line: the true breed (from `labels.csv`), then the model's five most likely ImageNet
classes with their probabilities. Where the first name is the true breed, the model's outputs
are in the same order as torchvision's list of names — the check we need before we use that
order. (Keep in mind where these photos come from: ImageNet's classifier may well have trained on
some of these very images, so how well it does on them says little about new photos of dogs.)
Each of our breeds has its own row among the 1,000:
"""),
("code", r"""
imagenet_names = [n.lower().replace(' ', '_') for n in names]
rows_in = [imagenet_names.index(b) for b in data.classes]   # our breed i is ImageNet class rows_in[i]
print(', '.join(f'{b} {r}' for b, r in zip(data.classes, rows_in)))
right = sum(rows_in[data.val_ds.y[i]] == t for i, t in zip(picks, probs.argmax(1).tolist()))
print(f'the top-1 class is the true breed for {right} of the {len(picks)} images above')
"""),
("md", r"""
## 3. The recipe (stated now, measured in section 8)

The course's `ConvLearner` cuts the ImageNet model after its body and adds a new head with random
weights, because a new task usually has new classes. Ours does not. So:

1. **cache** the frozen body's features once (`precompute=True`);
2. a **linear head** that **starts as ImageNet's own classifier** for our 16 breeds: the 16 rows
   of the `Linear` layer we just used, instead of random numbers;
3. train it with **one-cycle** on the cache. The epochs, the learning rate, the image size,
   whether to train first at a smaller size (progressive resizing) and whether to predict with
   TTA are the settings with the lowest **validation log loss** on the walkthrough split. A head
   that starts trained may need only small steps, so the learning rates tried go from the
   course's rule down to 1,000 times less;
4. no epoch on augmented images and no fine-tuning of the body: the body has been trained on
   these breeds already. The course's own breeds lesson did not unfreeze either. Section 6
   measures what those steps do here, on the lesson's own flow.

Why log loss for the choices: on a validation set this small (section 4 prints its size),
accuracy moves in steps of one image and many settings tie; log loss (the mean of −log of the probability given to
the true breed, Kaggle's metric for this competition) also sees how sure the right answers are.

Against what: a **linear baseline** (one `Linear` layer on the same cached features, section 8),
and the **lesson flow** (the course's head with random weights, an epoch on augmented images,
TTA). Section 8 runs all three on 3 splits; the test set is used once, after that.
"""),
("md", r"""
## 4. The head, on cached activations

The frozen body of `efficientnet_lite0` and a linear head (`xtra_fc=[]`: BatchNorm, dropout 0.25,
one `Linear`; the course's default adds a hidden layer of 512). `precompute=True` caches what
the frozen body makes of every image once, into `nb.work`; each epoch of the head then reads
small vectors instead of images.
"""),
("code", r"""
def head_learner(data, start='random'):
    learn = ConvLearner.pretrained(arch, data, precompute=True, path=nb.work, xtra_fc=[], ps=0.25)
    if start == 'imagenet':
        imagenet_start(learn)
    return learn

start = time.perf_counter()
learn = head_learner(data)
feats = learn.precomp.prepare()   # one pass of the body over every image, cached
print(f'cached the body activations in {time.perf_counter() - start:.0f} s: '
      f'{tuple(feats.train_dl.dataset.tensors[0].shape)} for the training set')
print(learn.model.head)
"""),
("md", r"""
One vector of 2×1280 numbers per image: the body's 1,280 feature maps pooled two ways, max and
average (`AdaptiveConcatPool2d`), which the head starts with. With the head's weights random (the
course's way), `lr_find` sweeps the learning rate over 100 batches of the cache (a few seconds):
"""),
("code", r"""
with learn.silent():   # the sweep's own per-epoch rows say nothing
    found = learn.lr_find(num_it=30 if nb.quick else 100)
learn.sched.plot()
plt.show()
print(found)
"""),
("md", r"""
Read the curve from the left: flat at the smallest learning rates, then falling, then shooting
up. The course's rule is the green line, `min_div10` (the lr of the lowest loss divided by 10);
the red line marks where the loss falls fastest and the orange one the middle of the longest
descent. We try the rule's lr and 3, 10 and 30 times less.

Now the recipe's start. The ImageNet classifier reads the *average*-pooled half of these
features. So: BatchNorm set to pass the features through unchanged (its running statistics and
its scale and shift all set to the features' own mean and spread), and the `Linear` layer given
ImageNet's rows for our breeds on the average half and zeros on the max half. Before any
training, this head *is* the ImageNet classifier, restricted to our 16 breeds.
"""),
("code", r"""
W, b = imagenet._fc.weight.detach(), imagenet._fc.bias.detach()   # 1,000 rows of 1,280 weights

def imagenet_start(learn):
    x = learn.precomp.prepare().train_dl.dataset.tensors[0]    # cached: [max pool | average pool]
    bn, linear = learn.model.head[-3], learn.model.head[-1]
    with torch.no_grad():
        bn.running_mean.copy_(x.mean(0)); bn.bias.copy_(x.mean(0))
        bn.running_var.copy_(x.var(0)); bn.weight.copy_((x.var(0) + bn.eps).sqrt())
        linear.weight.zero_(); linear.weight[:, x.shape[1] // 2:] = W[rows_in]
        linear.bias.copy_(b[rows_in])
"""),
("md", r"""
Two small helpers: `scores` turns predicted probabilities into accuracy and log loss;
`cached_preds` runs the head alone on the cached features of a split (no image is read).
"""),
("code", r"""
def scores(probs, y):
    probs, y = torch.as_tensor(probs), torch.as_tensor(y)
    return (probs.argmax(1) == y).float().mean().item(), F.nll_loss(probs.clamp_min(1e-7).log(), y).item()

def cached_preds(learn, split='valid'):
    feats = learn.precomp.prepare()
    return learn.get_preds(getattr(feats, f'{split}_dl'), forward=learn.model.head[learn.model.n_cached:])

acc0, ll0 = scores(*cached_preds(head_learner(data, 'imagenet')))
nb.result('dogs_imagenet_as_is_acc', acc0)
print(f'the ImageNet classifier as it is, on our 16 breeds: accuracy {acc0:.2%}, log loss {ll0:.3f} '
      f'on {len(data.val_ds)} validation images, before any training')
"""),
("md", r"""
Both heads, the course's random start and the recipe's ImageNet start, trained with one-cycle
for 1, 3 and 7 epochs at each learning rate, from the rule's lr down to 1,000 times less. Every
run starts from the same seed, so differences between cells are the settings'. One table per
start; each cell is the validation accuracy / log loss:
"""),
("code", r"""
EPOCHS = (1,) if nb.quick else (1, 3, 7)
LRS = [found.min_div10 / d for d in ((1, 10, 100) if nb.quick else (1, 3, 10, 30, 100, 300, 1000))]

def fit_head(learn, epochs, lr):
    with learn.silent():
        learn.fit_one_cycle(epochs, lr)
    return scores(*cached_preds(learn))

grid = {}
for start in ('random', 'imagenet'):
    print(f'{start} start'.ljust(14) + ''.join(f'{e} epochs'.rjust(17) for e in EPOCHS))
    for lr in LRS:
        for epochs in EPOCHS:
            set_seed(0)
            grid[start, epochs, lr] = fit_head(head_learner(data, start), epochs, lr)
        print(f'  lr {lr:.1e}'.ljust(14) + ''.join(f'{grid[start, e, lr][0]:>9.2%} / {grid[start, e, lr][1]:.3f}'
                                              for e in EPOCHS))
"""),
("code", r"""
def best(candidates):   # the key with the lowest validation log loss
    return min(candidates, key=lambda k: candidates[k][1])

course = best({k[1:]: v for k, v in grid.items() if k[0] == 'random'})     # (epochs, lr)
recipe = dict(zip(('epochs', 'lr'), best({k[1:]: v for k, v in grid.items() if k[0] == 'imagenet'})))
print(f"the course's head: {course[0]} epochs at lr {course[1]:.1e}; the recipe's head: "
      f"{recipe['epochs']} epochs at lr {recipe['lr']:.1e}")
"""),
("md", r"""
Read the two tables side by side. The random start needs the large learning rates: at the
smallest, an epoch leaves it close to guessing. The ImageNet start needs the small ones: a large
lr throws away the start it was given, and its best cells, where it moves least, are about where
the classifier as it is already was (its accuracy and log loss are printed above the tables).

## 5. The image size, and progressive resizing

The files are 224 px. Smaller images are faster (a pass of the body costs about the square of
the size) but show less of each dog; the cache makes the comparison cheap: one pass of the body
per size, then seconds per head.
"""),
("code", r"""
by_size = {}
for sz in SIZES:
    start = time.perf_counter()
    for head, (epochs, lr) in (('random', course), ('imagenet', (recipe['epochs'], recipe['lr']))):
        set_seed(0)
        by_size[head, sz] = acc, ll = fit_head(head_learner(get_data(42, sz), head), epochs, lr)
        print(f'{sz} px, {head:>8} start: accuracy {acc:.2%}, log loss {ll:.3f}')
    print(f'    ({time.perf_counter() - start:.0f} s with the cache of this size)')
sz = best({s: by_size['imagenet', s] for s in SIZES})
print(f'the recipe uses {sz} px')
"""),
("md", r"""
**Progressive resizing** (the course trains at 224, then calls `learn.set_data(get_data(299))`
and trains on): start at a smaller size, then swap in bigger images and train again with the same
model. Against the same budget at one size (the same two runs of one-cycle, both at the chosen
size), and against the recipe as chosen so far (one run):
"""),
("code", r"""
small = max([s for s in SIZES if s < sz], default=sz)
by_sizes, trained = {}, {}
for sizes in ((sz,), (small, sz), (sz, sz)):
    set_seed(0)
    learn = trained[sizes] = head_learner(get_data(42, sizes[0]), 'imagenet')
    for s in sizes:
        learn.set_data(get_data(42, s))   # the model stays; the next fit caches this size
        by_sizes[sizes] = acc, ll = fit_head(learn, recipe['epochs'], recipe['lr'])
    print(f'{" then ".join(f"{s} px" for s in sizes):>18}: accuracy {acc:.2%}, log loss {ll:.3f}')
recipe['sizes'] = best(by_sizes)
print('the recipe trains at', ' then '.join(f'{s} px' for s in recipe['sizes']))
"""),
("md", r"""
Read the log losses first. When a step wins, find out why before you trust it: the course's
reason for progressive resizing (the smaller images train fast, the bigger ones then add detail)
cannot apply to a head that trains for a few batches at a tiny learning rate. Look at the head
instead. Its BatchNorm was set up to pass the features of the *first* size through unchanged:
its scale and shift are the spread and mean of those features. During the fit at the second
size, its running statistics follow the new features, but its scale and shift hardly move (the
learning rate is tiny). So each feature leaves the BatchNorm multiplied by (spread at the first
size) / (spread at the second). Below: the median of that factor over the average-pooled
features for each way of training, then the one-size head's predictions made *sharper*
(its logits multiplied by a number `t`; the predicted breed stays the same):
"""),
("code", r"""
def bn_scale(learn):   # median factor by which the head's BatchNorm multiplies an average-pooled feature
    bn = learn.model.head[-3]
    scale = bn.weight / (bn.running_var + bn.eps).sqrt()
    return scale[len(scale) // 2:].median().item()

def sharpen(probs, t):   # the probabilities of the same logits multiplied by t
    p = torch.as_tensor(probs) ** t
    return p / p.sum(1, keepdim=True)

for sizes, learn in trained.items():
    print(f'{" then ".join(f"{s} px" for s in sizes):>18}: BatchNorm factor {bn_scale(learn):.2f}')
probs, y = cached_preds(trained[(sz,)])
for t in (1.25, 1.5, 2):
    acc, ll = scores(sharpen(probs, t), y)
    print(f'{sz} px only, logits × {t}: accuracy {acc:.2%}, log loss {ll:.3f}')
"""),
("md", r"""
Where the factor of the resized head is above 1, its logits grow by about that much, and
sharper probabilities of the same one-size head reach a log loss like the resized head's: the
ImageNet classifier, cut down to our 16 breeds, is less sure of its right answers than it could
be. So what the resize buys here is confidence, not detail; accuracy moves by an image or two at
most. It stays in the recipe because the recipe's rule chose it on validation; section 8 checks
on two more splits whether it holds.

The recipe, as chosen on this split's validation set, in one function (TTA is decided in
section 7):
"""),
("code", r"""
def fit_recipe(seed):
    learn = head_learner(get_data(seed, recipe['sizes'][0]), 'imagenet')
    for s in recipe['sizes']:
        learn.set_data(get_data(seed, s))
        fit_head(learn, recipe['epochs'], recipe['lr'])
    return learn

print(recipe)
"""),
("md", r"""
## 6. The rest of the lesson: augmentation, unfreezing, TTA

The lesson goes on from the course's head: an epoch on augmented images (`precompute = False`:
each epoch new random crops, flips and small rotations, which the cache cannot give), then
`unfreeze()` to train the body too, then TTA. We run it as the lesson does, from the course's
head at its chosen settings, and measure each step on the validation set.
"""),
("code", r"""
def tta_preds(learn, is_test=False):
    log_preds, y = learn.TTA(is_test=is_test)   # the plain view + 4 augmented views of each image
    return np.exp(log_preds).mean(0), y

def lesson_flow(learn):
    learn.fit_one_cycle(*course)
    head = scores(*cached_preds(learn))
    learn.precompute = False   # real images again, with a new random augmentation each epoch
    learn.fit(course[1], 1, cycle_len=1)
    return dict(head=head, augmented=scores(*learn.predict()), tta=scores(*tta_preds(learn)))
"""),
("code", r"""
set_seed(0)
learn = head_learner(get_data(42, sz))
flow42 = lesson_flow(learn)
for step, (acc, ll) in flow42.items():
    print(f'{step:>9}: accuracy {acc:.2%}, log loss {ll:.3f}')
nb.result('dogs_head_cached_acc', flow42['head'][0])
nb.result('dogs_head_augmented_acc', flow42['augmented'][0])
"""),
("md", r"""
Then the course's step 5 to 8: `unfreeze()` and differential learning rates, one per layer group
(the two halves of the body, then the head), with SGDR cycles of 1 and 2 epochs
(`cycle_mult=2`). The lrs are `ConvLearner`'s documented ones: the course's 10× steps between
groups, each 10× below the course's SGD values because AdamW moves each weight by about `lr` per
step. (The course also runs `lr_find` again here; on these CPUs each of its points is a step
through the whole body, and enough points to read a curve would cost more than the fine-tuning.)
The body's BatchNorm layers keep their ImageNet statistics (`ConvLearner.pretrained`'s default).
"""),
("code", r"""
start = time.perf_counter()
learn.unfreeze()
learn.fit(np.array([1e-5, 1e-4, 1e-3]), 1 if nb.quick else 2, cycle_len=1, cycle_mult=2)
nb.result('finetune_minutes', (time.perf_counter() - start) / 60)
finetuned, finetuned_tta = scores(*learn.predict()), scores(*tta_preds(learn))
nb.result('dogs_finetuned_acc', finetuned[0]); nb.result('dogs_tta_acc', finetuned_tta[0])
print(f'fine-tuned: accuracy {finetuned[0]:.2%}, log loss {finetuned[1]:.3f}; with TTA: accuracy '
      f'{finetuned_tta[0]:.2%}, log loss {finetuned_tta[1]:.3f} ({nb.results["finetune_minutes"]:.1f} min)')
learn.recorder.plot_loss()
plt.show()
"""),
("md", r"""
## 7. Which model, and what it gets wrong

The recipe on the walkthrough split, with and without TTA, and every model above, on the same
validation images:
"""),
("code", r"""
set_seed(0)
recipe_learn = fit_recipe(42)
val = {'ImageNet classifier as it is': (acc0, ll0), "the course's head (cached)": flow42['head'],
       '+ an epoch on augmented images': flow42['augmented'], '+ TTA (the lesson flow)': flow42['tta'],
       '+ fine-tuned': finetuned, '+ fine-tuned, TTA': finetuned_tta,
       'the recipe': scores(*cached_preds(recipe_learn)), 'the recipe with TTA': scores(*tta_preds(recipe_learn))}
for name, (acc, ll) in val.items():
    print(f'{name:>32}: accuracy {acc:.2%}, log loss {ll:.3f}')
recipe['tta'] = val['the recipe with TTA'][1] < val['the recipe'][1]
print('the recipe predicts', 'with TTA' if recipe['tta'] else 'without TTA')
nb.result('dogs_recipe_valid_acc', val['the recipe with TTA' if recipe['tta'] else 'the recipe'][0])
nb.result('dogs_recipe_valid_log_loss', val['the recipe with TTA' if recipe['tta'] else 'the recipe'][1])
"""),
("md", r"""
How to read it. TTA averages the model over augmented views; the recipe's head was trained on
the plain view only (the cache), so the other views are images it never learned from. An epoch
on augmented images gives the head views unlike those it converged on, and it has only the
training images of this split to learn them from. Fine-tuning moves a body that ImageNet trained
on far more photos of these very breeds (from the same collection) than the few dozen per breed
of this split: it has little to add and much to forget. Compare the fine-tuned rows with the
head they started from. Section 8 checks the recipe on more splits than this one.

The confusion matrix of the recipe (rows: the true breed, columns: the prediction; the diagonal
is right):
"""),
("code", r"""
interp = ClassificationInterpretation(recipe_learn)
interp.plot_confusion_matrix()
plt.show()
print('most confused (true, predicted, count):', interp.most_confused()[:5])
"""),
("md", r"""
(`most_confused` lists nothing when every validation image is right.) And the images with the
highest loss, titled `predicted / true` breed and `loss / probability of the true breed`: the
wrong ones, then those the model was least sure of. Look for breeds that look alike, for dogs
seen from far away or cut off by the crop, and for photos that hold more than one dog:
"""),
("code", r"""
interp.plot_top_losses(9)
plt.show()
"""),
("md", r"""
## 8. Three splits, against a linear baseline; then the test set

One split of 172 validation images decides little, so we run the recipe on 3 random 80/20
splits (seed 42, the walkthrough's, and two new ones), each against:

- **the linear baseline**: the same cached features (the frozen body, max and average pooled),
  standardised, one `nn.Linear` trained by AdamW for 30 epochs at lr 1e-3 — the simplest
  classifier a person might try first, with no choice made on any split;
- **the lesson flow** of section 6: the course's head (random start) on the cache, an epoch on
  augmented images, TTA.

Split 42 reuses what the walkthrough measured. Its validation set made the recipe's choices, so
its row flatters the recipe; the two new splits do not.
"""),
("code", r"""
def linear_baseline(learn, epochs=30, lr=1e-3):
    torch.manual_seed(0)
    feats = learn.precomp.prepare()                           # the cached features of this split
    (xt, yt), (xv, yv) = feats.train_dl.dataset.tensors, feats.valid_dl.dataset.tensors
    mean, std = xt.mean(0), xt.std(0) + 1e-6
    xt, xv = (xt - mean) / std, (xv - mean) / std
    model = torch.nn.Linear(xt.shape[1], len(learn.data.classes))
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    for _ in range(epochs):
        for i in torch.randperm(len(xt)).split(64):
            loss = F.cross_entropy(model(xt[i]), yt[i])
            opt.zero_grad(); loss.backward(); opt.step()
    with torch.no_grad():
        return scores(model(xv).softmax(1), yv)
"""),
("code", r"""
def run(seed):
    if seed == 42:   # the walkthrough's models and figures
        learn, flow = recipe_learn, flow42
        acc, ll = val['the recipe with TTA' if recipe['tta'] else 'the recipe']
    else:
        set_seed(0)
        learn, flow_learn = fit_recipe(seed), head_learner(get_data(seed, sz))
        acc, ll = scores(*(tta_preds(learn) if recipe['tta'] else cached_preds(learn)))
        with flow_learn.silent():
            flow = lesson_flow(flow_learn)
    base_acc, base_ll = linear_baseline(learn)   # on the recipe's cache: the same features
    return dict(recipe=acc, baseline=base_acc, lesson_flow=flow['tta'][0], recipe_ll=ll, baseline_ll=base_ll)

splits = over_splits(run, (42, 1, 2))
"""),
("code", r"""
nb.result('dogs_mean_acc_3splits', splits['recipe'].mean())
nb.result('dogs_spread', np.ptp(splits['recipe']))
nb.result('dogs_linear_baseline_mean', splits['baseline'].mean())
nb.result('dogs_linear_baseline_spread', np.ptp(splits['baseline']))
nb.result('dogs_lesson_flow_mean_3splits', splits['lesson_flow'].mean())
print(f"mean accuracy over 3 splits: the recipe {splits['recipe'].mean():.2%}, the linear baseline "
      f"{splits['baseline'].mean():.2%}, the lesson flow {splits['lesson_flow'].mean():.2%}")
print(f"mean log loss: the recipe {splits['recipe_ll'].mean():.3f}, the baseline {splits['baseline_ll'].mean():.3f}")
nb.result('dogs_recipe_log_loss_mean_3splits', splits['recipe_ll'].mean())
nb.result('dogs_linear_baseline_log_loss_mean', splits['baseline_ll'].mean())
"""),
("md", r"""
Read the rows split by split: the three methods see the same images on a row, so differences
along a row are the methods', differences between rows the split's. The spread (max − min) is
the honest error bar: means closer than it are not told apart by 3 splits. Log loss separates the
methods more finely than accuracy, for the reason given in section 3.

**The test set, once.** The recipe's model of the walkthrough split predicts the test images,
whose labels we read now for the first time:
"""),
("code", r"""
probs, _ = tta_preds(recipe_learn, is_test=True) if recipe['tta'] else cached_preds(recipe_learn, 'test')
test_names = [Path(f).name for f in recipe_learn.data.test_ds.fnames]
truth = [recipe_learn.data.classes.index(test_truth[n]) for n in test_names]
acc_test, ll_test = scores(probs, truth)
nb.result('dogs_test_acc_tta' if recipe['tta'] else 'dogs_test_acc', acc_test)
nb.result('dogs_test_log_loss', ll_test)
print(f'TEST: accuracy {acc_test:.2%}, log loss {ll_test:.3f} on {len(truth)} images never used before')
"""),
("md", r"""
## 9. Deployment: one file, one command

`learn.export` writes one file with all that inference needs: the weights, the class names, the
architecture, the head's shape and the validation transform. The command `minifast predict`
reads it back (no training code, no data folder) and classifies image files. We run it in the
temporary folder, on a test image: the model never trained on it and no choice was made on it.
"""),
("code", r"""
recipe_learn.export(nb.work / 'model.pth')
new_image = test_names[0]
print(f'dogbreeds/test/{new_image} is a {test_truth[new_image]}; the command says:')
!cd {nb.work} && minifast predict model.pth dogbreeds/test/{new_image}
"""),
("md", r"""
It prints the file, the breed and its probability. The same from Python: `load_learner('model.pth')`
then `.predict(image)`.

## Summary

What to take away: when the pretrained model's classes include yours, first ask the ImageNet
classifier as it is (section 2) and start the head from its rows; then measure each further step
of the lesson on validation before keeping it (sections 5 to 7), find out why a step wins
(section 5), and judge the result on more than one split against a simple baseline (section 8). The figures of this run, one line each:
"""),
("code", r"""
nb.finish()
if not nb.quick:   # the recipe's own criterion (section 3): its mean validation log loss
    assert splits['recipe_ll'].mean() <= splits['baseline_ll'].mean(), splits
"""),
]
