"""The `minifast` command: `demo`, `train FOLDER`, `predict MODEL IMAGE...`.

Each sub-command lives in its own module; this file only parses arguments, so `minifast --help`
answers instantly without importing torch. That is why it sits *beside* the `minifast` package,
not inside it: importing anything from inside a package first runs the package's `__init__.py`,
which imports torch (seconds). `minifast/cli.py` and `python -m minifast` lead here.
"""
from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from pathlib import Path


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="minifast", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="store_true", help="print minifast's version and exit")
    sub = parser.add_subparsers(dest="command", metavar="{demo,train,predict}")

    demo = sub.add_parser("demo", help="train a small CNN on the MNIST sample shipped with minifast")
    demo.add_argument("--out", default="minifast_demo", help="folder for loss.png and lr.png")
    demo.add_argument("--epochs", type=int, default=3, help="epochs to train (default: 3)")
    demo.add_argument("--bs", type=int, default=64, help="batch size (default: 64)")

    train = sub.add_parser("train", help="fine-tune a pretrained model on one-folder-per-class images")
    train.add_argument("folder", help="a folder with one sub-folder of images per class")
    train.add_argument("--arch", default="efficientnet_lite0",
                       help="pretrained architecture, e.g. resnet34 (default: efficientnet_lite0, "
                            "whose weights need no download)")
    train.add_argument("--epochs", type=int, default=3,
                       help="epochs for the head, then as many for all layers (default: 3)")
    train.add_argument("--size", type=int, default=224, help="image size in pixels (default: 224)")
    train.add_argument("--bs", type=int, default=32, help="batch size (default: 32)")
    train.add_argument("--valid-pct", type=float, default=0.2,
                       help="fraction of the images held out for validation (default: 0.2)")
    train.add_argument("--out", default=None, help="where to save the model (default: FOLDER/models)")
    train.add_argument("--bn-freeze", action=argparse.BooleanOptionalAction, default=None,
                       help="keep the body's BatchNorm statistics fixed while fine-tuning (the "
                            "default for pretrained bodies); --no-bn-freeze for data far from "
                            "ImageNet's photos")
    train.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=None,
                       help="store the weights channels-last (NHWC); the default on the CPU, where "
                            "it is faster; --no-channels-last for NCHW")

    predict = sub.add_parser("predict", help="classify images with a model saved by `minifast train`")
    predict.add_argument("model", help="the export file written by `minifast train` or learn.export")
    predict.add_argument("images", nargs="+", help="one or more image files to classify")
    predict.add_argument("--device", default="cpu", help="where to run the model (cpu, cuda)")
    return parser


def version() -> str:
    """minifast's version, read from the package's `__init__.py` beside this file without
    importing the package (that imports torch: seconds)."""
    init = Path(__file__).resolve().parent / "minifast" / "__init__.py"
    return re.search(r'^__version__ = "([^"]+)"', init.read_text(), re.MULTILINE).group(1)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.version:
        print(f"minifast {version()}")
        return 0
    if args.command is None:
        parser.error("choose a command: demo, train or predict (minifast COMMAND --help for more)")
    # Imported only when a command runs (the reason this file exists: see the docstring).
    if args.command == "demo":
        from minifast.demo import run_demo

        return run_demo(args.out, epochs=args.epochs, bs=args.bs)
    if args.command == "train":
        from minifast.vision.cli_commands import run_train

        return run_train(args)
    from minifast.vision.cli_commands import run_predict

    return run_predict(args)


if __name__ == "__main__":
    sys.exit(main())
