"""The heap of a long-running process, once its start-up is over."""

from __future__ import annotations

import gc


def settle_heap() -> None:
    """Start-up is over: move what it built out of the garbage collector's sight.

    Modules, routes, schemas and pools live as long as the process; leaving them to the
    collector makes every full collection walk them all, a pause of milliseconds that lands on
    whichever requests are in flight.
    """
    gc.collect()
    gc.freeze()
