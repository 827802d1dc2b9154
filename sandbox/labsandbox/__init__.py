"""labsandbox: a local, loopback-only AWS sandbox for labrunner.

moto (server mode) supplies the AWS APIs; this package adds what moto keeps
static, one behaviour module per AWS area (``behaviours/``: ECS tasks and
services, target health, Cloud Map, metrics, alarms, auto scaling) driven by
one fast-forwardable clock, plus a DNS responder, an HTTP forward proxy
standing in for load balancers, CloudWatch over Smithy RPC v2 CBOR, fault
injection and a small control API under ``/_sandbox/``.

See docs/sandbox.md for the user-facing description.
"""
