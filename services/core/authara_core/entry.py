"""`authara-core`'s entry point: catch stop signals before anything heavy is imported.

Importing core (aiohttp, asyncpg, jinja2, authlib, its settings) takes long enough for an
orchestrator's SIGTERM to land in it; with the default action that kills the process (-15).
The stop request exists first, and core honours one that came before it served.
"""

from collections.abc import Sequence

from authara_runtime.stopping import stop_requests


def main(argv: Sequence[str] | None = None) -> None:
    """Run the command line."""
    with stop_requests() as stop:
        # Imported only now: the handlers must exist before the slow imports start.
        from authara_core.cli import run

        run(argv, stop)
