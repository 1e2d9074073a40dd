//! The OSS operations that clients other than bak2rds use (ossutil, ossbrowser, scripts):
//! CopyObject, UploadPartCopy, ListObjects with a delimiter, ListObjectsV2, DeleteMultipleObjects,
//! an unknown virtual-hosted bucket, and 501 for what the emulator does not implement.

use bak2rds_cloud::checksum::{content_md5, crc64};
use bak2rds_cloud::oss::sign;
use bak2rds_emulator::{BucketConfig, Emulator, EmulatorBuilder, EmulatorConfig};
use time::OffsetDateTime;

use super::{MIN_PART, Oss, between, data};

/// Every `<open>…<close>` of `text`, in order.
fn all_between(text: &str, open: &str, close: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(open) {
        let after = &rest[start + open.len()..];
        let Some(end) = after.find(close) else { break };
        found.push(after[..end].to_owned());
        rest = &after[end + close.len()..];
    }
    found
}

fn with_second_bucket(builder: EmulatorBuilder) -> EmulatorBuilder {
    let mut config = EmulatorConfig::default();
    config.buckets.push(BucketConfig::new("other-bucket"));
    builder.config(config)
}

pub(super) async fn copy_object_copies_bytes_metadata_and_conditions(builder: EmulatorBuilder) {
    let handle = with_second_bucket(builder).start().await.unwrap();
    let oss = Oss::new(&handle);
    let body = data(300_000, 3);
    let source_meta = [
        ("x-oss-meta-origin", "sqlserver"),
        ("content-type", "application/x-bak"),
    ];
    let put = oss
        .send("PUT", Some("src.bak"), &[], &source_meta, body.clone())
        .await;
    assert_eq!(put.status, 200);
    let source = format!("/{}/src.bak", handle.bucket());

    // COPY (the default): bytes, CRC-64, ETag and metadata of the source.
    let copy = oss
        .send(
            "PUT",
            Some("dst.bak"),
            &[],
            &[("x-oss-copy-source", &source)],
            Vec::new(),
        )
        .await;
    assert_eq!(copy.status, 200, "{}", copy.text());
    assert!(
        copy.text().contains("<CopyObjectResult>"),
        "{}",
        copy.text()
    );
    assert_eq!(
        between(&copy.text(), "<ETag>", "</ETag>"),
        put.header("etag")
    );
    let got = oss.get("dst.bak", &[]).await;
    assert_eq!(got.body, body);
    assert_eq!(got.crc(), crc64(&body));
    assert_eq!(got.header("x-oss-meta-origin"), "sqlserver");
    assert_eq!(got.header("content-type"), "application/x-bak");

    // REPLACE: the request's metadata instead.
    let replace = [
        ("x-oss-copy-source", source.as_str()),
        ("x-oss-metadata-directive", "REPLACE"),
        ("x-oss-meta-stage", "rehearsal"),
    ];
    let replaced = oss
        .send("PUT", Some("dst2.bak"), &[], &replace, Vec::new())
        .await;
    assert_eq!(replaced.status, 200, "{}", replaced.text());
    let got = oss.get("dst2.bak", &[]).await;
    assert_eq!(got.header("x-oss-meta-stage"), "rehearsal");
    assert_eq!(got.header("x-oss-meta-origin"), "");
    assert_eq!(got.body, body);

    // A missing source: NoSuchKey, and the destination keeps its bytes (it once became empty).
    let missing = format!("/{}/no-such.bak", handle.bucket());
    let refused = oss
        .send(
            "PUT",
            Some("dst.bak"),
            &[],
            &[("x-oss-copy-source", &missing)],
            Vec::new(),
        )
        .await;
    assert_eq!(
        (refused.status, refused.code().as_str()),
        (404, "NoSuchKey")
    );
    let kept = oss.get("dst.bak", &[]).await;
    assert_eq!(kept.body, body);
    assert_eq!(kept.crc(), crc64(&body));

    // Conditions.
    let conditional = |name: &'static str, value: String| {
        let source = source.clone();
        let oss = &oss;
        async move {
            let headers = [
                ("x-oss-copy-source", source.as_str()),
                (name, value.as_str()),
            ];
            oss.send("PUT", Some("cond.bak"), &[], &headers, Vec::new())
                .await
        }
    };
    let etag = put.header("etag").to_owned();
    assert_eq!(
        conditional("x-oss-copy-source-if-match", "\"0000\"".into())
            .await
            .status,
        412
    );
    assert_eq!(
        conditional("x-oss-copy-source-if-match", etag.clone())
            .await
            .status,
        200
    );
    assert_eq!(
        conditional("x-oss-copy-source-if-none-match", etag)
            .await
            .status,
        304
    );
    let past = sign::http_date(OffsetDateTime::now_utc() - time::Duration::days(1));
    let future = sign::http_date(OffsetDateTime::now_utc() + time::Duration::days(1));
    assert_eq!(
        conditional("x-oss-copy-source-if-unmodified-since", past)
            .await
            .status,
        412
    );
    assert_eq!(
        conditional("x-oss-copy-source-if-modified-since", future)
            .await
            .status,
        304
    );
    let bad = conditional("x-oss-metadata-directive", "MOVE".into()).await;
    assert_eq!((bad.status, bad.code().as_str()), (400, "InvalidArgument"));

    // Across buckets, and from an unknown bucket.
    let mut other = Oss::new(&handle);
    other.bucket = "other-bucket".to_owned();
    let across = other
        .send(
            "PUT",
            Some("copied.bak"),
            &[],
            &[("x-oss-copy-source", &source)],
            Vec::new(),
        )
        .await;
    assert_eq!(across.status, 200, "{}", across.text());
    assert_eq!(other.get("copied.bak", &[]).await.body, body);
    let nowhere = oss
        .send(
            "PUT",
            Some("x.bak"),
            &[],
            &[("x-oss-copy-source", "/no-bucket/k")],
            Vec::new(),
        )
        .await;
    assert_eq!(
        (nowhere.status, nowhere.code().as_str()),
        (404, "NoSuchBucket")
    );

    // The copy outlives its source.
    assert_eq!(
        oss.send("DELETE", Some("src.bak"), &[], &[], Vec::new())
            .await
            .status,
        204
    );
    assert_eq!(oss.get("dst.bak", &[]).await.body, body);
}

pub(super) async fn upload_part_copy_builds_an_object_from_ranges(builder: EmulatorBuilder) {
    let handle = builder.start().await.unwrap();
    let oss = Oss::new(&handle);
    let body = data(2 * MIN_PART + 777, 9);
    assert_eq!(oss.put("whole.bak", &body).await.status, 200);
    let source = format!("/{}/whole.bak", handle.bucket());
    let upload_id = oss.initiate("assembled.bak").await;
    let ranges = [
        (0, MIN_PART - 1),
        (MIN_PART, 2 * MIN_PART - 1),
        (2 * MIN_PART, body.len() - 1),
    ];
    let mut parts = Vec::new();
    for (index, (first, last)) in ranges.iter().enumerate() {
        let number = (index + 1).to_string();
        let range = format!("bytes={first}-{last}");
        let headers = [
            ("x-oss-copy-source", source.as_str()),
            ("x-oss-copy-source-range", range.as_str()),
        ];
        let query = [
            ("partNumber", number.as_str()),
            ("uploadId", upload_id.as_str()),
        ];
        let reply = oss
            .send("PUT", Some("assembled.bak"), &query, &headers, Vec::new())
            .await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        assert!(reply.text().contains("<CopyPartResult>"));
        assert_eq!(reply.crc(), crc64(&body[*first..=*last]));
        parts.push((
            index as u32 + 1,
            between(&reply.text(), "<ETag>", "</ETag>"),
        ));
    }
    let done = oss.complete("assembled.bak", &upload_id, &parts).await;
    assert_eq!(done.status, 200, "{}", done.text());
    let got = oss.get("assembled.bak", &[]).await;
    assert_eq!(got.body, body);
    assert_eq!(got.crc(), crc64(&body));

    // UploadPartCopy answers every failed condition with 412 (CopyObject says 304 for two).
    let etag = oss.get("whole.bak", &[]).await.header("etag").to_owned();
    let conditional = [
        ("x-oss-copy-source", source.as_str()),
        ("x-oss-copy-source-if-none-match", etag.as_str()),
    ];
    let pending = oss.initiate("conditional.bak").await;
    let query = [("partNumber", "1"), ("uploadId", pending.as_str())];
    let reply = oss
        .send(
            "PUT",
            Some("conditional.bak"),
            &query,
            &conditional,
            Vec::new(),
        )
        .await;
    assert_eq!(reply.status, 412, "{}", reply.text());
    // A range outside the source is refused, and so is a missing source.
    let query = [("partNumber", "4"), ("uploadId", upload_id.as_str())];
    let too_far = format!("bytes=0-{}", body.len());
    let headers = [
        ("x-oss-copy-source", source.as_str()),
        ("x-oss-copy-source-range", too_far.as_str()),
    ];
    let other = oss.initiate("other.bak").await;
    let query_other = [("partNumber", "1"), ("uploadId", other.as_str())];
    let refused = oss
        .send("PUT", Some("other.bak"), &query_other, &headers, Vec::new())
        .await;
    assert_eq!(
        (refused.status, refused.code().as_str()),
        (400, "InvalidArgument")
    );
    let missing = format!("/{}/gone.bak", handle.bucket());
    let refused = oss
        .send(
            "PUT",
            Some("assembled.bak"),
            &query,
            &[("x-oss-copy-source", &missing)],
            Vec::new(),
        )
        .await;
    assert!(
        refused.status == 404 && ["NoSuchKey", "NoSuchUpload"].contains(&refused.code().as_str())
    );
}

/// Follows `NextMarker` (V1) or `NextContinuationToken` (V2) two entries at a time and returns
/// every key and common prefix seen, with whether each `<Contents>` carried an `<Owner>`.
async fn list_all(oss: &Oss, v2: bool, fetch_owner: bool) -> (Vec<String>, Vec<String>, bool) {
    let mut keys = Vec::new();
    let mut prefixes = Vec::new();
    let mut every_owner = true;
    let mut resume: Option<String> = None;
    for _ in 0..20 {
        let mut query = vec![
            ("prefix", "ls/".to_owned()),
            ("delimiter", "/".to_owned()),
            ("max-keys", "2".to_owned()),
            ("encoding-type", "url".to_owned()),
        ];
        if v2 {
            query.push(("list-type", "2".to_owned()));
            if fetch_owner {
                query.push(("fetch-owner", "true".to_owned()));
            }
        }
        if let Some(resume) = &resume {
            query.push((
                if v2 { "continuation-token" } else { "marker" },
                resume.clone(),
            ));
        }
        let pairs: Vec<(&str, &str)> = query.iter().map(|(n, v)| (*n, v.as_str())).collect();
        let reply = oss.send("GET", None, &pairs, &[], Vec::new()).await;
        let text = reply.text();
        assert_eq!(reply.status, 200, "{text}");
        let contents = all_between(&text, "<Contents>", "</Contents>");
        every_owner &= contents.iter().all(|c| c.contains("<Owner>"));
        let page_keys = all_between(&text, "<Key>", "</Key>");
        let page_prefixes: Vec<String> =
            all_between(&text, "<CommonPrefixes>", "</CommonPrefixes>")
                .iter()
                .map(|p| between(p, "<Prefix>", "</Prefix>"))
                .collect();
        assert!(page_keys.len() + page_prefixes.len() <= 2, "{text}");
        if v2 {
            let count: usize = between(&text, "<KeyCount>", "</KeyCount>").parse().unwrap();
            assert_eq!(count, page_keys.len() + page_prefixes.len(), "{text}");
            assert!(
                !text.contains("<Marker>"),
                "V1 field in a V2 answer: {text}"
            );
        }
        keys.extend(page_keys);
        prefixes.extend(page_prefixes);
        if !text.contains("<IsTruncated>true</IsTruncated>") {
            return (keys, prefixes, every_owner);
        }
        resume = Some(if v2 {
            between(&text, "<NextContinuationToken>", "</NextContinuationToken>")
        } else {
            percent_encoding::percent_decode_str(&between(&text, "<NextMarker>", "</NextMarker>"))
                .decode_utf8()
                .unwrap()
                .into_owned()
        });
    }
    panic!("the listing never ended");
}

pub(super) async fn listings_roll_up_prefixes_and_page_to_the_end(builder: EmulatorBuilder) {
    let handle = builder.start().await.unwrap();
    let oss = Oss::new(&handle);
    for key in [
        "ls/a.txt",
        "ls/b/1",
        "ls/b/2",
        "ls/c/1",
        "ls/d e+f.txt",
        "ls/g/x",
        "other.txt",
    ] {
        assert_eq!(oss.put(key, b"x").await.status, 200);
    }
    let strings = |items: &[&str]| items.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    let expected_keys = strings(&["ls/a.txt", "ls/d%20e%2Bf.txt"]);
    let expected_prefixes = strings(&["ls/b/", "ls/c/", "ls/g/"]);
    let (keys, prefixes, owner) = list_all(&oss, false, false).await;
    assert_eq!(
        (keys, prefixes),
        (expected_keys.clone(), expected_prefixes.clone())
    );
    assert!(owner, "ListObjects carries <Owner> in every <Contents>");
    let (keys, prefixes, owner) = list_all(&oss, true, false).await;
    assert_eq!(
        (keys, prefixes),
        (expected_keys.clone(), expected_prefixes.clone())
    );
    assert!(!owner, "ListObjectsV2 without fetch-owner has no <Owner>");
    let (_, _, owner) = list_all(&oss, true, true).await;
    assert!(owner);
    // start-after skips what sorts before it.
    let query = [
        ("list-type", "2"),
        ("start-after", "ls/c/1"),
        ("prefix", "ls/"),
    ];
    let text = oss.send("GET", None, &query, &[], Vec::new()).await.text();
    assert_eq!(
        all_between(&text, "<Key>", "</Key>"),
        ["ls/d e+f.txt", "ls/g/x"]
    );
    assert!(text.contains("<StartAfter>ls/c/1</StartAfter>"), "{text}");
}

pub(super) async fn delete_multiple_objects_in_both_modes(builder: EmulatorBuilder) {
    let handle = builder.start().await.unwrap();
    let oss = Oss::new(&handle);
    for key in ["d/1", "d/2", "d/3 +"] {
        assert_eq!(oss.put(key, b"x").await.status, 200);
    }
    let delete = |keys: &[&str], quiet: bool| {
        let mut xml = format!("<Delete><Quiet>{quiet}</Quiet>");
        for key in keys {
            xml.push_str(&format!("<Object><Key>{key}</Key></Object>"));
        }
        xml.push_str("</Delete>");
        xml.into_bytes()
    };
    let send = |body: Vec<u8>, with_md5: bool| {
        let md5 = content_md5(&body);
        let oss = &oss;
        async move {
            let headers: Vec<(&str, &str)> = if with_md5 {
                vec![("content-md5", md5.as_str())]
            } else {
                Vec::new()
            };
            oss.send(
                "POST",
                None,
                &[("delete", ""), ("encoding-type", "url")],
                &headers,
                body,
            )
            .await
        }
    };
    let verbose = send(delete(&["d/1", "d/3 +", "never-existed"], false), true).await;
    assert_eq!(verbose.status, 200, "{}", verbose.text());
    assert_eq!(
        all_between(&verbose.text(), "<Key>", "</Key>"),
        ["d/1", "d/3%20%2B", "never-existed"]
    );
    assert_eq!(oss.get("d/1", &[]).await.code(), "NoSuchKey");
    let quiet = send(delete(&["d/2"], true), true).await;
    assert_eq!(quiet.status, 200);
    assert!(!quiet.text().contains("<Deleted>"), "{}", quiet.text());
    assert_eq!(oss.get("d/2", &[]).await.code(), "NoSuchKey");

    let unsigned_body = send(delete(&["d/x"], false), false).await;
    assert_eq!(
        (unsigned_body.status, unsigned_body.code().as_str()),
        (400, "MissingArgument")
    );
    let keys: Vec<String> = (0..1001).map(|i| format!("k{i}")).collect();
    let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    let too_many = send(delete(&refs, true), true).await;
    assert_eq!(
        (too_many.status, too_many.code().as_str()),
        (400, "MalformedXML")
    );
}

pub(super) async fn unimplemented_requests_answer_501(builder: EmulatorBuilder) {
    let handle = builder.start().await.unwrap();
    let oss = Oss::new(&handle);
    assert_eq!(oss.put("k.bak", b"bytes").await.status, 200);
    for (method, key, query, headers) in [
        (
            "PUT",
            Some("k.bak"),
            &[("acl", "")][..],
            &[("x-oss-object-acl", "private")][..],
        ),
        (
            "POST",
            Some("k.bak"),
            &[("append", ""), ("position", "5")][..],
            &[][..],
        ),
        ("GET", None, &[("versions", "")][..], &[][..]),
        (
            "GET",
            Some("k.bak"),
            &[("x-oss-process", "image/resize,w_10")][..],
            &[][..],
        ),
        (
            "PUT",
            Some("k.bak"),
            &[][..],
            &[("x-oss-callback", "e30=")][..],
        ),
    ] {
        let reply = oss.send(method, key, query, headers, Vec::new()).await;
        assert_eq!(
            (reply.status, reply.code().as_str()),
            (501, "NotImplemented"),
            "{method} {key:?} {query:?}: {}",
            reply.text()
        );
    }
    // None of them touched the object.
    assert_eq!(oss.get("k.bak", &[]).await.body, b"bytes");
}

/// `Host: <unknown bucket>.<domain>`: NoSuchBucket (it used to be read as path style, and the
/// signature, computed for that bucket, did not match).
#[tokio::test]
async fn an_unknown_virtual_hosted_bucket_is_no_such_bucket() {
    let handle = Emulator::builder().start().await.unwrap();
    let oss = Oss::new(&handle);
    let response = oss
        .get_virtual_hosted(
            "no-such-bucket.oss-cn-hangzhou.aliyuncs.com",
            "no-such-bucket",
            "k.bak",
        )
        .await;
    assert_eq!(response.status().as_u16(), 404);
    let text = response.text().await.unwrap();
    assert!(text.contains("<Code>NoSuchBucket</Code>"), "{text}");
    assert!(text.contains("no-such-bucket"), "{text}");
}

/// A copy shares its source's stored bytes; after a restart of a disk emulator, deleting the
/// source must not remove the file the copy still reads.
#[tokio::test]
async fn a_copy_survives_a_restart_and_its_source_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let start = || Emulator::builder().data_dir(dir.path()).start();
    let handle = start().await.unwrap();
    let oss = Oss::new(&handle);
    let body = data(150_000, 5);
    assert_eq!(oss.put("src.bak", &body).await.status, 200);
    let source = format!("/{}/src.bak", handle.bucket());
    let copy = oss
        .send(
            "PUT",
            Some("dst.bak"),
            &[],
            &[("x-oss-copy-source", &source)],
            Vec::new(),
        )
        .await;
    assert_eq!(copy.status, 200);
    handle.shutdown().await.unwrap();

    let handle = start().await.unwrap();
    let oss = Oss::new(&handle);
    assert_eq!(
        oss.send("DELETE", Some("src.bak"), &[], &[], Vec::new())
            .await
            .status,
        204
    );
    assert_eq!(oss.get("dst.bak", &[]).await.body, body);
    handle.shutdown().await.unwrap();
    let handle = start().await.unwrap();
    assert_eq!(Oss::new(&handle).get("dst.bak", &[]).await.body, body);
}
