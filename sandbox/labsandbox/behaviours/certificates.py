"""ACM certificates and HTTPS listeners.

moto issues a requested (AMAZON_ISSUED) certificate after a fixed wait
whether or not anyone validated it.  Here a certificate requested with DNS
validation stays ``PENDING_VALIDATION`` until, for every domain it covers, the
validation CNAME that ``describe-certificate`` shows
(``DomainValidationOptions[].ResourceRecord``) exists in a public Route 53
hosted zone of the same account; the next tick then makes it ``ISSUED``.
Imported certificates are ``ISSUED`` at once (moto's behaviour).

An HTTPS or TLS listener (create-listener, add-listener-certificates) must
name a certificate that exists and is ``ISSUED``; otherwise ELB's
``CertificateNotFound`` error.  The load-balancer proxy serves HTTPS
listeners for ``https://`` URLs, terminating TLS with a sandbox-signed
certificate for the names of the listener's ACM certificate
(``certificate_names``), and honours 80 -> 443 redirect actions (see
``proxy``).

No state or force verbs.
"""

from __future__ import annotations

from typing import Any

from moto.acm import models as acm_models
from moto.acm.models import acm_backends
from moto.elbv2 import models as elbv2_models
from moto.elbv2.exceptions import ELBClientError
from moto.route53.models import route53_backends

from .base import Context, backends, first_install, patch

NAME = "certificates"
ctx: Context


class CertificateNotFound(ELBClientError):
    def __init__(self, arn: str) -> None:
        super().__init__("CertificateNotFound", f"Certificate '{arn}' not found")


def install(context: Context) -> None:
    global ctx
    ctx = context
    if first_install(__name__):
        _patch_moto()


def _patch_moto() -> None:
    # CertBundle.check issues pending certificates after MOTO_ACM_VALIDATION_WAIT
    # seconds; validation is the tick's job here.
    @patch(acm_models.CertBundle, "check")
    def check(original: Any, self: Any) -> None:
        if self.type == "AMAZON_ISSUED" and self.status == "PENDING_VALIDATION":
            return
        original(self)

    @patch(elbv2_models.ELBv2Backend, "create_listener")
    def create_listener(original: Any, self: Any, load_balancer_arn: str, protocol: str, port: str, ssl_policy: str, certificate: str | None, *args: Any, **kwargs: Any) -> Any:
        if certificate:
            _require_issued(self.account_id, certificate)
        return original(self, load_balancer_arn, protocol, port, ssl_policy, certificate, *args, **kwargs)

    if hasattr(elbv2_models.ELBv2Backend, "add_listener_certificates"):

        @patch(elbv2_models.ELBv2Backend, "add_listener_certificates")
        def add_listener_certificates(original: Any, self: Any, arn: str, certificates: list, *args: Any, **kwargs: Any) -> Any:
            for cert in certificates or []:
                _require_issued(self.account_id, cert.get("CertificateArn", ""))
            return original(self, arn, certificates, *args, **kwargs)


def _require_issued(account_id: str, arn: str) -> None:
    if ":acm:" not in arn:
        return  # IAM server certificates: left to moto
    region = arn.split(":")[3]
    bundle = acm_backends[account_id][region]._certificates.get(arn)
    if bundle is None or bundle.status != "ISSUED":
        raise CertificateNotFound(arn)


def certificate_names(account_id: str, arn: str) -> list[str]:
    """The names (domain and alternative names) an ACM certificate covers; []
    when it is not an ACM certificate of the account or is gone."""
    if ":acm:" not in arn:
        return []
    per_account = dict.get(acm_backends, account_id)
    acm = dict.get(per_account, arn.split(":")[3]) if per_account is not None else None
    bundle = acm._certificates.get(arn) if acm is not None else None
    if bundle is None:
        return []
    cert = bundle.describe()["Certificate"]
    names = [cert["DomainName"], *(cert.get("SubjectAlternativeNames") or [])]
    return [n.lower() for n in dict.fromkeys(names)]


def validation_records(bundle: Any) -> list[str]:
    """The CNAME names DNS validation needs, as describe-certificate shows them."""
    options = bundle.describe()["Certificate"].get("DomainValidationOptions") or []
    return [o["ResourceRecord"]["Name"].rstrip(".").lower() for o in options if o.get("ResourceRecord")]


def _cnames(account_id: str) -> set[str]:
    out: set[str] = set()
    per_account = dict.get(route53_backends, account_id)
    if per_account is None:
        return out
    for r53 in list(dict.values(per_account)):
        for zone in r53.zones.values():
            if zone.private_zone:
                continue  # ACM validates through public DNS
            for rr in zone.rrsets:
                if rr.type == "CNAME":
                    out.add(rr.name.rstrip(".").lower())
    return out


def tick(now: float) -> None:
    for account, _, acm in backends(acm_backends):
        pending = [b for b in acm._certificates.values() if b.type == "AMAZON_ISSUED" and b.status == "PENDING_VALIDATION"]
        if not pending:
            continue
        cnames = _cnames(account)
        for bundle in pending:
            names = validation_records(bundle)
            if names and all(n in cnames for n in names):
                bundle.status = "ISSUED"
