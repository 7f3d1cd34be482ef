"""`python -m minifast demo` (and train, predict): the same as the `minifast` command."""
import sys

from minifast_cli import main

sys.exit(main())
