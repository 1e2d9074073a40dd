#!/usr/bin/env python3
"""Holds bak2rds's emulated RDS to Alibaba's official Python SDKs.

Three signing dialects (research note rds-api.md §0, §2.4):
  core-v1  aliyun-python-sdk-core + aliyun-python-sdk-rds, signature V1 (HMAC-SHA1)
  tea-v1   alibabacloud-tea-openapi + alibabacloud-rds20140815, signature_algorithm='v2' (V1)
  tea-v3   alibabacloud-tea-openapi + alibabacloud-rds20140815, default ACS3-HMAC-SHA256 (V3)
Each calls DescribeDBInstanceAttribute, CreateMigrateTask, DescribeMigrateTaskById,
DescribeMigrateTasks and DescribeOssDownloads and checks the answers are well formed (nested
lists parsed by the typed models, string-typed numbers); STS credentials work; a wrong secret is
refused.

With --updf-full and --updf-log (a full backup and a log backup that follows it), the core SDK
and the Tea SDK (V3) each run an incremental migration (rds-api.md §1.6): CreateMigrateTask
UPDF of the full until the task is Waiting, CreateMigrateTask UPDF of the log with the same
MigrateTaskId, DescribeOssDownloads listing both files, CreateOnlineDatabaseTask until Success,
and DeleteDatabase, after which DescribeDatabases no longer lists the database.

Usage:
  rds_scenarios.py --endpoint 127.0.0.1:PORT --instance ID --position ENDPOINT:BUCKET:KEY
                   [--updf-full ENDPOINT:BUCKET:KEY --updf-log ENDPOINT:BUCKET:KEY]
Credentials come from the environment: ALIBABA_CLOUD_ACCESS_KEY_ID / _SECRET, and for the STS
scenarios BAK2RDS_SDK_STS_KEY_ID / BAK2RDS_SDK_STS_SECRET / BAK2RDS_SDK_STS_TOKEN.
Last line: "sdk-rds: N passed, M failed"; exit status 1 if any failed.
"""
import argparse
import datetime
import json
import os
import sys
import time
import traceback

VALID_STATUSES = {"NoStart", "Running", "Success", "Failed", "Waiting"}
RESULTS = []


def scenario(name, fn):
    try:
        fn()
        RESULTS.append((name, None))
        print(f"ok   {name}")
    except Exception as exc:  # a failed scenario must not stop the others
        RESULTS.append((name, exc))
        print(f"FAIL {name}: {type(exc).__name__}: {exc}")
        traceback.print_exc(limit=3, file=sys.stdout)


def check(condition, what):
    if not condition:
        raise AssertionError(what)


def window():
    now = datetime.datetime.now(datetime.timezone.utc)
    fmt = "%Y-%m-%dT%H:%MZ"
    return (now - datetime.timedelta(hours=1)).strftime(fmt), (now + datetime.timedelta(minutes=5)).strftime(fmt)


def wait_for(describe, wanted, what, timeout=20.0):
    """Polls describe() -> status until it is `wanted`; fails on Failed or after `timeout` s."""
    deadline = time.monotonic() + timeout
    status = None
    while time.monotonic() < deadline:
        status = describe()
        if status == wanted:
            return
        check(status != "Failed", f"{what}: task Failed")
        time.sleep(0.05)
    raise AssertionError(f"{what}: still {status} after {timeout} s, wanted {wanted}")


def incremental_scenarios(label, calls):
    """One incremental migration through `calls`, an SDK's create/describe/downloads/online."""
    task = {}
    db = "sdk_updf_" + label.replace("-", "_")

    def full():
        task["id"] = calls["create"](db, "full", None)
        wait_for(lambda: calls["status"](task["id"]), "Waiting", "UPDF full")

    def log():
        again = calls["create"](db, "log", task["id"])
        check(again == task["id"], f"the increment joins task {task['id']}, got {again}")
        wait_for(lambda: calls["status"](task["id"]), "Waiting", "UPDF log")

    def downloads():
        files = calls["downloads"](task["id"])
        check(files == [("Database", "Restored"), ("Transaction_Log", "Restored")], f"files {files}")

    def online():
        calls["online"](db, task["id"])
        wait_for(lambda: calls["status"](task["id"]), "Success", "CreateOnlineDatabaseTask")

    def delete():
        calls["delete"](db)
        check(db not in calls["databases"](), f"{db} still listed after DeleteDatabase")

    for name, fn in [("CreateMigrateTask UPDF full", full), ("CreateMigrateTask UPDF log", log),
                     ("DescribeOssDownloads UPDF", downloads), ("CreateOnlineDatabaseTask", online),
                     ("DeleteDatabase", delete)]:
        scenario(f"{label} {name}", fn)
        if not RESULTS or RESULTS[-1][1] is not None:
            return  # later steps depend on this one


# ------------------------------------------------------------------ old core SDK (V1)
def core_client(args, key_id, secret, token=None):
    from aliyunsdkcore.client import AcsClient
    from aliyunsdkcore.auth.credentials import StsTokenCredential

    host, port = args.endpoint.rsplit(":", 1)
    if token:
        return AcsClient(region_id=args.region, port=int(port), auto_retry=False,
                         credential=StsTokenCredential(key_id, secret, token)), host
    return AcsClient(key_id, secret, args.region, port=int(port), auto_retry=False), host


def core_call(client, host, request):
    request.set_endpoint(host)
    request.set_protocol_type("http")
    return json.loads(client.do_action_with_exception(request))


def core_scenarios(args, key_id, secret, label, token=None):
    from aliyunsdkrds.request.v20140815.CreateMigrateTaskRequest import CreateMigrateTaskRequest
    from aliyunsdkrds.request.v20140815.DescribeDBInstanceAttributeRequest import DescribeDBInstanceAttributeRequest
    from aliyunsdkrds.request.v20140815.DescribeMigrateTaskByIdRequest import DescribeMigrateTaskByIdRequest
    from aliyunsdkrds.request.v20140815.DescribeMigrateTasksRequest import DescribeMigrateTasksRequest
    from aliyunsdkrds.request.v20140815.DescribeOssDownloadsRequest import DescribeOssDownloadsRequest

    client, host = core_client(args, key_id, secret, token)
    task = {}

    def attribute():
        r = DescribeDBInstanceAttributeRequest()
        r.set_DBInstanceId(args.instance)
        body = core_call(client, host, r)
        item = body["Items"]["DBInstanceAttribute"][0]
        check(item["Engine"] == "SQLServer", f"Engine {item['Engine']}")
        check(isinstance(item["DBInstanceStorage"], int), "DBInstanceStorage is an integer")

    def create():
        r = CreateMigrateTaskRequest()
        r.set_DBInstanceId(args.instance)
        r.set_DBName(f"sdk_{label}")
        r.set_BackupMode("FULL")
        r.set_IsOnlineDB("True")
        r.set_CheckDBMode("AsyncExecuteDBCheck")
        r.set_OssObjectPositions(args.position)
        body = core_call(client, host, r)
        check(isinstance(body["MigrateTaskId"], str) and body["MigrateTaskId"].isdigit(), "MigrateTaskId is a numeric string")
        check(body["RequestId"], "RequestId")
        task["id"] = body["MigrateTaskId"]

    def by_id():
        r = DescribeMigrateTaskByIdRequest()
        r.set_DBInstanceId(args.instance)
        r.set_MigrateTaskId(task["id"])
        body = core_call(client, host, r)
        check(body["MigrateTaskId"] == task["id"], "same task")
        check(body["Status"] in VALID_STATUSES, f"Status {body['Status']}")
        check(body["DBInstanceName"] == args.instance, "DBInstanceName holds the instance ID")

    def listed():
        r = DescribeMigrateTasksRequest()
        r.set_DBInstanceId(args.instance)
        start, end = window()
        r.set_StartTime(start)
        r.set_EndTime(end)
        body = core_call(client, host, r)
        ids = [t["MigrateTaskId"] for t in body["Items"]["MigrateTask"]]
        check(task["id"] in ids, f"{task['id']} in {ids}")
        check(isinstance(body["TotalRecordCount"], int), "TotalRecordCount is an integer")

    def downloads():
        r = DescribeOssDownloadsRequest()
        r.set_DBInstanceId(args.instance)
        r.set_MigrateTaskId(task["id"])
        body = core_call(client, host, r)
        files = body["Items"]["OssDownload"]
        check(len(files) == 1 and files[0]["FileSize"].isdigit(), f"one file with FileSize in MB: {files}")

    scenario(f"{label} DescribeDBInstanceAttribute", attribute)
    scenario(f"{label} CreateMigrateTask", create)
    if "id" in task:
        scenario(f"{label} DescribeMigrateTaskById", by_id)
        scenario(f"{label} DescribeMigrateTasks", listed)
        scenario(f"{label} DescribeOssDownloads", downloads)


def core_incremental(args):
    from aliyunsdkrds.request.v20140815.CreateMigrateTaskRequest import CreateMigrateTaskRequest
    from aliyunsdkrds.request.v20140815.CreateOnlineDatabaseTaskRequest import CreateOnlineDatabaseTaskRequest
    from aliyunsdkrds.request.v20140815.DeleteDatabaseRequest import DeleteDatabaseRequest
    from aliyunsdkrds.request.v20140815.DescribeDatabasesRequest import DescribeDatabasesRequest
    from aliyunsdkrds.request.v20140815.DescribeMigrateTaskByIdRequest import DescribeMigrateTaskByIdRequest
    from aliyunsdkrds.request.v20140815.DescribeOssDownloadsRequest import DescribeOssDownloadsRequest

    client, host = core_client(args, args.key_id, args.secret)

    def create(db, which, task_id):
        r = CreateMigrateTaskRequest()
        r.set_DBInstanceId(args.instance)
        r.set_DBName(db)
        r.set_BackupMode("UPDF")
        r.set_IsOnlineDB("False")
        r.set_OssObjectPositions(args.updf_full if which == "full" else args.updf_log)
        if task_id:
            r.set_MigrateTaskId(task_id)
        body = core_call(client, host, r)
        check(body["BackupMode"] == "UPDF", f"BackupMode {body['BackupMode']}")
        return body["MigrateTaskId"]

    def status(task_id):
        r = DescribeMigrateTaskByIdRequest()
        r.set_DBInstanceId(args.instance)
        r.set_MigrateTaskId(task_id)
        return core_call(client, host, r)["Status"]

    def downloads(task_id):
        r = DescribeOssDownloadsRequest()
        r.set_DBInstanceId(args.instance)
        r.set_MigrateTaskId(task_id)
        files = core_call(client, host, r)["Items"]["OssDownload"]
        return [(f["BackupMode"], f["Status"]) for f in files]

    def online(db, task_id):
        r = CreateOnlineDatabaseTaskRequest()
        r.set_DBInstanceId(args.instance)
        r.set_DBName(db)
        r.set_MigrateTaskId(task_id)
        r.set_CheckDBMode("AsyncExecuteDBCheck")
        check(core_call(client, host, r)["RequestId"], "RequestId")

    def delete(db):
        r = DeleteDatabaseRequest()
        r.set_DBInstanceId(args.instance)
        r.set_DBName(db)
        check(core_call(client, host, r)["RequestId"], "RequestId")

    def databases():
        r = DescribeDatabasesRequest()
        r.set_DBInstanceId(args.instance)
        return [d["DBName"] for d in core_call(client, host, r)["Databases"]["Database"]]

    incremental_scenarios("core-v1", {"create": create, "status": status, "downloads": downloads,
                                      "online": online, "delete": delete, "databases": databases})


def core_wrong_secret(args):
    from aliyunsdkcore.acs_exception.exceptions import ServerException
    from aliyunsdkrds.request.v20140815.DescribeDBInstanceAttributeRequest import DescribeDBInstanceAttributeRequest

    client, host = core_client(args, args.key_id, args.secret + "-wrong")
    r = DescribeDBInstanceAttributeRequest()
    r.set_DBInstanceId(args.instance)
    try:
        core_call(client, host, r)
    except ServerException as exc:
        # The SDK compares the echoed string-to-sign with its own and relabels the error when
        # they match: proof the emulator canonicalised exactly as the SDK did (§0).
        check(exc.get_error_code() == "InvalidAccessKeySecret", f"code {exc.get_error_code()}")
        check(exc.get_http_status() == 400, f"status {exc.get_http_status()}")
        return
    raise AssertionError("a wrong secret was accepted")


# ------------------------------------------------------------------ Tea SDK (V1 and V3)
def tea_client(args, key_id, secret, v1, token=None):
    from alibabacloud_tea_openapi import utils_models as open_api_models
    from alibabacloud_rds20140815.client import Client

    extra = {"signature_algorithm": "v2"} if v1 else {}
    if token:
        extra["security_token"] = token
    config = open_api_models.Config(access_key_id=key_id, access_key_secret=secret, region_id=args.region,
                                    endpoint=args.endpoint, protocol="http", **extra)
    return Client(config)


def tea_scenarios(args, key_id, secret, label, v1, token=None):
    from alibabacloud_rds20140815 import models as rds
    from darabonba.runtime import RuntimeOptions

    client = tea_client(args, key_id, secret, v1, token)
    runtime = RuntimeOptions(autoretry=False)
    task = {}

    def attribute():
        body = client.describe_dbinstance_attribute_with_options(
            rds.DescribeDBInstanceAttributeRequest(dbinstance_id=args.instance), runtime).body
        items = body.items.dbinstance_attribute
        check(len(items) == 1, f"one instance parsed from Items.DBInstanceAttribute, got {len(items)}")
        check(items[0].engine == "SQLServer" and items[0].engine_version, "engine and version")

    def create():
        body = client.create_migrate_task_with_options(rds.CreateMigrateTaskRequest(
            dbinstance_id=args.instance, dbname=f"sdk_{label}", backup_mode="FULL", is_online_db="True",
            check_dbmode="AsyncExecuteDBCheck", oss_object_positions=args.position), runtime).body
        check(body.migrate_task_id and body.migrate_task_id.isdigit(), f"MigrateTaskId {body.migrate_task_id!r}")
        check(body.request_id, "RequestId")
        task["id"] = body.migrate_task_id

    def by_id():
        body = client.describe_migrate_task_by_id_with_options(rds.DescribeMigrateTaskByIdRequest(
            dbinstance_id=args.instance, migrate_task_id=task["id"]), runtime).body
        check(body.migrate_task_id == task["id"], "same task")
        check(body.status in VALID_STATUSES, f"status {body.status}")

    def listed():
        start, end = window()
        body = client.describe_migrate_tasks_with_options(rds.DescribeMigrateTasksRequest(
            dbinstance_id=args.instance, start_time=start, end_time=end), runtime).body
        ids = [t.migrate_task_id for t in body.items.migrate_task]
        check(task["id"] in ids, f"{task['id']} in {ids} (Items.MigrateTask nested)")

    def downloads():
        body = client.describe_oss_downloads_with_options(rds.DescribeOssDownloadsRequest(
            dbinstance_id=args.instance, migrate_task_id=task["id"]), runtime).body
        files = body.items.oss_download
        check(len(files) == 1 and files[0].file_name, f"one file parsed from Items.OssDownload: {files}")

    scenario(f"{label} DescribeDBInstanceAttribute", attribute)
    scenario(f"{label} CreateMigrateTask", create)
    if "id" in task:
        scenario(f"{label} DescribeMigrateTaskById", by_id)
        scenario(f"{label} DescribeMigrateTasks", listed)
        scenario(f"{label} DescribeOssDownloads", downloads)


def tea_incremental(args):
    from alibabacloud_rds20140815 import models as rds
    from darabonba.runtime import RuntimeOptions

    client = tea_client(args, args.key_id, args.secret, v1=False)
    runtime = RuntimeOptions(autoretry=False)

    def create(db, which, task_id):
        body = client.create_migrate_task_with_options(rds.CreateMigrateTaskRequest(
            dbinstance_id=args.instance, dbname=db, backup_mode="UPDF", is_online_db="False",
            oss_object_positions=args.updf_full if which == "full" else args.updf_log,
            migrate_task_id=task_id), runtime).body
        check(body.backup_mode == "UPDF", f"BackupMode {body.backup_mode}")
        return body.migrate_task_id

    def status(task_id):
        return client.describe_migrate_task_by_id_with_options(rds.DescribeMigrateTaskByIdRequest(
            dbinstance_id=args.instance, migrate_task_id=task_id), runtime).body.status

    def downloads(task_id):
        body = client.describe_oss_downloads_with_options(rds.DescribeOssDownloadsRequest(
            dbinstance_id=args.instance, migrate_task_id=task_id), runtime).body
        return [(f.backup_mode, f.status) for f in body.items.oss_download]

    def online(db, task_id):
        body = client.create_online_database_task_with_options(rds.CreateOnlineDatabaseTaskRequest(
            dbinstance_id=args.instance, dbname=db, migrate_task_id=task_id,
            check_dbmode="AsyncExecuteDBCheck"), runtime).body
        check(body.request_id, "RequestId")

    def delete(db):
        body = client.delete_database_with_options(rds.DeleteDatabaseRequest(
            dbinstance_id=args.instance, dbname=db), runtime).body
        check(body.request_id, "RequestId")

    def databases():
        body = client.describe_databases_with_options(rds.DescribeDatabasesRequest(
            dbinstance_id=args.instance), runtime).body
        return [d.dbname for d in body.databases.database]

    incremental_scenarios("tea-v3", {"create": create, "status": status, "downloads": downloads,
                                     "online": online, "delete": delete, "databases": databases})


def tea_wrong_secret(args, v1):
    from alibabacloud_rds20140815 import models as rds
    from alibabacloud_tea_openapi.exceptions import ClientException
    from darabonba.runtime import RuntimeOptions

    client = tea_client(args, args.key_id, args.secret + "-wrong", v1)
    try:
        client.describe_dbinstance_attribute_with_options(
            rds.DescribeDBInstanceAttributeRequest(dbinstance_id=args.instance), RuntimeOptions(autoretry=False))
    except ClientException as exc:
        check(exc.code == "SignatureDoesNotMatch", f"code {exc.code}")
        check(exc.status_code == 400, f"status {exc.status_code}")
        return
    raise AssertionError("a wrong secret was accepted")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--endpoint", required=True, help="host:port of the emulated RDS")
    parser.add_argument("--instance", required=True)
    parser.add_argument("--position", required=True, help="OssObjectPositions of a full backup in the emulator")
    parser.add_argument("--region", default="cn-hangzhou")
    parser.add_argument("--updf-full", help="OssObjectPositions of a full backup for the incremental scenario")
    parser.add_argument("--updf-log", help="OssObjectPositions of a log backup that follows --updf-full")
    args = parser.parse_args()
    args.key_id = os.environ["ALIBABA_CLOUD_ACCESS_KEY_ID"]
    args.secret = os.environ["ALIBABA_CLOUD_ACCESS_KEY_SECRET"]
    sts = (os.environ.get("BAK2RDS_SDK_STS_KEY_ID"), os.environ.get("BAK2RDS_SDK_STS_SECRET"),
           os.environ.get("BAK2RDS_SDK_STS_TOKEN"))

    core_scenarios(args, args.key_id, args.secret, "core-v1")
    tea_scenarios(args, args.key_id, args.secret, "tea-v1", v1=True)
    tea_scenarios(args, args.key_id, args.secret, "tea-v3", v1=False)
    if all(sts):
        core_scenarios(args, sts[0], sts[1], "core-v1-sts", token=sts[2])
        tea_scenarios(args, sts[0], sts[1], "tea-v3-sts", v1=False, token=sts[2])
    if args.updf_full and args.updf_log:
        core_incremental(args)
        tea_incremental(args)
    scenario("core-v1 wrong secret refused", lambda: core_wrong_secret(args))
    scenario("tea-v1 wrong secret refused", lambda: tea_wrong_secret(args, v1=True))
    scenario("tea-v3 wrong secret refused", lambda: tea_wrong_secret(args, v1=False))

    failed = sum(1 for _, exc in RESULTS if exc is not None)
    print(f"sdk-rds: {len(RESULTS) - failed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
