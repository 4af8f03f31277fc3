"""``python -m cloudmarket``: the ``cloudmarket`` command."""

import sys

from cloudmarket.experiments.cli import main

sys.exit(main())
