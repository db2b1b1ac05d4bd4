"""Allow `python -m authara_gateway`."""

from .cli import main

main()
