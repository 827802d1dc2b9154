"""A small IAM identity-policy evaluator, enough to decide whether a task role
may call one action on one resource.

It reads the role's inline and attached managed policies from moto's IAM
backend and applies the usual order: an explicit Deny wins, otherwise an Allow
is needed.  Action and resource patterns use IAM's ``*``/``?`` wildcards (case
insensitive for actions).  Conditions, permission boundaries, SCPs and
resource policies are not evaluated.
"""

from __future__ import annotations

import fnmatch
import json
from typing import Any, Iterable

from moto.iam.models import iam_backends


def _as_list(value: Any) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _match(pattern: str, value: str, case_insensitive: bool) -> bool:
    if case_insensitive:
        return fnmatch.fnmatchcase(value.lower(), pattern.lower())
    return fnmatch.fnmatchcase(value, pattern)


def _statement_applies(stmt: dict, action: str, resource: str) -> bool:
    if "Action" in stmt:
        if not any(_match(p, action, True) for p in _as_list(stmt["Action"])):
            return False
    elif "NotAction" in stmt:
        if any(_match(p, action, True) for p in _as_list(stmt["NotAction"])):
            return False
    else:
        return False
    if "Resource" in stmt:
        return any(_match(p, resource, False) for p in _as_list(stmt["Resource"]))
    if "NotResource" in stmt:
        return not any(_match(p, resource, False) for p in _as_list(stmt["NotResource"]))
    return False


def _documents_for_role(role: Any) -> Iterable[dict]:
    for doc in getattr(role, "policies", {}).values():
        yield _parse(doc)
    for policy in getattr(role, "managed_policies", {}).values():
        for version in getattr(policy, "versions", []):
            if version.version_id == policy.default_version_id:
                yield _parse(version.document)


def _parse(doc: Any) -> dict:
    if isinstance(doc, dict):
        return doc
    try:
        return json.loads(doc)
    except (TypeError, ValueError):
        return {}


def find_role(account_id: str, role_arn: str) -> Any | None:
    try:
        return iam_backends[account_id]["global"].get_role_by_arn(role_arn)
    except Exception:
        # Accept a bare role name, too.
        try:
            return iam_backends[account_id]["global"].get_role(role_arn.split("/")[-1])
        except Exception:
            return None


def role_allows(account_id: str, role_arn: str, action: str, resource: str) -> bool:
    """True when the role's identity policies allow ``action`` on ``resource``."""
    role = find_role(account_id, role_arn)
    if role is None:
        return False
    allowed = False
    for doc in _documents_for_role(role):
        for stmt in _as_list(doc.get("Statement")):
            if not isinstance(stmt, dict) or not _statement_applies(stmt, action, resource):
                continue
            if stmt.get("Effect") == "Deny":
                return False
            if stmt.get("Effect") == "Allow":
                allowed = True
    return allowed
