//! User-facing messages in Chinese, worded as the seeds word them where they have a wording,
//! keyed by the stable machine-readable code that travels beside each message.

/// The message for a code. Unknown codes fall back to a generic message (and a test checks
/// that every code the service uses has its own).
pub fn zh(code: &str) -> &'static str {
    match code {
        "validation_failed" => "请求参数有误，请检查后重新提交",
        "invalid_json" => "请求格式有误",
        "required" => "此项不能为空",
        "phone_required" => "手机号不能为空",
        "phone_format" => "手机号格式有误",
        "purpose_invalid" => "校验码用途有误",
        // seed 001: 校验码不能为空
        "sms_code_required" => "校验码不能为空",
        "sms_code_invalid" => "校验码错误或已失效",
        "sms_code_attempts" => "校验码错误次数过多，请重新获取",
        // seed 000: 手机短信验证码受限
        "sms_rate_limited" => "短信验证码获取受限，请稍后再试",
        "sms_gateway_unavailable" => "短信发送失败，请稍后再试",
        "password_required" => "密码不能为空",
        // seed 001: 密码由6-30位的英文字母、数字和特殊字符组成
        "password_format" => "密码由6-30位的英文字母、数字和特殊字符组成",
        "password_too_common" => "密码过于简单，请使用强度较高的密码",
        "password_contains_phone" => "密码不能包含手机号",
        "password_contains_id_number" => "密码不能包含证件号码",
        "password_mismatch" => "两次输入的密码不一致",
        // seed 000: 姓名格式有误
        "name_format" => "姓名格式有误",
        "document_type_invalid" => "请选择证件类型",
        // seed 000: 证件号码格式有误
        "id_number_format" => "证件号码格式有误",
        "id_number_checksum" => {
            "证件号码格式有误：不符合第二代居民身份证校验规则。如需查询学籍学历信息，证件类型可选择“其他”"
        }
        "id_number_birth_date" => "证件号码格式有误：出生日期不正确",
        "email_format" => "邮箱格式有误",
        "security_questions_invalid" => "请设置三个不同的密保问题及答案",
        "terms_not_accepted" => "请阅读并同意服务条款",
        // seed 001: 该邮箱（或者手机号）已经注册，可直接登录
        "phone_taken" => "该手机号已经注册，可直接登录",
        // seeds 000, 002: 证件号码已被注册
        "id_number_taken" => "证件号码已被注册",
        "email_taken" => "该邮箱已经注册，可直接登录",
        // seed 001: 该邮箱已经注册，正在等待激活，重新发送激活邮件
        "email_pending_activation" => "该邮箱已经注册，正在等待激活，重新发送激活邮件",
        // seed 001: 电子邮件已被用户 xxx 绑定邮箱时使用 (the holder is put in by the caller)
        "email_bound" => "电子邮件已被其他用户绑定邮箱时使用",
        "login_required" => "请输入手机号/身份证号/邮箱",
        "invalid_credentials" => "用户名或密码错误",
        "account_locked" => "登录失败次数过多，账号已被暂时锁定，请稍后再试",
        "unauthenticated" => "请先登录",
        "overloaded" => "系统繁忙，请稍后再试",
        "read_timeout" => "数据同步中，请稍后再试",
        "position_invalid" => "position 参数有误",
        "email_token_invalid" => "验证链接无效或已过期",
        "email_already_verified" => "邮箱已验证",
        "email_missing" => "账号未绑定安全邮箱",
        "email_rate_limited" => "邮件发送过于频繁，请稍后再试",
        "registration_rate_limited" => "注册过于频繁，请稍后再试",
        "idempotency_key_invalid" => "Idempotency-Key 格式有误",
        "idempotency_key_reused" => "该 Idempotency-Key 已用于另一个请求",
        "idempotency_in_progress" => "请求正在处理中，请稍后再试",
        "forbidden" => "没有权限进行此操作",
        "not_found" => "请求的资源不存在",
        "method_not_allowed" => "不支持的请求方法",
        "account_not_found" => "账号不存在",
        "payload_too_large" => "请求内容过大",
        "image_empty" => "上传的图片为空",
        "image_too_large" => "图片不能超过 2 MB",
        "image_type" => "只能上传 JPG 或 PNG 格式的图片",
        "record_not_found" => "未查询到该记录",
        "record_not_yours" => "该记录不属于当前账号",
        "record_bound_to_another" => "该学历已绑定其他账号",
        "record_details_mismatch" => "证书编号、毕业年份或姓名与学历信息不符",
        "school_not_found" => "学校代码未登记",
        "import_rows_invalid" => "文件中有数据有误，未导入任何数据",
        "import_file_invalid" => "文件无法导入",
        "correction_not_found" => "未找到待审核的更正申请",
        "reason_required" => "请填写原因",
        "check_type_invalid" => "核对类型有误",
        "conclusion_invalid" => "核对结论有误：正确无误，或有误并填写正确的信息",
        "photo_kind_invalid" => "照片类型有误",
        "id_number_protected" => "证件号码对应的账号已存在（已在全国征兵网进行过兵役登记/应征报名），不能重复注册",
        "identity_review_pending" => "请先完成身份核验",
        "claim_not_open" => "没有进行中的证件号码重复核验",
        "record_proof_limit" => "一个证件号码最多只能通过此种方式解决证件号码重复 3 次",
        "record_proof_mismatch" => "学籍或学历信息核对不正确",
        "record_proof_rate_limited" => "核对次数过多，请稍后再试",
        "classmate_invitation_limit" => "每天最多可申请 5 名同学协助",
        "classmate_not_found" => "未找到该同学：请确认同学的姓名和手机号，且其为已通过审核的同班同学",
        "assist_request_not_found" => "协助请求不存在或已处理",
        "manual_review_pending" => "照片已提交，请等待审核，三个工作日内处理完毕",
        "manual_review_not_pending" => "没有待审核的照片",
        "liveness_exhausted" => "实人验证多次未通过，请上传手持证件照片进行人工审核",
        "liveness_session_invalid" => "验证会话无效或已处理",
        "liveness_unavailable" => "实人验证服务暂不可用，请稍后再试或选择其他方式",
        "liveness_signature_invalid" => "回调签名无效或已过期",
        "account_not_from_office" => "该账号不是本征兵办公室协助注册的",
        "internal_error" => "系统错误，请稍后再试",
        _ => "请求失败",
    }
}

/// Every code the service answers with; a test checks each has its own message.
pub const CODES: &[&str] = &[
    "validation_failed",
    "invalid_json",
    "required",
    "phone_required",
    "phone_format",
    "purpose_invalid",
    "sms_code_required",
    "sms_code_invalid",
    "sms_code_attempts",
    "sms_rate_limited",
    "sms_gateway_unavailable",
    "password_required",
    "password_format",
    "password_too_common",
    "password_contains_phone",
    "password_contains_id_number",
    "password_mismatch",
    "name_format",
    "document_type_invalid",
    "id_number_format",
    "id_number_checksum",
    "id_number_birth_date",
    "email_format",
    "security_questions_invalid",
    "terms_not_accepted",
    "phone_taken",
    "id_number_taken",
    "email_taken",
    "email_pending_activation",
    "email_bound",
    "login_required",
    "invalid_credentials",
    "account_locked",
    "unauthenticated",
    "overloaded",
    "read_timeout",
    "position_invalid",
    "email_token_invalid",
    "email_already_verified",
    "email_missing",
    "email_rate_limited",
    "registration_rate_limited",
    "idempotency_key_invalid",
    "idempotency_key_reused",
    "idempotency_in_progress",
    "forbidden",
    "not_found",
    "method_not_allowed",
    "account_not_found",
    "payload_too_large",
    "image_empty",
    "image_too_large",
    "image_type",
    "record_not_found",
    "record_not_yours",
    "record_bound_to_another",
    "record_details_mismatch",
    "school_not_found",
    "import_rows_invalid",
    "import_file_invalid",
    "correction_not_found",
    "reason_required",
    "check_type_invalid",
    "conclusion_invalid",
    "photo_kind_invalid",
    "id_number_protected",
    "identity_review_pending",
    "claim_not_open",
    "record_proof_limit",
    "record_proof_mismatch",
    "record_proof_rate_limited",
    "classmate_invitation_limit",
    "classmate_not_found",
    "assist_request_not_found",
    "manual_review_pending",
    "manual_review_not_pending",
    "liveness_exhausted",
    "liveness_session_invalid",
    "liveness_unavailable",
    "liveness_signature_invalid",
    "account_not_from_office",
    "internal_error",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_has_its_own_chinese_message() {
        let fallback = zh("no such code");
        for code in CODES {
            assert_ne!(zh(code), fallback, "{code} has no message");
            assert!(
                zh(code)
                    .chars()
                    .any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)),
                "{code}"
            );
        }
    }
}
