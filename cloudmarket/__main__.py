"""``python -m cloudmarket``: the ``cloudmarket`` command."""

import sys

from cloudmarket.experiments.cli import main

if __name__ == "__main__":  # pool workers started fresh import this module again
    sys.exit(main())
