//! The emulated Resource Access Management API (RPC API `2015-05-01`), as much as a migration
//! checks: `GetRole`, so a client can see whether `AliyunRDSImportRole` (the role RDS assumes
//! to read the bucket) exists and still trusts RDS. `[ram] import_role` makes it present,
//! missing or altered; `[ram] caller_can_read_ram = false` refuses the caller as a RAM user
//! without `ram:GetRole` is refused. The restore side of a missing or altered role is
//! `EmulatorState::rds_can_read`.
//!
//! Texts: research-credentials.md §9 (the answer's shape, the role's description and trust
//! policy from Alibaba's own Terraform module, `EntityNotExist.Role`).

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::Response;
use serde::Serialize;
use time::OffsetDateTime;

use crate::config::{ImportRole, RamConfig, StsConfig};
use crate::keyring::KeyRing;
use crate::observe::RequestLog;
use crate::rpc_auth::{ApiError, ApiResult, Call, RpcAuth, RpcRequest, serve_logged, to_json};
use crate::sts::role_id;

/// The RAM API version every call carries.
pub const API_VERSION: &str = "2015-05-01";
/// The role RDS assumes to read OSS, created when the console authorises RDS.
pub const IMPORT_ROLE: &str = "AliyunRDSImportRole";
/// The service `AliyunRDSImportRole` trusts.
const RDS_SERVICE: &str = "rds.aliyuncs.com";
/// The service an altered import role trusts instead: anything but RDS.
const ALTERED_SERVICE: &str = "ecs.aliyuncs.com";
/// The service the ECS instance's role trusts.
const ECS_SERVICE: &str = "ecs.aliyuncs.com";
/// The service's host, echoed as `HostId` when a request has none.
const RAM_HOST: &str = "ram.aliyuncs.com";
/// A fixed creation date: the emulator's roles exist "since before" any rehearsal.
const CREATE_DATE: &str = "2018-03-15T08:00:00Z";

/// The emulated RAM.
pub struct RamEmulator {
    config: RamConfig,
    sts: StsConfig,
    auth: RpcAuth,
    requests: Arc<RequestLog>,
}

impl std::fmt::Debug for RamEmulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RamEmulator")
            .field("config", &self.config)
            .field("auth", &self.auth)
            .finish_non_exhaustive()
    }
}

/// `Role` of a GetRole answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct Role {
    role_id: String,
    role_name: String,
    arn: String,
    description: String,
    assume_role_policy_document: String,
    create_date: String,
    update_date: String,
    max_session_duration: u64,
    is_service_linked_role: bool,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct GetRoleAnswer {
    role: Role,
}

/// Who a role's trust policy lets assume it.
enum Trusted<'a> {
    Service(&'a str),
    Account(&'a str),
}

impl RamEmulator {
    /// RAM over the roles of `sts` and the import role of `config`, verifying with `keys`.
    pub fn new(
        config: RamConfig,
        sts: StsConfig,
        keys: Arc<KeyRing>,
        requests: Arc<RequestLog>,
    ) -> Self {
        RamEmulator {
            config,
            sts,
            auth: RpcAuth::new(API_VERSION, keys),
            requests,
        }
    }

    /// The router serving `/`.
    pub fn router(self: Arc<Self>) -> Router {
        Router::new().fallback(handle).with_state(self)
    }

    fn serve(&self, request: RpcRequest<'_>) -> ApiResult<serde_json::Value> {
        if request.uri.path() != "/" {
            return Err(ApiError::action_not_found());
        }
        let call = self.auth.authenticate(request, OffsetDateTime::now_utc())?;
        match call.action.as_str() {
            "GetRole" => Ok(to_json(&self.get_role(&call)?)),
            _ => Err(ApiError::action_not_found()),
        }
    }

    fn get_role(&self, call: &Call) -> ApiResult<GetRoleAnswer> {
        if !self.config.caller_can_read_ram {
            return Err(ApiError::new(
                403,
                "NoPermission",
                "You are not authorized to do this action. You should be authorized by RAM.",
            ));
        }
        let name = call.require("RoleName")?;
        let role = self.find(name).ok_or_else(|| {
            ApiError::new(
                404,
                "EntityNotExist.Role",
                format!("The role not exists: {name}."),
            )
        })?;
        Ok(GetRoleAnswer { role })
    }

    /// A role of this name (case-insensitive, as RAM's names are), as RAM describes it.
    fn find(&self, name: &str) -> Option<Role> {
        if name.eq_ignore_ascii_case(IMPORT_ROLE) {
            let trusted = match self.config.import_role {
                ImportRole::Missing => return None,
                ImportRole::Present => RDS_SERVICE,
                ImportRole::Altered => ALTERED_SERVICE,
            };
            let description = "RDS will use this role to access your resources in other services.";
            return Some(self.role(IMPORT_ROLE, description, Trusted::Service(trusted)));
        }
        if name.eq_ignore_ascii_case(&self.sts.ecs_role) {
            let description = "The role of the emulated ECS instance.";
            return Some(self.role(
                &self.sts.ecs_role,
                description,
                Trusted::Service(ECS_SERVICE),
            ));
        }
        let role = self
            .sts
            .roles
            .iter()
            .find(|role| role.eq_ignore_ascii_case(name))?;
        let description = "A role the emulator's key pairs may assume.";
        Some(self.role(role, description, Trusted::Account(&self.sts.account_id)))
    }

    fn role(&self, name: &str, description: &str, trusted: Trusted<'_>) -> Role {
        Role {
            role_id: role_id(&self.sts.account_id, name),
            role_name: name.to_owned(),
            arn: self.sts.role_arn(name),
            description: description.to_owned(),
            assume_role_policy_document: trust_policy(&trusted),
            create_date: CREATE_DATE.to_owned(),
            update_date: CREATE_DATE.to_owned(),
            max_session_duration: self.sts.max_session_secs,
            is_service_linked_role: false,
        }
    }
}

/// The trust policy as RAM returns it: a JSON document in a string, written as the console
/// writes it (`{"Statement":[…],"Version":"1"}`).
fn trust_policy(trusted: &Trusted<'_>) -> String {
    let principal = match trusted {
        Trusted::Service(service) => serde_json::json!({ "Service": [service] }),
        Trusted::Account(account) => {
            serde_json::json!({ "RAM": [format!("acs:ram::{account}:root")] })
        }
    };
    serde_json::json!({
        "Statement": [{
            "Action": "sts:AssumeRole",
            "Effect": "Allow",
            "Principal": principal,
        }],
        "Version": "1",
    })
    .to_string()
}

async fn handle(
    axum::extract::State(ram): axum::extract::State<Arc<RamEmulator>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request = RpcRequest {
        method: &method,
        uri: &uri,
        headers: &headers,
        body: &body,
    };
    serve_logged(&ram.requests, request, RAM_HOST, |request| {
        ram.serve(request)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ram(import_role: ImportRole, caller_can_read_ram: bool) -> RamEmulator {
        let config = RamConfig {
            import_role,
            caller_can_read_ram,
        };
        let keys = Arc::new(KeyRing::new(Vec::new(), 0));
        RamEmulator::new(config, StsConfig::default(), keys, Arc::default())
    }

    fn get_role(ram: &RamEmulator, name: &str) -> ApiResult<GetRoleAnswer> {
        let call = Call {
            action: "GetRole".to_owned(),
            params: vec![("RoleName".to_owned(), name.to_owned())],
        };
        ram.get_role(&call)
    }

    fn trusted_services(answer: &GetRoleAnswer) -> serde_json::Value {
        let policy: serde_json::Value =
            serde_json::from_str(&answer.role.assume_role_policy_document).unwrap();
        policy["Statement"][0]["Principal"]["Service"].clone()
    }

    #[test]
    fn the_import_role_in_its_three_states() {
        let present = get_role(&ram(ImportRole::Present, true), "AliyunRDSImportRole").unwrap();
        assert_eq!(present.role.role_name, IMPORT_ROLE);
        assert_eq!(
            present.role.arn,
            "acs:ram::1234567890123456:role/aliyunrdsimportrole"
        );
        assert_eq!(present.role.max_session_duration, 3600);
        assert_eq!(
            trusted_services(&present),
            serde_json::json!(["rds.aliyuncs.com"])
        );
        let altered = get_role(&ram(ImportRole::Altered, true), "aliyunrdsimportrole").unwrap();
        assert_ne!(
            trusted_services(&altered),
            serde_json::json!(["rds.aliyuncs.com"])
        );
        let missing = get_role(&ram(ImportRole::Missing, true), IMPORT_ROLE).unwrap_err();
        assert_eq!(
            (
                missing.status.as_u16(),
                missing.code.as_str(),
                missing.message.as_str()
            ),
            (
                404,
                "EntityNotExist.Role",
                "The role not exists: AliyunRDSImportRole."
            )
        );
    }

    #[test]
    fn a_caller_without_ram_read_is_refused() {
        let error = get_role(&ram(ImportRole::Present, false), IMPORT_ROLE).unwrap_err();
        assert_eq!(
            (error.status.as_u16(), error.code.as_str()),
            (403, "NoPermission")
        );
        assert_eq!(
            error.message,
            "You are not authorized to do this action. You should be authorized by RAM."
        );
    }

    #[test]
    fn the_sts_roles_and_the_ecs_role_exist_too() {
        let ram = ram(ImportRole::Present, true);
        let role = get_role(&ram, "bak2rds-migration").unwrap();
        assert_eq!(role.role.arn, StsConfig::default().first_role_arn());
        let ecs = get_role(&ram, "bak2rds-ecs-role").unwrap();
        assert_eq!(
            trusted_services(&ecs),
            serde_json::json!(["ecs.aliyuncs.com"])
        );
        assert_eq!(
            get_role(&ram, "nobody").unwrap_err().code,
            "EntityNotExist.Role"
        );
    }
}
