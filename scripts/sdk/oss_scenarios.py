#!/usr/bin/env python3
"""Alibaba's official OSS SDKs (oss2 2.19.1, alibabacloud-oss-v2 1.4.1) against `bak2rds serve`.

Each scenario drives one SDK feature end to end and checks what the SDK returns; a scenario
passes only if every check holds. The last line is exactly `sdk-oss: N passed, M failed`; the
exit status is non-zero when any scenario failed.

Connection values come from the emulator's JSON line, passed as the first argument (or in the
environment variable BAK2RDS_SERVE_JSON). An STS key pair declared in the emulator's config can
be given with --sts-id/--sts-secret/--sts-token (scenarios that need it fail without it).

    python oss_scenarios.py '{"oss_endpoint": ..., ...}' --sts-id ID --sts-secret S --sts-token T
"""

import argparse
import datetime
import json
import os
import random
import sys
import tempfile
import traceback

import requests

import oss2
import alibabacloud_oss_v2 as oss

MIB = 1024 * 1024
# Part size of the multipart scenarios: above OSS's 100 KB minimum (oss-protocol.md section 1.3).
PART = 256 * 1024


class Failed(Exception):
    """A check of a scenario did not hold."""


def check(condition, what):
    if not condition:
        raise Failed(what)


def crc64_of(data):
    digest = oss2.utils.Crc64()
    digest.update(data)
    return digest.crc


def payload(size, seed):
    rng = random.Random(seed)
    return rng.randbytes(size)


class Suite:
    def __init__(self, info, sts):
        self.endpoint = info["oss_endpoint"]
        self.region = info["region"]
        self.bucket_name = info["bucket"]
        self.ak = info["access_key_id"]
        self.sk = info["access_key_secret"]
        self.sts_key = sts
        self.tmp = tempfile.mkdtemp(prefix="bak2rds-sdk-")
        self.results = []

    # -- SDK clients ------------------------------------------------------------------------

    def oss2_bucket(self, version="v4", secret=None, auth=None):
        if auth is None:
            secret = secret or self.sk
            auth = oss2.AuthV4(self.ak, secret) if version == "v4" else oss2.Auth(self.ak, secret)
        return oss2.Bucket(auth, self.endpoint, self.bucket_name, region=self.region)

    def v2_client(self, version="v4", secret=None, token=None, ak=None):
        cfg = oss.config.load_default()
        cfg.credentials_provider = oss.credentials.StaticCredentialsProvider(
            ak or self.ak, secret or self.sk, token
        )
        cfg.region = self.region
        cfg.endpoint = self.endpoint
        if version == "v1":
            cfg.signature_version = "v1"
        return oss.Client(cfg)

    def need_sts(self):
        check(self.sts_key is not None, "no STS key pair given (--sts-id/--sts-secret/--sts-token)")
        return self.sts_key

    # -- runner -----------------------------------------------------------------------------

    def run(self, name, scenario):
        try:
            scenario()
        except Exception as err:  # a scenario fails on any exception, not only Failed
            self.results.append((name, False))
            detail = str(err).splitlines()[0] if str(err) else type(err).__name__
            print(f"FAIL {name}: {type(err).__name__}: {detail}", flush=True)
            if os.environ.get("SDK_SCENARIO_TRACE"):
                traceback.print_exc()
        else:
            self.results.append((name, True))
            print(f"ok   {name}", flush=True)

    # -- scenarios --------------------------------------------------------------------------

    def bucket_info(self):
        info = self.oss2_bucket("v1").get_bucket_info()
        check(info.name == self.bucket_name, f"oss2 bucket name {info.name}")
        check(info.location == f"oss-{self.region}", f"oss2 location {info.location}")
        check(info.storage_class == "Standard", f"oss2 storage class {info.storage_class}")
        result = self.v2_client().get_bucket_info(oss.GetBucketInfoRequest(bucket=self.bucket_name))
        check(result.bucket_info.name == self.bucket_name, "v2 bucket name")
        check(result.bucket_info.extranet_endpoint == f"oss-{self.region}.aliyuncs.com", "v2 endpoint")

    def oss2_object_basics(self, version):
        bucket = self.oss2_bucket(version)
        key = f"basics/oss2-{version}/a b+c.bak"
        data = payload(300_000, 1)
        put = bucket.put_object(key, data)
        check(put.crc == crc64_of(data), "PutObject CRC")
        head = bucket.head_object(key)
        check(head.content_length == len(data), f"HEAD length {head.content_length}")
        check(head.etag == put.etag, "HEAD ETag equals PUT ETag")
        check(int(head.headers["x-oss-hash-crc64ecma"]) == crc64_of(data), "HEAD CRC")
        check(bucket.get_object(key).read() == data, "GET body")
        ranged = bucket.get_object(key, byte_range=(10, 19)).read()
        check(ranged == data[10:20], "ranged GET")
        bucket.delete_object(key)
        try:
            bucket.head_object(key)
            raise Failed("HEAD after delete succeeded")
        except oss2.exceptions.NotFound as err:
            # HEAD has no body: the code comes from x-oss-err (section 6.4 point 9).
            check(err.code == "NoSuchKey", f"HEAD 404 code {err.code!r}")

    def v2_object_basics(self):
        client = self.v2_client()
        key = "basics/v2/object.bak"
        data = payload(200_000, 2)
        put = client.put_object(oss.PutObjectRequest(bucket=self.bucket_name, key=key, body=data))
        check(int(put.hash_crc64) == crc64_of(data), "PutObject CRC")
        head = client.head_object(oss.HeadObjectRequest(bucket=self.bucket_name, key=key))
        check(head.content_length == len(data), "HEAD length")
        check(head.object_type == "Normal", f"object type {head.object_type}")
        got = client.get_object(oss.GetObjectRequest(bucket=self.bucket_name, key=key))
        check(got.body.read() == data, "GET body")
        client.delete_object(oss.DeleteObjectRequest(bucket=self.bucket_name, key=key))
        try:
            client.head_object(oss.HeadObjectRequest(bucket=self.bucket_name, key=key))
            raise Failed("HEAD after delete succeeded")
        except oss.exceptions.OperationError as err:
            check(err.unwrap().code == "NoSuchKey", f"HEAD 404 code {err.unwrap().code!r}")

    def oss2_multipart(self, version):
        bucket = self.oss2_bucket(version)
        key = f"multipart/oss2-{version}.bak"
        data = payload(3 * PART + 1000, 3)
        upload_id = bucket.init_multipart_upload(key).upload_id
        parts = []
        for number, start in enumerate(range(0, len(data), PART), start=1):
            chunk = data[start:start + PART]
            result = bucket.upload_part(key, upload_id, number, chunk)
            check(result.crc == crc64_of(chunk), f"part {number} CRC")
            parts.append(oss2.models.PartInfo(number, result.etag, size=len(chunk), part_crc=result.crc))
        listed = bucket.list_parts(key, upload_id)
        check([p.part_number for p in listed.parts] == [1, 2, 3, 4], "ListParts numbers")
        # A wrong ETag is InvalidPart; the upload stays usable.
        bad = [oss2.models.PartInfo(1, '"00000000000000000000000000000000"')] + parts[1:]
        try:
            bucket.complete_multipart_upload(key, upload_id, bad)
            raise Failed("Complete with a wrong ETag succeeded")
        except oss2.exceptions.ServerError as err:
            check(err.code == "InvalidPart", f"wrong ETag gave {err.code}")
        uploads = bucket.list_multipart_uploads(prefix="multipart/")
        check(any(u.upload_id == upload_id for u in uploads.upload_list), "ListMultipartUploads")
        done = bucket.complete_multipart_upload(key, upload_id, parts)
        check(done.crc == crc64_of(data), "object CRC after Complete")
        check(bucket.get_object(key).read() == data, "object body")
        try:
            bucket.abort_multipart_upload(key, upload_id)
            raise Failed("Abort after Complete succeeded")
        except oss2.exceptions.NoSuchUpload:
            pass

    def v2_multipart(self, version):
        client = self.v2_client(version)
        bucket, key = self.bucket_name, f"multipart/v2-{version}.bak"
        data = payload(2 * PART + 10, 4)
        init = client.initiate_multipart_upload(
            oss.InitiateMultipartUploadRequest(bucket=bucket, key=key)
        )
        parts = []
        for number, start in enumerate(range(0, len(data), PART), start=1):
            chunk = data[start:start + PART]
            result = client.upload_part(oss.UploadPartRequest(
                bucket=bucket, key=key, upload_id=init.upload_id, part_number=number, body=chunk
            ))
            parts.append(oss.UploadPart(part_number=number, etag=result.etag))

        def complete(listed):
            return client.complete_multipart_upload(oss.CompleteMultipartUploadRequest(
                bucket=bucket, key=key, upload_id=init.upload_id,
                complete_multipart_upload=oss.CompleteMultipartUpload(parts=listed),
            ))

        try:
            complete(list(reversed(parts)))
            raise Failed("Complete with descending parts succeeded")
        except oss.exceptions.OperationError as err:
            check(err.unwrap().code == "InvalidPartOrder", f"descending gave {err.unwrap().code}")
        listed = client.list_parts(oss.ListPartsRequest(bucket=bucket, key=key, upload_id=init.upload_id))
        check(all(p.hash_crc64 is not None for p in listed.parts), "ListParts HashCrc64ecma")
        done = complete(parts)
        check(int(done.hash_crc64) == crc64_of(data), "object CRC after Complete")

    def multipart_rules(self):
        """EntityTooSmall at Complete and NoSuchUpload, through oss2 V4."""
        bucket = self.oss2_bucket("v4")
        key = "multipart/too-small.bak"
        upload_id = bucket.init_multipart_upload(key).upload_id
        small = [bucket.upload_part(key, upload_id, n, b"x" * 1000) for n in (1, 2)]
        parts = [oss2.models.PartInfo(n, r.etag) for n, r in zip((1, 2), small)]
        try:
            bucket.complete_multipart_upload(key, upload_id, parts)
            raise Failed("Complete with a 1000-byte first part succeeded")
        except oss2.exceptions.ServerError as err:
            check(err.code == "EntityTooSmall", f"small part gave {err.code}")
        bucket.abort_multipart_upload(key, upload_id)
        try:
            bucket.upload_part(key, upload_id, 3, b"late")
            raise Failed("UploadPart after Abort succeeded")
        except oss2.exceptions.NoSuchUpload:
            pass

    def oss2_resumable(self):
        bucket = self.oss2_bucket("v4")
        key = "resumable/oss2.bak"
        path = os.path.join(self.tmp, "oss2-resumable.bin")
        data = payload(10 * PART, 5)
        with open(path, "wb") as f:
            f.write(data)
        store = oss2.ResumableStore(root=os.path.join(self.tmp, "oss2-store"))
        real_upload_part = bucket.upload_part
        calls = []

        def failing_upload_part(key_, upload_id, part_number, *args, **kwargs):
            calls.append(part_number)
            if part_number == 5:
                raise RuntimeError("forced failure of part 5")
            return real_upload_part(key_, upload_id, part_number, *args, **kwargs)

        bucket.upload_part = failing_upload_part
        try:
            oss2.resumable_upload(bucket, key, path, store=store, multipart_threshold=PART,
                                  part_size=PART, num_threads=1)
            raise Failed("first run did not fail")
        except RuntimeError:
            pass
        calls.clear()
        bucket.upload_part = real_upload_part
        bucket.upload_part = lambda *a, **k: (calls.append(a[2]), real_upload_part(*a, **k))[1]
        oss2.resumable_upload(bucket, key, path, store=store, multipart_threshold=PART,
                              part_size=PART, num_threads=1)
        # Parts 1-4 were listed by ListParts, so only the rest is uploaded again.
        check(sorted(calls) == list(range(5, 11)), f"resume re-uploaded parts {calls}")
        head = bucket.head_object(key)
        check(int(head.headers["x-oss-hash-crc64ecma"]) == crc64_of(data), "object CRC")
        check(head.headers.get("x-oss-object-type") == "Multipart", "object type")

    def v2_uploader(self):
        client = self.v2_client()
        key = "resumable/v2-uploader.bak"
        path = os.path.join(self.tmp, "v2-uploader.bin")
        data = payload(10 * PART, 6)
        with open(path, "wb") as f:
            f.write(data)
        checkpoint_dir = os.path.join(self.tmp, "v2-checkpoints") + "/"
        os.makedirs(checkpoint_dir, exist_ok=True)
        real_upload_part = client.upload_part

        def failing_upload_part(request, **kwargs):
            if request.part_number == 5:
                raise RuntimeError("forced failure of part 5")
            return real_upload_part(request, **kwargs)

        client.upload_part = failing_upload_part
        uploader = client.uploader(part_size=PART, parallel_num=1, enable_checkpoint=True,
                                   checkpoint_dir=checkpoint_dir)
        try:
            uploader.upload_file(oss.PutObjectRequest(bucket=self.bucket_name, key=key), path)
            raise Failed("first run did not fail")
        except Exception as err:  # the uploader wraps the part error
            check("forced failure" in str(err), f"unexpected first-run error {err}")
        uploaded = []

        def counting_upload_part(request, **kwargs):
            uploaded.append(request.part_number)
            return real_upload_part(request, **kwargs)

        client.upload_part = counting_upload_part
        uploader = client.uploader(part_size=PART, parallel_num=1, enable_checkpoint=True,
                                   checkpoint_dir=checkpoint_dir)
        # The resumed run rebuilds the CRC of parts 1-4 from ListParts' HashCrc64ecma and
        # checks the folded CRC against Complete's (oss-protocol.md section 5.2).
        result = uploader.upload_file(oss.PutObjectRequest(bucket=self.bucket_name, key=key), path)
        check(uploaded == [5, 6, 7, 8, 9, 10], f"resume uploaded parts {uploaded}")
        check(int(result.hash_crc64) == crc64_of(data), "object CRC")

    def presigned(self):
        key = "presigned/object.bak"
        data = payload(150_000, 7)
        # oss2 V1 presigned PUT and GET.
        bucket = self.oss2_bucket("v1")
        put_url = bucket.sign_url("PUT", key, 300)
        response = requests.put(put_url, data=data)
        check(response.status_code == 200, f"V1 presigned PUT {response.status_code} {response.text}")
        got = requests.get(bucket.sign_url("GET", key, 300))
        check(got.status_code == 200 and got.content == data, "V1 presigned GET")
        # v2 V4 presigned GET and UploadPart.
        client = self.v2_client()
        presigned = client.presign(oss.GetObjectRequest(bucket=self.bucket_name, key=key),
                                   expires=datetime.timedelta(minutes=5))
        got = requests.get(presigned.url)
        check(got.status_code == 200 and got.content == data, f"V4 presigned GET {got.status_code}")
        init = client.initiate_multipart_upload(
            oss.InitiateMultipartUploadRequest(bucket=self.bucket_name, key=key + ".mp"))
        part = client.presign(oss.UploadPartRequest(
            bucket=self.bucket_name, key=key + ".mp", upload_id=init.upload_id, part_number=1))
        response = requests.put(part.url, data=data)
        check(response.status_code == 200, f"V4 presigned UploadPart {response.status_code}")
        check(int(response.headers["x-oss-hash-crc64ecma"]) == crc64_of(data), "part CRC")
        # An expired URL is refused.
        expired = requests.get(bucket.sign_url("GET", key, -10))
        check(expired.status_code == 403, f"expired V1 URL gave {expired.status_code}")
        check("<Code>AccessDenied</Code>" in expired.text, "expired URL error code")

    def sts(self):
        sts_id, sts_secret, token = self.need_sts()
        for version in ("v1", "v4"):
            auth = oss2.StsAuth(sts_id, sts_secret, token, auth_version=version)
            bucket = self.oss2_bucket(auth=auth)
            key = f"sts/oss2-{version}.bak"
            bucket.put_object(key, b"sts body")
            check(bucket.get_object(key).read() == b"sts body", f"oss2 STS {version} GET")
            got = requests.get(bucket.sign_url("GET", key, 300))
            check(got.status_code == 200 and got.content == b"sts body", f"oss2 STS {version} presigned")
        client = self.v2_client(ak=sts_id, secret=sts_secret, token=token)
        client.put_object(oss.PutObjectRequest(bucket=self.bucket_name, key="sts/v2.bak", body=b"v2"))
        head = client.head_object(oss.HeadObjectRequest(bucket=self.bucket_name, key="sts/v2.bak"))
        check(head.content_length == 2, "v2 STS HEAD")
        # The STS key without its token is refused.
        try:
            self.oss2_bucket(auth=oss2.AuthV4(sts_id, sts_secret)).get_object("sts/v2.bak")
            raise Failed("STS key without token accepted")
        except oss2.exceptions.ServerError as err:
            check(err.status == 403 and err.code == "InvalidSecurityToken",
                  f"missing token gave {err.status} {err.code}")

    def wrong_secret(self):
        try:
            self.oss2_bucket("v4", secret=self.sk + "x").put_object("denied.bak", b"x")
            raise Failed("oss2 with a wrong secret succeeded")
        except oss2.exceptions.SignatureDoesNotMatch:
            pass
        try:
            self.oss2_bucket("v1", secret=self.sk + "x").get_bucket_info()
            raise Failed("oss2 V1 with a wrong secret succeeded")
        except oss2.exceptions.SignatureDoesNotMatch:
            pass
        client = self.v2_client(secret=self.sk + "x")
        try:
            client.get_bucket_info(oss.GetBucketInfoRequest(bucket=self.bucket_name))
            raise Failed("v2 with a wrong secret succeeded")
        except oss.exceptions.OperationError as err:
            check(err.unwrap().code == "SignatureDoesNotMatch", f"v2 got {err.unwrap().code}")
            check(err.unwrap().status_code == 403, "status 403")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("serve_json", nargs="?", default=os.environ.get("BAK2RDS_SERVE_JSON"))
    parser.add_argument("--sts-id")
    parser.add_argument("--sts-secret")
    parser.add_argument("--sts-token")
    args = parser.parse_args()
    if not args.serve_json:
        parser.error("give the JSON line of `bak2rds serve` (argument or BAK2RDS_SERVE_JSON)")
    sts = None
    if args.sts_id and args.sts_secret and args.sts_token:
        sts = (args.sts_id, args.sts_secret, args.sts_token)
    suite = Suite(json.loads(args.serve_json), sts)
    scenarios = [
        ("bucket info (oss2 V1, v2 V4)", suite.bucket_info),
        ("put/get/head/delete (oss2 V1)", lambda: suite.oss2_object_basics("v1")),
        ("put/get/head/delete (oss2 V4)", lambda: suite.oss2_object_basics("v4")),
        ("put/get/head/delete (v2 V4)", suite.v2_object_basics),
        ("multipart (oss2 V1)", lambda: suite.oss2_multipart("v1")),
        ("multipart (oss2 V4)", lambda: suite.oss2_multipart("v4")),
        ("multipart (v2 V1)", lambda: suite.v2_multipart("v1")),
        ("multipart (v2 V4)", lambda: suite.v2_multipart("v4")),
        ("multipart rules: EntityTooSmall, NoSuchUpload", suite.multipart_rules),
        ("oss2.resumable_upload: forced failure, resume", suite.oss2_resumable),
        ("v2 Uploader: forced failure, resume, CRC of listed parts", suite.v2_uploader),
        ("presigned URLs (V1, V4, expired)", suite.presigned),
        ("STS (oss2 V1/V4, v2 V4)", suite.sts),
        ("wrong secret refused", suite.wrong_secret),
    ]
    for name, scenario in scenarios:
        suite.run(name, scenario)
    passed = sum(1 for _, ok in suite.results if ok)
    failed = len(suite.results) - passed
    print(f"sdk-oss: {passed} passed, {failed} failed", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
