"""`python -m authara_core`."""

from authara_core.cli import main

main()
