//! The closed sets of strings the API takes and sends, as OpenAPI enums. These types are for
//! the document only (`#[schema(value_type = …)]` on the `String` fields that carry them); the
//! values are the ones the domain parses and writes, which the tests below hold them to.

use serde::Serialize;
use utoipa::ToSchema;

/// 证件类型 (the canonical names; the Chinese labels and `passport` are accepted too).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DocumentTypeName {
    /// 居民身份证
    ResidentIdCard,
    /// 华侨身份证/护照
    OverseasChineseIdOrPassport,
    /// 其他
    Other,
}

/// The account's document type; empty for staff accounts, which have none.
pub struct AccountDocumentType;

impl utoipa::PartialSchema for AccountDocumentType {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .enum_values(Some([
                "resident_id_card",
                "overseas_chinese_id_or_passport",
                "other",
                "",
            ]))
            .description(Some(
                "The account's document type; empty for staff accounts, which have none.",
            ))
            .into()
    }
}

impl ToSchema for AccountDocumentType {}

/// What an SMS code asked for by phone number is for.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SmsCodePurpose {
    Register,
}

/// What an OAuth flow is for: `login` (扫码登录) or `bind` (绑定, needs a bearer token).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OAuthPurpose {
    Login,
    Bind,
}

/// How an OAuth callback ended.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OAuthResult {
    LoggedIn,
    Linked,
}

/// A record check a student concludes.
#[derive(Serialize, ToSchema)]
pub enum CheckTypeName {
    /// 学籍信息核对
    #[serde(rename = "enrolment_check")]
    EnrolmentCheck,
    /// 第二学年学年注册
    #[serde(rename = "annual_registration_2")]
    AnnualRegistration2,
    /// 第三学年学年注册
    #[serde(rename = "annual_registration_3")]
    AnnualRegistration3,
    /// 图像采集/学历注册
    #[serde(rename = "image_verification")]
    ImageVerification,
}

/// A check's conclusion: `correct` (正确无误) or `wrong` (有误).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConclusionName {
    Correct,
    Wrong,
}

/// `enrolment` (学籍) or `degree` (学历).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RecordKindName {
    Enrolment,
    Degree,
}

/// An account's status.
#[derive(Serialize, ToSchema)]
pub enum AccountStatusName {
    Registering,
    PendingIdentityReview,
    Active,
    Deactivated,
    Abandoned,
}

/// A staff role.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StaffRoleName {
    Reviewer,
    Registrar,
    ProvincialAuthority,
    ConscriptionOffice,
    Auditor,
    Administrator,
}

/// What a staff session must do before anything else.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SecondFactorStepName {
    Enrol,
    Required,
}

/// Where a staff session stands with its second factor.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SecondFactorStateName {
    Enrol,
    Required,
    Passed,
}

/// The password meter's level.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PasswordLevel {
    Weak,
    Medium,
    Strong,
    VeryStrong,
}

/// An identity claim's state, or `none` (this account holds its identity and claims nothing).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ClaimStatusName {
    /// 证件重复，待核验
    Open,
    Approved,
    /// Another claim won.
    Closed,
    Withdrawn,
    None,
}

/// A manual review's state.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReviewStatusName {
    /// 三个工作日内处理完毕
    Pending,
    /// Upload again.
    Rejected,
    Approved,
}

/// A classmate-assistance request's state.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AssistStatusName {
    Pending,
    Confirmed,
    Declined,
}

/// A support ticket's state: 待处理, 已回复, 已关闭.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TicketStatusName {
    Open,
    Answered,
    Closed,
}

/// What a change of the account did.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChangeStatusName {
    Changed,
    /// A verification mail went to the new e-mail.
    VerificationSent,
    /// A resident-ID name change waits for review.
    PendingReview,
    /// A name change was rejected.
    Rejected,
}

/// The security e-mail's state.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EmailStatusName {
    None,
    /// A link was sent.
    Pending,
    /// 邮箱绑定成功
    Verified,
}

/// A way to recover the password.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RecoveryMethodName {
    Sms,
    Email,
    SecurityQuestions,
}

/// A real-person check's result.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LivenessResultName {
    Pass,
    Fail,
}

/// A list's format.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReportFormat {
    Json,
    Csv,
}

/// Always `accepted`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AcceptedName {
    Accepted,
}

/// Always `Bearer`.
#[derive(Serialize, ToSchema)]
pub enum BearerName {
    Bearer,
}

#[cfg(test)]
pub(crate) fn values<T: utoipa::PartialSchema>() -> Vec<String> {
    let schema = serde_json::to_value(T::schema()).expect("a schema");
    schema["enum"]
        .as_array()
        .expect("an enum")
        .iter()
        .map(|v| v.as_str().expect("a string").to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use xuexin_domain::account::AccountStatus;
    use xuexin_domain::record::CheckType;
    use xuexin_domain::values::DocumentType;

    #[test]
    fn document_types_are_the_ones_the_domain_parses_and_writes() {
        let documented = values::<DocumentTypeName>();
        for value in &documented {
            let parsed = DocumentType::parse(value).expect("parses");
            assert_eq!(parsed.as_str(), value);
        }
        for kind in [
            DocumentType::ResidentIdCard,
            DocumentType::OverseasChineseIdOrPassport,
            DocumentType::Other,
        ] {
            assert!(documented.contains(&kind.as_str().to_string()));
        }
        let mut with_none = documented.clone();
        with_none.push(String::new());
        assert_eq!(values::<AccountDocumentType>(), with_none);
    }

    #[test]
    fn ticket_statuses_are_the_domains() {
        use xuexin_domain::support::TicketStatus;
        let domain: Vec<String> = [
            TicketStatus::Open,
            TicketStatus::Answered,
            TicketStatus::Closed,
        ]
        .iter()
        .map(|s| s.as_str().to_string())
        .collect();
        assert_eq!(values::<TicketStatusName>(), domain);
    }

    #[test]
    fn check_types_are_the_domains() {
        let documented = values::<CheckTypeName>();
        let domain: Vec<String> = CheckType::ALL
            .iter()
            .map(|c| c.as_str().to_string())
            .collect();
        assert_eq!(documented, domain);
    }

    #[test]
    fn purposes_are_the_ones_parsed() {
        for value in values::<SmsCodePurpose>() {
            assert!(crate::codes::CodePurpose::parse(&value).is_some());
        }
        for value in values::<OAuthPurpose>() {
            assert_eq!(
                crate::oauth::Purpose::parse(&value).unwrap().as_str(),
                value
            );
        }
    }

    #[test]
    fn statuses_and_roles_are_the_domains() {
        let statuses: Vec<String> = [
            AccountStatus::Registering,
            AccountStatus::PendingIdentityReview,
            AccountStatus::Active,
            AccountStatus::Deactivated,
            AccountStatus::Abandoned,
        ]
        .iter()
        .map(|s| s.as_str().to_string())
        .collect();
        assert_eq!(values::<AccountStatusName>(), statuses);
        for role in values::<StaffRoleName>() {
            assert!(
                xuexin_domain::roles::StaffRole::parse(&role).is_some(),
                "{role}"
            );
        }
        for level in values::<PasswordLevel>() {
            assert!(["weak", "medium", "strong", "very_strong"].contains(&level.as_str()));
        }
    }
}
