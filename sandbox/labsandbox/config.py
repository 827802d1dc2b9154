"""Simulator timings and knobs.

Every value can be set at start-up with an environment variable
``LABSANDBOX_<NAME>`` (for example ``LABSANDBOX_PENDING=0.3``) and changed at
run time with ``POST /_sandbox/config``.  Durations are in seconds.
"""

from __future__ import annotations

import os
import threading
from dataclasses import asdict, dataclass, fields


@dataclass
class Config:
    # Simulator loop period.
    tick: float = 0.15
    # Task lifecycle: PROVISIONING -> PENDING -> RUNNING.
    provisioning: float = 0.5
    pending: float = 1.0
    # Target health: initial -> healthy (or unhealthy for a failing task).
    target_healthy: float = 1.0
    # Target draining (Target.DeregistrationInProgress) before removal.
    draining: float = 1.0
    # DEACTIVATING/STOPPING/DEPROVISIONING after draining, in total.
    stopping: float = 0.5
    # How long a task whose role lacks a needed permission stays RUNNING
    # before its essential container exits.
    crash_after: float = 2.0
    # A RUNNING task counts as healthy for rollouts after this long
    # (and, with a load balancer, once its targets are healthy).
    stable: float = 0.5
    # Failed tasks after which the deployment circuit breaker trips.
    circuit_breaker_threshold: int = 3
    # STOPPED tasks stay describable this long.
    stopped_retention: float = 600.0
    # INACTIVE services stay describable this long.
    inactive_retention: float = 600.0
    # Maximum number of service events kept (newest first).
    max_events: int = 100
    # An EC2 instance whose user data names a cluster (ECS_CLUSTER=...)
    # registers as a container instance this long after it starts running.
    instance_boot: float = 3.0
    # Pause the simulator (state stays as it is).
    paused: bool = False
    # Sandbox seconds per real second (at least 1).  Above 1 the simulator moves
    # the clock forward by the difference on every tick, as /_sandbox/advance
    # would: alarm periods, cooldowns and every other timing above then pass
    # that many times faster than real time, and the sandbox's timestamps run
    # ahead of the wall clock.  For unattended runs of labs that wait on
    # CloudWatch minutes (scripts/demo sets it); the durations above are sandbox
    # seconds, so raise the retention knobs with it.
    time_scale: float = 1.0

    def update(self, values: dict) -> None:
        known = {f.name: f.type for f in fields(self)}
        for key, value in values.items():
            if key not in known:
                raise KeyError(key)
            current = getattr(self, key)
            if isinstance(current, bool):
                value = value if isinstance(value, bool) else str(value).lower() in ("1", "true", "yes")
            elif isinstance(current, int):
                value = int(value)
            else:
                value = float(value)
            if key == "time_scale" and value < 1:
                raise ValueError("time_scale must be at least 1: the clock never goes back")
            setattr(self, key, value)

    def as_dict(self) -> dict:
        return asdict(self)


def from_env(environ=os.environ) -> Config:
    cfg = Config()
    values = {}
    for f in fields(cfg):
        raw = environ.get(f"LABSANDBOX_{f.name.upper()}")
        if raw is not None and raw != "":
            values[f.name] = raw
    cfg.update(values)
    return cfg


CONFIG = from_env()

# One lock serialises moto request handling and simulator ticks: moto's
# backends are plain dicts and objects with no locking of their own.
LOCK = threading.RLock()
