"""What every behaviour module shares: the context it is installed with, the
contract it follows, and small helpers for patching moto and walking its
backends.

A behaviour is a module of ``labsandbox.behaviours`` that simulates one AWS
area.  It may define any of:

``NAME``                     short name (required), e.g. ``"ecs_tasks"``
``install(ctx)``             keep the :class:`Context`; patch moto (once per process)
``tick(now)``                advance the simulation to ``now`` (``ctx.clock.now()``)
``state()``                  its top-level keys of ``GET /_sandbox/state``
``FORCE``                    ``{verb: handler}``: a ``POST /_sandbox/force`` body
                             containing the key ``verb`` goes to ``handler(body)``,
                             which returns the JSON answer
``reset()``                  called after moto's backends were reset

All of them run with ``config.LOCK`` held.  Modules talk to each other through
plain imports (a lower layer never imports a higher one) and the hooks that
``ecs_tasks`` and ``ecs_services`` offer.
"""

from __future__ import annotations

import functools
import traceback
from dataclasses import dataclass
from typing import Any, Callable, Iterator

from ..clock import Clock
from ..config import Config

_patched: set[str] = set()


@dataclass
class Context:
    """Handed to every behaviour's ``install``."""

    clock: Clock
    config: Config


def first_install(module_name: str) -> bool:
    """True the first time a module asks: moto patches are process-wide."""
    if module_name in _patched:
        return False
    _patched.add(module_name)
    return True


def patch(owner: Any, name: str) -> Callable:
    """Decorator replacing ``owner.<name>``.  The new function receives the
    function it replaces as its first argument::

        @patch(Backend, "list_services")
        def list_services(original, self, cluster, *args, **kwargs): ...
    """
    original = getattr(owner, name)

    def decorate(fn: Callable) -> Callable:
        @functools.wraps(fn)
        def replacement(*args: Any, **kwargs: Any) -> Any:
            return fn(original, *args, **kwargs)

        setattr(owner, name, replacement)
        return replacement

    return decorate


def backends(per_account: Any) -> Iterator[tuple[str, str, Any]]:
    """(account, region, backend) for every backend moto has created so far.

    moto's BackendDict creates backends on item access; iterating with
    ``dict`` methods only visits existing ones."""
    for account_id, per_region in list(dict.items(per_account)):
        for region, backend in list(dict.items(per_region)):
            yield account_id, region, backend


def guarded(fn: Callable[..., Any], *args: Any) -> None:
    """Runs one unit of a tick (a backend, an instance, an alarm): an exception is printed to
    the log and never stops the simulator or the other units."""
    try:
        fn(*args)
    except Exception:
        traceback.print_exc()
