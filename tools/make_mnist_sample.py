"""Build minifast/data/samples/mnist_sample.npz from the original MNIST IDX files.

Run once by the maintainers (the result is committed):
    python tools/make_mnist_sample.py ../shared/data/mnist
It takes a class-balanced random 8,000 training digits and 2,000 test digits (seed 0), stored as
uint8 in a compressed .npz so the package stays small.
"""
import gzip
import sys
from pathlib import Path

import numpy as np


def read_idx(path: Path) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        data = f.read()
    n_dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(n_dims)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * n_dims).reshape(shape)


def pick(labels: np.ndarray, per_class: int, rng: np.random.Generator) -> np.ndarray:
    idx = [rng.choice(np.flatnonzero(labels == c), per_class, replace=False) for c in range(10)]
    return rng.permutation(np.concatenate(idx))


def main(src: str) -> None:
    src, rng = Path(src), np.random.default_rng(0)
    x_trn, y_trn = read_idx(src / "train-images-idx3-ubyte.gz"), read_idx(src / "train-labels-idx1-ubyte.gz")
    x_tst, y_tst = read_idx(src / "t10k-images-idx3-ubyte.gz"), read_idx(src / "t10k-labels-idx1-ubyte.gz")
    i_trn, i_val = pick(y_trn, 800, rng), pick(y_tst, 200, rng)
    out = Path(__file__).resolve().parent.parent / "minifast" / "data" / "samples" / "mnist_sample.npz"
    np.savez_compressed(out, x_train=x_trn[i_trn], y_train=y_trn[i_trn],
                        x_valid=x_tst[i_val], y_valid=y_tst[i_val])
    print(f"wrote {out} ({out.stat().st_size:,} bytes)")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "../shared/data/mnist")
