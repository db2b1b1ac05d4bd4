"""Run `authara-migrate` as `python -m authara_migrations`."""

import sys

from .cli import main

sys.exit(main())
