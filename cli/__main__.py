"""``python -m cli``: the same as the ``memo-taskrunner`` command."""

import sys

from cli.main import main

sys.exit(main())
