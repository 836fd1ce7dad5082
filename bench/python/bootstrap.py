"""The comparison the warm family measures our webhook against (issue 9): a straightforward
Python 3 / boto3 Lambda doing the same sync on the same emulators, with the same remote
calls, so the two CPU times per sync compare the code and not the work.

Per delivery: verify Heroku's HMAC signature, one consistent Query of the app's partition,
the release's config vars from Heroku, a lease (a transaction on the header and the link
items to write), the env var's secret, the commit (a transaction), one change event;
a delivery that changes no value saves the release in one transaction; a duplicate is
answered after the Query. No retries beyond boto3's own, no metrics: a straightforward
handler, not a second product.

It speaks the Lambda Runtime API itself (what `awslambdaric` does, without building it),
reads the same environment as the webhook function, and is started by the bench
(`run_baseline` in `bench/src/warm.rs`) like a bootstrap. Like ours it keeps each link's
history to its newest 20 entries, stored as ours is (one JSON string), so every sync reads
and writes items of the same size and shape.
"""

import base64
import hashlib
import hmac
import json
import os
import time
import uuid

import boto3
import urllib3
from botocore.config import Config

CA = os.environ["SSL_CERT_FILE"]
TABLE = os.environ["TABLE_NAME"]
PREFIX = os.environ["SECRET_PREFIX"].rstrip("/")
HEROKU = os.environ["HEROKU_API_URL"].rstrip("/")
KEY_ID = os.environ["WEBHOOK_SIGNING_KEY_ID"]
BUS = os.environ.get("EVENT_BUS_NAME", "default")
RUNTIME = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2018-06-01/runtime/invocation"
LEASE_MS = 20_000
HISTORY_LEN = 20

_cfg = Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=1, read_timeout=2)
ddb = boto3.client("dynamodb", verify=CA, config=_cfg)
sm = boto3.client("secretsmanager", verify=CA, config=_cfg)
events = boto3.client("events", verify=CA, config=_cfg)
# Kept-alive connections, as boto3's own and our Rust clients keep them.
https = urllib3.PoolManager(ca_certs=CA, cert_reqs="CERT_REQUIRED")
runtime = urllib3.PoolManager()

_key = None
_tokens = {}


def signing_key():
    global _key
    if _key is None:
        _key = sm.get_secret_value(SecretId=KEY_ID)["SecretString"].encode()
    return _key


def heroku_token(project):
    if project not in _tokens:
        raw = sm.get_secret_value(SecretId=f"{PREFIX}/heroku-tokens/{project}")["SecretString"]
        _tokens[project] = json.loads(raw)["access_token"]
    return _tokens[project]


def fingerprint(link_key, value):
    return hashlib.sha256(
        b"heroku-db-url-sync/v1\0" + link_key.encode() + b"\0" + value.encode()
    ).hexdigest()


def answer(status, body=None):
    if body is None:
        return {"statusCode": status}
    return {"statusCode": status, "headers": {"content-type": "application/json"},
            "body": json.dumps(body)}


def now_rfc3339():
    """Now to the nanosecond, as ours writes its timestamps (same item sizes)."""
    ns = time.time_ns()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns // 10**9)) + f".{ns % 10**9:09d}Z"


def config_vars(project, app_id, version):
    r = https.request(
        "GET", f"{HEROKU}/apps/{app_id}/releases/{version}/config-vars",
        headers={"Authorization": "Bearer " + heroku_token(project),
                 "Accept": "application/vnd.heroku+json; version=3"},
        timeout=5.0,
    )
    if r.status != 200:
        raise RuntimeError(f"Heroku answered {r.status}")
    return json.loads(r.data)


def header_update(app_id, set_expr, values, condition, remove=""):
    expr = "SET " + set_expr + (" REMOVE " + remove if remove else "")
    return {"Update": {
        "TableName": TABLE,
        "Key": {"pk": {"S": "APP#" + app_id}, "sk": {"S": "APP"}},
        "UpdateExpression": expr,
        "ConditionExpression": condition,
        "ExpressionAttributeNames": {"#g": "generation"},
        "ExpressionAttributeValues": values,
    }}


def history_after(link, entry):
    """The link's history with `entry` appended, as stored: one JSON string of the newest
    HISTORY_LEN entries (an item an older version wrote holds a list: started afresh)."""
    stored = link.get("history", {}).get("S")
    history = json.loads(stored) if stored else []
    history.append(entry)
    return json.dumps(history[-HISTORY_LEN:], separators=(",", ":"))


def link_update(app_id, link, expr, values):
    upd = {
        "TableName": TABLE,
        "Key": {"pk": {"S": "APP#" + app_id}, "sk": link["sk"]},
        "UpdateExpression": expr,
    }
    if values:
        upd["ExpressionAttributeValues"] = values
    return {"Update": upd}


def handle(event):
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        body = base64.b64decode(body).decode()
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    given = headers.get("heroku-webhook-hmac-sha256", "")
    mac = base64.b64encode(hmac.new(signing_key(), body.encode(), hashlib.sha256).digest()).decode()
    if not hmac.compare_digest(mac, given):
        return answer(401, {"error": "unauthorized", "message": "bad signature"})
    delivery = json.loads(body)
    data = delivery.get("data") or {}
    if delivery.get("resource") != "release" or data.get("status") != "succeeded":
        return answer(204)
    app_id, version = data["app"]["id"], int(data["version"])

    items = ddb.query(
        TableName=TABLE, ConsistentRead=True,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": "APP#" + app_id}},
    )["Items"]
    header = next((i for i in items if i["sk"]["S"] == "APP"), None)
    links = [i for i in items if i["sk"]["S"].startswith("LINK#")
             and i["status"]["S"] == "active"
             and int(i.get("last_release_version", {"N": "0"})["N"]) < version]
    if header is None or not links:
        return answer(204)
    now_ms = int(time.time() * 1000)
    if int(header.get("lease_until_ms", {"N": "0"})["N"]) > now_ms:
        return answer(503, {"error": "unavailable", "message": "another sync is running"})
    generation = int(header["generation"]["N"])

    changed = []
    vars_by_project = {}
    for link in links:
        project = link["project_id"]["S"]
        if project not in vars_by_project:
            vars_by_project[project] = config_vars(project, app_id, version)
        value = vars_by_project[project].get(link["config_var"]["S"])
        key = project + "/" + link["env_var"]["S"]
        fp = fingerprint(key, value) if value is not None else None
        if fp is not None and link.get("fingerprint", {}).get("S") != fp:
            changed.append((link, value, fp))
    synced = {"at": now_rfc3339(), "kind": "synced", "release_version": version}
    free = "#g = :g AND (attribute_not_exists(lease_until_ms) OR lease_until_ms <= :now)"

    if not changed:
        # Nothing to write: record the release on the links, in one transaction.
        ddb.transact_write_items(TransactItems=[
            header_update(app_id, "#g = :next", {":g": {"N": str(generation)},
                          ":now": {"N": str(now_ms)}, ":next": {"N": str(generation + 1)}}, free),
            *[link_update(app_id, l, "SET last_release_version = :v",
                          {":v": {"N": str(version)}}) for l in links],
        ])
        return answer(204)

    owner = str(uuid.uuid4())
    ddb.transact_write_items(TransactItems=[
        header_update(app_id, "#g = :next, lease_owner = :o, lease_until_ms = :u",
                      {":g": {"N": str(generation)}, ":now": {"N": str(now_ms)},
                       ":next": {"N": str(generation + 1)}, ":o": {"S": owner},
                       ":u": {"N": str(now_ms + LEASE_MS)}}, free),
        *[link_update(app_id, l, "SET writing_version = :v", {":v": {"N": str(version)}})
          for l, _, _ in changed],
    ])
    versions = {}
    for link, value, _ in changed:
        name = f"{PREFIX}/projects/{link['project_id']['S']}/env/{link['env_var']['S']}"
        token = hashlib.sha256(f"{name}@{version}".encode()).hexdigest()[:64]
        versions[name] = sm.put_secret_value(
            SecretId=name, SecretString=value, ClientRequestToken=token)["VersionId"]
    now = now_rfc3339()
    ddb.transact_write_items(TransactItems=[
        header_update(app_id, "#g = :next", {":g": {"N": str(generation + 1)}, ":o": {"S": owner},
                      ":next": {"N": str(generation + 2)}},
                      "#g = :g AND lease_owner = :o", remove="lease_owner, lease_until_ms"),
        *[link_update(app_id, l,
                      "SET last_release_version = :v, fingerprint = :f, last_synced_at = :t, "
                      "history = :h REMOVE writing_version",
                      {":v": {"N": str(version)}, ":f": {"S": fp}, ":t": {"S": now},
                       ":h": {"S": history_after(l, synced)}})
          for l, _, fp in changed],
    ])
    events.put_events(Entries=[{
        "Source": "heroku-db-url-sync",
        "DetailType": "Env var synced",
        "EventBusName": BUS,
        "Detail": json.dumps({"project_id": l["project_id"]["S"], "env_var": l["env_var"]["S"],
                              "app_id": app_id, "release_version": version,
                              "secret_version_id": versions[
                                  f"{PREFIX}/projects/{l['project_id']['S']}/env/{l['env_var']['S']}"]}),
    } for l, _, _ in changed])
    return answer(204)


def main():
    while True:
        r = runtime.request("GET", RUNTIME + "/next", timeout=None)
        request_id = r.headers["Lambda-Runtime-Aws-Request-Id"]
        event = json.loads(r.data)
        try:
            result, path = handle(event), "/response"
        except Exception as e:  # noqa: BLE001 - reported to the Runtime API as Lambda does
            result, path = {"errorMessage": str(e), "errorType": type(e).__name__}, "/error"
        runtime.request("POST", f"{RUNTIME}/{request_id}{path}", body=json.dumps(result).encode())


if __name__ == "__main__":
    main()
