"""``python -m jaxgames``: the same as the ``jaxgames`` command."""

import sys

from jaxgames.cli import main

if __name__ == "__main__":
    sys.exit(main())
