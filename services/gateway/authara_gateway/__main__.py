"""Allow `python -m authara_gateway`."""

from .entry import main

main()
