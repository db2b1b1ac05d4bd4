"""`python -m authara_core`."""

from .cli import main

main()
