"""The registry of behaviours: every AWS area the sandbox simulates, in the
order their ticks run.

Adding a behaviour means writing ``behaviours/<area>.py`` (see ``base`` for
the contract) and listing it in :data:`BEHAVIOURS`; nothing else changes.  The
:class:`Registry` installs them with one shared :class:`~labsandbox.clock.Clock`,
ticks them, builds ``GET /_sandbox/state`` from their parts and sends each
``POST /_sandbox/force`` body to the behaviour owning its verb.
"""

from __future__ import annotations

import traceback
from types import ModuleType
from typing import Any, Iterable

from . import alarms, apps, autoscaling, certificates, cloudmap, ec2_capacity, ecs_services, ecs_tasks, iam, load_balancing, metrics, secrets
from .base import Context

# Tick order matters: tasks move first, application processes that exited stop
# their tasks, container instances register (and drain), then the scheduler
# looks at them, then
# target health follows; metrics are written before alarms read them, and
# alarms invoke auto scaling.
BEHAVIOURS: tuple[ModuleType, ...] = (
    iam,
    ecs_tasks,
    apps,
    ec2_capacity,
    secrets,
    ecs_services,
    load_balancing,
    certificates,
    cloudmap,
    metrics,
    alarms,
    autoscaling,
)


class Registry:
    """The installed behaviours and the clock they share."""

    def __init__(self, context: Context, behaviours: Iterable[Any] = BEHAVIOURS) -> None:
        self.ctx = context
        self.behaviours = list(behaviours)
        self.verbs: dict[str, Any] = {}
        for b in self.behaviours:
            for verb, handler in getattr(b, "FORCE", {}).items():
                if verb in self.verbs:
                    raise ValueError(f"force verb {verb!r} of {b.NAME} is already taken")
                self.verbs[verb] = handler

    @property
    def clock(self):
        return self.ctx.clock

    def install(self) -> None:
        for b in self.behaviours:
            if hasattr(b, "install"):
                b.install(self.ctx)

    def tick(self) -> None:
        """One simulator step at the clock's current time (nothing when paused)."""
        if self.ctx.config.paused:
            return
        self.clock.ticks += 1
        now = self.clock.now()
        for b in self.behaviours:
            if hasattr(b, "tick"):
                try:
                    b.tick(now)
                except Exception:  # one broken behaviour must not stop the others
                    traceback.print_exc()

    def advance(self, seconds: float, step: float | None = None) -> None:
        """Move the clock ``seconds`` forward in steps of at most ``step``
        (default: the ``tick`` knob), ticking after each, so every behaviour
        sees the time in between as it would have in real time."""
        seconds = float(seconds)
        if seconds < 0:
            raise ValueError("seconds must be >= 0")
        step = float(step) if step else max(self.ctx.config.tick, 0.01)
        steps = int(seconds // step)
        if steps > 100_000:
            raise ValueError("too many steps: pass a larger step")
        for _ in range(steps):
            self.clock.advance(step)
            self.tick()
        rest = seconds - steps * step
        if rest > 1e-9:
            self.clock.advance(rest)
            self.tick()

    def clock_info(self) -> dict:
        """``GET /_sandbox/clock``: seconds since start and ticks (advances
        included), whether paused, the total advance and the sandbox's UTC time."""
        return {
            "seconds": round(self.clock.seconds(), 3),
            "ticks": self.clock.ticks,
            "paused": self.ctx.config.paused,
            "offset": round(self.clock.offset, 3),
            "now": self.clock.wall().isoformat(),
        }

    def state(self) -> dict:
        out: dict = {"clock": self.clock_info(), "config": self.ctx.config.as_dict()}
        for b in self.behaviours:
            if hasattr(b, "state"):
                out.update(b.state())
        return out

    def force(self, body: dict) -> dict:
        for verb, handler in self.verbs.items():
            if verb in body:
                return handler(body)
        raise KeyError(f"nothing to force; verbs: {', '.join(self.verbs)}")

    def reset(self) -> None:
        """After moto's backends were reset (sandbox state lives on them)."""
        for b in self.behaviours:
            if hasattr(b, "reset"):
                b.reset()
