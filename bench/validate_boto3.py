"""The boto3 side of bench/validate: what `labrunner validate` does, written the way an instructor
would with boto3 and a thread pool, and the sandbox's own ceiling.

  python bench/validate_boto3.py class.csv [--threads 16] [--policy FILE]
      per account: AssumeRole (OrganizationAccountAccessRole, 900 s, the session policy from
      FILE when given), then the lab's four describes (cluster, log group, task definition,
      table), `--threads` accounts at a time; prints one JSON line:
      {"accounts", "complete", "seconds", "calls", "calls_per_second"}

  python bench/validate_boto3.py --setup N class.csv [--threads 16]
      makes N student accounts (ids 700000000000 + i) that completed the lab: the cluster, the
      log group, the task definition and the table, created in each account through moto's
      `x-moto-account-id` header (one client per thread, not one per account: boto3 clients
      are slow to make); writes the class list

  python bench/validate_boto3.py --raw SECONDS [--threads 16]
      the ceiling: `--threads` threads, each with its own client made beforehand, call
      ecs:DescribeClusters (signed, instructor credentials) as fast as the sandbox answers for
      SECONDS; prints {"threads", "seconds", "calls", "calls_per_second"}

The endpoint, keys and region come from the environment (scripts/sandbox env).
"""

import argparse
import concurrent.futures as cf
import json
import sys
import threading
import time

import boto3
import botocore.config

CONFIG = botocore.config.Config(max_pool_connections=64, retries={"mode": "standard", "max_attempts": 4})


def validate(path, threads, policy):
    accounts = [line.split(",")[0] for line in open(path).read().splitlines()[1:] if line.strip()]
    # One session per thread (sessions are not thread-safe; a session caches the service models,
    # so making an account's clients from it is the cheap way), and one STS client per thread.
    local = threading.local()

    def session():
        if not hasattr(local, "session"):
            local.session = boto3.session.Session()
            local.sts = local.session.client("sts", config=CONFIG)
        return local.session

    def sts():
        session()
        return local.sts

    def one(acct):
        kwargs = dict(
            RoleArn=f"arn:aws:iam::{acct}:role/OrganizationAccountAccessRole",
            RoleSessionName="boto3-validate",
            DurationSeconds=900,
        )
        if policy:
            kwargs["Policy"] = policy
        c = sts().assume_role(**kwargs)["Credentials"]
        keys = dict(
            aws_access_key_id=c["AccessKeyId"],
            aws_secret_access_key=c["SecretAccessKey"],
            aws_session_token=c["SessionToken"],
            config=CONFIG,
        )
        ecs = session().client("ecs", **keys)
        logs = session().client("logs", **keys)
        ddb = session().client("dynamodb", **keys)
        ok = 0
        clusters = ecs.describe_clusters(clusters=["class-demo-cluster"])["clusters"]
        ok += bool(clusters and clusters[0]["status"] == "ACTIVE")
        groups = logs.describe_log_groups(logGroupNamePrefix="/ecs/class-demo")["logGroups"]
        ok += any(g["logGroupName"] == "/ecs/class-demo" for g in groups)
        try:
            ecs.describe_task_definition(taskDefinition="class-demo-web")
            ok += 1
        except ecs.exceptions.ClientException:
            pass
        try:
            ok += ddb.describe_table(TableName="class-demo-items")["Table"]["TableStatus"] == "ACTIVE"
        except ddb.exceptions.ResourceNotFoundException:
            pass
        return ok == 4

    started = time.monotonic()
    with cf.ThreadPoolExecutor(threads) as pool:
        results = list(pool.map(one, accounts))
    seconds = time.monotonic() - started
    calls = 5 * len(accounts)
    return {
        "accounts": len(accounts),
        "complete": sum(results),
        "threads": threads,
        "seconds": round(seconds, 2),
        "calls": calls,
        "calls_per_second": round(calls / seconds, 1),
    }


def setup(n, path, threads):
    local = threading.local()

    def clients():
        if not hasattr(local, "ecs"):
            session = boto3.session.Session()
            local.account = None
            local.ecs = session.client("ecs", config=CONFIG)
            local.logs = session.client("logs", config=CONFIG)
            local.ddb = session.client("dynamodb", config=CONFIG)
            for client in (local.ecs, local.logs, local.ddb):
                client.meta.events.register("before-send.*.*", lambda request, **_: request.headers.__setitem__("x-moto-account-id", local.account))
        return local

    def make(i):
        acct = f"{700000000000 + i:012d}"
        c = clients()
        c.account = acct
        c.ecs.create_cluster(clusterName="class-demo-cluster")
        c.logs.create_log_group(logGroupName="/ecs/class-demo")
        c.ecs.register_task_definition(family="class-demo-web", containerDefinitions=[{"name": "web", "image": "nginx", "memory": 128}])
        c.ddb.create_table(
            TableName="class-demo-items",
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
        )
        return f"{acct},student {i},s{i}@example.com"

    started = time.monotonic()
    with cf.ThreadPoolExecutor(threads) as pool:
        rows = list(pool.map(make, range(n)))
    with open(path, "w") as f:
        f.write("account_id,name,email\n" + "\n".join(rows) + "\n")
    return {"accounts": n, "seconds": round(time.monotonic() - started, 2)}


def raw(seconds, threads):
    clients = [boto3.session.Session().client("ecs", config=CONFIG) for _ in range(threads)]
    counts = [0] * threads
    deadline = time.monotonic() + seconds

    def hammer(i):
        while time.monotonic() < deadline:
            clients[i].describe_clusters(clusters=["class-demo-cluster"])
            counts[i] += 1

    started = time.monotonic()
    with cf.ThreadPoolExecutor(threads) as pool:
        list(pool.map(hammer, range(threads)))
    elapsed = time.monotonic() - started
    return {
        "threads": threads,
        "seconds": round(elapsed, 2),
        "calls": sum(counts),
        "calls_per_second": round(sum(counts) / elapsed, 1),
    }


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("accounts", nargs="?")
    p.add_argument("--threads", type=int, default=16)
    p.add_argument("--policy", help="file holding the session policy to send with AssumeRole")
    p.add_argument("--raw", type=float, metavar="SECONDS")
    p.add_argument("--setup", type=int, metavar="N")
    a = p.parse_args()
    if a.setup:
        if not a.accounts:
            p.error("--setup N needs the class list file to write")
        out = setup(a.setup, a.accounts, a.threads)
    elif a.raw:
        out = raw(a.raw, a.threads)
    elif a.accounts:
        policy = open(a.policy).read() if a.policy else None
        out = validate(a.accounts, a.threads, policy)
    else:
        p.error("give the accounts file, or --raw SECONDS")
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
