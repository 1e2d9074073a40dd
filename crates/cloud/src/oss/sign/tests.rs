//! Every vector of `vectors/oss_sign_vectors.out` (computed by oss2 2.19.1 and
//! alibabacloud-oss-v2 1.4.1), inputs and expected values copied as facts.

use super::*;
use time::OffsetDateTime;

fn at(epoch: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(epoch).unwrap()
}

// ----------------------------------------------------------------------------------------------
// Section A: upstream SDK unit-test vectors
// ----------------------------------------------------------------------------------------------

#[test]
fn a1_v1_header() {
    let headers = [
        ("Content-MD5", "eB5eJF1ptWaXm4bijSPyxw=="),
        ("Content-Type", "text/html"),
        ("x-oss-meta-author", "alice"),
        ("x-oss-meta-magic", "abracadabra"),
        ("x-oss-date", "Wed, 28 Dec 2022 10:27:41 GMT"),
    ];
    let request = SignableRequest {
        method: "PUT",
        bucket: Some("examplebucket"),
        key: Some("nelson"),
        query: &[],
        headers: &headers,
    };
    let date = v1_date_slot(&request).unwrap();
    assert_eq!(
        v1_request_string_to_sign(&request, &date),
        "PUT\neB5eJF1ptWaXm4bijSPyxw==\ntext/html\nWed, 28 Dec 2022 10:27:41 GMT\n\
         x-oss-date:Wed, 28 Dec 2022 10:27:41 GMT\nx-oss-meta-author:alice\n\
         x-oss-meta-magic:abracadabra\n/examplebucket/nelson"
    );
    let credentials = Credentials::new("ak", "sk");
    assert_eq!(
        v1_sign_header(&credentials, &request),
        "OSS ak:kSHKmLxlyEAKtZPkJhG9bZb5k7M="
    );
    // A1b (research note §3.7): the same request with the `acl` sub-resource.
    let with_acl = SignableRequest {
        query: &[("acl", "")],
        ..request
    };
    assert_eq!(
        v1_sign_header(&credentials, &with_acl),
        "OSS ak:/afkugFbmWDQ967j1vr6zygBLQk="
    );
}

const A_QUERY: &[(&str, &str)] = &[
    ("param1", "value1"),
    ("+param1", "value3"),
    ("|param1", "value4"),
    ("+param2", ""),
    ("|param2", ""),
    ("param2", ""),
];

/// The A2..A4 request: odd header names and query names that need encoding.
fn a_headers(content_type: &'static str) -> Vec<(&'static str, &'static str)> {
    vec![
        ("x-oss-head1", "value"),
        ("abc", "value"),
        ("ZAbc", "value"),
        ("XYZ", "value"),
        ("content-type", content_type),
    ]
}

fn a_header_signed(epoch: i64, token: Option<&str>, additional: &[&str]) -> (String, String) {
    let time = at(epoch);
    let datetime = v4_datetime(time);
    let mut credentials = Credentials::new("ak", "sk");
    let mut headers = a_headers("text/plain");
    headers.push(("x-oss-content-sha256", UNSIGNED_PAYLOAD));
    headers.push(("x-oss-date", &datetime));
    if let Some(token) = token {
        credentials = credentials.with_security_token(token);
        headers.push(("x-oss-security-token", token));
    }
    let request = SignableRequest {
        method: "PUT",
        bucket: Some("bucket"),
        key: Some("1234+-/123/1.txt"),
        query: A_QUERY,
        headers: &headers,
    };
    let context = V4Context {
        region: "cn-hangzhou",
        product: V4_PRODUCT_OSS,
        time,
    };
    let additional_names = v4_additional_headers(additional, &headers);
    (
        v4_canonical_request(&request, &additional_names),
        v4_sign_header(&credentials, &context, &request, additional),
    )
}

#[test]
fn a2_v4_header() {
    let (canonical, authorization) = a_header_signed(1702743657, None, &[]);
    assert_eq!(
        canonical,
        "PUT\n/bucket/1234%2B-/123/1.txt\n\
         %2Bparam1=value3&%2Bparam2&%7Cparam1=value4&%7Cparam2&param1=value1&param2\n\
         content-type:text/plain\nx-oss-content-sha256:UNSIGNED-PAYLOAD\n\
         x-oss-date:20231216T162057Z\nx-oss-head1:value\n\n\nUNSIGNED-PAYLOAD"
    );
    assert_eq!(
        authorization,
        "OSS4-HMAC-SHA256 Credential=ak/20231216/cn-hangzhou/oss/aliyun_v4_request,\
         Signature=e21d18daa82167720f9b1047ae7e7f1ce7cb77a31e8203a7d5f4624fa0284afe"
    );
}

#[test]
fn a3_v4_header_sts() {
    let (_, authorization) = a_header_signed(1702784856, Some("token"), &[]);
    assert_eq!(
        authorization,
        "OSS4-HMAC-SHA256 Credential=ak/20231217/cn-hangzhou/oss/aliyun_v4_request,\
         Signature=b94a3f999cf85bcdc00d332fbd3734ba03e48382c36fa4d5af5df817395bd9ea"
    );
}

#[test]
fn a4_v4_header_additional_headers() {
    let (_, authorization) = a_header_signed(1702747512, None, &["ZAbc", "abc"]);
    assert_eq!(
        authorization,
        "OSS4-HMAC-SHA256 Credential=ak/20231216/cn-hangzhou/oss/aliyun_v4_request,\
         AdditionalHeaders=abc;zabc,\
         Signature=4a4183c187c07c8947db7620deb0a6b38d9fbdd34187b6dbaccb316fa251212f"
    );
    let parsed = parse_v4_authorization(&authorization).unwrap();
    assert_eq!(parsed.additional_headers, ["abc", "zabc"]);
}

#[test]
fn a5_v4_presigned() {
    let headers = a_headers("application/octet-stream");
    let request = SignableRequest {
        method: "PUT",
        bucket: Some("bucket"),
        key: Some("1234+-/123/1.txt"),
        query: A_QUERY,
        headers: &headers,
    };
    let context = V4Context {
        region: "cn-hangzhou",
        product: V4_PRODUCT_OSS,
        time: at(1702781677),
    };
    let expires_in = 1702782276 - 1702781677;
    let added = v4_presign_query(
        &Credentials::new("ak", "sk"),
        &context,
        &request,
        expires_in,
        &[],
    );
    let mut query: Vec<(&str, &str)> = A_QUERY.to_vec();
    query.extend(added.iter().map(|(n, v)| (n.as_str(), v.as_str())));
    assert_eq!(
        format!(
            "http://bucket.oss-cn-hangzhou.aliyuncs.com?{}",
            encode_query(&query)
        ),
        "http://bucket.oss-cn-hangzhou.aliyuncs.com?param1=value1&%2Bparam1=value3&\
         %7Cparam1=value4&%2Bparam2&%7Cparam2&param2&x-oss-signature-version=OSS4-HMAC-SHA256&\
         x-oss-date=20231217T025437Z&x-oss-expires=599&\
         x-oss-credential=ak%2F20231217%2Fcn-hangzhou%2Foss%2Faliyun_v4_request&\
         x-oss-signature=a39966c61718be0d5b14e668088b3fa07601033f6518ac7b523100014269c0fe"
    );
}

#[test]
fn a6_v1_presigned() {
    let request = SignableRequest {
        method: "GET",
        bucket: Some("bucket"),
        key: Some("key"),
        query: &[("versionId", "versionId")],
        headers: &[],
    };
    assert_eq!(
        v1_request_string_to_sign(&request, "1699807420"),
        "GET\n\n\n1699807420\n/bucket/key?versionId=versionId"
    );
    let added = v1_presign_query(&Credentials::new("ak", "sk"), &request, 1699807420);
    assert_eq!(
        encode_query(&added),
        "OSSAccessKeyId=ak&Expires=1699807420&Signature=dcLTea%2BYh9ApirQ8o8dOPqtvJXQ%3D"
    );
}

// ----------------------------------------------------------------------------------------------
// Sections B and C: project vectors
// ----------------------------------------------------------------------------------------------

const AK: &str = "LTAI5tOssEmulatorTestAK";
const SK: &str = "OssEmulatorTestSecretKey0123456789ab";
const TOKEN: &str = "CAIStsTokenExample+/==";
const REGION: &str = "cn-hangzhou";
const BUCKET: &str = "sqlbak-test";
const KEY: &str = "backups/db01/full_2024-01-02.bak";
const UPLOAD_ID: &str = "0004B9894A22E5B1888A1E29F823ABCD";
/// 2024-01-02T03:04:05Z.
const T_EPOCH: i64 = 1704164645;
const RFC1123: &str = "Tue, 02 Jan 2024 03:04:05 GMT";
const ISO: &str = "20240102T030405Z";
const PART_MD5: &str = "egiwfoRkFwPl8sg2qlmhcA==";
const COMPLETE_MD5: &str = "zsjdfFkLp7FSiLB46g/TAw==";
const EMPTY_MD5: &str = "1B2M2Y8AsgTpgAmY7PhCfg==";
const V4_SCOPE: &str = "20240102/cn-hangzhou/oss/aliyun_v4_request";

/// One section-B request and its expected values.
struct Vector {
    method: &'static str,
    key: Option<&'static str>,
    query: &'static [(&'static str, &'static str)],
    headers: &'static [(&'static str, &'static str)],
    token: bool,
    v1_string_to_sign: &'static str,
    v1_signature: &'static str,
    v4_canonical: &'static str,
    v4_hash: &'static str,
    v4_signature: &'static str,
}

const UPLOAD_1: &[(&str, &str)] = &[("partNumber", "1"), ("uploadId", UPLOAD_ID)];

const VECTORS: &[Vector] = &[
    // InitiateMultipartUpload
    Vector {
        method: "POST",
        key: Some(KEY),
        query: &[("uploads", "")],
        headers: &[("Content-Type", "application/octet-stream")],
        token: false,
        v1_string_to_sign: "POST\n\napplication/octet-stream\nTue, 02 Jan 2024 03:04:05 GMT\n\
                            /sqlbak-test/backups/db01/full_2024-01-02.bak?uploads",
        v1_signature: "9StKbqzKmEulbqGCjVGqGeig1cQ=",
        v4_canonical: "POST\n/sqlbak-test/backups/db01/full_2024-01-02.bak\nuploads\n\
                       content-type:application/octet-stream\n\
                       x-oss-content-sha256:UNSIGNED-PAYLOAD\nx-oss-date:20240102T030405Z\n\
                       \n\nUNSIGNED-PAYLOAD",
        v4_hash: "6855dcff37b585f3b723be30764e7e9acfb6c7422c9c741414b5e79c7d41c1fa",
        v4_signature: "4c1672a229a81dba50f2972768044b74d80392beb0d86e3ea26500dabe791990",
    },
    // InitiateMultipartUpload, v2-SDK style
    Vector {
        method: "POST",
        key: Some(KEY),
        query: &[("uploads", ""), ("encoding-type", "url")],
        headers: &[
            ("Content-Type", "application/octet-stream"),
            ("Content-MD5", EMPTY_MD5),
            ("x-oss-forbid-overwrite", "true"),
            ("x-oss-storage-class", "Standard"),
        ],
        token: false,
        v1_string_to_sign: "POST\n1B2M2Y8AsgTpgAmY7PhCfg==\napplication/octet-stream\n\
                            Tue, 02 Jan 2024 03:04:05 GMT\nx-oss-forbid-overwrite:true\n\
                            x-oss-storage-class:Standard\n\
                            /sqlbak-test/backups/db01/full_2024-01-02.bak?uploads",
        v1_signature: "5Ta1OCo+JBa+1UJdpvqOcOxvtYs=",
        v4_canonical: "POST\n/sqlbak-test/backups/db01/full_2024-01-02.bak\n\
                       encoding-type=url&uploads\ncontent-md5:1B2M2Y8AsgTpgAmY7PhCfg==\n\
                       content-type:application/octet-stream\n\
                       x-oss-content-sha256:UNSIGNED-PAYLOAD\nx-oss-date:20240102T030405Z\n\
                       x-oss-forbid-overwrite:true\nx-oss-storage-class:Standard\n\
                       \n\nUNSIGNED-PAYLOAD",
        v4_hash: "f3a0d0558777da0a6e6930c69f6869adb5bba2308fda82b31c936f24bff60195",
        v4_signature: "8e375ee552fa624102013bfc822718c97d17a6b2d982dc887d5d9c045085b563",
    },
    // UploadPart #1 with Content-MD5
    Vector {
        method: "PUT",
        key: Some(KEY),
        query: UPLOAD_1,
        headers: &[("Content-MD5", PART_MD5), ("Content-Length", "100")],
        token: false,
        v1_string_to_sign: "PUT\negiwfoRkFwPl8sg2qlmhcA==\n\nTue, 02 Jan 2024 03:04:05 GMT\n\
                            /sqlbak-test/backups/db01/full_2024-01-02.bak\
                            ?partNumber=1&uploadId=0004B9894A22E5B1888A1E29F823ABCD",
        v1_signature: "Z5ZoXMCZpnxsZkwAAMbHhpFg8IA=",
        v4_canonical: "PUT\n/sqlbak-test/backups/db01/full_2024-01-02.bak\n\
                       partNumber=1&uploadId=0004B9894A22E5B1888A1E29F823ABCD\n\
                       content-md5:egiwfoRkFwPl8sg2qlmhcA==\n\
                       x-oss-content-sha256:UNSIGNED-PAYLOAD\nx-oss-date:20240102T030405Z\n\
                       \n\nUNSIGNED-PAYLOAD",
        v4_hash: "5a738de496c7cce8700b2291b8b0e18e0fff6c50d364e6641b0feb3a763c30de",
        v4_signature: "50f3242365bd5574e18608df4cf81b7650b78b37ab2133cedb393d87b5c95b6e",
    },
    // UploadPart #10000, traffic limit
    Vector {
        method: "PUT",
        key: Some(KEY),
        query: &[("partNumber", "10000"), ("uploadId", UPLOAD_ID)],
        headers: &[("x-oss-traffic-limit", "838860800")],
        token: false,
        v1_string_to_sign: "PUT\n\n\nTue, 02 Jan 2024 03:04:05 GMT\n\
                            x-oss-traffic-limit:838860800\n\
                            /sqlbak-test/backups/db01/full_2024-01-02.bak\
                            ?partNumber=10000&uploadId=0004B9894A22E5B1888A1E29F823ABCD",
        v1_signature: "ktjxYXpuYQmz8bOqdKh945ZX0hY=",
        v4_canonical: "PUT\n/sqlbak-test/backups/db01/full_2024-01-02.bak\n\
                       partNumber=10000&uploadId=0004B9894A22E5B1888A1E29F823ABCD\n\
                       x-oss-content-sha256:UNSIGNED-PAYLOAD\nx-oss-date:20240102T030405Z\n\
                       x-oss-traffic-limit:838860800\n\n\nUNSIGNED-PAYLOAD",
        v4_hash: "1a2b7013ab706324fdb6a467293ae2412a3d4d23170ccdee7bc3b613a93e3a3e",
        v4_signature: "7244cb58a42de250fdf7c1db0971c4dd26af650325107ff084c26c4b6cf0588e",
    },
    // CompleteMultipartUpload
    Vector {
        method: "POST",
        key: Some(KEY),
        query: &[("uploadId", UPLOAD_ID)],
        headers: &[
            ("Content-MD5", COMPLETE_MD5),
            ("Content-Type", "application/xml"),
        ],
        token: false,
        v1_string_to_sign: "POST\nzsjdfFkLp7FSiLB46g/TAw==\napplication/xml\n\
                            Tue, 02 Jan 2024 03:04:05 GMT\n\
                            /sqlbak-test/backups/db01/full_2024-01-02.bak\
                            ?uploadId=0004B9894A22E5B1888A1E29F823ABCD",
        v1_signature: "GB2Ma9wVDNJYHr95a3egIGlOkbM=",
        v4_canonical: "POST\n/sqlbak-test/backups/db01/full_2024-01-02.bak\n\
                       uploadId=0004B9894A22E5B1888A1E29F823ABCD\n\
                       content-md5:zsjdfFkLp7FSiLB46g/TAw==\ncontent-type:application/xml\n\
                       x-oss-content-sha256:UNSIGNED-PAYLOAD\nx-oss-date:20240102T030405Z\n\
                       \n\nUNSIGNED-PAYLOAD",
        v4_hash: "c63f661bdc10587777bd739310ec0bf90b5850a6392f9c82f7f2e70d15396db6",
        v4_signature: "dd642d0a6cd74c40415bc32474d3bf27981bc3638da728800d8f8294330e3cf4",
    },
    // ListParts: max-parts / part-number-marker are not V1 sub-resources
    Vector {
        method: "GET",
        key: Some(KEY),
        query: &[
            ("uploadId", UPLOAD_ID),
            ("max-parts", "1000"),
            ("part-number-marker", "0"),
        ],
        headers: &[],
        token: false,
        v1_string_to_sign: "GET\n\n\nTue, 02 Jan 2024 03:04:05 GMT\n\
                            /sqlbak-test/backups/db01/full_2024-01-02.bak\
                            ?uploadId=0004B9894A22E5B1888A1E29F823ABCD",
        v1_signature: "SOxMPpjALdlzMUqK5n9oRuawfKI=",
        v4_canonical: "GET\n/sqlbak-test/backups/db01/full_2024-01-02.bak\n\
                       max-parts=1000&part-number-marker=0\
                       &uploadId=0004B9894A22E5B1888A1E29F823ABCD\n\
                       x-oss-content-sha256:UNSIGNED-PAYLOAD\nx-oss-date:20240102T030405Z\n\
                       \n\nUNSIGNED-PAYLOAD",
        v4_hash: "eae5cf9a66a1cfe51c54535ee3f6e8760ee5610bd1ebaad82d8121769425961f",
        v4_signature: "b4d4d7dfebe12924eeab33c0623ee493c81ba8a425840cd50b82d5873d96f9b6",
    },
    // AbortMultipartUpload
    Vector {
        method: "DELETE",
        key: Some(KEY),
        query: &[("uploadId", UPLOAD_ID)],
        headers: &[],
        token: false,
        v1_string_to_sign: "DELETE\n\n\nTue, 02 Jan 2024 03:04:05 GMT\n\
                            /sqlbak-test/backups/db01/full_2024-01-02.bak\
                            ?uploadId=0004B9894A22E5B1888A1E29F823ABCD",
        v1_signature: "azHtrsHR8fhJfKqzKAnwy0BeRf4=",
        v4_canonical: "DELETE\n/sqlbak-test/backups/db01/full_2024-01-02.bak\n\
                       uploadId=0004B9894A22E5B1888A1E29F823ABCD\n\
                       x-oss-content-sha256:UNSIGNED-PAYLOAD\nx-oss-date:20240102T030405Z\n\
                       \n\nUNSIGNED-PAYLOAD",
        v4_hash: "4053608fa9d21db6d77cf9ad5c093d130362e452ff77d6116c73ed3560bb55ff",
        v4_signature: "215cdc023a37ab2e8fe233cb3bde058d4891eee40f6af031df7d609bda25625a",
    },
    // ListMultipartUploads (bucket level)
    Vector {
        method: "GET",
        key: None,
        query: &[
            ("uploads", ""),
            ("prefix", "backups/"),
            ("max-uploads", "1000"),
        ],
        headers: &[],
        token: false,
        v1_string_to_sign: "GET\n\n\nTue, 02 Jan 2024 03:04:05 GMT\n/sqlbak-test/?uploads",
        v1_signature: "dXpUrwFOYm2/wR52PCd/EpN6BKQ=",
        v4_canonical: "GET\n/sqlbak-test/\nmax-uploads=1000&prefix=backups%2F&uploads\n\
                       x-oss-content-sha256:UNSIGNED-PAYLOAD\nx-oss-date:20240102T030405Z\n\
                       \n\nUNSIGNED-PAYLOAD",
        v4_hash: "0ce90b5c0ee68d6c8ea3997112b1b047a15c9fbc97b4e7c7523d7f850b79c546",
        v4_signature: "ba341f7cd3d11eb9c211ed21d813d41b1d92d83a609651cf49ad96e0dd9ff4d4",
    },
    // GetBucketInfo (bucket level)
    Vector {
        method: "GET",
        key: None,
        query: &[("bucketInfo", "")],
        headers: &[],
        token: false,
        v1_string_to_sign: "GET\n\n\nTue, 02 Jan 2024 03:04:05 GMT\n/sqlbak-test/?bucketInfo",
        v1_signature: "LONLGHxwb5O7/lhfBLZsBs38byU=",
        v4_canonical: "GET\n/sqlbak-test/\nbucketInfo\n\
                       x-oss-content-sha256:UNSIGNED-PAYLOAD\nx-oss-date:20240102T030405Z\n\
                       \n\nUNSIGNED-PAYLOAD",
        v4_hash: "dafcef23bc063079b55680eaff5807ef72ad28c28e8f06d3613ac04cd141dfce",
        v4_signature: "c56cf897998c943b7c9e6e244eb7e5b91c0ff76403f9e168b8d394950d450f39",
    },
    // HeadObject
    Vector {
        method: "HEAD",
        key: Some(KEY),
        query: &[],
        headers: &[],
        token: false,
        v1_string_to_sign: "HEAD\n\n\nTue, 02 Jan 2024 03:04:05 GMT\n\
                            /sqlbak-test/backups/db01/full_2024-01-02.bak",
        v1_signature: "YG7e7WWpxWQKVtxIUFCYj0L8els=",
        v4_canonical: "HEAD\n/sqlbak-test/backups/db01/full_2024-01-02.bak\n\n\
                       x-oss-content-sha256:UNSIGNED-PAYLOAD\nx-oss-date:20240102T030405Z\n\
                       \n\nUNSIGNED-PAYLOAD",
        v4_hash: "8037f5f4826c803167befb28a18991bddf9122c3a2c5c0bb13836b8311759a82",
        v4_signature: "3e651951034187fa0854dde38b569bb9519e4689a4e130ba03bcc6200d3f848f",
    },
    // PutObject with user metadata (mixed-case header name)
    Vector {
        method: "PUT",
        key: Some(KEY),
        query: &[],
        headers: &[
            ("Content-Type", "application/octet-stream"),
            ("Content-MD5", PART_MD5),
            ("x-oss-meta-source-host", "sql01"),
            ("X-OSS-Meta-DB", "db01"),
        ],
        token: false,
        v1_string_to_sign: "PUT\negiwfoRkFwPl8sg2qlmhcA==\napplication/octet-stream\n\
                            Tue, 02 Jan 2024 03:04:05 GMT\nx-oss-meta-db:db01\n\
                            x-oss-meta-source-host:sql01\n\
                            /sqlbak-test/backups/db01/full_2024-01-02.bak",
        v1_signature: "uvW3o691ItnkbKnLLOdO38T8lxw=",
        v4_canonical: "PUT\n/sqlbak-test/backups/db01/full_2024-01-02.bak\n\n\
                       content-md5:egiwfoRkFwPl8sg2qlmhcA==\n\
                       content-type:application/octet-stream\n\
                       x-oss-content-sha256:UNSIGNED-PAYLOAD\nx-oss-date:20240102T030405Z\n\
                       x-oss-meta-db:db01\nx-oss-meta-source-host:sql01\n\
                       \n\nUNSIGNED-PAYLOAD",
        v4_hash: "577b97e7ed4bed142918a22fb650a80d9bd6a5c28f6a6cf2b054e56a8aef92a3",
        v4_signature: "1552a6441d49fa04e9c0fa721856fc047f3f50ebc14da481fc1ff2f0053bb30f",
    },
    // UploadPart #2 with an STS token
    Vector {
        method: "PUT",
        key: Some(KEY),
        query: &[("partNumber", "2"), ("uploadId", UPLOAD_ID)],
        headers: &[],
        token: true,
        v1_string_to_sign: "PUT\n\n\nTue, 02 Jan 2024 03:04:05 GMT\n\
                            x-oss-security-token:CAIStsTokenExample+/==\n\
                            /sqlbak-test/backups/db01/full_2024-01-02.bak\
                            ?partNumber=2&uploadId=0004B9894A22E5B1888A1E29F823ABCD",
        v1_signature: "qSxUqX0kJMbFNpKQw9gJWhKqzlU=",
        v4_canonical: "PUT\n/sqlbak-test/backups/db01/full_2024-01-02.bak\n\
                       partNumber=2&uploadId=0004B9894A22E5B1888A1E29F823ABCD\n\
                       x-oss-content-sha256:UNSIGNED-PAYLOAD\nx-oss-date:20240102T030405Z\n\
                       x-oss-security-token:CAIStsTokenExample+/==\n\n\nUNSIGNED-PAYLOAD",
        v4_hash: "c4fd1b64827716f391637e83ca664bf2e0dbc74b79ebe38972b6b74195c70d68",
        v4_signature: "541478d8818d00942ebbbc7dfb2febcd92519e88181db1ecf4340158b3bc6b24",
    },
];

fn project_credentials(token: bool) -> Credentials {
    let credentials = Credentials::new(AK, SK);
    if token {
        credentials.with_security_token(TOKEN)
    } else {
        credentials
    }
}

fn project_context() -> V4Context<'static> {
    V4Context {
        region: REGION,
        product: V4_PRODUCT_OSS,
        time: at(T_EPOCH),
    }
}

#[test]
fn dates_of_the_project_vectors() {
    assert_eq!(http_date(at(T_EPOCH)), RFC1123);
    assert_eq!(v4_datetime(at(T_EPOCH)), ISO);
    assert_eq!(parse_http_date(RFC1123), Some(at(T_EPOCH)));
    assert_eq!(parse_v4_datetime(ISO), Some(at(T_EPOCH)));
    assert_eq!(project_context().scope(), V4_SCOPE);
}

#[test]
fn b_v1_header_vectors() {
    for vector in VECTORS {
        let mut headers: Vec<(&str, &str)> = vector.headers.to_vec();
        headers.push(("Date", RFC1123));
        if vector.token {
            headers.push((HEADER_SECURITY_TOKEN, TOKEN));
        }
        let request = SignableRequest {
            method: vector.method,
            bucket: Some(BUCKET),
            key: vector.key,
            query: vector.query,
            headers: &headers,
        };
        assert_eq!(
            v1_request_string_to_sign(&request, RFC1123),
            vector.v1_string_to_sign,
            "{}",
            vector.v1_string_to_sign
        );
        let authorization = v1_sign_header(&project_credentials(vector.token), &request);
        assert_eq!(
            authorization,
            format!("OSS {AK}:{}", vector.v1_signature),
            "{}",
            vector.v1_string_to_sign
        );
        assert_eq!(
            parse_v1_authorization(&authorization),
            Some((AK, vector.v1_signature))
        );
    }
}

#[test]
fn b_v4_header_vectors() {
    let context = project_context();
    for vector in VECTORS {
        let mut headers: Vec<(&str, &str)> = vector.headers.to_vec();
        headers.push((HEADER_OSS_DATE, ISO));
        headers.push((HEADER_CONTENT_SHA256, UNSIGNED_PAYLOAD));
        if vector.token {
            headers.push((HEADER_SECURITY_TOKEN, TOKEN));
        }
        let request = SignableRequest {
            method: vector.method,
            bucket: Some(BUCKET),
            key: vector.key,
            query: vector.query,
            headers: &headers,
        };
        let canonical = v4_canonical_request(&request, &[]);
        assert_eq!(canonical, vector.v4_canonical);
        let string_to_sign = v4_string_to_sign(ISO, V4_SCOPE, &canonical);
        assert_eq!(
            string_to_sign,
            format!("OSS4-HMAC-SHA256\n{ISO}\n{V4_SCOPE}\n{}", vector.v4_hash)
        );
        let key = v4_signing_key(SK, "20240102", REGION, V4_PRODUCT_OSS);
        assert_eq!(v4_signature(&key, &string_to_sign), vector.v4_signature);
        let authorization =
            v4_sign_header(&project_credentials(vector.token), &context, &request, &[]);
        assert_eq!(
            authorization,
            format!(
                "OSS4-HMAC-SHA256 Credential={AK}/{V4_SCOPE},Signature={}",
                vector.v4_signature
            )
        );
        // The oss2 form (", " separators) parses to the same fields.
        let oss2_form = format!(
            "OSS4-HMAC-SHA256 Credential={AK}/{V4_SCOPE}, Signature={}",
            vector.v4_signature
        );
        for form in [&authorization, &oss2_form] {
            let parsed = parse_v4_authorization(form).unwrap();
            assert_eq!(
                parsed,
                V4Authorization {
                    access_key_id: AK,
                    date: "20240102",
                    region: REGION,
                    product: "oss",
                    additional_headers: Vec::new(),
                    signature: vector.v4_signature,
                }
            );
        }
    }
}

/// One section-C presigned URL and its expected values.
struct Presigned {
    method: &'static str,
    query: &'static [(&'static str, &'static str)],
    token: bool,
    v1_string_to_sign: &'static str,
    v1_url: &'static str,
    v4_canonical: &'static str,
    v4_url: &'static str,
}

const HOST_URL: &str =
    "https://sqlbak-test.oss-cn-hangzhou.aliyuncs.com/backups/db01/full_2024-01-02.bak";

const PRESIGNED: &[Presigned] = &[
    Presigned {
        method: "GET",
        query: &[],
        token: false,
        v1_string_to_sign: "GET\n\n\n1704168245\n/sqlbak-test/backups/db01/full_2024-01-02.bak",
        v1_url: "OSSAccessKeyId=LTAI5tOssEmulatorTestAK&Expires=1704168245\
                 &Signature=qOrm3tMlQOAuQrJFjcVUKeq6eLA%3D",
        v4_canonical: "GET\n/sqlbak-test/backups/db01/full_2024-01-02.bak\n\
                       x-oss-credential=LTAI5tOssEmulatorTestAK%2F20240102%2Fcn-hangzhou\
                       %2Foss%2Faliyun_v4_request&x-oss-date=20240102T030405Z\
                       &x-oss-expires=3600&x-oss-signature-version=OSS4-HMAC-SHA256\n\
                       \n\nUNSIGNED-PAYLOAD",
        v4_url: "x-oss-signature-version=OSS4-HMAC-SHA256&x-oss-date=20240102T030405Z\
                 &x-oss-expires=3600&x-oss-credential=LTAI5tOssEmulatorTestAK%2F20240102\
                 %2Fcn-hangzhou%2Foss%2Faliyun_v4_request\
                 &x-oss-signature=0684d6c62bf081c1fa29ed53ac7a464444fc9f68e24f6372084db86456821936",
    },
    Presigned {
        method: "PUT",
        query: &[("partNumber", "3"), ("uploadId", UPLOAD_ID)],
        token: false,
        v1_string_to_sign: "PUT\n\n\n1704168245\n/sqlbak-test/backups/db01/full_2024-01-02.bak\
                            ?partNumber=3&uploadId=0004B9894A22E5B1888A1E29F823ABCD",
        v1_url: "partNumber=3&uploadId=0004B9894A22E5B1888A1E29F823ABCD\
                 &OSSAccessKeyId=LTAI5tOssEmulatorTestAK&Expires=1704168245\
                 &Signature=Fj%2BwmoYDFUvYsNe75ajMv0egn%2FM%3D",
        v4_canonical: "PUT\n/sqlbak-test/backups/db01/full_2024-01-02.bak\n\
                       partNumber=3&uploadId=0004B9894A22E5B1888A1E29F823ABCD\
                       &x-oss-credential=LTAI5tOssEmulatorTestAK%2F20240102%2Fcn-hangzhou\
                       %2Foss%2Faliyun_v4_request&x-oss-date=20240102T030405Z\
                       &x-oss-expires=3600&x-oss-signature-version=OSS4-HMAC-SHA256\n\
                       \n\nUNSIGNED-PAYLOAD",
        v4_url: "partNumber=3&uploadId=0004B9894A22E5B1888A1E29F823ABCD\
                 &x-oss-signature-version=OSS4-HMAC-SHA256&x-oss-date=20240102T030405Z\
                 &x-oss-expires=3600&x-oss-credential=LTAI5tOssEmulatorTestAK%2F20240102\
                 %2Fcn-hangzhou%2Foss%2Faliyun_v4_request\
                 &x-oss-signature=6a80f3be8b94622d2114d6680804eb3ea150009b0c065679bd8dea5d666f3336",
    },
    Presigned {
        method: "GET",
        query: &[],
        token: true,
        v1_string_to_sign: "GET\n\n\n1704168245\n/sqlbak-test/backups/db01/full_2024-01-02.bak\
                            ?security-token=CAIStsTokenExample+/==",
        v1_url: "OSSAccessKeyId=LTAI5tOssEmulatorTestAK&Expires=1704168245\
                 &security-token=CAIStsTokenExample%2B%2F%3D%3D\
                 &Signature=ThIM9CdLj%2BcLRAj1Ug8%2FxjfIEw8%3D",
        v4_canonical: "GET\n/sqlbak-test/backups/db01/full_2024-01-02.bak\n\
                       x-oss-credential=LTAI5tOssEmulatorTestAK%2F20240102%2Fcn-hangzhou\
                       %2Foss%2Faliyun_v4_request&x-oss-date=20240102T030405Z\
                       &x-oss-expires=3600&x-oss-security-token=CAIStsTokenExample%2B%2F%3D%3D\
                       &x-oss-signature-version=OSS4-HMAC-SHA256\n\
                       \n\nUNSIGNED-PAYLOAD",
        v4_url: "x-oss-signature-version=OSS4-HMAC-SHA256&x-oss-date=20240102T030405Z\
                 &x-oss-expires=3600&x-oss-credential=LTAI5tOssEmulatorTestAK%2F20240102\
                 %2Fcn-hangzhou%2Foss%2Faliyun_v4_request\
                 &x-oss-security-token=CAIStsTokenExample%2B%2F%3D%3D\
                 &x-oss-signature=e2eaa343176bb35e90389a661319bb6dabbd999a33e3661f04ba5b95bb6b6d13",
    },
];

fn with_added<'a>(
    query: &[(&'a str, &'a str)],
    added: &'a [(String, String)],
) -> Vec<(&'a str, &'a str)> {
    let mut all = query.to_vec();
    all.extend(added.iter().map(|(n, v)| (n.as_str(), v.as_str())));
    all
}

#[test]
fn c_v1_presigned_vectors() {
    for vector in PRESIGNED {
        let credentials = project_credentials(vector.token);
        let request = SignableRequest {
            method: vector.method,
            bucket: Some(BUCKET),
            key: Some(KEY),
            query: vector.query,
            headers: &[],
        };
        let added = v1_presign_query(&credentials, &request, T_EPOCH + 3600);
        let url = format!(
            "{HOST_URL}?{}",
            encode_query(&with_added(vector.query, &added))
        );
        assert_eq!(url, format!("{HOST_URL}?{}", vector.v1_url));
        // What a verifier sees: the full decoded query, the Expires value in the date slot.
        let received = with_added(vector.query, &added);
        let as_received = SignableRequest {
            query: &received,
            ..request
        };
        assert_eq!(
            v1_request_string_to_sign(&as_received, "1704168245"),
            vector.v1_string_to_sign
        );
    }
}

#[test]
fn c_v4_presigned_vectors() {
    let context = project_context();
    for vector in PRESIGNED {
        let credentials = project_credentials(vector.token);
        let request = SignableRequest {
            method: vector.method,
            bucket: Some(BUCKET),
            key: Some(KEY),
            query: vector.query,
            headers: &[],
        };
        let added = v4_presign_query(&credentials, &context, &request, 3600, &[]);
        let received = with_added(vector.query, &added);
        assert_eq!(
            format!("{HOST_URL}?{}", encode_query(&received)),
            format!("{HOST_URL}?{}", vector.v4_url)
        );
        // A verifier recomputes the canonical request from the whole query; the signature
        // parameter itself is left out.
        let as_received = SignableRequest {
            query: &received,
            ..request
        };
        assert_eq!(v4_canonical_request(&as_received, &[]), vector.v4_canonical);
    }
}

#[test]
fn malformed_authorization_headers_are_refused() {
    for value in [
        "",
        "OSS",
        "OSS ak",
        "OSS :sig",
        "OSS4-HMAC-SHA256",
        "OSS4-HMAC-SHA256 Credential=ak/20240102/cn-hangzhou/oss,Signature=ab",
        "OSS4-HMAC-SHA256 Credential=ak/20240102/cn-hangzhou/oss/aliyun_v4_request",
        "OSS4-HMAC-SHA256 Credential=ak/20240102/cn-hangzhou/oss/aliyun_v4_request,\
         AdditionalHeaders=abc;,Signature=ab",
        "OSS4-HMAC-SHA256 Credential=ak/20240102/cn-hangzhou/oss/aliyun_v4_request,Bogus=1,\
         Signature=ab",
    ] {
        assert!(parse_v4_authorization(value).is_none(), "{value}");
    }
    assert!(parse_v1_authorization("OSS :sig").is_none());
    assert!(parse_v1_authorization("OSS4-HMAC-SHA256 x").is_none());
}

#[test]
fn v1_sub_resources_are_sorted_for_readers() {
    let mut sorted = V1_SUB_RESOURCES.to_vec();
    sorted.sort_unstable_by_key(|name| name.to_ascii_lowercase());
    assert_eq!(sorted, V1_SUB_RESOURCES);
}

#[test]
fn debug_of_a_request_hides_headers_and_query() {
    let request = SignableRequest {
        method: "GET",
        bucket: Some(BUCKET),
        key: Some(KEY),
        query: &[("security-token", TOKEN)],
        headers: &[(HEADER_SECURITY_TOKEN, TOKEN)],
    };
    let shown = format!("{request:?}");
    assert!(!shown.contains("CAISts"), "{shown}");
}
