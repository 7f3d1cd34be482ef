"""The `minifast` command's parser and entry point live in `minifast_cli.py`, beside this package,
so that `minifast --help` answers without importing torch; this module keeps `minifast.cli` and
`python -m minifast.cli` working."""
import sys

from minifast_cli import build_parser, main

__all__ = ["build_parser", "main"]

if __name__ == "__main__":
    sys.exit(main())
