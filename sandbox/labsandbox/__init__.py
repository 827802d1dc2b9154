"""labsandbox: a local, loopback-only AWS sandbox for labrunner.

moto (server mode) supplies the AWS APIs; this package adds what moto keeps
static: an ECS service/task lifecycle simulator, ELBv2 target health, Cloud Map
registration, a DNS responder, an HTTP forward proxy standing in for load
balancers, fault injection and a small control API under ``/_sandbox/``.

See docs/sandbox.md for the user-facing description.
"""
