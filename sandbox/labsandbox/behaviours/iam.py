"""IAM: keeping a fresh account cheap.

moto.iam.models.get_account_id_from runs on every request and touches
iam_backends[account][partition] for every account and partition, creating the
missing ones; with MOTO_IAM_LOAD_MANAGED_POLICIES each new backend parses the
~1,300 AWS-managed policies again (about 0.35 s), so a fresh account cost
seconds.  The patches look only at backends that exist (an access key can only
live in one) and parse the policy JSON once.

Policy evaluation for task roles is in ``labsandbox.iampolicy``.
No tick, state or force verbs.
"""

from __future__ import annotations

import json
from typing import Any

from moto.iam import models as iam_models

from .base import Context, first_install

NAME = "iam"


def install(context: Context) -> None:
    if first_install(__name__):
        _patch_moto()


def _patch_moto() -> None:
    def get_account_id_from(access_key: str) -> str:
        for account_id, account in list(dict.items(iam_models.iam_backends)):
            for backend in list(dict.values(account)):
                if access_key in backend.access_keys:
                    return account_id
        return iam_models.DEFAULT_ACCOUNT_ID

    iam_models.get_account_id_from = get_account_id_from

    parsed_policies: dict = {}

    def _init_aws_policies(self: Any) -> list:
        if not iam_models.load_iam_aws_managed_policies():
            return []
        if not parsed_policies:
            parsed_policies.update(json.loads(iam_models.aws_managed_policies_data))
        return [
            iam_models.AWSManagedPolicy.from_data(name, self.account_id, self.region_name, d)
            for name, d in parsed_policies.items()
        ]

    iam_models.IAMBackend._init_aws_policies = _init_aws_policies
