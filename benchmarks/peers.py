"""Other frameworks on the overhead benchmark: the same model, data, optimiser and validation.

Used by `overhead.py --peers`; none of these is a minifast dependency. Each runner is only
offered when its package imports, and runs with the framework's defaults (Lightning: its tqdm
bar; ignite: no bar, `loss.item()` per batch as `create_supervised_trainer` does). Install them
anywhere on the path, e.g. `pip install --target /tmp/peers pytorch-ignite lightning` and
`PYTHONPATH=/tmp/peers python benchmarks/overhead.py --peers`.
"""
from __future__ import annotations

import importlib.util
from collections.abc import Callable

from overhead import Batches, make_opt  # noqa: I001 (benchmarks/ is on sys.path when this runs)
from torch import nn

from minifast import accuracy


def ignite_fit(model: nn.Module, train: Batches, valid: Batches, opt_name: str, lr: float,
               wd: float) -> dict:
    from ignite.engine import create_supervised_evaluator, create_supervised_trainer
    from ignite.metrics import Accuracy, Loss

    loss_func = nn.CrossEntropyLoss()
    trainer = create_supervised_trainer(model, make_opt(opt_name, model.parameters(), lr, wd),
                                        loss_func)
    trainer.run(train, max_epochs=1)
    evaluator = create_supervised_evaluator(model, metrics={"accuracy": Accuracy(),
                                                            "loss": Loss(loss_func)})
    metrics = evaluator.run(valid).metrics
    return {"last_train_loss": float(trainer.state.output), "valid_loss": float(metrics["loss"]),
            "accuracy": float(metrics["accuracy"])}


def lightning_fit(model: nn.Module, train: Batches, valid: Batches, opt_name: str, lr: float,
                  wd: float) -> dict:
    import lightning as L

    class Module(L.LightningModule):
        def __init__(self):
            super().__init__()
            self.model, self.loss_func = model, nn.CrossEntropyLoss()

        def training_step(self, batch, batch_idx):
            xb, yb = batch
            self.last_loss = self.loss_func(self.model(xb), yb)
            return self.last_loss

        def validation_step(self, batch, batch_idx):
            xb, yb = batch
            pred = self.model(xb)
            self.log("valid_loss", self.loss_func(pred, yb), batch_size=len(yb))
            self.log("accuracy", accuracy(pred, yb), batch_size=len(yb))

        def configure_optimizers(self):
            return make_opt(opt_name, self.parameters(), lr, wd)

    module = Module()  # Lightning reads a list as several loaders: hand it one iterable each
    trainer = L.Trainer(max_epochs=1, accelerator="cpu", devices=1, logger=False,
                        enable_checkpointing=False, enable_model_summary=False,
                        num_sanity_val_steps=0)
    trainer.fit(module, OneLoader(train), OneLoader(valid))
    return {"last_train_loss": float(module.last_loss.detach()),
            "valid_loss": float(trainer.callback_metrics["valid_loss"]),
            "accuracy": float(trainer.callback_metrics["accuracy"])}


class OneLoader:
    """A list of batches as one iterable loader (a plain list means many loaders to Lightning)."""

    def __init__(self, batches: Batches):
        self.batches = batches

    def __iter__(self):
        return iter(self.batches)

    def __len__(self) -> int:
        return len(self.batches)


def available_peers() -> dict[str, Callable[..., dict]]:
    """The runners whose framework is installed, by name."""
    candidates = {"ignite": ("ignite", ignite_fit), "lightning": ("lightning", lightning_fit)}
    return {name: fn for name, (package, fn) in candidates.items()
            if importlib.util.find_spec(package) is not None}
