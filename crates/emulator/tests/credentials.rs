//! The credential services of a running emulator, over HTTP: STS issues keys OSS and RDS
//! accept until they expire, OIDC is anonymous, the metadata service hands out and rotates the
//! instance role's keys, RAM answers GetRole in each state of the import role, and a missing
//! import role fails a restore as RDS does.

use std::time::Duration;

use bak2rds_cloud::oss::{Credentials, OssClient};
use bak2rds_cloud::rds::RdsClient;
use bak2rds_cloud::rds::model::{
    BackupMode, CheckDbMode, CreateMigrateTaskRequest, RestoreSource, TaskStatus,
};
use bak2rds_cloud::rds::sign;
use bak2rds_emulator::config::{ImportRole, RamConfig, StsConfig};
use bak2rds_emulator::{Emulator, EmulatorConfig, EmulatorHandle};
use base64::Engine as _;
use serde_json::Value;
use time::OffsetDateTime;

const STS_VERSION: &str = "2015-04-01";
const RAM_VERSION: &str = "2015-05-01";

/// Signs an RPC call with V1 as the credentials library does (GET, all in the query).
fn signed_query(
    version: &str,
    action: &str,
    params: &[(&str, &str)],
    credentials: &Credentials,
) -> String {
    let mut all: Vec<(String, String)> = params
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let now = sign::format_timestamp(OffsetDateTime::now_utc());
    let nonce = format!("{:032x}", rand_nonce());
    let mut common = |k: &str, v: &str| all.push((k.to_owned(), v.to_owned()));
    common("Action", action);
    common("Format", "JSON");
    common("Version", version);
    common("SignatureMethod", "HMAC-SHA1");
    common("SignatureVersion", "1.0");
    common("Timestamp", &now);
    common("SignatureNonce", &nonce);
    common("AccessKeyId", credentials.access_key_id());
    if let Some(token) = credentials.security_token() {
        common("SecurityToken", token);
    }
    let string_to_sign = sign::v1_string_to_sign("GET", &all);
    let signature = sign::v1_signature(credentials.access_key_secret(), &string_to_sign);
    all.push(("Signature".to_owned(), signature));
    serde_urlencoded::to_string(&all).unwrap()
}

fn rand_nonce() -> u128 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let time = OffsetDateTime::now_utc().unix_timestamp_nanos();
    u128::try_from(time).unwrap_or_default() ^ (u128::from(n) << 64)
}

async fn get_json(url: String) -> (u16, Value) {
    let response = reqwest::get(url).await.unwrap();
    let status = response.status().as_u16();
    (status, json(response).await)
}

async fn json(response: reqwest::Response) -> Value {
    serde_json::from_slice(&response.bytes().await.unwrap()).unwrap()
}

async fn assume_role(
    emulator: &EmulatorHandle,
    caller: &Credentials,
    params: &[(&str, &str)],
) -> (u16, Value) {
    let query = signed_query(STS_VERSION, "AssumeRole", params, caller);
    get_json(format!("{}/?{query}", emulator.sts_endpoint())).await
}

/// The key pair of a `Credentials` object of an answer.
fn issued(answer: &Value) -> Credentials {
    let text = |name: &str| answer[name].as_str().unwrap().to_owned();
    Credentials::new(text("AccessKeyId"), text("AccessKeySecret"))
        .with_security_token(text("SecurityToken"))
}

/// Sleeps until the whole last second an `Expiration` names has passed.
async fn wait_past(expiration: &str) {
    let last = sign::parse_timestamp(expiration).unwrap() + time::Duration::seconds(1);
    let left = last - OffsetDateTime::now_utc();
    let wait = Duration::try_from(left).unwrap_or_default() + Duration::from_millis(200);
    tokio::time::sleep(wait).await;
}

fn oss(emulator: &EmulatorHandle, credentials: Credentials) -> OssClient {
    OssClient::new(emulator.oss_config(), credentials).unwrap()
}

fn rds(emulator: &EmulatorHandle, credentials: Credentials) -> RdsClient {
    RdsClient::new(emulator.rds_config(), credentials).unwrap()
}

#[tokio::test]
async fn assumed_role_keys_work_on_oss_and_rds_until_they_expire() {
    let emulator = Emulator::builder()
        .sts_token_ttl(Duration::from_secs(2))
        .start()
        .await
        .unwrap();
    emulator.requests().keep_records();
    let arn = emulator.role_arn();
    let params = [
        ("RoleArn", arn.as_str()),
        ("RoleSessionName", "rehearsal"),
        ("DurationSeconds", "3600"),
    ];
    let (status, answer) = assume_role(&emulator, &emulator.credentials(), &params).await;
    assert_eq!(status, 200, "{answer}");
    assert!(answer["RequestId"].as_str().is_some());
    assert_eq!(answer["AssumedRoleUser"]["Arn"], format!("{arn}/rehearsal"));
    let credentials = issued(&answer["Credentials"]);
    assert!(credentials.access_key_id().starts_with("STS."));
    let expiration = answer["Credentials"]["Expiration"].as_str().unwrap();
    let left = sign::parse_timestamp(expiration).unwrap() - OffsetDateTime::now_utc();
    assert!(
        left <= time::Duration::seconds(2),
        "capped by the ttl: {left}"
    );

    let oss = oss(&emulator, credentials.clone());
    oss.put_object("sts.txt", bytes::Bytes::from_static(b"hello"), None)
        .await
        .unwrap();
    let rds = rds(&emulator, credentials.clone());
    rds.describe_db_instance_attribute(&emulator.instance_id())
        .await
        .unwrap();
    // Role chaining: a temporary key may assume a role too.
    let (status, _) = assume_role(&emulator, &credentials, &params).await;
    assert_eq!(status, 200);

    wait_past(expiration).await;
    let error = oss.head_object("sts.txt").await.unwrap_err();
    assert_eq!(error.code(), Some("SecurityTokenExpired"), "{error}");
    let error = rds
        .describe_db_instance_attribute(&emulator.instance_id())
        .await
        .unwrap_err();
    assert_eq!(
        error.code(),
        Some("InvalidSecurityToken.Expired"),
        "{error}"
    );
    let (status, answer) = assume_role(&emulator, &credentials, &params).await;
    assert_eq!(status, 400);
    assert_eq!(answer["Code"], "InvalidSecurityToken.Expired");
    assert_eq!(answer["Message"], "Specified SecurityToken is expired.");
    for field in ["RequestId", "HostId", "Recommend"] {
        assert!(answer[field].as_str().is_some(), "{field} in {answer}");
    }

    let log = emulator.requests();
    assert_eq!(log.count("AssumeRole"), 3);
    assert_eq!(log.count_succeeded("AssumeRole"), 2);
    let secret = credentials.access_key_secret();
    assert!(!format!("{:?}", log.records()).contains(secret));
}

#[tokio::test]
async fn assume_role_refuses_what_sts_refuses() {
    let emulator = Emulator::builder().start().await.unwrap();
    let caller = emulator.credentials();
    let unknown = "acs:ram::1234567890123456:role/nobody";
    let (status, answer) = assume_role(
        &emulator,
        &caller,
        &[("RoleArn", unknown), ("RoleSessionName", "s1")],
    )
    .await;
    assert_eq!(
        (status, answer["Code"].as_str()),
        (404, Some("EntityNotExist.Role"))
    );
    assert_eq!(
        answer["Message"],
        "The role not exists: acs:ram::1234567890123456:role/nobody."
    );
    let arn = emulator.role_arn();
    let (status, answer) = assume_role(&emulator, &caller, &[("RoleArn", &arn)]).await;
    assert_eq!(
        (status, answer["Code"].as_str()),
        (400, Some("MissingRoleSessionName"))
    );
    let (status, answer) = assume_role(
        &emulator,
        &caller,
        &[
            ("RoleArn", &arn),
            ("RoleSessionName", "s1"),
            ("DurationSeconds", "60"),
        ],
    )
    .await;
    assert_eq!(
        (status, answer["Code"].as_str()),
        (400, Some("InvalidParameter.DurationSeconds"))
    );
    let stranger = Credentials::new("LTAInobody", "secret");
    let (status, answer) = assume_role(&emulator, &stranger, &[("RoleArn", &arn)]).await;
    assert_eq!(
        (status, answer["Code"].as_str()),
        (404, Some("InvalidAccessKeyId.NotFound"))
    );
    let query = signed_query(STS_VERSION, "GetFederationToken", &[], &caller);
    let (status, answer) = get_json(format!("{}/?{query}", emulator.sts_endpoint())).await;
    assert_eq!(
        (status, answer["Code"].as_str()),
        (404, Some("InvalidAction.NotFound"))
    );
}

fn jwt() -> String {
    let part = |text: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text);
    format!(
        "{}.{}.c2lnbmF0dXJl",
        part(r#"{"alg":"RS256","kid":"k1"}"#),
        part(
            r#"{"sub":"system:serviceaccount:migration:bak2rds","iss":"https://oidc.example","aud":"sts.aliyuncs.com"}"#
        )
    )
}

#[tokio::test]
async fn oidc_needs_no_signature_and_checks_the_provider() {
    let emulator = Emulator::builder().start().await.unwrap();
    let token = jwt();
    let call = |provider: String, token: String| {
        let role = emulator.role_arn();
        let url = emulator.sts_endpoint();
        async move {
            // POST with a form body, as the Go and Java libraries send it.
            let form = [
                ("Action", "AssumeRoleWithOIDC"),
                ("Version", STS_VERSION),
                ("Format", "JSON"),
                ("OIDCProviderArn", provider.as_str()),
                ("RoleArn", role.as_str()),
                ("OIDCToken", token.as_str()),
                ("RoleSessionName", "pod-1"),
            ];
            let response = reqwest::Client::new()
                .post(format!("{url}/"))
                .form(&form)
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            (status, json(response).await)
        }
    };
    let (status, answer) = call(emulator.oidc_provider_arn(), token.clone()).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer["OIDCTokenInfo"]["Subject"],
        "system:serviceaccount:migration:bak2rds"
    );
    let credentials = issued(&answer["Credentials"]);
    oss(&emulator, credentials)
        .put_object("oidc.txt", bytes::Bytes::from_static(b"x"), None)
        .await
        .unwrap();
    let other = "acs:ram::1234567890123456:oidc-provider/other".to_owned();
    let (status, answer) = call(other, token).await;
    assert_eq!(
        (status, answer["Code"].as_str()),
        (404, Some("EntityNotExist.OIDCProvider"))
    );
    let (status, answer) = call(emulator.oidc_provider_arn(), "not.a-jwt".to_owned()).await;
    assert_eq!(
        (status, answer["Code"].as_str()),
        (400, Some("InvalidParameter.OIDCToken"))
    );
    assert_eq!(emulator.requests().count("AssumeRoleWithOIDC"), 3);
}

async fn metadata_token(client: &reqwest::Client, url: &str, ttl: &str) -> reqwest::Response {
    client
        .put(format!("{url}/latest/api/token"))
        .header("X-aliyun-ecs-metadata-token-ttl-seconds", ttl)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn the_metadata_service_hands_out_and_rotates_the_role_keys() {
    let sts = StsConfig {
        ecs_metadata_token_required: true,
        ..StsConfig::default()
    };
    let emulator = Emulator::builder()
        .sts(sts)
        .sts_token_ttl(Duration::from_secs(2))
        .start()
        .await
        .unwrap();
    let url = emulator.ecs_metadata_endpoint();
    let client = reqwest::Client::new();
    assert_eq!(metadata_token(&client, &url, "0").await.status(), 400);
    let token = metadata_token(&client, &url, "21600").await;
    assert_eq!(token.status(), 200);
    let token = token.text().await.unwrap();
    let get = |path: String, token: Option<String>| {
        let client = client.clone();
        let url = url.clone();
        async move {
            let mut request = client.get(format!("{url}{path}"));
            if let Some(token) = token {
                request = request.header("X-aliyun-ecs-metadata-token", token);
            }
            request.send().await.unwrap()
        }
    };
    let list = "/latest/meta-data/ram/security-credentials/".to_owned();
    assert_eq!(
        get(list.clone(), None).await.status(),
        401,
        "the token is mandatory"
    );
    let role = get(list.clone(), Some(token.clone()))
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(role, emulator.ecs_role_name());
    let path = format!("{list}{role}");
    let first: Value = json(get(path.clone(), Some(token.clone())).await).await;
    assert_eq!(first["Code"], "Success");
    for field in ["Expiration", "LastUpdated"] {
        let text = first[field].as_str().unwrap();
        assert!(sign::parse_timestamp(text).is_some(), "{field}: {text}");
    }
    let again: Value = json(get(path.clone(), Some(token.clone())).await).await;
    assert_eq!(
        again["AccessKeyId"], first["AccessKeyId"],
        "not yet half way"
    );
    oss(&emulator, issued(&first))
        .put_object("ecs.txt", bytes::Bytes::from_static(b"x"), None)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let rotated: Value = json(get(path.clone(), Some(token.clone())).await).await;
    assert_ne!(rotated["AccessKeyId"], first["AccessKeyId"]);
    let unknown = get(format!("{list}other-role"), Some(token)).await;
    assert_eq!(unknown.status(), 404);
    let log = emulator.requests();
    assert_eq!(log.count("EcsMetadataToken"), 2);
    assert_eq!(log.count_succeeded("EcsRamRoleCredentials"), 3);
}

#[tokio::test]
async fn an_optional_metadata_token_may_be_left_out() {
    let emulator = Emulator::builder().start().await.unwrap();
    let url = format!(
        "{}/latest/meta-data/ram/security-credentials/{}",
        emulator.ecs_metadata_endpoint(),
        emulator.ecs_role_name()
    );
    let answer: Value = json(reqwest::get(url).await.unwrap()).await;
    assert_eq!(answer["Code"], "Success");
    let expires = sign::parse_timestamp(answer["Expiration"].as_str().unwrap()).unwrap();
    let left = expires - OffsetDateTime::now_utc();
    assert!(
        left > time::Duration::hours(5),
        "six hours by default: {left}"
    );
}

async fn get_role(emulator: &EmulatorHandle, name: &str) -> (u16, Value) {
    let query = signed_query(
        RAM_VERSION,
        "GetRole",
        &[("RoleName", name)],
        &emulator.credentials(),
    );
    get_json(format!("{}/?{query}", emulator.ram_endpoint())).await
}

async fn with_ram(ram: RamConfig) -> EmulatorHandle {
    Emulator::builder().ram(ram).start().await.unwrap()
}

#[tokio::test]
async fn get_role_tells_the_import_roles_state() {
    let present = with_ram(RamConfig::default()).await;
    let (status, answer) = get_role(&present, "AliyunRDSImportRole").await;
    assert_eq!(status, 200, "{answer}");
    let role = &answer["Role"];
    assert_eq!(role["RoleName"], "AliyunRDSImportRole");
    assert_eq!(
        role["Arn"],
        "acs:ram::1234567890123456:role/aliyunrdsimportrole"
    );
    assert_eq!(role["MaxSessionDuration"], 3600);
    let policy: Value =
        serde_json::from_str(role["AssumeRolePolicyDocument"].as_str().unwrap()).unwrap();
    assert_eq!(
        policy["Statement"][0]["Principal"]["Service"][0],
        "rds.aliyuncs.com"
    );
    assert_eq!(present.requests().count_succeeded("GetRole"), 1);

    let altered = with_ram(RamConfig {
        import_role: ImportRole::Altered,
        ..RamConfig::default()
    })
    .await;
    let (status, answer) = get_role(&altered, "AliyunRDSImportRole").await;
    assert_eq!(status, 200);
    let policy = answer["Role"]["AssumeRolePolicyDocument"].as_str().unwrap();
    assert!(!policy.contains("rds.aliyuncs.com"), "{policy}");

    let missing = with_ram(RamConfig {
        import_role: ImportRole::Missing,
        ..RamConfig::default()
    })
    .await;
    let (status, answer) = get_role(&missing, "AliyunRDSImportRole").await;
    assert_eq!(
        (status, answer["Code"].as_str()),
        (404, Some("EntityNotExist.Role"))
    );
    assert_eq!(
        answer["Message"],
        "The role not exists: AliyunRDSImportRole."
    );

    let no_read = with_ram(RamConfig {
        caller_can_read_ram: false,
        ..RamConfig::default()
    })
    .await;
    let (status, answer) = get_role(&no_read, "AliyunRDSImportRole").await;
    assert_eq!(
        (status, answer["Code"].as_str()),
        (403, Some("NoPermission"))
    );
    assert_eq!(
        answer["Message"],
        "You are not authorized to do this action. You should be authorized by RAM."
    );
}

#[tokio::test]
async fn a_missing_import_role_fails_the_restore_as_rds_does() {
    let config =
        EmulatorConfig::from_toml("restore_ms = 50\n[ram]\nimport_role = \"missing\"\n").unwrap();
    let emulator = Emulator::builder().config(config).start().await.unwrap();
    oss(&emulator, emulator.credentials())
        .put_object(
            "backups/Sales_FULL.bak",
            bytes::Bytes::from_static(b"not even a backup"),
            None,
        )
        .await
        .unwrap();
    let rds = rds(&emulator, emulator.credentials());
    let instance = emulator.instance_id();
    let request = CreateMigrateTaskRequest {
        db_instance_id: instance.clone(),
        db_name: "Sales".to_owned(),
        backup_mode: BackupMode::Full,
        is_online_db: true,
        check_db_mode: Some(CheckDbMode::Async),
        source: RestoreSource::OssObject {
            endpoint: format!("oss-{}.aliyuncs.com", emulator.region()),
            bucket: emulator.bucket().to_owned(),
            key: "backups/Sales_FULL.bak".to_owned(),
        },
        migrate_task_id: None,
    };
    let task = rds.create_migrate_task(&request).await.unwrap();
    let mut described = None;
    for _ in 0..100 {
        let now = rds
            .describe_migrate_task_by_id(&instance, &task.migrate_task_id)
            .await
            .unwrap();
        if matches!(now.status, TaskStatus::Failed | TaskStatus::Success) {
            described = Some(now);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let described = described.expect("the task finishes");
    assert_eq!(described.status, TaskStatus::Failed);
    assert_eq!(
        described.description,
        "Failed to download since could not find backup file (Sales_FULL.bak) on OSS."
    );
}

#[tokio::test]
async fn the_connection_line_names_the_credential_services() {
    let emulator = Emulator::builder().start().await.unwrap();
    let info = serde_json::to_value(emulator.connection_info()).unwrap();
    for field in ["sts_endpoint", "ecs_metadata_endpoint", "ram_endpoint"] {
        let url = info[field].as_str().unwrap();
        assert!(url.starts_with("http://127.0.0.1:"), "{field}: {url}");
    }
    assert_eq!(
        info["role_arn"],
        "acs:ram::1234567890123456:role/bak2rds-migration"
    );
    assert_eq!(
        info["oidc_provider_arn"],
        "acs:ram::1234567890123456:oidc-provider/bak2rds-oidc"
    );
    assert_eq!(info["ecs_role_name"], "bak2rds-ecs-role");
    let shown = format!("{:?}", emulator.connection_info());
    assert!(shown.contains("sts_endpoint") && !shown.contains(emulator.access_key_secret()));
}
