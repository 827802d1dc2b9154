"""Real applications: a local process per RUNNING task for every image the app
map knows, so requests through the load-balancer proxy get the application's
own answers instead of the stand-in's.

The app map (``--apps FILE``, ``LABSANDBOX_APPS``, ``POST /_sandbox/apps``) is
a YAML or JSON file whose entries match images by glob and say how to run them
locally (``labsandbox.appmap``; docs/sandbox.md, "Real applications").  When
a task reaches RUNNING, each of its containers whose image matches an entry is
started as a process in a session (process group) of its own, listening on a
free 127.0.0.1 port, with the container's ``environment`` from the task
definition.  The process is stopped (SIGTERM to its group, SIGKILL after
``KILL_AFTER`` seconds) when the task is STOPPED, when moto is reset and when
the sandbox exits (:func:`shutdown`); on Linux it also gets SIGKILL if the
sandbox dies without cleaning up (``PR_SET_PDEATHSIG``).

An essential container's process that exits by itself stops its task as AWS
does (``stoppedReason`` "Essential container in task exited", ``stopCode``
EssentialContainerExited, the exit code on the container; the service replaces
the task).  A non-essential one only shows as STOPPED with its exit code.
What a process prints goes to the container's CloudWatch Logs stream when the
container uses the ``awslogs`` driver.

Routing (hooks of ``labsandbox.proxy``): a target the load balancer picks goes
to the process of the task behind it once the process accepts connections
(the stand-in answers until then, and for images the map does not know).  The
processes reach each other through the sandbox proxy (``HTTP_PROXY`` in their
environment, with a token naming the calling task): a host that is a Cloud Map
name ``<service>.<namespace>``, a Service Connect client alias or a task's
private IP, in the caller's account and region, goes to a RUNNING task's
process for that address and port.

State: ``apps`` in ``GET /_sandbox/state``.  No force verbs.
"""

from __future__ import annotations

import collections
import ctypes
import ipaddress
import itertools
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from moto.ecs.models import ecs_backends
from moto.servicediscovery.models import servicediscovery_backends

from .. import proxy
from ..appmap import AppEntry, expand, find_entry, load_all
from . import ecs_tasks, load_balancing
from .base import Context, backends, first_install
from .cloudmap import namespace_id_of

NAME = "apps"
ctx: Context

# Seconds between SIGTERM and SIGKILL when a process is stopped.
KILL_AFTER = 2.0
# How often the supervisor looks at its processes (real seconds).
POLL = 0.05
# Variables of the sandbox's own environment an application inherits.
BASE_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "SYSTEMROOT")
LOCAL = "127.0.0.1"


# ---------------------------------------------------------------------------
# The app map in use (labsandbox.appmap reads the files)
# ---------------------------------------------------------------------------


@dataclass
class Settings:
    files: list[str] = field(default_factory=list)
    entries: list[AppEntry] = field(default_factory=list)
    proxy_port: int | None = None


SETTINGS = Settings()


def configure(files: list[str] | None = None, proxy_port: int | None = None, entries: list[AppEntry] | None = None) -> list[AppEntry]:
    """Use these map files (read here unless their ``entries`` are given; all or
    nothing, later files' entries after earlier ones) and/or note the proxy port the
    applications are to use.  Tasks started from then on use the new map."""
    if files is not None:
        entries = load_all(files) if entries is None else entries
        SETTINGS.files, SETTINGS.entries = [os.path.abspath(f) for f in files], entries
    if proxy_port is not None:
        SETTINGS.proxy_port = proxy_port
    return SETTINGS.entries


def map_info() -> dict:
    """``GET /_sandbox/apps``: the map files, their entries and the processes."""
    return {"files": SETTINGS.files, "map": [e.as_dict() for e in SETTINGS.entries], "processes": state()["apps"]}


# ---------------------------------------------------------------------------
# Processes
# ---------------------------------------------------------------------------


@dataclass
class AppProcess:
    """One container's application, from its task's RUNNING to STOPPED."""

    task: Any  # the moto Task
    account: str
    region: str
    container: str
    image: str
    entry: AppEntry
    ip: str
    ports: set  # the ports the task serves this container on (container and host ports)
    essential: bool
    argv: list
    env: dict
    port: int  # where the process listens on 127.0.0.1
    token: str = field(default_factory=lambda: uuid.uuid4().hex)
    state: str = "starting"  # starting, ready, exited, stopping, stopped
    pid: int | None = None
    exit_code: int | None = None
    reported: bool = False
    proc: Any = None
    kill_at: float | None = None
    lines: collections.deque = field(default_factory=lambda: collections.deque(maxlen=2000))

    @property
    def task_arn(self) -> str:
        return self.task.task_arn

    def as_dict(self) -> dict:
        return {
            "task": self.task_arn, "container": self.container, "image": self.image, "app": self.entry.name,
            "state": self.state, "pid": self.pid, "port": self.port, "address": f"{self.ip}:{','.join(map(str, sorted(self.ports)))}",
            "exitCode": self.exit_code,
        }


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOCAL, 0))
        return s.getsockname()[1]


def accepts(port: int) -> bool:
    try:
        with socket.create_connection((LOCAL, port), timeout=0.2):
            return True
    except OSError:
        return False


def _death_signal() -> Any:
    """A ``preexec_fn`` that has Linux kill the child when the supervisor thread that
    started it goes away, or None elsewhere."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def preexec() -> None:
        prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        if os.getppid() != parent:  # the sandbox died before prctl
            os._exit(1)

    return preexec


class Supervisor:
    """Starts, watches and stops the application processes on a thread of its own.

    Hooks and ticks (which hold the global lock) only queue work and read flags, so
    nothing that waits on a process ever holds the lock.  Processes are started from
    this one long-lived thread because Linux's parent-death signal follows the thread
    that forked."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.procs: dict[tuple[str, str], AppProcess] = {}
        self.commands: queue.Queue = queue.Queue()
        self.thread: threading.Thread | None = None
        self.closed = False  # after shutdown nothing starts any more
        self._preexec = _death_signal()

    # -- called from other threads -----------------------------------------

    def start(self, rec: AppProcess) -> None:
        with self.lock:
            old = self.procs.get((rec.task_arn, rec.container))
            if old is not None and old.state in ("starting", "ready"):
                return
            self.procs[(rec.task_arn, rec.container)] = rec
        self._submit("start", rec)

    def stop(self, rec: AppProcess) -> None:
        if rec.state in ("starting", "ready", "exited"):
            self._submit("stop", rec)

    def records(self) -> list[AppProcess]:
        with self.lock:
            return list(self.procs.values())

    def by_token(self, token: str) -> AppProcess | None:
        with self.lock:
            return next((r for r in self.procs.values() if r.token == token), None)

    def _submit(self, op: str, rec: AppProcess) -> None:
        if self.thread is None or not self.thread.is_alive():
            self.thread = threading.Thread(target=self._run, name="labsandbox-apps", daemon=True)
            self.thread.start()
        self.commands.put((op, rec))

    # -- the supervisor thread -----------------------------------------------

    def _run(self) -> None:
        while True:
            try:
                op, rec = self.commands.get(timeout=POLL)
                (self._spawn if op == "start" else self._terminate)(rec)
                continue
            except queue.Empty:
                pass
            except Exception:  # one broken app must not stop the others
                import traceback

                traceback.print_exc()
            self._watch()

    def _spawn(self, rec: AppProcess) -> None:
        if rec.state != "starting" or self.closed:
            return
        try:
            rec.proc = subprocess.Popen(
                rec.argv, cwd=rec.entry.cwd, env=rec.env, stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
                preexec_fn=self._preexec,
            )
        except OSError as exc:
            rec.lines.append(f"cannot start {rec.argv[0]!r} in {rec.entry.cwd}: {exc.strerror or exc}")
            rec.exit_code, rec.state = 127, "exited"
            return
        rec.pid = rec.proc.pid
        threading.Thread(target=_read_output, args=(rec,), name=f"labsandbox-app-{rec.pid}", daemon=True).start()

    def _terminate(self, rec: AppProcess) -> None:
        if rec.state in ("stopping", "stopped"):
            return
        if rec.proc is None or rec.proc.poll() is not None:
            self._finish(rec)
            return
        rec.state = "stopping"
        _signal_group(rec, signal.SIGTERM)
        rec.kill_at = time.monotonic() + KILL_AFTER

    def _finish(self, rec: AppProcess) -> None:
        _signal_group(rec, signal.SIGKILL)  # anything the app left in its group
        if rec.proc is not None and rec.exit_code is None:
            rec.exit_code = rec.proc.returncode
        rec.state = "stopped"
        with self.lock:
            if self.procs.get((rec.task_arn, rec.container)) is rec:
                del self.procs[(rec.task_arn, rec.container)]

    def _watch(self) -> None:
        for rec in self.records():
            if rec.proc is None:
                continue
            code = rec.proc.poll()
            if rec.state == "stopping":
                if code is not None:
                    self._finish(rec)
                elif rec.kill_at is not None and time.monotonic() >= rec.kill_at:
                    _signal_group(rec, signal.SIGKILL)
            elif code is not None and rec.state in ("starting", "ready"):
                rec.exit_code, rec.state = code, "exited"
            elif rec.state == "starting" and accepts(rec.port):
                rec.state = "ready"

    # -- shutdown ------------------------------------------------------------

    def shutdown(self, timeout: float = KILL_AFTER) -> None:
        """Stop every process now and wait (at most ``timeout``) for them to go."""
        self.closed = True
        recs = self.records()
        for rec in recs:
            _signal_group(rec, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for rec in recs:
            if rec.proc is None:
                continue
            try:
                rec.proc.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
            _signal_group(rec, signal.SIGKILL)
            try:
                rec.proc.wait(1.0)
            except subprocess.TimeoutExpired:
                pass
            rec.state = "stopped"
        with self.lock:
            self.procs.clear()


def _signal_group(rec: AppProcess, sig: int) -> None:
    if rec.pid is None:
        return
    try:
        os.killpg(rec.pid, sig)  # start_new_session: the group id is the pid
    except (ProcessLookupError, PermissionError):
        pass


def _read_output(rec: AppProcess) -> None:
    for raw in rec.proc.stdout:
        rec.lines.append(raw.decode("utf-8", "replace").rstrip("\r\n"))
    rec.proc.stdout.close()


SUPERVISOR = Supervisor()


def shutdown() -> None:
    """Stop every application process (the sandbox is exiting)."""
    SUPERVISOR.shutdown()


# ---------------------------------------------------------------------------
# Install, hooks
# ---------------------------------------------------------------------------


def install(context: Context) -> None:
    global ctx
    ctx = context
    if first_install(__name__):
        ecs_tasks.HOOKS.running.append(_start_task_apps)
        ecs_tasks.HOOKS.stopped.append(_stop_task_apps)
        proxy.TARGET_APPS.append(target_upstream)
        proxy.HOST_APPS.append(host_upstream)


def reset() -> None:
    """moto's tasks are gone: so are their applications."""
    for rec in SUPERVISOR.records():
        SUPERVISOR.stop(rec)


def _served_ports(task: Any, cdef: dict) -> set:
    ports = set()
    for pm in cdef.get("portMappings") or []:
        if pm.get("containerPort") is None:
            continue
        cport = int(pm["containerPort"])
        ports.add(cport)
        ports.add(int(task._sbx.host_ports.get(cport, cport)))
    return ports


def _first_port(cdef: dict) -> str:
    for pm in cdef.get("portMappings") or []:
        if pm.get("containerPort") is not None:
            return str(pm["containerPort"])
    return ""


def app_env(cdef: dict, entry: AppEntry, values: dict[str, str], region: str, token: str) -> dict:
    """The process environment: a few of the sandbox's own variables, the region, the
    container's ``environment``, the entry's ``env`` (placeholders expanded; it wins),
    the sandbox proxy for outgoing HTTP(S) and its CA."""
    env = {k: os.environ[k] for k in BASE_ENV if k in os.environ}
    env.update(AWS_REGION=region, AWS_DEFAULT_REGION=region)
    for pair in cdef.get("environment") or []:
        if pair.get("name"):
            env[pair["name"]] = str(pair.get("value", ""))
    env.update({k: expand(v, values) for k, v in entry.env})
    if SETTINGS.proxy_port:
        url = f"http://task:{token}@{LOCAL}:{SETTINGS.proxy_port}"
        for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy"):
            env[name] = url
        env["NO_PROXY"] = env["no_proxy"] = f"{LOCAL},localhost"
    if proxy.TLS is not None:  # trust what the proxy presents on HTTPS listeners
        for name in ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
            env[name] = proxy.TLS.ca_file
    return env


def make_process(task: Any, cdef: dict, entry: AppEntry, account: str, region: str) -> AppProcess:
    port = free_port()
    token = uuid.uuid4().hex
    values = {
        "port": str(port), "host": LOCAL, "python": sys.executable, "dir": entry.cwd,
        "container_port": _first_port(cdef), "image": cdef.get("image") or "", "container": cdef.get("name") or "",
        "task_id": task.id,
    }
    return AppProcess(
        task=task, account=account, region=region, container=cdef.get("name") or "", image=cdef.get("image") or "",
        entry=entry, ip=task._sbx.ip, ports=_served_ports(task, cdef), essential=cdef.get("essential", True) is not False,
        argv=[expand(a, values) for a in entry.command], env=app_env(cdef, entry, values, region, token), port=port,
        token=token,
    )


def _start_task_apps(backend: Any, task: Any) -> None:
    if not SETTINGS.entries:
        return
    td = ecs_tasks.task_definition_for(backend, task.task_definition_arn)
    for cdef in td.container_definitions if td is not None else []:
        entry = find_entry(SETTINGS.entries, cdef.get("image") or "")
        if entry is not None:
            SUPERVISOR.start(make_process(task, cdef, entry, backend.account_id, backend.region_name))


def _stop_task_apps(task: Any) -> None:
    for rec in SUPERVISOR.records():
        if rec.task is task:
            SUPERVISOR.stop(rec)


# ---------------------------------------------------------------------------
# The tick: exits, logs, leftovers
# ---------------------------------------------------------------------------


def tick(now: float) -> None:
    for rec in SUPERVISOR.records():
        _flush_logs(rec)
        if rec.state == "exited" and not rec.reported:
            rec.reported = True
            _container_exited(rec)
        elif rec.task.last_status == "STOPPED":
            SUPERVISOR.stop(rec)  # stopped without the hook (should not happen)


def _flush_logs(rec: AppProcess) -> None:
    lines = []
    while rec.lines:
        lines.append(rec.lines.popleft())
    if lines:
        backend = ecs_backends[rec.account][rec.region]
        ecs_tasks.write_logs(backend, rec.task, lines, container=rec.container)


def _container_exited(rec: AppProcess) -> None:
    """What ECS shows when a container's process ends by itself."""
    task = rec.task
    if task.desired_status == "STOPPED":
        return  # being stopped anyway
    for c in task.containers:
        if getattr(c, "name", None) == rec.container:
            c.exit_code = c.exitCode = rec.exit_code
            c.last_status = "STOPPED"
    if rec.essential:
        ecs_tasks.request_stop(task, "Essential container in task exited", "EssentialContainerExited", failure=True)


def state() -> dict:
    return {"apps": [r.as_dict() for r in SUPERVISOR.records()]}


# ---------------------------------------------------------------------------
# Routing (called by the proxy with the lock held)
# ---------------------------------------------------------------------------

_round_robin = itertools.count()


def _ready(recs: list[AppProcess]) -> AppProcess | None:
    ready = [r for r in recs if r.state == "ready"]
    return ready[next(_round_robin) % len(ready)] if ready else None


def target_upstream(backend: Any, tg: Any, target: dict) -> proxy.Upstream | None:
    """The process behind a load-balancer target, once it listens."""
    task_arn = load_balancing.task_of_target(tg, target)
    if not task_arn:
        return None
    port = int(target.get("Port") or 0)
    recs = [r for r in SUPERVISOR.records() if r.task_arn == task_arn and port in r.ports]
    rec = _ready(recs)
    return proxy.Upstream(rec.port, rec.task_arn, f"{target['Id']}:{port}") if rec else None


def host_upstream(host: str, port: int, caller: str | None) -> proxy.Upstream | None:
    """A Cloud Map name, Service Connect alias or task IP, in the calling task's
    account and region (any, for callers that are not tasks)."""
    rec = SUPERVISOR.by_token(caller) if caller else None
    scope = (rec.account, rec.region) if rec else None
    addresses = resolve(host.lower().rstrip("."), port, scope)
    if not addresses:
        return None
    recs = [
        r for r in SUPERVISOR.records()
        if _in_scope(r.account, r.region, scope) and any(r.ip == ip and p in r.ports for ip, p in addresses)
    ]
    chosen = _ready(recs)
    if chosen is not None:
        return proxy.Upstream(chosen.port, chosen.task_arn, f"{chosen.ip}:{port}")
    ip, p = addresses[next(_round_robin) % len(addresses)]
    return proxy.Upstream(None, "", f"{ip}:{p}")  # no process listens there: the stand-in


def _in_scope(account: str, region: str, scope: tuple[str, str] | None) -> bool:
    return scope is None or (account, region) == scope


def resolve(host: str, port: int, scope: tuple[str, str] | None) -> list[tuple[str, int]]:
    """The (task IP, port) pairs a request to host:port reaches: a RUNNING task's own
    IP, the instances of a Cloud Map service ``<service>.<namespace>``, or those behind
    a Service Connect client alias on that port; only ports the task serves count."""
    try:
        ipaddress.ip_address(host)
        found = [(host, port)]
    except ValueError:
        found = _cloudmap_addresses(host, port, scope) + _alias_addresses(host, port, scope)
    served = _served_endpoints(scope)
    return [a for a in dict.fromkeys(found) if a in served]


def _served_endpoints(scope: tuple[str, str] | None) -> set:
    """(IP, port) of every port mapping of the RUNNING tasks in scope."""
    out = set()
    for acct, region, backend in backends(ecs_backends):
        if not _in_scope(acct, region, scope):
            continue
        for tasks in backend.tasks.values():
            for task in tasks.values():
                ts = getattr(task, "_sbx", None)
                if ts is None or task.last_status != "RUNNING" or task.desired_status != "RUNNING":
                    continue
                td = ecs_tasks.task_definition_for(backend, task.task_definition_arn)
                for cdef in td.container_definitions if td is not None else []:
                    out.update((ts.ip, p) for p in _served_ports(task, cdef))
    return out


def _instances(sd_service: Any) -> list:
    return list(getattr(sd_service, "instances", None) or [])


def _cloudmap_addresses(host: str, port: int, scope: tuple[str, str] | None) -> list[tuple[str, int]]:
    out = []
    for acct, region, sd in backends(servicediscovery_backends):
        if not _in_scope(acct, region, scope):
            continue
        for svc in sd.services.values():
            ns = sd.namespaces.get(namespace_id_of(svc))
            if ns is not None and f"{svc.name}.{ns.name}".lower() == host:
                out += [(i.attributes["AWS_INSTANCE_IPV4"], port) for i in _instances(svc) if i.attributes.get("AWS_INSTANCE_IPV4")]
    return out


def _alias_addresses(host: str, port: int, scope: tuple[str, str] | None) -> list[tuple[str, int]]:
    out = []
    for acct, region, backend in backends(ecs_backends):
        if not _in_scope(acct, region, scope):
            continue
        for service in backend.services.values():
            scc = getattr(service, "service_connect_configuration", None) or {}
            if not scc.get("enabled"):
                continue
            for entry in scc.get("services") or []:
                aliases = [a for a in entry.get("clientAliases") or [] if (a.get("dnsName") or "").lower() == host]
                if any(int(a.get("port") or 0) == port for a in aliases):
                    out += _discovery_addresses(acct, region, entry.get("discoveryName") or entry.get("portName"), port)
    return out


def _discovery_addresses(acct: str, region: str, name: str | None, port: int) -> list[tuple[str, int]]:
    out = []
    sd = servicediscovery_backends[acct][region]
    for svc in sd.services.values():
        if svc.name != name:
            continue
        for i in _instances(svc):
            ip = i.attributes.get("AWS_INSTANCE_IPV4")
            if ip:
                out.append((ip, int(i.attributes.get("AWS_INSTANCE_PORT") or port)))
    return out
