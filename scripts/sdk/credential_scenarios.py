#!/usr/bin/env python3
"""Alibaba's official credentials library (alibabacloud-credentials 1.0.12) against `bak2rds serve`.

The emulator plays STS (AssumeRole, AssumeRoleWithOIDC) and the ECS metadata service; the
library's providers fetch temporary credentials from them, and the official OSS SDK (oss2) and
RDS SDK (alibabacloud-tea-openapi + alibabacloud-rds20140815) sign with what they got:
  ram-role-arn  RamRoleArnCredentialsProvider (AssumeRole, signed V1), then oss2 PUT/GET and
                RDS DescribeDBInstanceAttribute with the STS key
  refresh       the same provider after the key expired: a new key that works, the old one
                refused by OSS (SecurityTokenExpired) and RDS (InvalidSecurityToken.Expired)
  oidc          OIDCRoleArnCredentialsProvider (AssumeRoleWithOIDC, anonymous), then oss2
  ecs-ram-role  EcsRamRoleCredentialsProvider through an HTTP proxy (its host 100.100.100.200 is
                hard-coded), with the role named and discovered, then oss2
  bad role      AssumeRole of an unknown role refused with EntityNotExist.Role
The refresh scenario needs short-lived keys: start the emulator with `serve --sts-token-ttl 5s`.

    python credential_scenarios.py '{"oss_endpoint": ..., "sts_endpoint": ..., ...}'

Last line: "sdk-credentials: N passed, M failed"; exit status 1 if any failed. Secrets and
tokens are never printed. SDK_SCENARIO_TRACE=1 prints tracebacks and the library's own log.
"""

import argparse
import base64
import json
import logging
import os
import sys
import tempfile
import time
import traceback

# alibabacloud_credentials reads its environment variables when it is imported
# (utils/auth_util.py): drop those that would change what the providers below do, and any proxy
# (everything here is on 127.0.0.1; Tea and requests would otherwise route through it).
for name in list(os.environ):
    if name.startswith("ALIBABA_CLOUD_") or name.lower() in (
        "http_proxy", "https_proxy", "all_proxy", "no_proxy"
    ):
        del os.environ[name]

import oss2
from alibabacloud_credentials.http import HttpOptions
from alibabacloud_credentials.provider import (
    EcsRamRoleCredentialsProvider,
    OIDCRoleArnCredentialsProvider,
    RamRoleArnCredentialsProvider,
)

RESULTS = []
# Every secret and token met so far: removed from anything printed.
SECRETS = set()


def redact(text):
    for secret in SECRETS:
        if secret:
            text = text.replace(secret, "<redacted>")
    return text


def scenario(name, fn):
    try:
        fn()
        RESULTS.append((name, None))
        print(f"ok   {name}", flush=True)
    except Exception as exc:  # a failed scenario must not stop the others
        RESULTS.append((name, exc))
        detail = str(exc).splitlines()[0] if str(exc) else ""
        print(redact(f"FAIL {name}: {type(exc).__name__}: {detail}"), flush=True)
        if os.environ.get("SDK_SCENARIO_TRACE"):
            print(redact(traceback.format_exc()), flush=True)


def check(condition, what):
    if not condition:
        raise AssertionError(what)


def fetch(provider):
    """The provider's current credentials; their secret and token are remembered for redact()."""
    creds = provider.get_credentials()
    SECRETS.add(creds.get_access_key_secret())
    SECRETS.add(creds.get_security_token())
    return creds


def check_temporary(creds, what):
    """An STS key as the service issues it: STS. id, a secret, a token, a future expiration."""
    check(creds.get_access_key_id().startswith("STS."), f"{what}: AccessKeyId starts with STS.")
    check(creds.get_access_key_secret(), f"{what}: AccessKeySecret present")
    check(creds.get_security_token(), f"{what}: SecurityToken present")
    expiration = creds.get_expiration()
    check(expiration is not None and expiration > time.time(), f"{what}: Expiration in the future")


def jwt(claims):
    """A JWT-shaped token: base64url header, claims and a (fake) signature, dot-separated."""
    def part(raw):
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    header = json.dumps({"alg": "RS256", "typ": "JWT", "kid": "bak2rds-sdk"}).encode()
    return ".".join([part(header), part(json.dumps(claims).encode()), part(b"not-a-real-signature")])


class Suite:
    def __init__(self, info, tmp):
        self.info = info
        self.tmp = tmp
        self.oss_endpoint = info["oss_endpoint"]
        self.region = info["region"]
        self.bucket_name = info["bucket"]
        self.ak = info["access_key_id"]
        SECRETS.add(info["access_key_secret"])
        self.sk = info["access_key_secret"]
        self.sts_endpoint = info["sts_endpoint"]  # http://127.0.0.1:PORT: the scheme is kept
        self.role_arn = info["role_arn"]
        # The Tea RDS client takes host:port and a protocol.
        self.rds_host = info["rds_endpoint"].split("://", 1)[1]
        self.instance = info["instance_id"]

    # -- the official SDKs, signing with temporary credentials ------------------------------

    def oss2_bucket(self, creds, version):
        auth = oss2.StsAuth(creds.get_access_key_id(), creds.get_access_key_secret(),
                            creds.get_security_token(), auth_version=version)
        return oss2.Bucket(auth, self.oss_endpoint, self.bucket_name, region=self.region)

    def oss2_round_trip(self, creds, version, key):
        bucket = self.oss2_bucket(creds, version)
        body = f"signed with {key}".encode()
        bucket.put_object(key, body)
        check(bucket.get_object(key).read() == body, f"oss2 {version} GET returns the body PUT")

    def rds_client(self, creds):
        from alibabacloud_rds20140815.client import Client
        from alibabacloud_tea_openapi import utils_models as open_api_models

        config = open_api_models.Config(
            access_key_id=creds.get_access_key_id(),
            access_key_secret=creds.get_access_key_secret(),
            security_token=creds.get_security_token(),
            region_id=self.region, endpoint=self.rds_host, protocol="http",
        )
        return Client(config)

    def rds_describe(self, creds):
        from alibabacloud_rds20140815 import models as rds
        from darabonba.runtime import RuntimeOptions

        body = self.rds_client(creds).describe_dbinstance_attribute_with_options(
            rds.DescribeDBInstanceAttributeRequest(dbinstance_id=self.instance),
            RuntimeOptions(autoretry=False)).body
        items = body.items.dbinstance_attribute
        check(len(items) == 1 and items[0].dbinstance_id == self.instance,
              f"DescribeDBInstanceAttribute of {self.instance}")

    def ram_role_provider(self, role_arn=None):
        return RamRoleArnCredentialsProvider(
            access_key_id=self.ak, access_key_secret=self.sk,
            role_arn=role_arn or self.role_arn, role_session_name="bak2rds-sdk",
            sts_endpoint=self.sts_endpoint,
        )

    # -- scenarios --------------------------------------------------------------------------

    def ram_role_arn(self):
        creds = fetch(self.ram_role_provider())
        check_temporary(creds, "AssumeRole")
        self.oss2_round_trip(creds, "v4", "credentials/ram-role-arn-v4.bak")
        self.oss2_round_trip(creds, "v1", "credentials/ram-role-arn-v1.bak")
        self.rds_describe(creds)

    def refresh(self):
        provider = self.ram_role_provider()
        first = fetch(provider)
        check_temporary(first, "first AssumeRole")
        self.oss2_round_trip(first, "v4", "credentials/refresh-first.bak")
        # Wait until the first key has expired (Expiration is its last valid second).
        wait = first.get_expiration() + 1.5 - time.time()
        check(wait <= 60, "the key lives more than a minute: start the emulator with "
                          "`serve --sts-token-ttl 5s`")
        time.sleep(max(wait, 0))
        # The library (1.0.x) treats a key as stale 15 minutes before its Expiration; a key
        # issued for 5 s is stale at once, so this call assumes the role again.
        second = fetch(provider)
        check_temporary(second, "refreshed AssumeRole")
        check(second.get_access_key_id() != first.get_access_key_id(),
              "the provider fetched a new AccessKeyId after expiry")
        self.oss2_round_trip(second, "v4", "credentials/refresh-second.bak")
        self.rds_describe(second)
        # The expired key is refused, by OSS and by RDS, each in its own words.
        try:
            self.oss2_bucket(first, "v4").get_object("credentials/refresh-first.bak")
            raise AssertionError("OSS accepted an expired STS key")
        except oss2.exceptions.ServerError as err:
            check(err.status == 403 and err.code == "SecurityTokenExpired",
                  f"OSS answered {err.status} {err.code}, wanted 403 SecurityTokenExpired")
        from alibabacloud_tea_openapi.exceptions import ClientException
        try:
            self.rds_describe(first)
            raise AssertionError("RDS accepted an expired STS key")
        except ClientException as err:
            check(err.code == "InvalidSecurityToken.Expired",
                  f"RDS answered {err.code}, wanted InvalidSecurityToken.Expired")

    def oidc(self):
        now = int(time.time())
        token_file = os.path.join(self.tmp, "oidc-token")
        with open(token_file, "w") as f:
            f.write(jwt({"iss": "https://oidc.bak2rds.test", "sub": "system:serviceaccount:sql:backup",
                         "aud": "sts.aliyuncs.com", "iat": now, "exp": now + 3600}))
        provider = OIDCRoleArnCredentialsProvider(
            role_arn=self.role_arn, oidc_provider_arn=self.info["oidc_provider_arn"],
            oidc_token_file_path=token_file, role_session_name="bak2rds-sdk-oidc",
            sts_endpoint=self.sts_endpoint,
        )
        creds = fetch(provider)
        check_temporary(creds, "AssumeRoleWithOIDC")
        self.oss2_round_trip(creds, "v4", "credentials/oidc.bak")

    def ecs_ram_role(self):
        # The provider's host is hard-coded (100.100.100.200): the emulator's metadata service
        # is reached as an HTTP proxy, so it receives `GET http://100.100.100.200/latest/...`.
        # async_update_enabled=False: no background scheduler thread outliving the scenario.
        options = HttpOptions(proxy=self.info["ecs_metadata_endpoint"])
        named = EcsRamRoleCredentialsProvider(
            role_name=self.info["ecs_role_name"], http_options=options, async_update_enabled=False)
        creds = fetch(named)
        check_temporary(creds, "ECS metadata (role named)")
        self.oss2_round_trip(creds, "v4", "credentials/ecs-ram-role.bak")
        # Without a role name the provider first lists the instance's role.
        discovered = EcsRamRoleCredentialsProvider(http_options=options, async_update_enabled=False)
        creds = fetch(discovered)
        check_temporary(creds, "ECS metadata (role discovered)")
        self.oss2_round_trip(creds, "v1", "credentials/ecs-ram-role-discovered.bak")

    def bad_role(self):
        account = self.role_arn.split(":")[3]
        provider = self.ram_role_provider(f"acs:ram::{account}:role/no-such-role")
        try:
            fetch(provider)
        except Exception as err:  # CredentialException, carrying STS's answer
            check("EntityNotExist.Role" in str(err), f"the error names EntityNotExist.Role: {err}")
            return
        raise AssertionError("STS issued credentials for an unknown role")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("serve_json", nargs="?", default=os.environ.get("BAK2RDS_SERVE_JSON"))
    args = parser.parse_args()
    if not args.serve_json:
        parser.error("give the JSON line of `bak2rds serve` (argument or BAK2RDS_SERVE_JSON)")
    if not os.environ.get("SDK_SCENARIO_TRACE"):
        # The library warns on every fetch of a key living less than 15 minutes (its stale
        # window), and logs the expected failure of the bad-role scenario: keep the output
        # to one line per scenario.
        logging.getLogger("credentials").setLevel(logging.CRITICAL)
    # The OIDC token file lives here, removed at exit.
    with tempfile.TemporaryDirectory(prefix="bak2rds-credentials-") as tmp:
        suite = Suite(json.loads(args.serve_json), tmp)
        scenario("ram-role-arn: AssumeRole, then oss2 V4/V1 and RDS (Tea V3) sign with it",
                 suite.ram_role_arn)
        scenario("refresh: a new key after expiry; the old one refused by OSS and RDS",
                 suite.refresh)
        scenario("oidc: AssumeRoleWithOIDC, then oss2 V4 signs with it", suite.oidc)
        scenario("ecs-ram-role: metadata service through a proxy, role named and discovered",
                 suite.ecs_ram_role)
        scenario("bad role ARN refused: EntityNotExist.Role", suite.bad_role)

    failed = sum(1 for _, exc in RESULTS if exc is not None)
    print(f"sdk-credentials: {len(RESULTS) - failed} passed, {failed} failed", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
