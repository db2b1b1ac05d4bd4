"""`python -m authara_core`."""

from authara_core.entry import main

main()
