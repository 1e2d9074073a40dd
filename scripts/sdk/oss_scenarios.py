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
import itertools
import json
import os
import random
import sys
import tempfile
import traceback
import urllib.parse

import requests

import oss2
import alibabacloud_oss_v2 as oss

MIB = 1024 * 1024
# Part size of the multipart scenarios: above OSS's 100 KB minimum (oss-protocol.md section 1.3).
PART = 256 * 1024
# Objects of the listing scenarios, under ls/<sdk>-<version>/. With delimiter "/" they list as
# 3 keys and 3 common prefixes; two names need url encoding (space, '+', '%', non-ASCII).
LIST_NAMES = ["a.txt", "b/1", "b/2", "c/1", "d.txt", "e+é/x", "sp ace+plus%.txt"]
# Upper bound on the pages of a listing: a token that never advances must not loop forever.
MAX_PAGES = 10
WRONG_ETAG = '"0123456789ABCDEF0123456789ABCDEF"'


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

    # -- listing, copy, batch delete, virtual-hosted addressing --------------------------------

    def list_fixture(self, put, tag):
        """Puts LIST_NAMES under ls/<tag>/; returns the prefix, the keys and the common prefixes
        that a listing of that prefix with delimiter "/" must return."""
        prefix = f"ls/{tag}/"
        for name in LIST_NAMES:
            put(prefix + name, name.encode())
        keys = {prefix + name for name in LIST_NAMES if "/" not in name}
        prefixes = {prefix + name.split("/")[0] + "/" for name in LIST_NAMES if "/" in name}
        return prefix, keys, prefixes

    @staticmethod
    def page_through(what, fetch, expected):
        """Calls fetch(token) -> (entries of the page, next token or None), from token None
        until no next token, and checks that the pages of 2 hold each expected entry once."""
        pages, token = [], None
        for _ in range(MAX_PAGES):
            entries, token = fetch(token)
            check(len(entries) <= 2, f"{what}: {len(entries)} entries on a page of max-keys 2")
            pages.append(entries)
            if token is None:
                break
        else:
            raise Failed(f"{what}: still truncated after {MAX_PAGES} pages")
        listed = [entry for page in pages for entry in page]
        check(len(listed) == len(set(listed)), f"{what}: an entry listed twice in {pages}")
        check(set(listed) == expected, f"{what}: listed {sorted(listed)}")
        # 3 keys + 3 common prefixes, max-keys counting both: exactly 3 full pages.
        check(len(pages) == 3, f"{what}: {len(pages)} pages {pages}")

    def oss2_list(self, version):
        bucket = self.oss2_bucket(version)
        prefix, keys, prefixes = self.list_fixture(bucket.put_object, f"oss2-{version}")

        def v1_page(marker):
            page = bucket.list_objects(prefix=prefix, delimiter="/", marker=marker or "", max_keys=2)
            # ListObjects (V1) gives the owner of every object.
            check(all(o.owner is not None and o.owner.id for o in page.object_list),
                  "ListObjects: <Owner><ID> missing")
            entries = [o.key for o in page.object_list] + page.prefix_list
            return entries, page.next_marker if page.is_truncated else None

        def v2_page(token):
            page = bucket.list_objects_v2(prefix=prefix, delimiter="/", continuation_token=token or "",
                                          max_keys=2)
            # Without fetch-owner=true, ListObjectsV2 leaves the owner out.
            check(all(o.owner is None for o in page.object_list), "ListObjectsV2: owner without fetch-owner")
            entries = [o.key for o in page.object_list] + page.prefix_list
            return entries, page.next_continuation_token if page.is_truncated else None

        self.page_through("list_objects", v1_page, keys | prefixes)
        self.page_through("list_objects_v2", v2_page, keys | prefixes)
        # The iterators page the same way; islice bounds them if a page never ends the listing.
        for what, iterator in [
            ("ObjectIterator", oss2.ObjectIterator(bucket, prefix=prefix, delimiter="/", max_keys=2)),
            ("ObjectIteratorV2", oss2.ObjectIteratorV2(bucket, prefix=prefix, delimiter="/",
                                                       fetch_owner=True, max_keys=2)),
        ]:
            items = list(itertools.islice(iterator, 2 * MAX_PAGES))
            listed = [o.key for o in items]
            check(sorted(listed) == sorted(keys | prefixes), f"{what} listed {listed}")
            check({o.key for o in items if o.is_prefix()} == prefixes, f"{what} common prefixes")
            check(all(o.owner is not None and o.owner.id for o in items if not o.is_prefix()),
                  f"{what}: owner missing")
        # start-after: the listing resumes after c/1, so the c/ group is past.
        after = bucket.list_objects_v2(prefix=prefix, delimiter="/", start_after=prefix + "c/1")
        listed = sorted([o.key for o in after.object_list] + after.prefix_list)
        check(listed == sorted({prefix + "d.txt", prefix + "e+é/", prefix + "sp ace+plus%.txt"}),
              f"start-after listed {listed}")

    def v2_list(self, version):
        client = self.v2_client(version)
        bucket = self.bucket_name

        def put(key, body):
            client.put_object(oss.PutObjectRequest(bucket=bucket, key=key, body=body))

        prefix, keys, prefixes = self.list_fixture(put, f"v2-{version}")

        def entries_of(page):
            # The SDK asks for encoding-type=url and decodes only when the answer says so.
            check(page.encoding_type == "url", f"EncodingType {page.encoding_type!r}")
            contents = page.contents or []
            return contents, [o.key for o in contents] + [p.prefix for p in page.common_prefixes or []]

        def v1_page(marker):
            page = client.list_objects(oss.ListObjectsRequest(
                bucket=bucket, prefix=prefix, delimiter="/", marker=marker, max_keys=2))
            contents, entries = entries_of(page)
            check(all(o.owner is not None and o.owner.id for o in contents), "ListObjects: owner missing")
            return entries, page.next_marker if page.is_truncated else None

        def v2_page(token):
            page = client.list_objects_v2(oss.ListObjectsV2Request(
                bucket=bucket, prefix=prefix, delimiter="/", continuation_token=token, max_keys=2))
            contents, entries = entries_of(page)
            check(page.key_count == len(entries), f"KeyCount {page.key_count} for {entries}")
            check(all(o.owner is None for o in contents), "ListObjectsV2: owner without fetch-owner")
            return entries, page.next_continuation_token if page.is_truncated else None

        self.page_through("list_objects", v1_page, keys | prefixes)
        self.page_through("list_objects_v2", v2_page, keys | prefixes)
        # The paginator follows NextContinuationToken; islice bounds it.
        paginator = client.list_objects_v2_paginator(limit=2)
        pages = itertools.islice(paginator.iter_page(oss.ListObjectsV2Request(
            bucket=bucket, prefix=prefix, delimiter="/", fetch_owner=True)), MAX_PAGES)
        listed, count = [], 0
        for count, page in enumerate(pages, start=1):
            contents, entries = entries_of(page)
            check(all(o.owner is not None and o.owner.id for o in contents), "paginator: owner missing")
            listed += entries
        check(count == 3, f"paginator: {count} pages")
        check(sorted(listed) == sorted(keys | prefixes), f"paginator listed {listed}")
        after = client.list_objects_v2(oss.ListObjectsV2Request(
            bucket=bucket, prefix=prefix, delimiter="/", start_after=prefix + "c/1"))
        _, listed = entries_of(after)
        check(sorted(listed) == sorted({prefix + "d.txt", prefix + "e+é/", prefix + "sp ace+plus%.txt"}),
              f"start-after listed {listed}")

    def oss2_copy(self, version):
        bucket = self.oss2_bucket(version)
        base = f"copy/oss2-{version}/"
        src = base + "söurce 1+1%.bak"  # travels url-encoded in x-oss-copy-source
        data = payload(300_000, 11)
        bucket.put_object(src, data, headers={
            "Content-Type": "application/x-sqlbak", "x-oss-meta-origin": "source",
            "x-oss-meta-only-source": "yes"})
        source = bucket.head_object(src)
        # COPY (the default directive): bytes, CRC-64, content type and user metadata of the source.
        copied = bucket.copy_object(self.bucket_name, src, base + "copy")
        check(copied.crc == crc64_of(data), f"CopyObject x-oss-hash-crc64ecma {copied.crc}")
        head = bucket.head_object(base + "copy")
        check(head.server_crc == crc64_of(data), "copy CRC")
        check(head.etag == source.etag, f"copy ETag {head.etag} vs {source.etag}")
        check(head.content_type == "application/x-sqlbak", f"COPY content type {head.content_type}")
        check(head.headers.get("x-oss-meta-origin") == "source", "COPY x-oss-meta-origin")
        check(head.headers.get("x-oss-meta-only-source") == "yes", "COPY x-oss-meta-only-source")
        check(bucket.get_object(base + "copy").read() == data, "copy body")
        # REPLACE: content type and metadata come from the request, none from the source.
        bucket.copy_object(self.bucket_name, src, base + "replaced", headers={
            "x-oss-metadata-directive": "REPLACE", "Content-Type": "text/plain",
            "x-oss-meta-origin": "replaced"})
        head = bucket.head_object(base + "replaced")
        check(head.content_type == "text/plain", f"REPLACE content type {head.content_type}")
        check(head.headers.get("x-oss-meta-origin") == "replaced", "REPLACE x-oss-meta-origin")
        check("x-oss-meta-only-source" not in head.headers, "REPLACE kept the source's metadata")
        check(bucket.get_object(base + "replaced").read() == data, "REPLACE body")
        # A missing source is NoSuchKey and leaves the existing destination as it was.
        try:
            bucket.copy_object(self.bucket_name, base + "missing.bak", base + "copy")
            raise Failed("copy from a missing source succeeded")
        except oss2.exceptions.NoSuchKey:
            pass
        check(bucket.get_object(base + "copy").read() == data, "failed copy changed the destination")
        check(bucket.head_object(base + "copy").etag == source.etag, "failed copy changed the ETag")
        # Conditions on the source: failed if-match / if-unmodified-since are 412 PreconditionFailed,
        # failed if-none-match / if-modified-since are 304 (oss2 raises NotModified, code '').
        target = base + "conditional"
        refusals = [
            ({"x-oss-copy-source-if-match": WRONG_ETAG}, 412),
            ({"x-oss-copy-source-if-unmodified-since": "Mon, 01 Jan 2001 00:00:00 GMT"}, 412),
            ({"x-oss-copy-source-if-none-match": source.headers["etag"]}, 304),
            ({"x-oss-copy-source-if-modified-since": source.headers["last-modified"]}, 304),
        ]
        for headers, status in refusals:
            try:
                bucket.copy_object(self.bucket_name, src, target, headers=headers)
                raise Failed(f"copy with {headers} succeeded")
            except oss2.exceptions.ServerError as err:
                check(err.status == status, f"{headers} gave {err.status} {err.code}")
                if status == 412:
                    check(err.code == "PreconditionFailed", f"{headers} gave code {err.code}")
        check(self.oss2_absent(bucket, target), "a refused conditional copy wrote the destination")
        # Conditions that hold let the copy through; dates compare at Last-Modified's resolution.
        bucket.copy_object(self.bucket_name, src, target, headers={
            "x-oss-copy-source-if-match": source.headers["etag"],
            "x-oss-copy-source-if-unmodified-since": source.headers["last-modified"]})
        check(bucket.head_object(target).server_crc == crc64_of(data), "if-match copy CRC")

    def v2_copy(self, version):
        client = self.v2_client(version)
        bucket, base = self.bucket_name, f"copy/v2-{version}/"
        src = base + "söurce 1+1%.bak"
        data = payload(300_000, 12)
        client.put_object(oss.PutObjectRequest(
            bucket=bucket, key=src, body=data, content_type="application/x-sqlbak",
            metadata={"origin": "source", "only-source": "yes"}))
        source = client.head_object(oss.HeadObjectRequest(bucket=bucket, key=src))

        def copy(key, **kwargs):
            return client.copy_object(oss.CopyObjectRequest(bucket=bucket, key=key, source_key=src, **kwargs))

        def head(key):
            return client.head_object(oss.HeadObjectRequest(bucket=bucket, key=key))

        def body(key):
            return client.get_object(oss.GetObjectRequest(bucket=bucket, key=key)).body.read()

        # COPY: the <CopyObjectResult> ETag and the CRC-64 header are the source's.
        copied = copy(base + "copy")
        check(copied.etag is not None and copied.etag.strip('"') == source.etag.strip('"'),
              f"CopyObjectResult ETag {copied.etag} vs {source.etag}")
        check(copied.last_modified is not None, "CopyObjectResult LastModified")
        check(int(copied.hash_crc64) == crc64_of(data), f"CopyObject hash_crc64 {copied.hash_crc64}")
        dest = head(base + "copy")
        check(dest.content_type == "application/x-sqlbak", f"COPY content type {dest.content_type}")
        check(dict(dest.metadata or {}) == {"origin": "source", "only-source": "yes"},
              f"COPY metadata {dest.metadata}")
        check(body(base + "copy") == data, "copy body")
        # REPLACE.
        copy(base + "replaced", metadata_directive="REPLACE", content_type="text/plain",
             metadata={"origin": "replaced"})
        dest = head(base + "replaced")
        check(dest.content_type == "text/plain", f"REPLACE content type {dest.content_type}")
        check(dict(dest.metadata or {}) == {"origin": "replaced"}, f"REPLACE metadata {dest.metadata}")
        check(int(dest.hash_crc64) == crc64_of(data), "REPLACE CRC")
        # Missing source: NoSuchKey, destination untouched.
        try:
            client.copy_object(oss.CopyObjectRequest(
                bucket=bucket, key=base + "copy", source_key=base + "missing.bak"))
            raise Failed("copy from a missing source succeeded")
        except oss.exceptions.OperationError as err:
            check((err.unwrap().status_code, err.unwrap().code) == (404, "NoSuchKey"),
                  f"missing source gave {err.unwrap().status_code} {err.unwrap().code}")
        check(body(base + "copy") == data, "failed copy changed the destination")
        # Conditions: the v2 SDK raises an OperationError wrapping a ServiceError for a 304 too
        # (every non-2xx status), with the status in status_code.
        target = base + "conditional"
        refusals = [
            (dict(if_match=WRONG_ETAG), 412),
            (dict(if_unmodified_since="Mon, 01 Jan 2001 00:00:00 GMT"), 412),
            (dict(if_none_match=source.etag), 304),
            (dict(if_modified_since=source.headers["Last-Modified"]), 304),
        ]
        for condition, status in refusals:
            try:
                copy(target, **condition)
                raise Failed(f"copy with {condition} succeeded")
            except oss.exceptions.OperationError as err:
                got = err.unwrap()
                check(got.status_code == status, f"{condition} gave {got.status_code} {got.code}")
                if status == 412:
                    check(got.code == "PreconditionFailed", f"{condition} gave code {got.code}")
        check(self.v2_absent(client, target), "a refused conditional copy wrote the destination")
        copy(target, if_none_match=WRONG_ETAG, if_unmodified_since=source.headers["Last-Modified"])
        check(body(target) == data, "if-none-match copy body")

    def oss2_upload_part_copy(self):
        bucket = self.oss2_bucket("v1")
        src, key = "partcopy/oss2-source.bak", "partcopy/oss2 copy+1.bak"
        data = payload(3 * PART, 13)
        bucket.put_object(src, data)
        # Two PART-sized ranges, out of order and unaligned, then a 1000-byte tail (inclusive ends).
        ranges = [(1000, 1000 + PART - 1), (5, 5 + PART - 1), (len(data) - 1000, len(data) - 1)]
        expected = b"".join(data[first:last + 1] for first, last in ranges)
        upload_id = bucket.init_multipart_upload(key).upload_id
        parts = []
        for number, byte_range in enumerate(ranges, start=1):
            result = bucket.upload_part_copy(self.bucket_name, src, byte_range, key, upload_id, number)
            check(result.etag, f"part {number}: no ETag header")
            parts.append(oss2.models.PartInfo(number, result.etag))
        listed = bucket.list_parts(key, upload_id)
        check([p.size for p in listed.parts] == [PART, PART, 1000], "ListParts sizes")
        done = bucket.complete_multipart_upload(key, upload_id, parts)
        check(done.crc == crc64_of(expected), "object CRC after Complete")
        check(bucket.get_object(key).read() == expected, "object body")

    def v2_upload_part_copy(self):
        client = self.v2_client()
        bucket, src, tail = self.bucket_name, "partcopy/v2-source.bak", "partcopy/v2-tail é.bak"
        key = "partcopy/v2-copy.bak"
        data, tail_data = payload(3 * PART, 14), payload(999, 15)
        client.put_object(oss.PutObjectRequest(bucket=bucket, key=src, body=data))
        client.put_object(oss.PutObjectRequest(bucket=bucket, key=tail, body=tail_data))
        init = client.initiate_multipart_upload(oss.InitiateMultipartUploadRequest(bucket=bucket, key=key))
        # Parts 1-2: ranges of the source; part 3: the whole tail object (no range header).
        copies = [(src, f"bytes={PART + 7}-{2 * PART + 6}"), (src, f"bytes=0-{PART - 1}"), (tail, None)]
        expected = data[PART + 7:2 * PART + 7] + data[:PART] + tail_data
        parts = []
        for number, (source_key, source_range) in enumerate(copies, start=1):
            result = client.upload_part_copy(oss.UploadPartCopyRequest(
                bucket=bucket, key=key, upload_id=init.upload_id, part_number=number,
                source_key=source_key, source_range=source_range))
            check(result.etag, f"part {number}: no <CopyPartResult><ETag>")
            parts.append(oss.UploadPart(part_number=number, etag=result.etag))
        done = client.complete_multipart_upload(oss.CompleteMultipartUploadRequest(
            bucket=bucket, key=key, upload_id=init.upload_id,
            complete_multipart_upload=oss.CompleteMultipartUpload(parts=parts)))
        check(int(done.hash_crc64) == crc64_of(expected), "object CRC after Complete")
        got = client.get_object(oss.GetObjectRequest(bucket=bucket, key=key))
        check(got.body.read() == expected, "object body")

    @staticmethod
    def oss2_absent(bucket, key):
        try:
            bucket.head_object(key)
            return False
        except oss2.exceptions.NotFound:
            return True

    def v2_absent(self, client, key):
        try:
            client.head_object(oss.HeadObjectRequest(bucket=self.bucket_name, key=key))
            return False
        except oss.exceptions.OperationError as err:
            check(err.unwrap().status_code == 404, f"HEAD {key}: {err.unwrap().status_code}")
            return True

    def oss2_batch_delete(self, version):
        bucket = self.oss2_bucket(version)
        base = f"batch/oss2-{version}/"
        present = [base + name for name in ("a.bak", "sp ace+plus%.bak", "ü/&<x>.bak")]
        for key in present:
            bucket.put_object(key, b"x")
        missing = base + "never-written.bak"
        # oss2 always asks for verbose mode with encoding-type=url: every key comes back, decoded,
        # including one that did not exist (OSS reports it as deleted).
        result = bucket.batch_delete_objects(present + [missing])
        check(sorted(result.deleted_keys) == sorted(present + [missing]), f"deleted {result.deleted_keys}")
        check(all(self.oss2_absent(bucket, key) for key in present), "an object survived")
        # At most 1,000 keys a request.
        try:
            bucket.batch_delete_objects([f"{base}{n}" for n in range(1001)])
            raise Failed("1,001 keys accepted")
        except oss2.exceptions.ServerError as err:
            check(err.status == 400, f"1,001 keys gave {err.status} {err.code}")

    def v2_batch_delete(self, version):
        client = self.v2_client(version)
        base = f"batch/v2-{version}/"
        keys = [base + name for name in ("a.bak", "sp ace+plus%.bak", "ü/&<x>.bak", "b.bak")]
        for key in keys:
            client.put_object(oss.PutObjectRequest(bucket=self.bucket_name, key=key, body=b"x"))

        def delete(names, quiet):
            return client.delete_multiple_objects(oss.DeleteMultipleObjectsRequest(
                bucket=self.bucket_name,
                delete=oss.Delete(objects=[oss.ObjectIdentifier(key=k) for k in names], quiet=quiet)))

        # Verbose: every key, a missing one included.
        missing = base + "never-written.bak"
        verbose = delete(keys[:3] + [missing], quiet=False)
        deleted = sorted(d.key for d in verbose.deleted_objects or [])
        check(deleted == sorted(keys[:3] + [missing]), f"verbose deleted {deleted}")
        # Quiet: no <Deleted> entries.
        quiet = delete(keys[3:], quiet=True)
        check(not quiet.deleted_objects, f"quiet mode returned {quiet.deleted_objects}")
        check(all(self.v2_absent(client, key) for key in keys), "an object survived")

    def unknown_bucket_virtual_host(self):
        """A virtual-hosted request to a bucket the emulator does not have is NoSuchBucket."""
        port = urllib.parse.urlsplit(self.endpoint).port
        auth = oss2.Auth(self.ak, self.sk)

        def list_bucket(name):
            # *.localhost does not resolve here: connect to 127.0.0.1 and name the bucket in Host,
            # which is what a virtual-hosted ListObjects sends; the V1 signature covers /<name>/.
            req = oss2.http.Request("GET", f"http://127.0.0.1:{port}/")
            auth._sign_request(req, name, "")
            headers = {k: v for k, v in req.headers.items() if v is not None}
            headers["Host"] = f"{name}.localhost:{port}"
            return requests.get(f"http://127.0.0.1:{port}/", headers=headers)

        # The known bucket first: the request is well formed and understood as virtual-hosted.
        known = list_bucket(self.bucket_name)
        check(known.status_code == 200 and "<ListBucketResult" in known.text,
              f"known bucket gave {known.status_code} {known.text[:200]}")
        unknown = list_bucket("nosuch-bucket-xyz")
        check(unknown.status_code == 404 and "<Code>NoSuchBucket</Code>" in unknown.text,
              f"unknown bucket gave {unknown.status_code} {unknown.text[:300]}")


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
        ("list with delimiter, pages (oss2 V1)", lambda: suite.oss2_list("v1")),
        ("list with delimiter, pages (oss2 V4)", lambda: suite.oss2_list("v4")),
        ("list with delimiter, pages (v2 V1)", lambda: suite.v2_list("v1")),
        ("list with delimiter, pages (v2 V4)", lambda: suite.v2_list("v4")),
        ("copy object (oss2 V1)", lambda: suite.oss2_copy("v1")),
        ("copy object (oss2 V4)", lambda: suite.oss2_copy("v4")),
        ("copy object (v2 V1)", lambda: suite.v2_copy("v1")),
        ("copy object (v2 V4)", lambda: suite.v2_copy("v4")),
        ("upload part copy (oss2 V1)", suite.oss2_upload_part_copy),
        ("upload part copy (v2 V4)", suite.v2_upload_part_copy),
        ("batch delete (oss2 V1)", lambda: suite.oss2_batch_delete("v1")),
        ("batch delete (oss2 V4)", lambda: suite.oss2_batch_delete("v4")),
        ("batch delete, verbose and quiet (v2 V1)", lambda: suite.v2_batch_delete("v1")),
        ("batch delete, verbose and quiet (v2 V4)", lambda: suite.v2_batch_delete("v4")),
        ("unknown bucket, virtual-hosted: NoSuchBucket", suite.unknown_bucket_virtual_host),
    ]
    for name, scenario in scenarios:
        suite.run(name, scenario)
    passed = sum(1 for _, ok in suite.results if ok)
    failed = len(suite.results) - passed
    print(f"sdk-oss: {passed} passed, {failed} failed", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
