//! The message catalogue: every user-facing text, keyed by the stable machine-readable code
//! that travels beside it, in Simplified Chinese (worded as the seeds word it where they have a
//! wording) and English (seed 004 is a bilingual guide for foreign degree students).
//!
//! Texts with parameters name them in braces (`{holder}`), filled by `format`. The language of
//! a request is set once, by the HTTP layer from `Accept-Language`, for everything the request
//! renders (`in_language`); background work that writes to a person names the language.

use std::collections::HashMap;
use std::future::Future;
use std::sync::LazyLock;

pub use xuexin_domain::values::Language;

tokio::task_local! {
    static LANGUAGE: Language;
}

/// Runs `future` with `language` as the language of every text it renders.
pub async fn in_language<F: Future>(language: Language, future: F) -> F::Output {
    LANGUAGE.scope(language, future).await
}

/// The language of the request being served (zh-CN outside one).
pub fn current() -> Language {
    LANGUAGE.try_with(|l| *l).unwrap_or_default()
}

/// `(code, zh-CN, en)`. A test requires both texts of every entry and every code the service
/// answers with to be here.
pub const CATALOGUE: &[(&str, &str, &str)] = &[
    ("validation_failed", "请求参数有误，请检查后重新提交", "Some of the information is not valid; please check it and submit again"),
    ("invalid_json", "请求格式有误", "The request is not in the expected format"),
    ("required", "此项不能为空", "This field is required"),
    ("phone_required", "手机号不能为空", "Please enter your mobile number"),
    ("phone_format", "手机号格式有误", "The mobile number is not valid"),
    ("purpose_invalid", "校验码用途有误", "The purpose of the code is not valid"),
    // seed 001: 校验码不能为空
    ("sms_code_required", "校验码不能为空", "Please enter the verification code"),
    ("sms_code_invalid", "校验码错误或已失效", "The verification code is wrong or has expired"),
    ("sms_code_attempts", "校验码错误次数过多，请重新获取", "Too many wrong codes; please request a new one"),
    // seed 000: 手机短信验证码受限
    ("sms_rate_limited", "短信验证码获取受限，请稍后再试", "Too many text messages requested; please try again later"),
    ("sms_gateway_unavailable", "短信发送失败，请稍后再试", "The text message could not be sent; please try again later"),
    ("password_required", "密码不能为空", "Please enter a password"),
    // seed 001: 密码由6-30位的英文字母、数字和特殊字符组成
    ("password_format", "密码由6-30位的英文字母、数字和特殊字符组成", "The password must be 6 to 30 letters, digits and special characters"),
    ("password_too_common", "密码过于简单，请使用强度较高的密码", "The password is too simple; please choose a stronger one"),
    ("password_contains_phone", "密码不能包含手机号", "The password must not contain your mobile number"),
    ("password_contains_id_number", "密码不能包含证件号码", "The password must not contain your ID number"),
    ("password_mismatch", "两次输入的密码不一致", "The two passwords do not match"),
    // seed 000: 姓名格式有误
    ("name_format", "姓名格式有误", "The name is not valid"),
    ("document_type_invalid", "请选择证件类型", "Please choose an ID document type"),
    // seed 000: 证件号码格式有误
    ("id_number_format", "证件号码格式有误", "The ID number is not valid"),
    ("id_number_checksum", "证件号码格式有误：不符合第二代居民身份证校验规则。如需查询学籍学历信息，证件类型可选择“其他”", "The ID number is not valid: it fails the check of the second-generation resident ID card. To look up enrolment and degree records, choose the document type “Other”"),
    ("id_number_birth_date", "证件号码格式有误：出生日期不正确", "The ID number is not valid: the date of birth is wrong"),
    ("email_format", "邮箱格式有误", "The e-mail address is not valid"),
    ("security_questions_invalid", "请设置三个不同的密保问题及答案", "Please set three different security questions and their answers"),
    ("terms_not_accepted", "请阅读并同意服务条款", "Please read and accept the terms of service"),
    // seed 001: 该邮箱（或者手机号）已经注册，可直接登录
    ("phone_taken", "该手机号已经注册，可直接登录", "This mobile number is already registered; you can log in with it"),
    // seeds 000, 002: 证件号码已被注册
    ("id_number_taken", "证件号码已被注册", "This ID number is already registered"),
    ("email_taken", "该邮箱已经注册，可直接登录", "This e-mail address is already registered; you can log in with it"),
    // seed 001: 该邮箱已经注册，正在等待激活，重新发送激活邮件
    ("email_pending_activation", "该邮箱已经注册，正在等待激活，重新发送激活邮件", "This e-mail address is registered and waiting for activation; send the activation e-mail again"),
    // seed 001: 电子邮件已被用户 xxx 绑定邮箱时使用 (the holder is put in by the caller)
    ("email_bound", "电子邮件已被其他用户绑定邮箱时使用", "This e-mail address is already bound as another user's security e-mail"),
    ("login_required", "请输入手机号/身份证号/邮箱", "Please enter your mobile number, ID number or e-mail address"),
    ("invalid_credentials", "用户名或密码错误", "Wrong username or password"),
    ("account_locked", "登录失败次数过多，账号已被暂时锁定，请稍后再试", "Too many failed logins: the account is locked for a while; please try again later"),
    ("unauthenticated", "请先登录", "Please log in first"),
    ("overloaded", "系统繁忙，请稍后再试", "The system is busy; please try again later"),
    ("read_timeout", "数据同步中，请稍后再试", "Your data is being synchronised; please try again shortly"),
    ("position_invalid", "position 参数有误", "The position parameter is not valid"),
    ("email_token_invalid", "验证链接无效或已过期", "The verification link is invalid or has expired"),
    ("email_already_verified", "邮箱已验证", "The e-mail address is already verified"),
    ("email_missing", "账号未绑定安全邮箱", "The account has no security e-mail address"),
    ("email_rate_limited", "邮件发送过于频繁，请稍后再试", "Too many e-mails requested; please try again later"),
    ("login_rate_limited", "登录失败次数过多，请稍后再试", "Too many failed logins; please try again later"),
    ("registration_rate_limited", "注册过于频繁，请稍后再试", "Too many registrations; please try again later"),
    ("idempotency_key_invalid", "Idempotency-Key 格式有误", "The Idempotency-Key is not valid"),
    ("idempotency_key_reused", "该 Idempotency-Key 已用于另一个请求", "This Idempotency-Key was already used for another request"),
    ("idempotency_in_progress", "请求正在处理中，请稍后再试", "The request is still being processed; please try again shortly"),
    ("idempotency_answer_not_stored", "首次请求的应答含一次性密码，不能重放；请登录查看结果或用新的 Idempotency-Key 重新操作", "The first answer held a one-time secret and cannot be replayed; log in to see the result, or repeat the action with a new Idempotency-Key"),
    ("forbidden", "没有权限进行此操作", "You are not allowed to do this"),
    ("not_found", "请求的资源不存在", "The requested resource does not exist"),
    ("method_not_allowed", "不支持的请求方法", "This request method is not supported"),
    ("account_not_found", "账号不存在", "The account does not exist"),
    ("payload_too_large", "请求内容过大", "The request is too large"),
    ("position_ahead_of_log", "position 参数有误：超出已提交的位置", "The position parameter is not valid: it is past the last committed position"),
    ("control_character", "内容含有不允许的控制字符", "The text contains control characters that are not allowed"),
    ("malformed_json", "请求格式有误：请求内容不是有效的 JSON", "The request is not valid JSON"),
    ("malformed_query", "请求参数格式有误", "The query parameters are not in the expected format"),
    ("malformed_path", "请求路径格式有误", "The request path is not in the expected format"),
    ("malformed_body", "请求内容无法读取", "The request body could not be read"),
    ("unsupported_media_type", "请求格式有误：Content-Type 应为 application/json", "The request format is wrong: the Content-Type must be application/json"),
    ("image_empty", "上传的图片为空", "The uploaded image is empty"),
    ("image_too_large", "图片不能超过 2 MB", "The image must not be larger than 2 MB"),
    ("image_type", "只能上传 JPG 或 PNG 格式的图片", "Only JPG or PNG images can be uploaded"),
    ("record_not_found", "未查询到该记录", "No such record was found"),
    ("record_not_yours", "该记录不属于当前账号", "This record does not belong to your account"),
    ("record_bound_to_another", "该学历已绑定其他账号", "This degree is already bound to another account"),
    ("record_details_mismatch", "证书编号、毕业年份或姓名与学历信息不符", "The certificate number, year of graduation or name does not match the degree record"),
    ("school_not_found", "学校代码未登记", "The school code is not registered"),
    ("import_rows_invalid", "文件中有数据有误，未导入任何数据", "Some rows of the file are wrong; nothing was imported"),
    ("import_file_invalid", "文件无法导入", "The file cannot be imported"),
    ("correction_not_found", "未找到待审核的更正申请", "No correction request is waiting for review"),
    ("reason_required", "请填写原因", "Please give a reason"),
    ("check_type_invalid", "核对类型有误", "The type of check is not valid"),
    ("conclusion_invalid", "核对结论有误：正确无误，或有误并填写正确的信息", "The conclusion is not valid: either correct, or wrong with the correct information"),
    ("photo_kind_invalid", "照片类型有误", "The type of photo is not valid"),
    ("id_number_protected", "证件号码对应的账号已存在（已在全国征兵网进行过兵役登记/应征报名），不能重复注册", "An account already exists for this ID number (registered for military service on the national conscription site); it cannot be registered again"),
    ("identity_review_pending", "请先完成身份核验", "Please complete the identity verification first"),
    ("claim_not_open", "没有进行中的证件号码重复核验", "There is no duplicate-ID verification in progress"),
    ("record_proof_limit", "一个证件号码最多只能通过此种方式解决证件号码重复 3 次", "A duplicate ID number can be resolved this way at most 3 times"),
    ("record_proof_mismatch", "学籍或学历信息核对不正确", "The enrolment or degree information does not match"),
    ("record_proof_rate_limited", "核对次数过多，请稍后再试", "Too many attempts; please try again later"),
    ("classmate_invitation_limit", "每天最多可申请 5 名同学协助", "You can ask at most 5 classmates a day for help"),
    ("classmate_not_found", "未找到该同学：请确认同学的姓名和手机号，且其为已通过审核的同班同学", "No such classmate: check your classmate's name and mobile number; they must be a verified member of your class"),
    ("assist_request_not_found", "协助请求不存在或已处理", "The request for help does not exist or has been handled"),
    ("manual_review_pending", "照片已提交，请等待审核，三个工作日内处理完毕", "Your photo has been submitted and will be reviewed within three working days"),
    ("manual_review_not_pending", "没有待审核的照片", "There is no photo waiting for review"),
    ("liveness_exhausted", "实人验证多次未通过，请上传手持证件照片进行人工审核", "The real-person check failed several times; please upload a photo of yourself holding your ID for manual review"),
    ("liveness_session_invalid", "验证会话无效或已处理", "The verification session is invalid or has been handled"),
    ("liveness_unavailable", "实人验证服务暂不可用，请稍后再试或选择其他方式", "The real-person check is not available now; please try later or choose another way"),
    ("liveness_signature_invalid", "回调签名无效或已过期", "The callback signature is invalid or has expired"),
    ("account_not_from_office", "该账号不是本征兵办公室协助注册的", "This account was not registered with the help of this conscription office"),
    ("captcha_required", "请输入图片验证码", "Please enter the characters in the image"),
    ("captcha_invalid", "图片验证码错误或已过期，请重新获取", "The image code is wrong or has expired; please get a new one"),
    ("captcha_rate_limited", "图片验证码获取过于频繁，请稍后再试", "Too many image codes requested; please try again later"),
    ("find_username_rate_limited", "请求被取消，不能频繁使用该功能", "Request cancelled: this function cannot be used so often"),
    ("recovery_rate_limited", "请求被取消，不能频繁使用该功能", "Request cancelled: this function cannot be used so often"),
    ("username_not_found", "用户名不存在", "The username does not exist"),
    ("username_not_matched", "证件号码和姓名不符合", "The ID number and the name do not match"),
    ("recovery_re_register", "该账号没有绑定手机号、安全邮箱，也没有设置密保问题及答案，无法找回密码，请重新注册", "This account has no mobile number, no security e-mail and no security questions, so its password cannot be recovered; please register again"),
    ("recovery_token_invalid", "找回密码的链接或凭证无效或已过期，请重新找回", "The password-recovery link or ticket is invalid or has expired; please start again"),
    ("recovery_method_unavailable", "该账号不能使用此种方式找回密码", "This account cannot recover its password this way"),
    ("recovery_identity_mismatch", "姓名或证件号码与账号信息不符", "The name or ID number does not match the account"),
    ("security_answers_required", "请回答全部三个密保问题", "Please answer all three security questions"),
    ("security_answers_wrong", "密保问题答案不正确", "The answers to the security questions are not correct"),
    ("security_questions_closed", "密保问题答错次数过多，24 小时内不能通过密保问题找回密码", "Too many wrong answers: the security questions cannot be used to recover the password for 24 hours"),
    ("security_questions_not_set", "账号未设置密保问题", "The account has no security questions"),
    ("current_password_required", "请输入当前密码", "Please enter your current password"),
    ("current_password_wrong", "当前密码错误", "The current password is wrong"),
    ("current_password_rate_limited", "当前密码错误次数过多，请稍后再试", "Too many wrong current passwords; please try again later"),
    ("phone_unchanged", "新手机号与当前绑定的手机号相同", "The new mobile number is the one already bound"),
    ("email_unchanged", "新邮箱与当前绑定的邮箱相同", "The new e-mail address is the one already bound"),
    ("email_mismatch", "邮箱与账号绑定的邮箱不一致", "The e-mail address is not the one bound to the account"),
    ("name_unchanged", "新姓名与当前姓名相同", "The new name is the same as the current name"),
    ("name_change_pending", "已有待审核的姓名修改申请，请等待审核", "A change of name is already waiting for review"),
    ("name_change_not_pending", "没有待审核的姓名修改申请", "There is no change of name waiting for review"),
    ("name_change_needs_review", "居民身份证持有人修改姓名需提交申请并经人工审核", "Holders of a resident ID card change their name by request, after a manual review"),
    ("external_login_linked", "该第三方账号已绑定", "This external account is already bound"),
    ("external_login_not_linked", "该第三方账号未绑定学信网账号，请先登录学信网账号后绑定", "This external account is not bound to a CHSI account; log in to your CHSI account first and bind it"),
    ("external_login_taken", "该第三方账号已绑定其他学信网账号", "This external account is bound to another CHSI account"),
    ("oauth_provider_unavailable", "暂不支持该登录方式", "This way of logging in is not available"),
    ("oauth_state_invalid", "登录请求已过期或无效，请重新扫码", "The login request has expired or is invalid; please scan the code again"),
    ("oauth_code_invalid", "授权码无效或已过期，请重新扫码", "The authorisation code is invalid or has expired; please scan the code again"),
    ("oauth_provider_error", "第三方平台暂时无法访问，请稍后再试", "The external platform cannot be reached now; please try again later"),
    ("oauth_denied", "已取消授权", "Authorisation was cancelled"),
    ("provider_invalid", "不支持的第三方登录平台", "This external login platform is not supported"),
    ("time_format", "时间格式有误，请使用 RFC 3339（如 2026-11-23T08:00:00Z）", "The time is not valid; use RFC 3339 (e.g. 2026-11-23T08:00:00Z)"),
    ("internal_error", "系统错误，请稍后再试", "System error; please try again later"),
    ("request_failed", "请求失败", "The request failed"),
    ("conflict", "与已有数据冲突", "The request conflicts with existing data"),
    ("json_object_expected", "请求格式有误：请求内容应为 JSON 对象", "The request format is wrong: the body must be a JSON object"),
    ("id_number_protected_by", "证件号码对应的账号已存在（已在全国征兵网进行过兵役登记/应征报名），不能重复注册。已使用帐号({holder})进行了兵役登记/应征报名，请联系（{office}）协助修改密码", "An account already exists for this ID number (registered for military service on the national conscription site); it cannot be registered again. The account ({holder}) was used for that registration; please ask {office} to help you change its password"),
    ("email_bound_by", "电子邮件已被用户 {holder} 绑定邮箱时使用", "This e-mail address is already bound as the security e-mail of user {holder}"),
    ("id_number_held", "该证件号码已被其他账号注册", "This ID number is registered by another account"),
    ("import_rows_invalid_count", "文件中有 {count} 行数据有误，未导入任何数据", "{count} rows of the file are wrong; nothing was imported"),
    ("import_file_invalid_reason", "文件无法导入：{reason}", "The file cannot be imported: {reason}"),
    ("password_changed", "密码修改成功", "Your password has been changed"),
    ("phone_changed", "手机号修改成功", "Your mobile number has been changed"),
    ("email_verification_sent", "我们已经向您的邮箱 {email} 发送了一封验证邮件，验证通过后可凭此邮箱找回密码", "We have sent a verification e-mail to {email}; once it is verified you can recover your password with it"),
    ("name_changed", "姓名修改成功", "Your name has been changed"),
    ("security_questions_set", "密保问题设置成功", "Your security questions have been set"),
    ("external_login_unbound", "已解除绑定{provider}账号", "Your {provider} account has been unbound"),
    ("name_change_approved", "姓名修改申请已通过", "The change of name has been approved"),
    ("name_change_rejected", "姓名修改申请未通过", "The change of name has been rejected"),
    ("username_found", "找回用户名成功，请使用该用户名登录", "Your username has been found; log in with it"),
    ("recovery_choose_method", "请选择找回密码的方式", "Choose how to recover your password"),
    ("reset_link_sent", "系统已经将重置链接发送到你的邮箱", "A reset link has been sent to your e-mail"),
    ("password_reset_done", "密码重置成功，请使用新密码登录", "Your password has been reset; log in with the new password"),
    ("external_login_succeeded", "{provider}登录成功", "Logged in with {provider}"),
    ("external_login_bound", "{provider}账号绑定成功", "Your {provider} account has been bound"),
    ("label.none", "无", "none"),
    ("strength.weak", "弱", "weak"),
    ("strength.medium", "中", "medium"),
    ("strength.strong", "强", "strong"),
    ("strength.very_strong", "非常强", "very strong"),
    ("check.enrolment_check", "学籍信息核对", "Enrolment check"),
    ("check.annual_registration_2", "第二学年学年注册", "Second-year registration"),
    ("check.annual_registration_3", "第三学年学年注册", "Third-year registration"),
    ("check.image_verification", "图像采集/学历注册", "Photo capture / degree registration"),
    ("record_kind.enrolment", "学籍", "Enrolment"),
    ("record_kind.degree", "学历", "Degree"),
    ("document_type.resident_id_card", "居民身份证", "Resident ID card"),
    ("document_type.overseas_chinese_id_or_passport", "华侨身份证/护照", "Overseas Chinese ID / passport"),
    ("document_type.other", "其他", "Other"),
    ("label.yes", "是", "yes"),
    ("label.no", "否", "no"),
    ("csv.unchecked_header", "学号,姓名,班级,入学年份,已注册账号", "Student number,Name,Class,Year of enrolment,Has an account"),
    ("cli.import_row", "第 {line} 行: {reasons}", "line {line}: {reasons}"),
    ("cli.import_row_not_written", "第 {line} 行（未写入）: {reasons}", "line {line} (not written): {reasons}"),
    ("actor.self", "本人", "you"),
    ("actor.other_user", "其他用户", "another user"),
    ("actor.reviewer", "审核员", "a reviewer"),
    ("actor.registrar", "学校", "the school"),
    ("actor.provincial_authority", "省级教育行政部门", "the provincial education authority"),
    ("actor.conscription_office", "征兵办公室", "a conscription office"),
    ("actor.auditor", "审计员", "an auditor"),
    ("actor.administrator", "管理员", "an administrator"),
    ("actor.system", "系统", "the system"),
    ("actor.anonymous", "未登录用户", "someone not logged in"),
    ("provider.wechat", "微信", "WeChat"),
    ("provider.alipay", "支付宝", "Alipay"),
    ("provider.other", "第三方账号", "external account"),
    ("via.phone", "手机号", "mobile number"),
    ("via.email", "邮箱", "e-mail"),
    ("via.id_number", "证件号码", "ID number"),
    ("via.staff_username", "用户名", "username"),
    ("via.sms", "短信校验码", "text-message code"),
    ("via.security_questions", "密保问题", "security questions"),
    ("via.conscription_office", "征兵办公室", "conscription office"),
    ("history.registration_started", "开始注册", "Registration started"),
    ("history.staff_account_created", "创建工作人员账号", "Staff account created"),
    ("history.registered", "注册成功", "Registered"),
    ("history.registration_abandoned", "注册未完成（{reason}）", "Registration not completed ({reason})"),
    ("history.email_verification_requested", "发送邮箱验证邮件至 {email}", "Verification e-mail sent to {email}"),
    ("history.email_verified", "邮箱 {email} 验证成功", "E-mail {email} verified"),
    ("history.login_succeeded", "登录成功（{via}）", "Logged in ({via})"),
    ("history.login_failed", "登录失败（连续 {count} 次）", "Login failed ({count} in a row)"),
    ("history.account_locked", "账号被暂时锁定至 {until}", "Account locked until {until}"),
    ("history.account_unlocked", "账号解除锁定", "Account unlocked"),
    ("history.password_rehashed", "密码存储方式升级", "Password storage upgraded"),
    ("history.identity_verified", "身份核验通过（{method}）", "Identity verified ({method})"),
    ("history.old_account_deactivated", "证件号码已由新账号使用，本账号注销", "The ID number is now used by a new account; this account is closed"),
    ("history.phone_unbound", "手机号 {phone} 已被其他账号继续注册使用，解除绑定", "Mobile number {phone} was taken over by another registration and unbound"),
    ("history.password_reset", "密码被重置（{via}）", "Password reset ({via})"),
    ("history.password_changed", "修改密码", "Password changed"),
    ("history.phone_changed", "手机号由 {old} 改为 {new}", "Mobile number changed from {old} to {new}"),
    ("history.email_changed", "安全邮箱由 {old} 改为 {new}", "Security e-mail changed from {old} to {new}"),
    ("history.name_changed", "姓名由 {old} 改为 {new}", "Name changed from {old} to {new}"),
    ("history.name_changed_reviewed", "姓名由 {old} 改为 {new}（经审核）", "Name changed from {old} to {new} (after review)"),
    ("history.name_change_requested", "申请将姓名改为 {name}，原因：{reason}", "Asked to change the name to {name}; reason: {reason}"),
    ("history.name_change_rejected", "姓名修改申请未通过：{reason}", "Change of name rejected: {reason}"),
    ("history.security_questions_set", "设置密保问题", "Security questions set"),
    ("history.recovery_started", "申请找回密码（{via}）", "Password recovery started ({via})"),
    ("history.security_answers_accepted", "密保问题回答正确", "Security questions answered correctly"),
    ("history.security_answers_failed", "密保问题回答错误（连续 {count} 次）", "Security questions answered wrongly ({count} in a row)"),
    ("history.external_login_linked", "绑定{provider}账号", "{provider} account bound"),
    ("language_changed", "语言已设置为{language}", "Language set to {language}"),
    ("language_invalid", "语言应为 zh-CN 或 en", "The language must be zh-CN or en"),
    // A language's own name, the same in both columns (the switch shows it in that language).
    ("language.native.zh", "中文", "中文"),
    ("language.native.en", "English", "English"),
    ("web.brand", "学信网", "CHSI"),
    ("web.skip_to_content", "跳到正文", "Skip to content"),
    ("web.nav", "网站导航", "Site navigation"),
    ("web.logout", "退出", "Log out"),
    ("web.footer", "学信网 · 学生信息网络账号", "CHSI · student information network account"),
    ("web.login.title", "登录", "Log in"),
    ("web.login.name", "手机号/身份证号/邮箱", "Mobile number / ID number / e-mail"),
    ("web.login.password", "密码", "Password"),
    ("web.login.submit", "登录", "Log in"),
    ("web.account.title", "账号管理", "Account"),
    ("web.account.phone", "手机号", "Mobile number"),
    ("web.account.document", "证件", "ID document"),
    ("web.account.email", "安全邮箱", "Security e-mail"),
    ("web.account.email_verified", "已验证", "verified"),
    ("web.account.email_pending", "待验证", "not yet verified"),
    ("web.account.status", "账号状态", "Account status"),
    ("web.account.status_active", "正常", "Active"),
    ("web.account.status_locked", "已锁定", "Locked"),
    ("web.account.status_pending_review", "待审核", "Waiting for review"),
    ("web.account.status_deactivated", "已注销", "Deactivated"),
    ("web.account.registered_at", "注册时间", "Registered"),
    ("web.account.last_login_at", "最近登录", "Last login"),
    ("web.login.register", "注册", "Create an account"),
    ("web.register.title", "欢迎注册学信网帐号", "Create a CHSI account"),
    ("web.register.have_account", "已有学信网帐号", "Already have a CHSI account?"),
    ("web.register.login_now", "立即登录", "Log in"),
    ("web.register.purpose", "注册成功后可以使用中国研究生招生信息网、阳光高考、学信档案、全国征兵网提供的服务。", "With the account you can use the services of the graduate admissions site, Gaokao, the record archive and the national conscription site."),
    ("web.register.phone", "手机号", "Mobile number"),
    ("web.register.sms_code", "校验码", "Verification code"),
    ("web.register.get_code", "免费获取", "Get a code (free)"),
    ("web.register.code_sent", "校验码已发送至 {phone}，24小时内有效", "A verification code was sent to {phone}; it is valid for 24 hours"),
    ("web.register.password", "密码", "Password"),
    ("web.register.strength", "密码强度：", "Password strength: "),
    ("web.register.resend_in", "{seconds}秒后重新获取", "Get another in {seconds} s"),
    ("web.register.password_hint", "密码由6-30位的英文字母、数字和特殊字符组成, 请使用强度较高的密码", "6-30 letters, digits and special characters; please choose a strong password"),
    ("web.register.password_confirmation", "密码确认", "Confirm the password"),
    ("web.register.name", "姓名", "Name"),
    ("web.register.document_type", "证件类型", "ID document type"),
    ("web.register.document_type_hint", "中国大陆地区用户推荐设置居民身份证", "Mainland China users: we recommend the resident identity card"),
    ("web.register.document_number", "证件号码", "ID document number"),
    ("web.register.email", "安全邮箱", "Security e-mail"),
    ("web.register.email_hint", "sohu邮箱无法接收本网邮件, 请使用其他有效邮箱", "sohu.com addresses cannot receive our mail; please use another address"),
    ("web.register.questions", "密保问题", "Security questions"),
    ("web.register.question", "密保问题", "Security question"),
    ("web.register.answer", "答案", "Answer"),
    ("web.register.accept_terms", "我已阅读并同意服务条款", "I have read and accept the terms of service"),
    ("web.register.submit", "立即注册", "Register now"),
    ("web.register.you_can", "您可以：", "You can:"),
    ("web.register.phone_login", "用该手机号登录", "Log in with this mobile number"),
    ("web.register.phone_recover", "用手机找回密码", "Recover the password by mobile"),
    ("web.register.phone_continue", "继续注册?", "Continue registering?"),
    ("web.register.phone_continue_note", "(选择继续注册旧帐号将不可用)", "(if you continue, the old account can no longer be used)"),
    ("web.register.re_register", "我要重新注册", "I want to register again"),
    ("web.register.re_register_note", "友情提示：如果选择“我要重新注册”，管理员审核后证件号码关联的旧账号将被注销掉，旧账号将不能用于征兵、研招报名。", "Please note: if you choose to register again, the old account linked to this ID number is closed once an administrator approves, and can no longer be used for conscription or graduate admission."),
    ("web.verify.title", "学信网 CHSI 邮箱验证", "CHSI e-mail verification"),
    ("web.verify.intro", "请点击下面的按钮完成安全邮箱验证。验证通过后可凭此邮箱找回密码。", "Press the button below to verify your security e-mail. Once verified, you can recover your password with it."),
    ("web.verify.confirm", "完成验证", "Verify"),
    ("web.verify.done", "邮箱 {email} 验证成功", "The address {email} is verified"),
    ("web.verify.login_again", "请重新登录学信网，进入个人页面会看到邮箱绑定成功的提示。", "Log in to CHSI again; your page will confirm that the e-mail is bound."),
    ("web.verify.resend_hint", "登录后可在账号管理中重新发送验证邮件或修改安全邮箱。", "After logging in you can resend the verification e-mail or change the address under Account."),
    ("web.phone.title", "更换手机号", "Change the mobile number"),
    ("web.phone.intro", "更换后旧手机号将不能再用于登录，原手机号会收到通知；其他设备上的登录将退出。", "After the change the old number no longer logs in and is told; your sessions on other devices end."),
    ("web.phone.current_password", "当前密码", "Current password"),
    ("web.phone.new_phone", "新手机号", "New mobile number"),
    ("web.phone.submit", "确认更换", "Change the number"),
    ("web.phone.done", "手机号已更换为 {phone}", "Your mobile number is now {phone}"),
    ("web.phone.done_note", "下次请用新手机号登录。", "Log in with the new number from now on."),
    ("web.log.title", "账号日志", "Account log"),
    ("web.log.back", "返回账号管理", "Back to Account"),
    ("web.log.caption", "账号的每一次变更，最近的在前（北京时间）", "Every change of the account, newest first (Beijing time)"),
    ("web.log.time", "时间", "Time"),
    ("web.log.what", "操作", "What happened"),
    ("web.log.who", "操作人", "By"),
    ("web.account.resend", "重新发送激活邮件", "Send the activation e-mail again"),
    ("web.account.email_bound", "邮箱绑定成功", "Your e-mail address is bound"),
    ("web.registered.or_click", "; 或点击", "; or"),
    ("web.registered.title", "帐号注册成功!", "Your account is registered!"),
    ("web.registered.username", "您的用户名：", "Your username:"),
    ("web.registered.login", "立即登录", "Log in now"),
    ("web.registered.mail_sent", "我们已经向您的邮箱 {email} 发送了一封验证邮件, 验证通过后可凭此邮箱找回密码。", "We have sent a verification e-mail to {email}; once it is verified you can recover your password with it."),
    ("web.registered.no_mail", "还没有收到确认邮件?", "No e-mail yet?"),
    ("web.registered.spam", "请登录您的邮箱, 尝试到广告邮件、垃圾邮件目录里找找看", "Look in your mailbox's advertising and spam folders"),
    ("web.login.recover", "找回密码", "Forgot your password?"),
    ("web.recover.title", "找回密码", "Recover your password"),
    ("web.recover.username", "用户名（手机号/身份证号/邮箱）", "Username (mobile number / ID number / e-mail)"),
    ("web.recover.captcha", "图片验证码", "Characters in the picture"),
    ("web.recover.captcha_image", "图片验证码：请输入图中的字符", "Captcha: type the characters shown"),
    ("web.recover.next", "下一步", "Next"),
    ("web.recover.account", "账号：", "Account:"),
    ("web.recover.choose", "请选择找回方式：", "Choose how to recover it:"),
    ("web.recover.by_sms", "通过手机 {target} 接收校验码", "Receive a code on {target}"),
    ("web.recover.by_email", "通过安全邮箱 {target} 找回（需验证姓名和证件号码）", "Through the security e-mail {target} (after your name and ID number)"),
    ("web.recover.by_questions", "回答密保问题{target}", "Answer the security questions{target}"),
    ("web.recover.none", "该账号没有可用的找回方式，您可以", "This account has no way to recover it; you can"),
    ("web.recover.register_again", "重新注册", "register again"),
    ("web.recover.code_sent", "校验码已发送至", "A code was sent to"),
    ("web.recover.new_password", "新密码", "New password"),
    ("web.recover.save", "重置密码", "Reset the password"),
    ("web.recover.done", "密码重置成功", "Your password has been reset"),
    ("web.login.find_username", "找回用户名", "Forgot your username?"),
    ("web.find_username.title", "找回用户名", "Find your username"),
    ("web.find_username.submit", "找回用户名", "Find my username"),
    ("web.find_username.your_username", "您的用户名：", "Your username:"),
    ("web.refused.title", "页面已过期", "This page has expired"),
    ("web.refused.text", "页面已过期或来源不明，本次提交未被处理。请返回后重新操作。", "The page had expired or did not come from this site, so nothing was done. Please go back and try again."),
    ("web.refused.back", "返回首页", "Back to the start"),
    ("history.language_chosen", "语言设置为{language}", "Language set to {language}"),
    ("language.zh", "简体中文", "Simplified Chinese"),
    ("language.en", "英文", "English"),
    ("history.external_login_unlinked", "解除绑定{provider}账号", "{provider} account unbound"),
    ("sms.code.register", "【学信网】您的校验码是{code}，用于注册学信网账号，24小时内有效。请勿将校验码告诉他人。", "[CHSI] Your verification code is {code}, for registering a CHSI account; valid for 24 hours. Do not tell anyone this code."),
    ("sms.code.recover", "【学信网】您的校验码是{code}，用于找回学信网账号密码，10分钟内有效。请勿将校验码告诉他人。", "[CHSI] Your verification code is {code}, for recovering the password of your CHSI account; valid for 10 minutes. Do not tell anyone this code."),
    ("sms.code.change_phone", "【学信网】您的校验码是{code}，用于更换学信网账号绑定的手机号，10分钟内有效。请勿将校验码告诉他人。", "[CHSI] Your verification code is {code}, for changing the mobile number of your CHSI account; valid for 10 minutes. Do not tell anyone this code."),
    ("notice.password_reset.subject", "学信网 密码重置提醒", "CHSI: your password was reset"),
    ("notice.password_reset", "【学信网】您的学信网账号密码已于{at}重置。如非本人操作，请立即联系学信网客服。", "[CHSI] The password of your CHSI account was reset at {at}. If this was not you, contact CHSI customer service at once."),
    ("notice.password_changed.subject", "学信网 密码修改提醒", "CHSI: your password was changed"),
    ("notice.password_changed", "【学信网】您的学信网账号密码已于{at}修改。如非本人操作，请立即找回密码并联系学信网客服。", "[CHSI] The password of your CHSI account was changed at {at}. If this was not you, recover your password and contact CHSI customer service at once."),
    ("notice.security_answers_accepted.subject", "学信网 密保问题验证提醒", "CHSI: security questions answered"),
    ("notice.security_answers_accepted", "【学信网】您的学信网账号于{at}通过密保问题验证，正在找回密码。如非本人操作，请立即修改密码和密保问题。", "[CHSI] Your CHSI account's security questions were answered at {at} to recover the password. If this was not you, change your password and security questions at once."),
    ("notice.security_answers_failed.subject", "学信网 密保问题验证提醒", "CHSI: security questions answered wrongly"),
    ("notice.security_answers_failed", "【学信网】有人于{at}使用密保问题找回您的学信网账号密码，答案不正确。如非本人操作，请注意账号安全。", "[CHSI] Someone tried to recover your CHSI password with the security questions at {at} and answered wrongly. If this was not you, keep an eye on your account."),
    ("notice.phone_changed.subject", "学信网 手机号变更提醒", "CHSI: your mobile number was changed"),
    ("notice.phone_changed", "【学信网】您的学信网账号绑定的手机号已于{at}更换为{detail}。如非本人操作，请立即联系学信网客服。", "[CHSI] The mobile number of your CHSI account was changed to {detail} at {at}. If this was not you, contact CHSI customer service at once."),
    ("notice.email_changed.subject", "学信网 安全邮箱变更提醒", "CHSI: your security e-mail was changed"),
    ("notice.email_changed", "【学信网】您的学信网账号安全邮箱已于{at}更换为{detail}，本邮箱不再接收找回密码邮件。如非本人操作，请立即联系学信网客服。", "[CHSI] The security e-mail of your CHSI account was changed to {detail} at {at}; this address no longer receives password-recovery mail. If this was not you, contact CHSI customer service at once."),
    ("notice.account_locked.subject", "学信网 账号锁定提醒", "CHSI: your account is locked"),
    ("notice.account_locked", "【学信网】您的学信网账号于{at}因密码连续输错多次被锁定，{detail}后可再次登录。如非本人操作，请立即找回密码。", "[CHSI] Your CHSI account was locked at {at} after repeated wrong passwords; you can log in again after {detail}. If this was not you, recover your password at once."),
    ("mail.greeting", "您好！\n\n{text}\n\n学信网", "Hello,\n\n{text}\n\nCHSI"),
    ("mail.verify_email.subject", "学信网 CHSI 邮箱验证", "CHSI: verify your e-mail address"),
    ("mail.verify_email", "您好！\n\n您在学信网填写了本邮箱作为安全邮箱。请点击下面的链接完成邮箱验证（24小时内有效，只能使用一次，截止 {until}）：\n\n{link}\n\n验证通过后可凭此邮箱找回密码。如果这不是您本人的操作，请忽略本邮件。\n\n学信网", "Hello,\n\nThis address was given as the security e-mail of a CHSI account. Open the link below to verify it (valid for 24 hours and once only, until {until}):\n\n{link}\n\nOnce verified, you can recover your password with this address. If this was not you, ignore this e-mail.\n\nCHSI"),
    ("mail.password_reset.subject", "学信网 找回密码", "CHSI: reset your password"),
    ("mail.password_reset", "您好！\n\n您正在通过安全邮箱找回学信网账号密码。请点击下面的链接重置密码（1小时内有效，只能使用一次，截止 {until}）：\n\n{link}\n\n如果这不是您本人的操作，请忽略本邮件，您的密码不会改变。\n\n学信网", "Hello,\n\nYou are recovering the password of your CHSI account through your security e-mail. Open the link below to reset it (valid for 1 hour and once only, until {until}):\n\n{link}\n\nIf this was not you, ignore this e-mail; your password will not change.\n\nCHSI"),
    ("import.unreadable", "无法读取文件：{error}", "cannot read the file: {error}"),
    ("import.encoding", "文件既不是有效的 UTF-8 编码，也不是 GB18030 编码：第 {line} 行有无法识别的字节", "the file is neither valid UTF-8 nor GB18030: line {line} has bytes that cannot be read"),
    ("import.format", "文件格式有误：{error}", "the file format is wrong: {error}"),
    ("import.header", "无法读取表头：{error}", "cannot read the header: {error}"),
    ("import.cell_count", "本行有 {cells} 列，表头有 {columns} 列", "this row has {cells} columns, the header {columns}"),
    ("import.control_character", "第 {column} 列含有不允许的控制字符", "column {column} contains a control character that is not allowed"),
    ("import.bad_bytes", "第 {column} 列含有无法识别的字节（不是有效的 UTF-8 或 GB18030 编码）", "column {column} has bytes that cannot be read (not valid UTF-8 or GB18030)"),
    ("import.school_unknown", "学校代码 {school} 未登记（xuexin admin add-school）", "school code {school} is not registered (xuexin admin add-school)"),
    ("row.missing_columns", "缺少列：{columns}", "missing columns: {columns}"),
    ("row.required", "{column}不能为空", "{column} must not be empty"),
    ("row.name", "姓名格式有误", "the name is not valid"),
    ("row.gender", "性别“{value}”应为{allowed}之一", "gender “{value}” must be one of {allowed}"),
    ("row.date", "{column}“{value}”格式有误，应为 YYYY-MM-DD", "{column} “{value}” is not a date in the form YYYY-MM-DD"),
    ("row.birth_date_mismatch", "出生日期与证件号码不符", "the birth date does not match the ID number"),
    ("row.id_checksum", "证件号码格式有误：不符合第二代居民身份证校验规则", "the ID number fails the check digit of the second-generation resident ID card"),
    ("row.id_birth_date", "证件号码格式有误：出生日期不正确", "the ID number holds an impossible birth date"),
    ("row.id_format", "证件号码格式有误", "the ID number is not valid"),
    ("row.school_name", "学校名称“{value}”与学校代码 {code}（{school}）不符", "the school name “{value}” does not match school code {code} ({school})"),
    ("row.level", "层次“{value}”不是可接受的值（{levels}）", "the level “{value}” is not one of {levels}"),
    ("row.duration", "学制“{value}”格式有误，应如“{example}”", "the duration “{value}” must read like “{example}”"),
    ("row.too_long", "{column}过长", "{column} is too long"),
    ("row.expected_graduation_order", "预计毕业日期应晚于入学日期", "the expected graduation date must be after the enrolment date"),
    ("row.student_number", "学号“{value}”格式有误", "the student number “{value}” is not valid"),
    ("row.graduation_order", "毕（结）业日期应晚于入学日期", "the graduation date must be after the enrolment date"),
    ("row.conclusion", "毕（结）业“{value}”应为{allowed}之一", "the graduation conclusion “{value}” must be one of {allowed}"),
    ("row.certificate", "证书编号“{value}”格式有误：应为 18 位数字，以学校代码 {code} 开头，第 7–10 位为毕业年份", "the certificate number “{value}” must be 18 digits starting with school code {code}, digits 7–10 the graduation year"),
    ("import.number_taken", "该学号或证书编号已属于其他学校或其他类型的记录", "this student or certificate number belongs to another school or another kind of record"),
    ("session_not_found", "该登录设备不存在或已退出", "There is no such session, or it has already ended"),
    ("label.unknown_device", "未知设备", "Unknown device"),
    ("web.sessions.title", "登录设备", "Signed-in devices"),
    ("web.sessions.caption", "您的账号当前在以下设备上登录（北京时间）。不认识的设备请立即退出并修改密码。", "Your account is signed in on these devices (Beijing time). End any you do not recognise and change your password."),
    ("web.sessions.device", "设备", "Device"),
    ("web.sessions.ip", "IP地址", "IP address"),
    ("web.sessions.time", "登录时间", "Signed in"),
    ("web.sessions.action", "操作", "Action"),
    ("web.sessions.this_one", "本机（当前）", "This device"),
    ("web.sessions.end", "退出", "Sign out"),
    ("web.sessions.end_others", "退出其他所有设备", "Sign out all other devices"),
    ("record_field.name", "姓名", "Name"),
    ("record_field.gender", "性别", "Gender"),
    ("record_field.birth_date", "出生日期", "Date of birth"),
    ("record_field.ethnicity", "民族", "Ethnicity"),
    ("record_field.id_number", "证件号码", "ID number"),
    ("record_field.school_name", "学校名称", "School"),
    ("record_field.level", "层次", "Level"),
    ("record_field.major", "专业", "Major"),
    ("record_field.duration", "学制", "Duration"),
    ("record_field.category", "学历类别", "Category"),
    ("record_field.study_form", "学习形式", "Form of study"),
    ("record_field.branch", "分院", "Branch"),
    ("record_field.department", "系（所、函授站）", "Department"),
    ("record_field.class_name", "班级", "Class"),
    ("record_field.student_number", "学号", "Student number"),
    ("record_field.enrolment_date", "入学日期", "Enrolment date"),
    ("record_field.expected_graduation_date", "预计毕业日期", "Expected graduation"),
    ("record_field.status", "学籍状态", "Enrolment status"),
    ("record_field.graduation_date", "毕（结）业日期", "Graduation date"),
    ("record_field.graduation_conclusion", "毕（结）业", "Graduation"),
    ("record_field.certificate_number", "证书编号", "Certificate number"),
    ("graduation_year_invalid", "毕业年份格式有误，例如：2024", "The year of graduation is not valid, e.g. 2024"),
    ("web.archive.title", "学信档案", "Record archive"),
    ("web.archive.sheet_title", "个人学信档案", "Personal record archive"),
    ("web.archive.summary", "您一共有 {enrolments} 个学籍、{degrees} 个学历", "You have {enrolments} enrolment record(s) and {degrees} degree record(s)"),
    ("web.archive.missing", "还有学籍没有显示出来？", "Is a record missing?"),
    ("web.archive.print", "打印个人学信档案", "Print the record archive"),
    ("web.archive.print_hint", "打印时请使用A4纸；打印稿由学生本人校对并签名。", "Print on A4 paper; check the printed sheet and sign it yourself."),
    ("web.archive.admission_photo", "录取照片", "Admission photo"),
    ("web.archive.degree_photo", "学历照片", "Degree photo"),
    ("web.archive.no_photo", "暂无照片", "No photo yet"),
    ("web.archive.correct", "学籍信息已核对，正确无误。", "The enrolment information has been checked and is correct."),
    ("web.archive.or_wrong", "（或：学籍信息中**有误，正确的应为：****）", "(or: the information about ** is wrong; it should be ****)"),
    ("web.archive.wrong", "学籍信息有误", "The information is wrong"),
    ("web.archive.wrong_as", "学籍信息有误，正确的应为：{correction}", "The information is wrong; it should be: {correction}"),
    ("web.archive.unchecked", "未核对", "Not checked"),
    ("web.archive.copy_note", "（学生按实际情况抄写一遍）", "(the student copies the conclusion that applies by hand)"),
    ("web.archive.signature", "签 名：", "Signature: "),
    ("web.archive.date", "日 期：", "Date: "),
    ("web.archive.username", "学信网帐号：", "CHSI account: "),
    ("web.archive.checks", "核对情况", "Checks"),
    ("web.archive.check_type", "核对类型", "Check"),
    ("web.archive.conclusion", "核对结论", "Conclusion"),
    ("web.archive.check_now", "核对学籍信息", "Check the record"),
    ("web.archive.correction", "正确的应为（信息有误时填写）", "What it should be (when the information is wrong)"),
    ("web.archive.submit", "提交核对结论", "Submit the conclusion"),
    ("web.archive.checked", "核对结论已提交", "Your conclusion has been recorded"),
    ("web.archive.changes", "学籍信息变更记录", "Changes to the record"),
    ("web.archive.changed", "变更内容", "Changed"),
    ("web.archive.before", "原信息", "Before"),
    ("web.archive.after", "现信息", "After"),
    ("web.archive.empty", "您还没有学籍或学历信息。学校上报后，与您的姓名和证件号码一致的信息会显示在这里。", "You have no records yet. Once your school reports them, records matching your name and ID number appear here."),
    ("web.archive.back", "返回学信档案", "Back to the record archive"),
    ("web.bind.title", "尝试绑定学籍", "Bind a missing record"),
    ("web.bind.intro", "我还有学历没显示出来：请输入证书编号、毕业年份和姓名。", "A degree of mine is not shown: enter its certificate number, year of graduation and your name."),
    ("web.bind.graduation_year", "毕业年份（例如：2024）", "Year of graduation (e.g. 2024)"),
    ("web.bind.submit", "绑定", "Bind"),
    ("web.bind.done", "学历绑定成功", "The degree record is now in your archive"),
    ("web.account.archive", "学信档案", "Record archive"),
    ("year_invalid", "年份格式有误，例如：1999", "The year is not valid, e.g. 1999"),
    ("web.identity.title", "证件号码重复", "Duplicate ID number"),
    ("web.identity.created_at", "创建日期", "Created"),
    ("web.identity.status", "日志状态", "Status"),
    ("web.identity.reason", "审核失败原因", "Why the review failed"),
    ("web.identity.status_open", "证件重复，待核验", "Duplicate ID: waiting for a proof"),
    ("web.identity.status_pending", "待审核", "Waiting for review"),
    ("web.identity.status_rejected", "审核失败", "Review failed"),
    ("web.identity.status_approved", "审核通过", "Approved"),
    ("web.identity.status_closed", "已关闭", "Closed"),
    ("web.identity.status_none", "无重复", "No duplicate"),
    ("web.identity.status_help", "日志状态描述： 待审核：等待客服审核，本网站核对无误后将在三个工作日内处理完毕，请及时登录网站查看 审核失败：上传的身份证照片不符合要求、或者有误，需要重新上传(请务必按要求上传,以免耽误您正常使用学信网服务)", "Status: waiting for review — customer service checks it within three working days; please log in to see the result. Review failed — the ID photo did not meet the requirements or was wrong and must be uploaded again (follow the requirements so that your use of CHSI is not delayed)."),
    ("web.identity.ways", "解决证件号码重复的问题", "Resolve the duplicate ID number"),
    ("web.identity.warning", "学籍或学历信息核对正确后，将会注销使用了您当前证件号码的其他账号；如果您另有其他账号，请慎重此操作；注销账号暂时会影响您原填报研招推免和统考的信息操作。", "Once your enrolment or degree information is confirmed, the other account using your ID number is closed. If you have another account, think carefully before doing this: closing it affects what you entered for graduate admission."),
    ("web.identity.by_records", "提供学籍或者学历信息", "Give your enrolment or degree information"),
    ("web.identity.records_left", "（此证件号码还可使用 {count} 次）", "({count} use(s) left for this ID number)"),
    ("web.identity.by_classmate", "大学同班同学协助", "Ask a university classmate to confirm"),
    ("web.identity.by_photo", "持身份证照相上传，人工审核（一般需三个工作日）", "Upload a photo holding your ID card for manual review (usually three working days)"),
    ("web.identity.by_liveness", "实人验证", "Real-person check"),
    ("web.identity.records_title", "核对学籍或学历信息完成证件号码重复审核", "Resolve the duplicate ID with enrolment or degree information"),
    ("web.identity.records_limit", "注：一个身份证，最多只能通过此种方式解决身份证重复 3 次。", "Note: one ID number can be resolved this way at most 3 times."),
    ("web.identity.in_school", "在校生", "Student"),
    ("web.identity.graduate", "毕业生", "Graduate"),
    ("web.identity.in_school_title", "在校生学籍信息验证", "Enrolment information (students)"),
    ("web.identity.graduate_title", "毕业生学历信息验证", "Degree information (graduates)"),
    ("web.identity.school_name", "院校名称（全称）", "School (full name)"),
    ("web.identity.enrolment_year", "入学年份 (例如:1999)", "Year of enrolment (e.g. 1999)"),
    ("web.identity.choose", "请选择", "Choose"),
    ("web.identity.confirm", "确定", "Confirm"),
    ("web.identity.back", "返回证件号码重复", "Back to the duplicate ID"),
    ("web.identity.approved", "核对正确，证件号码已归属本账号", "Confirmed: the ID number now belongs to this account"),
    ("web.account.resolve_duplicate", "解决身份证号重复的问题", "Resolve the duplicate ID number"),
    ("web.change.password.title", "修改密码", "Change the password"),
    ("web.change.email.title", "修改安全邮箱", "Change the security e-mail"),
    ("web.change.name.title", "修改姓名", "Change your name"),
    ("web.change.questions.title", "设置密保问题", "Set the security questions"),
    ("web.change.email.new", "新安全邮箱", "New security e-mail"),
    ("web.change.name.new", "新姓名", "New name"),
    ("web.change.name.intro", "居民身份证持有人修改姓名需说明原因并经人工审核（一般三个工作日）；其他证件持有人（如外国留学生）可直接修改。", "Holders of a resident ID card give a reason and wait for a manual review (usually three working days); holders of other documents (such as foreign students) change it at once."),
    ("web.change.name.reason", "修改原因（居民身份证持有人必填）", "Why (required for resident ID holders)"),
    ("web.change.name.pending", "姓名修改申请已提交，审核通过后生效", "Your request to change the name is submitted; it takes effect once approved"),
    ("web.change.submit", "保存", "Save"),
    ("web.recover.email_intro", "请输入账号的姓名和证件号码，验证通过后重置链接将发送到您的安全邮箱。", "Enter the account's name and ID number; once they match, a reset link goes to your security e-mail."),
    ("web.recover.send_link", "发送重置链接", "Send the reset link"),
    ("web.recover.email_sent_note", "请在1小时内打开邮件中的链接设置新密码，链接只能使用一次。", "Open the link in the e-mail within an hour to set a new password; it works once."),
    ("web.identity.classmates_title", "大学同班同学协助", "Ask a university classmate to confirm"),
    ("web.identity.photo_title", "人工审核", "Manual review"),
    ("web.identity.liveness_title", "实人验证", "Real-person check"),
    ("web.identity.classmates_intro", "请输入一位已通过实名验证的大学同班同学的姓名和手机号，对方确认后即可完成审核。每天最多邀请5次。", "Enter the name and mobile number of a verified university classmate; once they confirm, the check is done. At most 5 invitations a day."),
    ("web.identity.classmate_name", "同学姓名", "Classmate's name"),
    ("web.identity.classmate_phone", "同学手机号", "Classmate's mobile number"),
    ("web.identity.invite", "发送邀请", "Send the invitation"),
    ("web.identity.invited", "邀请已发送，请等待同学确认", "The invitation is sent; wait for your classmate to confirm"),
    ("web.identity.invitations", "已发送的邀请", "Invitations sent"),
    ("web.identity.assist_pending", "等待确认", "Waiting"),
    ("web.identity.assist_confirmed", "已确认", "Confirmed"),
    ("web.identity.assist_declined", "已拒绝", "Declined"),
    ("web.identity.photo_sample", "样例：本人手持证件正面照片", "Sample: you holding the front of your ID document"),
    ("web.identity.photo_rule_1", "本人手持证件，五官和证件信息清晰可见", "Hold the document yourself; your face and the document's details must be clearly visible"),
    ("web.identity.photo_rule_2", "照片未经任何软件处理，不得遮挡", "The photo is not edited or covered in any way"),
    ("web.identity.photo_rule_3", "JPG 或 PNG 格式，不超过 2 MB", "JPG or PNG, at most 2 MB"),
    ("web.identity.photo_file", "手持证件照片", "Photo holding your ID"),
    ("web.identity.upload", "上传照片", "Upload the photo"),
    ("web.identity.photo_sent", "照片已上传，等待客服审核，三个工作日内处理完毕", "The photo is uploaded; customer service reviews it within three working days"),
    ("web.identity.liveness_intro", "使用手机完成实人验证（人脸比对）。验证多次未通过时，请改用人工审核。", "Complete the real-person check (face match) on your phone. If it fails several times, use manual review instead."),
    ("web.identity.liveness_start", "开始实人验证", "Start the real-person check"),
    ("web.inbox.title", "收件箱", "Inbox"),
    ("web.inbox.intro", "同班同学请您确认其身份：如对方确实是您的大学同班同学，请选择“是”。", "A classmate asks you to confirm who they are: choose Yes only if they really are your university classmate."),
    ("web.inbox.from", "申请人", "From"),
    ("web.inbox.question", "是否为您的同班同学？", "Your classmate?"),
    ("web.inbox.answered", "已回复", "Your answer is recorded"),
    ("web.account.inbox", "收件箱", "Inbox"),
    ("web.login.other_ways", "其他登录方式", "Other ways to log in"),
    ("web.login.with_wechat", "微信登录", "Log in with WeChat"),
    ("web.login.with_alipay", "支付宝登录", "Log in with Alipay"),
    ("web.external.title", "第三方账号登录", "External login"),
    ("web.external.back_to_login", "返回登录", "Back to the login"),
    ("web.account.platforms", "第三方账号", "External logins"),
    ("web.account.platform_bound", "已绑定", "bound"),
    ("web.account.platform_unbound", "未绑定", "not bound"),
    ("web.account.bind", "绑定", "Bind"),
    ("web.account.unbind", "解除绑定", "Unbind"),
    ("web.verify.resent_if_waiting", "如果邮箱 {email} 正在等待激活，我们已重新发送激活邮件，请查收。", "If {email} is waiting for activation, we have sent the activation e-mail again; please check your mailbox."),
    ("web.registered.verify_now", "立即验证：请登录您的邮箱，点击邮件中的链接完成验证。", "Verify now: open your mailbox and follow the link in the e-mail."),
    ("web.registered.resend_now", "重新发送验证邮件", "send the verification e-mail again"),
    ("web.registered.after_login", "需登录", "after logging in"),
    ("ticket_description_invalid", "请填写问题描述（不超过2000字）", "Please describe the problem (at most 2000 characters)"),
    ("ticket_username_invalid", "请填写用户名（不超过100字）", "Please give the username (at most 100 characters)"),
    ("ticket_answer_invalid", "请填写回复内容（不超过2000字）", "Please write the answer (at most 2000 characters)"),
    ("ticket_not_found", "该问题反馈不存在", "There is no such problem report"),
    ("ticket_exists", "该问题反馈已提交", "This problem report has already been filed"),
    ("ticket_closed", "该问题反馈已关闭", "This problem report is closed"),
    ("ticket_rate_limited", "今天提交的问题反馈过多，请明天再试", "Too many problem reports today; please try again tomorrow"),
    ("web.support.title", "问题反馈", "Report a problem"),
    ("web.support.intro", "请写清楚用户名、问题页面截图和问题描述，客服会在三个工作日内回复。", "Give the username, a screenshot of the page and a description; customer service answers within three working days."),
    ("web.support.username", "用户名", "Username"),
    ("web.support.screenshot", "问题页面截图（可选）", "Screenshot of the page (optional)"),
    ("web.support.description", "问题描述", "What went wrong"),
    ("web.support.submit", "提交", "Send"),
    ("web.support.filed", "问题反馈已提交，客服会在三个工作日内回复", "Your report is sent; customer service answers within three working days"),
    ("web.support.mine", "我的问题反馈", "My reports"),
    ("web.support.open", "待处理", "Waiting"),
    ("web.support.answered", "已回复", "Answered"),
    ("web.support.closed", "已关闭", "Closed"),
    ("web.support.closed_now", "问题反馈已关闭", "The report is closed"),
    ("web.support.waiting", "客服尚未回复，请耐心等待", "No answer yet; please wait"),
    ("web.support.answer", "客服回复", "Answer"),
    ("web.support.view_screenshot", "查看截图", "View the screenshot"),
    ("web.support.close", "问题已解决，关闭", "Solved: close it"),
    ("web.register.forgot_account", "如果您忘记了注册信息，可以尝试", "If you forgot the account you registered, try"),
    ("web.external.going", "正在前往{provider}……", "Going on to {provider}…"),
    ("web.external.continue", "继续", "Continue"),
    ("web.identity.liveness_going", "正在前往实人验证……", "Going on to the real-person check…"),
    ("web.sessions.ended", "已退出 {count} 个登录设备", "{count} session(s) signed out"),
];

static INDEX: LazyLock<HashMap<&'static str, (&'static str, &'static str)>> = LazyLock::new(|| {
    CATALOGUE
        .iter()
        .map(|(c, zh, en)| (*c, (*zh, *en)))
        .collect()
});

/// The text of `code` in `language`; unknown codes get the generic `request_failed`.
pub fn text_in(code: &str, language: Language) -> &'static str {
    let (zh, en) = INDEX
        .get(code)
        .or_else(|| INDEX.get("request_failed"))
        .copied()
        .unwrap_or(("请求失败", "The request failed"));
    match language {
        Language::Zh => zh,
        Language::En => en,
    }
}

/// The text of `code` in the current request's language.
pub fn text(code: &str) -> &'static str {
    text_in(code, current())
}

/// The Chinese text of `code`.
pub fn zh(code: &str) -> &'static str {
    text_in(code, Language::Zh)
}

/// Whether the catalogue has `code`.
pub fn has(code: &str) -> bool {
    INDEX.contains_key(code)
}

/// The text of `code` in `language` with its `{name}` parameters filled.
pub fn format_in(code: &str, language: Language, args: &[(&str, &str)]) -> String {
    let mut out = text_in(code, language).to_string();
    for (name, value) in args {
        out = out.replace(&format!("{{{name}}}"), value);
    }
    out
}

/// `format_in` in the current request's language.
pub fn format(code: &str, args: &[(&str, &str)]) -> String {
    format_in(code, current(), args)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn has_han(text: &str) -> bool {
        text.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c))
    }

    fn parameters(text: &str) -> Vec<&str> {
        let mut names: Vec<&str> = text
            .split('{')
            .skip(1)
            .filter_map(|rest| rest.split_once('}').map(|(name, _)| name))
            .collect();
        names.sort_unstable();
        names
    }

    #[test]
    fn every_code_has_a_chinese_and_an_english_text_with_the_same_parameters() {
        let mut seen = std::collections::HashSet::new();
        for (code, zh, en) in CATALOGUE {
            assert!(seen.insert(code), "{code} is in the catalogue twice");
            if code.starts_with("language.native.") {
                assert_eq!(zh, en, "{code}: a language's own name is the same in both");
                continue;
            }
            assert!(has_han(zh), "{code}: the zh-CN text is not Chinese: {zh}");
            assert!(!en.trim().is_empty(), "{code} has no English text");
            assert!(
                !has_han(en),
                "{code}: the English text has Chinese in it: {en}"
            );
            assert_eq!(parameters(zh), parameters(en), "{code}: parameters differ");
        }
    }

    #[test]
    fn every_reason_a_record_row_can_be_refused_for_is_in_the_catalogue() {
        for code in xuexin_domain::record::fields::ISSUE_CODES {
            assert!(has(code), "{code} is not in the catalogue");
        }
    }

    #[test]
    fn accept_language_picks_the_preferred_language_we_have() {
        assert_eq!(Language::negotiate(""), Language::Zh);
        assert_eq!(Language::negotiate("en"), Language::En);
        assert_eq!(Language::negotiate("en-US,en;q=0.9"), Language::En);
        assert_eq!(Language::negotiate("zh-CN,zh;q=0.9,en;q=0.8"), Language::Zh);
        assert_eq!(Language::negotiate("fr-FR, en;q=0.5"), Language::En);
        assert_eq!(Language::negotiate("fr, de"), Language::Zh);
        assert_eq!(Language::negotiate("zh;q=0.2, EN-gb;q=0.7"), Language::En);
        assert_eq!(Language::negotiate("en;q=0"), Language::Zh);
    }

    #[test]
    fn parameters_are_filled_in_either_language() {
        let args = [("holder", "136****1011")];
        assert_eq!(
            format_in("email_bound_by", Language::En, &args),
            "This e-mail address is already bound as the security e-mail of user 136****1011"
        );
        assert!(format_in("email_bound_by", Language::Zh, &args).contains("136****1011"));
        assert_eq!(text_in("no such code", Language::En), "The request failed");
    }
}
