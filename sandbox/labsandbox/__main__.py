"""Run the sandbox: ``python -m labsandbox --port P [--dns-port D] [--proxy-port X] [--apps FILE]...``.

Each port 0 (the default for DNS and proxy) lets the OS pick a free one.  When
everything listens, one line goes to stdout:

    LABSANDBOX READY {"port": P, "dns_port": D, "proxy_port": X, "pid": N, "endpoint": "http://127.0.0.1:P", "ca_file": F}

``ca_file`` is the PEM certificate of the CA that signs what the proxy presents
on HTTPS listeners (see ``proxy``).

With ``--exit-on-stdin-eof`` the server exits when its standard input closes,
so a parent that dies (a test binary, say) takes the sandbox with it.

``--apps FILE`` (repeatable; default: ``LABSANDBOX_APPS``, files separated by
``:``) names app maps: images the sandbox runs as local processes
(``behaviours.apps``).  Every way out (SIGTERM, SIGINT, stdin closing) stops
those processes first.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="labsandbox")
    parser.add_argument("--port", type=int, default=0, help="AWS endpoint + /_sandbox control port (0 = free)")
    parser.add_argument("--dns-port", type=int, default=0, help="UDP DNS responder port (0 = free)")
    parser.add_argument("--proxy-port", type=int, default=0, help="HTTP proxy port (0 = free)")
    parser.add_argument("--exit-on-stdin-eof", action="store_true", help="exit when stdin closes")
    parser.add_argument("--verbose", action="store_true", help="log every request")
    parser.add_argument("--apps", action="append", metavar="FILE", help="app map: images to run as local processes (repeatable)")
    args = parser.parse_args(argv)

    from . import appmap

    # A bad app map stops the start before the (slow) import of moto.
    app_files = args.apps if args.apps is not None else appmap.files_from_env()
    try:
        app_entries = appmap.load_all(app_files)
    except appmap.MapError as exc:
        parser.exit(2, f"labsandbox: app map: {exc}\n")

    # Must be set before moto reads them.  MOTO_ACCOUNT_ID would pin every
    # request to one account and break multi-account isolation.
    os.environ["MOTO_IAM_LOAD_MANAGED_POLICIES"] = "true"
    if os.environ.pop("MOTO_ACCOUNT_ID", None):
        print("labsandbox: ignoring MOTO_ACCOUNT_ID", file=sys.stderr)

    from moto.moto_server.werkzeug_app import MotoRequestHandler
    from werkzeug.serving import make_server

    from .app import SandboxApp, SimulatorThread
    from .behaviours import apps
    from .dns import DnsServer
    from .proxy import ProxyServer
    apps.configure(app_files, entries=app_entries)

    if not args.verbose:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)

    dns = DnsServer(args.dns_port)
    proxy = ProxyServer(args.proxy_port)
    ports = {"dns_port": dns.port, "proxy_port": proxy.port}
    apps.configure(proxy_port=proxy.port)
    app = SandboxApp(ports)
    server = make_server("127.0.0.1", args.port, app, threaded=True, request_handler=MotoRequestHandler)
    port = server.server_port
    ports["port"] = port
    os.environ["MOTO_PORT"] = str(port)  # moto uses it when calling itself

    sim = SimulatorThread(app.registry)
    dns.start()
    proxy.start()
    sim.start()

    def shutdown(*_: object) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, shutdown)
    signal.signal(signal.SIGINT, shutdown)
    if args.exit_on_stdin_eof:

        def watch_stdin() -> None:
            try:
                while sys.stdin.buffer.read(4096):
                    pass
            finally:
                apps.shutdown()
                proxy.remove_tls_files()
                os._exit(0)

        threading.Thread(target=watch_stdin, name="labsandbox-stdin", daemon=True).start()

    ready = {
        "port": port, "dns_port": dns.port, "proxy_port": proxy.port, "pid": os.getpid(),
        "endpoint": f"http://127.0.0.1:{port}", "ca_file": proxy.ca_file,
    }
    print("LABSANDBOX READY " + json.dumps(ready), flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        sim.stop.set()
        apps.shutdown()
        proxy.close()
        dns.sock.close()
        sys.stdout.flush()
        # Daemon threads (stdin watcher, request threads) must not block the
        # interpreter's shutdown.
        os._exit(0)


if __name__ == "__main__":
    main()
