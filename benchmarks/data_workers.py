"""Time passes over the Pokémon training loader with a given number of DataLoader workers.

    MINIFAST_DATA=/path/to/data python benchmarks/data_workers.py 0 2   # workers to compare
Figures and what they mean: docs/data.md ("DataLoaders").
"""
import sys
import time

from minifast.data.course_datasets import pokemon_data


def time_epochs(num_workers: int, n_epochs: int = 2, sz: int = 128, bs: int = 64) -> list[float]:
    data = pokemon_data(bs=bs, sz=sz, num_workers=num_workers, on_bad="off")
    times = []
    for _ in range(n_epochs):
        start = time.perf_counter()
        n = sum(len(xb) for xb, _ in data.train_dl)
        times.append(time.perf_counter() - start)
    print(f"num_workers={num_workers}: {n} images per epoch, epochs took "
          + ", ".join(f"{t:.1f} s" for t in times), flush=True)
    return times


if __name__ == "__main__":
    for nw in map(int, sys.argv[1:] or ["0", "2"]):
        time_epochs(nw)
