"""The behaviour registry and the injectable clock: unit tests of both, and
fast-forwarding a running sandbox with ``POST /_sandbox/advance``."""

from __future__ import annotations

import urllib.error
from datetime import datetime, timezone
from types import SimpleNamespace

import pytest

from conftest import wait_for
from infra import Lab
from labsandbox.behaviours import BEHAVIOURS, Registry
from labsandbox.behaviours.base import Context
from labsandbox.clock import Clock
from labsandbox.config import Config
from test_ecs_lifecycle import steady


class FakeTime:
    def __init__(self) -> None:
        self.mono = 1000.0
        self.epoch = 1_700_000_000.0

    def clock(self) -> Clock:
        return Clock(monotonic=lambda: self.mono, epoch=lambda: self.epoch)


def test_clock_advance_shifts_every_reading():
    t = FakeTime()
    clock = t.clock()
    assert clock.now() == 1000.0 and clock.seconds() == 0
    clock.advance(90)
    assert clock.now() == 1090.0
    assert clock.seconds() == 90
    assert clock.epoch() == 1_700_000_090.0
    assert clock.wall() == datetime.fromtimestamp(1_700_000_090, timezone.utc)
    t.mono += 5  # real time keeps going on top of the offset
    assert clock.now() == 1095.0
    with pytest.raises(ValueError):
        clock.advance(-1)


def fake_behaviour(name: str, log: list, verb: str | None = None, parts: dict | None = None, fail: bool = False):
    def tick(now: float) -> None:
        log.append((name, now))
        if fail:
            raise RuntimeError("broken behaviour")

    b = SimpleNamespace(NAME=name, tick=tick, install=lambda ctx: log.append((name, "install")))
    if verb:
        b.FORCE = {verb: lambda body: {"by": name, "body": body}}
    if parts is not None:
        b.state = lambda: parts
    return b


def make_registry(*behaviours) -> tuple[Registry, FakeTime]:
    t = FakeTime()
    return Registry(Context(clock=t.clock(), config=Config(tick=1.0)), behaviours), t


def test_registry_ticks_in_order_and_survives_a_broken_behaviour(capsys):
    log: list = []
    reg, t = make_registry(fake_behaviour("a", log, fail=True), fake_behaviour("b", log))
    reg.install()
    assert log == [("a", "install"), ("b", "install")]
    log.clear()
    reg.tick()
    assert log == [("a", 1000.0), ("b", 1000.0)]
    assert "broken behaviour" in capsys.readouterr().err
    reg.ctx.config.paused = True
    reg.tick()
    assert reg.clock.ticks == 1 and len(log) == 2


def test_registry_advance_ticks_through_the_time_in_between():
    log: list = []
    reg, _ = make_registry(fake_behaviour("a", log))
    reg.advance(2.5, step=1)
    assert [now for _, now in log] == [1001.0, 1002.0, 1002.5]
    assert reg.clock_info()["offset"] == 2.5 and reg.clock_info()["ticks"] == 3
    log.clear()
    reg.advance(3)  # default step: the tick knob (1.0 here)
    assert len(log) == 3
    with pytest.raises(ValueError):
        reg.advance(-1)


def test_time_scale_runs_the_clock_faster_than_real_time():
    from labsandbox.app import SimulatorThread

    log: list = []
    reg, t = make_registry(fake_behaviour("a", log))
    real = [50.0]
    sim = SimulatorThread(reg, monotonic=lambda: real[0])
    real[0] += 0.5
    sim.step()  # time_scale 1: real time only, nothing added
    assert reg.clock.offset == 0 and log == [("a", 1000.0)]
    reg.ctx.config.update({"time_scale": 10})
    real[0] += 0.5
    t.mono += 0.5
    sim.step()  # 0.5 s of real time is 5 s of sandbox time
    assert reg.clock.offset == pytest.approx(4.5)
    assert log[-1][1] == pytest.approx(1005.0)
    reg.ctx.config.paused = True
    real[0] += 1
    sim.step()  # paused: no compression and no tick
    assert reg.clock.offset == pytest.approx(4.5) and len(log) == 2
    with pytest.raises(ValueError):
        reg.ctx.config.update({"time_scale": 0.5})


def test_registry_state_and_force_dispatch():
    log: list = []
    reg, _ = make_registry(
        fake_behaviour("a", log, verb="widget", parts={"widgets": [1]}),
        fake_behaviour("b", log, verb="gadget", parts={"gadgets": []}),
    )
    state = reg.state()
    assert list(state) == ["clock", "config", "widgets", "gadgets"]
    assert reg.force({"gadget": "g1", "x": 1}) == {"by": "b", "body": {"gadget": "g1", "x": 1}}
    assert reg.force({"widget": "w"})["by"] == "a"
    with pytest.raises(KeyError):
        reg.force({"nothing": 1})
    with pytest.raises(ValueError):
        make_registry(fake_behaviour("a", log, verb="same"), fake_behaviour("b", log, verb="same"))


def test_every_registered_behaviour_follows_the_contract():
    names = [b.NAME for b in BEHAVIOURS]
    assert len(names) == len(set(names))
    verbs = [v for b in BEHAVIOURS for v in getattr(b, "FORCE", {})]
    assert {"service", "task", "targetGroup"} <= set(verbs)
    assert len(verbs) == len(set(verbs))
    for b in BEHAVIOURS:
        assert b.__doc__, b.NAME
        assert callable(b.install)


def test_advance_skips_retention_in_milliseconds(sandbox, session):
    """STOPPED tasks and INACTIVE services are kept for 600 s; advancing the
    clock makes them go without waiting."""
    lab = Lab(session, sandbox.endpoint)
    td = lab.task_definition()
    lab.service("keep", td, count=1)
    lab.service("gone", td, count=1)
    steady(lab, "keep", 1)
    steady(lab, "gone", 1)
    task = lab.tasks("keep")[0]["taskArn"]
    sandbox.control("POST", "force", {"task": task, "reason": "fast-forward test"})
    lab.ecs.update_service(cluster=lab.cluster, service="gone", desiredCount=0)
    lab.ecs.delete_service(cluster=lab.cluster, service="gone")
    wait_for(lambda: lab.describe("gone")["status"] == "INACTIVE", what="INACTIVE service")
    stopped = lambda: lab.ecs.describe_tasks(cluster=lab.cluster, tasks=[task])["tasks"]  # noqa: E731
    wait_for(lambda: stopped() and stopped()[0]["lastStatus"] == "STOPPED", what="STOPPED task")

    before = sandbox.control("GET", "clock")
    after = sandbox.control("POST", "advance", {"seconds": 605, "step": 50})
    assert after["offset"] - before["offset"] == pytest.approx(605)
    assert after["seconds"] - before["seconds"] >= 605
    assert after["ticks"] - before["ticks"] >= 13
    assert stopped() == []
    assert lab.ecs.describe_services(cluster=lab.cluster, services=["gone"])["failures"][0]["reason"] == "MISSING"
    # Timestamps the sandbox writes follow its clock.
    sandbox_now = datetime.fromisoformat(after["now"])
    assert (sandbox_now - datetime.now(timezone.utc)).total_seconds() > 600
    steady(lab, "keep", 1)  # its replacement task came up meanwhile
    lab.service("later", td, count=1)
    svc = steady(lab, "later", 1)
    assert (svc["events"][-1]["createdAt"] - datetime.now(timezone.utc)).total_seconds() > 600


def test_tick_with_seconds_moves_the_clock(sandbox):
    before = sandbox.control("GET", "clock")
    after = sandbox.control("POST", "tick", {"count": 3, "seconds": 2})
    assert after["ticks"] - before["ticks"] >= 3
    assert after["offset"] - before["offset"] == pytest.approx(6)
    with pytest.raises(urllib.error.HTTPError) as err:
        sandbox.control("POST", "advance", {"seconds": -1})
    assert err.value.code == 400
