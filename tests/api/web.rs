//! The web pages over HTTP, as a browser without JavaScript uses them: forms, cookies, CSRF,
//! redirects, languages and the security headers. (The browser suite drives Chromium.)

use crate::helpers::*;
use crate::on_both_backends;
use reqwest::header::{HeaderMap, CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE};
use reqwest::StatusCode;
use std::collections::BTreeMap;

/// A browser: no redirects followed, cookies kept by hand.
pub struct Browser<'a> {
    app: &'a TestApp,
    client: reqwest::Client,
    cookies: BTreeMap<String, String>,
}

pub struct Page {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Page {
    pub fn location(&self) -> &str {
        self.headers
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    pub fn set_cookie(&self, name: &str) -> Option<String> {
        self.headers
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with(&format!("{name}=")))
            .map(str::to_string)
    }

    /// The value of the hidden CSRF field of the page's forms.
    pub fn csrf(&self) -> String {
        self.hidden("csrf")
    }

    /// The value of the (first) hidden field `name`.
    pub fn hidden(&self, name: &str) -> String {
        let marker = format!("name=\"{name}\" value=\"");
        let at = self
            .body
            .find(&marker)
            .unwrap_or_else(|| panic!("no field {name} on the page: {}", self.body));
        let rest = &self.body[at + marker.len()..];
        rest[..rest.find('"').unwrap()].to_string()
    }
}

impl<'a> Browser<'a> {
    pub fn new(app: &'a TestApp) -> Self {
        Self {
            app,
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookies: BTreeMap::new(),
        }
    }

    pub fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    pub async fn keep(&mut self, response: reqwest::Response) -> Page {
        let status = response.status();
        let headers = response.headers().clone();
        for value in headers.get_all(SET_COOKIE) {
            let text = value.to_str().unwrap();
            let (pair, _) = text.split_once(';').unwrap_or((text, ""));
            let (name, value) = pair.split_once('=').unwrap();
            if value.is_empty() || text.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_string(), value.to_string());
            }
        }
        // The templates escape `/` (as `&#x2f;`); read it back as a browser shows it.
        let body = response.text().await.unwrap().replace("&#x2f;", "/");
        Page {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&mut self, path: &str) -> Page {
        let response = self
            .client
            .get(format!("{}{path}", self.app.address))
            .header(COOKIE, self.cookie_header())
            .send()
            .await
            .unwrap();
        self.keep(response).await
    }

    /// A `multipart/form-data` form with text fields and one file, as a file input sends it.
    pub async fn post_file(
        &mut self,
        path: &str,
        fields: &[(&str, &str)],
        file: (&str, &str, &[u8]),
    ) -> Page {
        let boundary = "xuexin-test-boundary-7MA4YWxkTrZu0gW";
        let mut body = Vec::new();
        for (name, value) in fields {
            body.extend_from_slice(
                format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n")
                    .as_bytes(),
            );
        }
        let (name, filename, bytes) = file;
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{filename}\"\r\nContent-Type: application/octet-stream\r\n\r\n")
                .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        let response = self
            .client
            .post(format!("{}{path}", self.app.address))
            .header(COOKIE, self.cookie_header())
            .header(
                CONTENT_TYPE,
                format!("multipart/form-data; boundary={boundary}"),
            )
            .body(body)
            .send()
            .await
            .unwrap();
        self.keep(response).await
    }

    pub async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let body: String = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let response = self
            .client
            .post(format!("{}{path}", self.app.address))
            .header(COOKIE, self.cookie_header())
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap();
        self.keep(response).await
    }

    /// Logs in through the login form; answers the CSRF token of this browser's forms.
    pub async fn log_in(&mut self, login: &str, password: &str) -> String {
        let csrf = self.get("/login").await.csrf();
        let form = [
            ("csrf", csrf.as_str()),
            ("login", login),
            ("password", password),
        ];
        let answer = self.post("/login", &form).await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
        csrf
    }
}

async fn the_login_page_logs_in_with_a_form_and_keeps_the_session_in_an_httponly_cookie(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let person = Person::random();
    app.register_ok(&person).await;
    let mut browser = Browser::new(&app);

    let start = browser.get("/").await;
    assert_eq!(start.status, StatusCode::SEE_OTHER);
    assert_eq!(start.location(), "/login");
    let page = browser.get("/login").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page
        .body
        .contains("<label for=\"login\">手机号/身份证号/邮箱</label>"));
    assert!(page.body.contains("<label for=\"password\">密码</label>"));
    let csp = page.headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert_eq!(page.headers["referrer-policy"], "no-referrer");
    assert_eq!(page.headers["cache-control"], "no-store");
    let binding = page.set_cookie("xuexin_csrf").expect("a CSRF cookie");
    assert!(
        binding.contains("HttpOnly") && binding.contains("SameSite=Lax"),
        "{binding}"
    );
    let csrf = page.csrf();

    // A wrong password: the page again, the error at the password field, nothing opened.
    let wrong = browser
        .post(
            "/login",
            &[
                ("csrf", &csrf),
                ("login", &person.phone),
                ("password", "Wrong-Pass-1!"),
            ],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(
        wrong.body.contains("aria-describedby=\"password-error\""),
        "{}",
        wrong.body
    );
    assert!(wrong
        .body
        .contains("<p class=\"error\" id=\"password-error\">用户名或密码错误</p>"));
    assert!(wrong.body.contains(&format!("value=\"{}\"", person.phone)));
    assert!(wrong.set_cookie("xuexin_session").is_none());
    // Empty fields: each named at its own field.
    let empty = browser
        .post(
            "/login",
            &[("csrf", &csrf), ("login", ""), ("password", "")],
        )
        .await;
    assert_eq!(empty.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(empty.body.contains("id=\"login-error\""));
    assert!(empty.body.contains("id=\"password-error\""));

    let logged_in = browser
        .post(
            "/login",
            &[
                ("csrf", &csrf),
                ("login", &person.phone),
                ("password", &person.password),
            ],
        )
        .await;
    assert_eq!(
        logged_in.status,
        StatusCode::SEE_OTHER,
        "{}",
        logged_in.body
    );
    assert_eq!(logged_in.location(), "/account");
    let session = logged_in
        .set_cookie("xuexin_session")
        .expect("a session cookie");
    assert!(
        session.contains("HttpOnly")
            && session.contains("SameSite=Lax")
            && session.contains("Path=/"),
        "{session}"
    );
    assert!(
        !session.contains("Secure"),
        "http: no Secure flag: {session}"
    );
    assert!(!logged_in.location().contains("token"));

    let account = browser.get("/account").await;
    assert_eq!(account.status, StatusCode::OK, "{}", account.body);
    assert!(account.body.contains("账号管理"));
    assert!(account.body.contains(&person.name));
    let masked = format!("{}****{}", &person.phone[..3], &person.phone[7..]);
    assert!(account.body.contains(&masked), "{masked}: {}", account.body);
    assert!(
        !account.body.contains(&person.phone[3..]),
        "the phone unmasked"
    );
    assert!(!account.body.contains(&person.document_number));
    assert_eq!(account.headers["cache-control"], "no-store");

    // 退出 ends the session: the API no longer takes its token.
    let token = browser.cookies["xuexin_session"].clone();
    let csrf = account.csrf();
    let out = browser.post("/logout", &[("csrf", &csrf)]).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert_eq!(out.location(), "/login");
    assert!(!browser.cookies.contains_key("xuexin_session"));
    let me = app.get("/api/v1/me", Some(&token)).await;
    assert_eq!(me.status, StatusCode::UNAUTHORIZED, "{}", me.text);
    let again = browser.get("/account").await;
    assert_eq!(again.location(), "/login");
}

async fn a_form_without_this_browsers_csrf_token_is_refused_and_does_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let person = Person::random();
    app.register_ok(&person).await;
    let logins = app.events_of_type("LoginSucceeded").await.len();

    // No token, a made-up one, and a real token from another browser.
    let mut other = Browser::new(&app);
    let foreign = other.get("/login").await.csrf();
    let mut browser = Browser::new(&app);
    browser.get("/login").await;
    for token in ["", "forged", foreign.as_str()] {
        let refused = browser
            .post(
                "/login",
                &[
                    ("csrf", token),
                    ("login", &person.phone),
                    ("password", &person.password),
                ],
            )
            .await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "token {token:?}");
        assert!(refused.body.contains("页面已过期"), "{}", refused.body);
        assert!(refused.set_cookie("xuexin_session").is_none());
    }
    // A browser without the CSRF cookie at all.
    let mut bare = Browser::new(&app);
    let refused = bare
        .post(
            "/login",
            &[
                ("csrf", &foreign),
                ("login", &person.phone),
                ("password", &person.password),
            ],
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(app.events_of_type("LoginSucceeded").await.len(), logins);
}

async fn the_pages_switch_to_english_with_one_click_and_stay_there(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut browser = Browser::new(&app);
    let page = browser.get("/login").await;
    assert!(page.body.contains("<html lang=\"zh-CN\">"));
    let switch = "/language?to=en&amp;back=%2Flogin";
    assert!(page.body.contains(switch), "{}", page.body);
    let switched = browser.get("/language?to=en&back=%2Flogin").await;
    assert_eq!(switched.status, StatusCode::SEE_OTHER);
    assert_eq!(switched.location(), "/login");
    let english = browser.get("/login").await;
    assert!(english.body.contains("<html lang=\"en\">"));
    assert!(english
        .body
        .contains("<label for=\"login\">Mobile number / ID number / e-mail</label>"));
    assert!(english.body.contains(">中文</a>"));
    assert_eq!(english.headers["content-language"], "en");
    // The switch never sends anyone to another site.
    let away = browser
        .get("/language?to=zh-CN&back=%2F%2Fevil.example")
        .await;
    assert_eq!(away.location(), "/");
}

/// The registration form as a person fills it in.
fn registration_form<'a>(
    csrf: &'a str,
    person: &'a Person,
    code: &'a str,
) -> Vec<(&'a str, &'a str)> {
    vec![
        ("csrf", csrf),
        ("action", "register"),
        ("phone", &person.phone),
        ("sms_code", code),
        ("password", &person.password),
        ("password_confirmation", &person.password),
        ("name", &person.name),
        ("document_type", "resident_id_card"),
        ("document_number", &person.document_number),
        ("email", &person.email),
        ("accept_terms", "on"),
    ]
}

async fn a_person_registers_through_the_form_with_the_code_from_the_sms(backend: Backend) {
    // The taken-phone case asks for a second code for the same phone within the minute.
    let app = spawn_app_with(backend, relaxed_limits).await;
    let mut browser = Browser::new(&app);
    let page = browser.get("/register").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    // Seed 001's fields, in its order, each with its label.
    let order = [
        "for=\"phone\">手机号",
        "for=\"sms_code\">校验码",
        "for=\"password\">密码",
        "for=\"password_confirmation\">密码确认",
        "for=\"name\">姓名",
        "for=\"document_type\">证件类型",
        "for=\"document_number\">证件号码",
        "for=\"email\">安全邮箱",
    ];
    let at: Vec<usize> = order
        .iter()
        .map(|label| page.body.find(label).unwrap_or_else(|| panic!("{label}")))
        .collect();
    assert!(at.windows(2).all(|w| w[0] < w[1]), "field order {at:?}");
    assert!(page.body.contains("免费获取"));
    assert!(page.body.contains("中国大陆地区用户推荐设置居民身份证"));
    let csrf = page.csrf();
    let person = Person::random();

    // 免费获取 without JavaScript: the form comes back with the phone kept and a notice.
    let sent = browser
        .post(
            "/register",
            &[
                ("csrf", &csrf),
                ("action", "send_code"),
                ("phone", &person.phone),
                ("name", &person.name),
            ],
        )
        .await;
    assert_eq!(sent.status, StatusCode::OK, "{}", sent.body);
    assert!(sent.body.contains("校验码已发送至"), "{}", sent.body);
    assert!(sent.body.contains(&format!("value=\"{}\"", person.phone)));
    assert!(sent.body.contains(&format!("value=\"{}\"", person.name)));
    let code = app.latest_code(&person.phone).await;

    // A refused form: every error at its field, nothing written, no password echoed.
    let events = app.event_count().await;
    let mut bad = registration_form(&csrf, &person, &code);
    bad.retain(|(k, _)| *k != "password_confirmation" && *k != "accept_terms");
    bad.push(("password_confirmation", "Other-Pass-9!"));
    // A wrong check character.
    let wrong_check = if person.document_number.ends_with('0') {
        "1"
    } else {
        "0"
    };
    let bad_id = format!("{}{wrong_check}", &person.document_number[..17]);
    for pair in bad.iter_mut() {
        if pair.0 == "document_number" {
            pair.1 = &bad_id;
        }
    }
    let refused = browser.post("/register", &bad).await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        refused.body
    );
    for field in ["password_confirmation", "document_number", "accept_terms"] {
        assert!(
            refused.body.contains(&format!("id=\"{field}-error\"")),
            "{field}: {}",
            refused.body
        );
        assert!(refused
            .body
            .contains(&format!("aria-describedby=\"{field}-error")));
    }
    assert!(refused.body.contains("两次输入的密码不一致"));
    assert!(
        !refused.body.contains(&person.password),
        "a password was echoed"
    );
    assert_eq!(
        app.event_count().await,
        events,
        "a refused form wrote something"
    );

    let done = browser
        .post("/register", &registration_form(&csrf, &person, &code))
        .await;
    assert_eq!(done.status, StatusCode::CREATED, "{}", done.body);
    assert!(done.body.contains("帐号注册成功!"));
    let masked = format!("{}****{}", &person.phone[..3], &person.phone[7..]);
    assert!(done.body.contains(&masked), "{}", done.body);
    assert!(done.body.contains("发送了一封验证邮件"));
    assert!(!done.body.contains(&person.email), "the e-mail unmasked");
    // The account works: log in with the form.
    app.login_ok(&person.phone, &person.password).await;

    // The phone again: 用该手机号登录 / 用手机找回密码 / 继续注册? at the phone.
    let mut other = Person::random();
    other.phone = person.phone.clone();
    let code = app.registration_code(&other.phone).await;
    let taken = browser
        .post("/register", &registration_form(&csrf, &other, &code))
        .await;
    assert_eq!(taken.status, StatusCode::CONFLICT, "{}", taken.body);
    assert!(taken.body.contains("id=\"phone-error\""));
    assert!(taken.body.contains("用该手机号登录"));
    assert!(taken.body.contains("name=\"continue_registration\""));
    assert!(taken.body.contains("选择继续注册旧帐号将不可用"));
}

async fn a_forgotten_password_is_reset_by_sms_through_the_pages(backend: Backend) {
    let app = spawn_app_with(backend, relaxed_limits).await;
    let person = Person::random();
    app.register_ok(&person).await;
    let mut browser = Browser::new(&app);
    let login = browser.get("/login").await;
    assert!(login.body.contains("href=\"/recover\">找回密码</a>"));

    let start = browser.get("/recover").await;
    assert_eq!(start.status, StatusCode::OK, "{}", start.body);
    assert!(start.body.contains("src=\"data:image/png;base64,"));
    let csrf = start.csrf();
    // A wrong captcha: at its field, and a new captcha.
    let captcha = start.hidden("captcha_id");
    let wrong = browser
        .post(
            "/recover",
            &[
                ("csrf", &csrf),
                ("step", "start"),
                ("username", &person.phone),
                ("captcha_id", &captcha),
                ("captcha_answer", "WRONG"),
            ],
        )
        .await;
    assert_eq!(
        wrong.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        wrong.body
    );
    assert!(
        wrong.body.contains("id=\"captcha_answer-error\""),
        "{}",
        wrong.body
    );
    let captcha = wrong.hidden("captcha_id");
    let answer = app.outbox(&captcha).await[0]["body"]
        .as_str()
        .unwrap()
        .to_string();
    let methods = browser
        .post(
            "/recover",
            &[
                ("csrf", &csrf),
                ("step", "start"),
                ("username", &person.phone),
                ("captcha_id", &captcha),
                ("captcha_answer", &answer),
            ],
        )
        .await;
    assert_eq!(methods.status, StatusCode::OK, "{}", methods.body);
    let masked = format!("{}****{}", &person.phone[..3], &person.phone[7..]);
    assert!(
        methods
            .body
            .contains(&format!("通过手机 {masked} 接收校验码")),
        "{}",
        methods.body
    );
    assert!(
        !methods.body.contains("密保问题"),
        "a method the account has not bound"
    );

    let ticket = methods.hidden("ticket");
    let sent = browser
        .post(
            "/recover",
            &[("csrf", &csrf), ("step", "send_sms"), ("ticket", &ticket)],
        )
        .await;
    assert_eq!(sent.status, StatusCode::OK, "{}", sent.body);
    let code = app.latest_code(&person.phone).await;
    let bad = browser
        .post(
            "/recover",
            &[
                ("csrf", &csrf),
                ("step", "verify_sms"),
                ("ticket", &ticket),
                ("sms_code", "000000"),
            ],
        )
        .await;
    assert!(bad.body.contains("id=\"sms_code-error\""), "{}", bad.body);
    let reset = browser
        .post(
            "/recover",
            &[
                ("csrf", &csrf),
                ("step", "verify_sms"),
                ("ticket", &ticket),
                ("sms_code", &code),
            ],
        )
        .await;
    assert_eq!(reset.status, StatusCode::OK, "{}", reset.body);
    let token = reset.hidden("ticket");
    let mismatch = browser
        .post(
            "/recover",
            &[
                ("csrf", &csrf),
                ("step", "reset"),
                ("ticket", &token),
                ("password", "Brand-New-Pass-7"),
                ("password_confirmation", "Other-Pass-7"),
            ],
        )
        .await;
    assert_eq!(mismatch.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(mismatch.body.contains("id=\"password_confirmation-error\""));
    assert!(app.events_of_type("PasswordReset").await.is_empty());
    let done = browser
        .post(
            "/recover",
            &[
                ("csrf", &csrf),
                ("step", "reset"),
                ("ticket", &token),
                ("password", "Brand-New-Pass-7"),
                ("password_confirmation", "Brand-New-Pass-7"),
            ],
        )
        .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert!(done.body.contains("密码重置成功"));
    app.login_ok(&person.phone, "Brand-New-Pass-7").await;
    assert_eq!(
        app.login(&person.phone, &person.password).await.status,
        StatusCode::UNAUTHORIZED
    );
}

/// The answer of a captcha, from the captured outbox (dev mode reveals it).
async fn captcha_answer(app: &TestApp, id: &str) -> String {
    app.outbox(id).await[0]["body"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn a_forgotten_username_is_found_by_id_number_name_and_captcha(backend: Backend) {
    let app = spawn_app(backend).await;
    let person = Person::random();
    app.register_ok(&person).await;
    let mut browser = Browser::new(&app);
    let login = browser.get("/login").await;
    assert!(login
        .body
        .contains("href=\"/find-username\">找回用户名</a>"));
    let page = browser.get("/find-username").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let csrf = page.csrf();
    let mut captcha = page.hidden("captcha_id");

    // The wrong name: 证件号码和姓名不符合, and a fresh captcha.
    let answer = captcha_answer(&app, &captcha).await;
    let wrong = browser
        .post(
            "/find-username",
            &[
                ("csrf", &csrf),
                ("name", "李四"),
                ("document_number", &person.document_number),
                ("captcha_id", &captcha),
                ("captcha_answer", &answer),
            ],
        )
        .await;
    assert!(
        wrong.body.contains("证件号码和姓名不符合"),
        "{}",
        wrong.body
    );
    captcha = wrong.hidden("captcha_id");
    let answer = captcha_answer(&app, &captcha).await;
    let found = browser
        .post(
            "/find-username",
            &[
                ("csrf", &csrf),
                ("name", &person.name),
                ("document_number", &person.document_number),
                ("captcha_id", &captcha),
                ("captcha_answer", &answer),
            ],
        )
        .await;
    assert_eq!(found.status, StatusCode::OK, "{}", found.body);
    let masked = format!("{}****{}", &person.phone[..3], &person.phone[7..]);
    assert!(
        found.body.contains(&format!("<strong>{masked}</strong>")),
        "{}",
        found.body
    );
    assert!(found.body.contains("href=\"/recover\""));

    // Repeated failures: 请求被取消，不能频繁使用该功能.
    let mut last = String::new();
    for _ in 0..8 {
        let page = browser.get("/find-username").await;
        let id = page.hidden("captcha_id");
        let answer = captcha_answer(&app, &id).await;
        last = browser
            .post(
                "/find-username",
                &[
                    ("csrf", &csrf),
                    ("name", "李四"),
                    ("document_number", &person.document_number),
                    ("captcha_id", &id),
                    ("captcha_answer", &answer),
                ],
            )
            .await
            .body;
        if last.contains("请求被取消，不能频繁使用该功能") {
            break;
        }
    }
    assert!(last.contains("请求被取消，不能频繁使用该功能"), "{last}");
}

async fn verified(app: &TestApp, account_id: &str) -> usize {
    app.event_types(account_id)
        .await
        .iter()
        .filter(|t| *t == "EmailVerified")
        .count()
}

/// 安全邮箱验证 (seed 001, 第四步 and 第五步): the link opens a page; only its button verifies;
/// a bad token is refused with nothing written; the next 账号管理 says 邮箱绑定成功 once.
async fn the_mail_link_opens_a_page_whose_button_verifies_and_the_next_login_says_so(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let person = Person::random();
    let account_id = app.register_ok(&person).await;
    let token = app.verification_token(&person.email).await;
    let mut browser = Browser::new(&app);

    let landing = browser.get(&format!("/verify-email?token={token}")).await;
    assert_eq!(landing.status, StatusCode::OK, "{}", landing.body);
    assert!(landing.body.contains("完成验证"), "{}", landing.body);
    assert_eq!(landing.hidden("token"), token);
    assert_eq!(
        verified(&app, &account_id).await,
        0,
        "opening the link verifies nothing"
    );

    let csrf = landing.csrf();
    // Before the link is used, 账号管理 offers 重新发送激活邮件, to the account's own address.
    let login = [
        ("csrf", csrf.as_str()),
        ("login", person.phone.as_str()),
        ("password", person.password.as_str()),
    ];
    assert_eq!(
        browser.post("/login", &login).await.status,
        StatusCode::SEE_OTHER
    );
    let pending = browser.get("/account").await;
    assert!(
        pending.body.contains("重新发送激活邮件"),
        "{}",
        pending.body
    );
    let resent = browser
        .post("/verify-email/resend", &[("csrf", &csrf)])
        .await;
    assert_eq!(resent.status, StatusCode::OK, "{}", resent.body);
    let masked = xuexin_domain::values::mask_email(&person.email);
    assert!(resent.body.contains(&masked), "{}", resent.body);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while app.outbox(&person.email).await.len() < 2 {
        assert!(std::time::Instant::now() < deadline, "no second mail");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    let forged = browser
        .post("/verify-email", &[("csrf", "forged"), ("token", &token)])
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let wrong = browser
        .post(
            "/verify-email",
            &[("csrf", &csrf), ("token", "not-a-token")],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::BAD_REQUEST);
    assert!(
        wrong.body.contains("验证链接无效或已过期"),
        "{}",
        wrong.body
    );
    assert_eq!(verified(&app, &account_id).await, 0);

    let done = browser
        .post("/verify-email", &[("csrf", &csrf), ("token", &token)])
        .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert!(
        done.body.contains(&format!("邮箱 {masked} 验证成功")),
        "{}",
        done.body
    );
    assert_eq!(verified(&app, &account_id).await, 1);

    let logged_in = browser.post("/login", &login).await;
    assert_eq!(
        logged_in.status,
        StatusCode::SEE_OTHER,
        "{}",
        logged_in.body
    );
    let account = browser.get("/account").await;
    assert!(account.body.contains("邮箱绑定成功"), "{}", account.body);
    let again = browser.get("/account").await;
    assert!(
        !again.body.contains("邮箱绑定成功"),
        "the notice shows once"
    );
}

/// 账号日志: the history after logging in, newest first, in the page's language; nobody else's.
async fn the_account_log_lists_the_changes_newest_first_in_the_pages_language(backend: Backend) {
    let app = spawn_app(backend).await;
    let person = Person::random();
    app.register_ok(&person).await;
    let mut browser = Browser::new(&app);
    let anonymous = browser.get("/account/log").await;
    assert_eq!(anonymous.status, StatusCode::SEE_OTHER);
    assert_eq!(anonymous.location(), "/login");

    browser.log_in(&person.phone, &person.password).await;
    assert!(browser
        .get("/account")
        .await
        .body
        .contains("href=\"/account/log\""));
    let log = browser.get("/account/log").await;
    assert_eq!(log.status, StatusCode::OK, "{}", log.body);
    assert_eq!(log.headers["cache-control"], "no-store");
    let registered = log
        .body
        .find("<td>注册成功</td>")
        .expect("注册成功 in the log");
    let logged_in = log.body.find("<td>登录成功").expect("登录成功 in the log");
    assert!(logged_in < registered, "newest first: {}", log.body);
    assert!(log.body.contains("<td>本人</td>"), "{}", log.body);
    assert!(!log.body.contains(&person.phone), "phones masked");

    browser.get("/language?to=en&back=%2F").await;
    let english = browser.get("/account/log").await;
    assert!(
        english.body.contains("<h1>Account log</h1>"),
        "{}",
        english.body
    );
    assert!(
        english.body.contains("<td>Registered</td>"),
        "{}",
        english.body
    );
}

/// 更换手机号 through the form: a wrong password or code is refused at its field with nothing
/// written; then the new phone logs in and the old one does not.
async fn the_phone_is_changed_with_the_current_password_and_the_new_phones_code(backend: Backend) {
    let app = spawn_app(backend).await;
    let person = Person::random();
    let account_id = app.register_ok(&person).await;
    let mut browser = Browser::new(&app);
    assert_eq!(browser.get("/account/phone").await.location(), "/login");
    let csrf = browser.log_in(&person.phone, &person.password).await;
    let form = browser.get("/account/phone").await;
    assert_eq!(form.status, StatusCode::OK, "{}", form.body);
    assert!(form.body.contains("更换手机号"));

    let new_phone = random_phone();
    let sent = browser
        .post(
            "/account/phone",
            &[
                ("csrf", &csrf),
                ("action", "send_code"),
                ("phone", &new_phone),
            ],
        )
        .await;
    assert_eq!(sent.status, StatusCode::OK, "{}", sent.body);
    assert!(sent.body.contains("校验码已发送至"), "{}", sent.body);
    let code = app.latest_code(&new_phone).await;
    let before = app.event_types(&account_id).await.len();

    let wrong_password = [
        ("csrf", csrf.as_str()),
        ("action", "change"),
        ("current_password", "Wrong-Pass-1!"),
        ("phone", new_phone.as_str()),
        ("sms_code", code.as_str()),
    ];
    let refused = browser.post("/account/phone", &wrong_password).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
    assert!(refused
        .body
        .contains("<p class=\"error\" id=\"current_password-error\">当前密码错误</p>"));
    let wrong_code = [
        ("csrf", csrf.as_str()),
        ("action", "change"),
        ("current_password", person.password.as_str()),
        ("phone", new_phone.as_str()),
        ("sms_code", "000000"),
    ];
    let refused = browser.post("/account/phone", &wrong_code).await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        refused.body
    );
    assert!(
        refused.body.contains("id=\"sms_code-error\""),
        "{}",
        refused.body
    );
    assert_eq!(
        app.event_types(&account_id).await.len(),
        before,
        "nothing written"
    );

    let right = [
        ("csrf", csrf.as_str()),
        ("action", "change"),
        ("current_password", person.password.as_str()),
        ("phone", new_phone.as_str()),
        ("sms_code", code.as_str()),
    ];
    let done = browser.post("/account/phone", &right).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    let masked = format!("{}****{}", &new_phone[..3], &new_phone[7..]);
    assert!(
        done.body.contains(&format!("手机号已更换为 {masked}")),
        "{}",
        done.body
    );
    app.login_ok(&new_phone, &person.password).await;
    let old = app.login(&person.phone, &person.password).await;
    assert_eq!(old.status, StatusCode::UNAUTHORIZED, "{}", old.text);
}

async fn the_archive_shows_the_record_in_the_pages_language_and_takes_a_conclusion(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    app.add_school("99003", "西部师范大学", "四川").await;
    let registrar = app.staff_token("registrar", Some("99003")).await;
    let person = Person::random();
    app.register_ok(&person).await;
    let imported = app
        .import(
            &registrar,
            "99003",
            csv(
                ENROLMENT_HEADER,
                &[enrolment_row(&person, "2200300401", "软件221")],
            ),
            false,
        )
        .await;
    assert!(imported.status.is_success(), "{}", imported.text);
    app.settle_bindings().await;

    let mut browser = Browser::new(&app);
    assert_eq!(browser.get("/archive").await.location(), "/login");
    let csrf = browser.log_in(&person.phone, &person.password).await;
    let archive = browser.get("/archive").await;
    assert_eq!(archive.status, StatusCode::OK, "{}", archive.body);
    assert!(archive.body.contains("本科-西部师范大学-软件工程"));
    assert!(
        archive.body.contains("<dt>学号</dt><dd>2200300401</dd>"),
        "{}",
        archive.body
    );
    assert!(
        !archive.body.contains(&person.document_number),
        "the ID number is masked"
    );
    assert_eq!(archive.headers["cache-control"], "no-store");
    let record = archive.hidden("record");

    // A refused conclusion writes nothing and says why at the field.
    let events = app.event_count().await;
    let refused = browser
        .post(
            "/archive/check",
            &[
                ("csrf", csrf.as_str()),
                ("record", record.as_str()),
                ("check_type", "enrolment_check"),
                ("conclusion", "wrong"),
                ("correction", ""),
            ],
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        refused.body.contains("id=\"conclusion-error\""),
        "{}",
        refused.body
    );
    assert_eq!(app.event_count().await, events);

    let checked = browser
        .post(
            "/archive/check",
            &[
                ("csrf", csrf.as_str()),
                ("record", record.as_str()),
                ("check_type", "enrolment_check"),
                ("conclusion", "wrong"),
                ("correction", "班级应为软件222"),
            ],
        )
        .await;
    assert_eq!(checked.status, StatusCode::OK, "{}", checked.body);
    assert!(checked
        .body
        .contains("学籍信息有误，正确的应为：班级应为软件222"));
    assert_eq!(app.events_of_type("RecordChecked").await.len(), 1);

    browser.get("/language?to=en&back=%2Farchive").await;
    let english = browser.get("/archive").await;
    assert!(
        english
            .body
            .contains("<dt>Student number</dt><dd>2200300401</dd>"),
        "{}",
        english.body
    );
    assert!(english.body.contains("Record archive"));
}

async fn the_account_forms_refuse_a_post_without_this_browsers_token(backend: Backend) {
    let app = spawn_app(backend).await;
    let person = Person::random();
    app.register_ok(&person).await;
    let mut browser = Browser::new(&app);
    browser.log_in(&person.phone, &person.password).await;
    let events = app.event_count().await;
    for path in [
        "/archive/check",
        "/archive/bind",
        "/identity/records",
        "/account/sessions",
    ] {
        let refused = browser
            .post(path, &[("csrf", "forged"), ("session", "others")])
            .await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{path}");
        assert!(refused.body.contains("页面已过期"), "{path}");
    }
    assert_eq!(app.event_count().await, events);
    assert_eq!(browser.get("/account").await.status, StatusCode::OK);
}

impl Browser<'_> {
    /// 找回密码's first step for `username`, the captcha answered: the ways page.
    async fn start_recovery(&mut self, app: &TestApp, username: &str) -> (String, Page) {
        let start = self.get("/recover").await;
        let csrf = start.csrf();
        let captcha = start.hidden("captcha_id");
        let answer = captcha_answer(app, &captcha).await;
        let ways = self
            .post(
                "/recover",
                &[
                    ("csrf", csrf.as_str()),
                    ("step", "start"),
                    ("username", username),
                    ("captcha_id", captcha.as_str()),
                    ("captcha_answer", answer.as_str()),
                ],
            )
            .await;
        assert_eq!(ways.status, StatusCode::OK, "{}", ways.body);
        (csrf, ways)
    }
}

async fn a_password_is_recovered_by_the_security_questions_and_by_the_emailed_link(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let person = Person::random();
    app.register_ok(&person).await;
    let token = app.verification_token(&person.email).await;
    let verified = app
        .post(
            "/api/v1/email-verifications/confirm",
            &serde_json::json!({"token": token}),
        )
        .await;
    assert_eq!(verified.status, StatusCode::OK, "{}", verified.text);

    // 设置密保问题 in 账号管理: the current password first.
    let mut browser = Browser::new(&app);
    let csrf = browser.log_in(&person.phone, &person.password).await;
    let questions = |current: &'static str| {
        vec![
            ("csrf", csrf.clone()),
            ("current_password", current.to_string()),
            ("question1", "我的小学".to_string()),
            ("answer1", "实验小学".to_string()),
            ("question2", "我的城市".to_string()),
            ("answer2", "成都".to_string()),
            ("question3", "我的宠物".to_string()),
            ("answer3", "花花".to_string()),
        ]
    };
    let events = app.event_count().await;
    let form = questions("wrong-password");
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let refused = browser.post("/account/change/questions", &form).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
    assert!(refused.body.contains("id=\"current_password-error\""));
    assert_eq!(
        app.event_count().await,
        events,
        "a refused change writes nothing"
    );
    let right = questions("");
    let mut right: Vec<(&str, &str)> = right.iter().map(|(k, v)| (*k, v.as_str())).collect();
    right[1].1 = &person.password;
    let set = browser.post("/account/change/questions", &right).await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.body);
    assert!(set.body.contains("密保问题设置成功"));

    // 找回密码 by the security questions.
    let mut stranger = Browser::new(&app);
    let (csrf, ways) = stranger.start_recovery(&app, &person.phone).await;
    assert!(ways.body.contains("回答密保问题"), "{}", ways.body);
    let ticket = ways.hidden("ticket");
    let asked = stranger
        .post(
            "/recover",
            &[("csrf", &csrf), ("step", "questions"), ("ticket", &ticket)],
        )
        .await;
    assert!(asked.body.contains("我的城市"), "{}", asked.body);
    let wrong = stranger
        .post(
            "/recover",
            &[
                ("csrf", &csrf),
                ("step", "answer_questions"),
                ("ticket", &ticket),
                ("answer1", "实验小学"),
                ("answer2", "重庆"),
                ("answer3", "花花"),
            ],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        wrong.body.contains("id=\"answers-error\""),
        "{}",
        wrong.body
    );
    let allowed = stranger
        .post(
            "/recover",
            &[
                ("csrf", &csrf),
                ("step", "answer_questions"),
                ("ticket", &ticket),
                ("answer1", "实验小学"),
                ("answer2", "成都"),
                ("answer3", "花花"),
            ],
        )
        .await;
    assert_eq!(allowed.status, StatusCode::OK, "{}", allowed.body);
    let reset_ticket = allowed.hidden("ticket");
    let done = stranger
        .post(
            "/recover",
            &[
                ("csrf", &csrf),
                ("step", "reset"),
                ("ticket", &reset_ticket),
                ("password", "Questions-Pass-9"),
                ("password_confirmation", "Questions-Pass-9"),
            ],
        )
        .await;
    assert!(done.body.contains("密码重置成功"), "{}", done.body);
    app.login_ok(&person.phone, "Questions-Pass-9").await;

    // 找回密码 by the security e-mail: the name and ID number, then the mailed link.
    let (csrf, ways) = stranger.start_recovery(&app, &person.phone).await;
    let ticket = ways.hidden("ticket");
    let mismatch = stranger
        .post(
            "/recover",
            &[
                ("csrf", &csrf),
                ("step", "send_email"),
                ("ticket", &ticket),
                ("name", "别人"),
                ("document_number", &person.document_number),
            ],
        )
        .await;
    assert_eq!(mismatch.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(mismatch.body.contains("id=\"document_number-error\""));
    let sent = stranger
        .post(
            "/recover",
            &[
                ("csrf", &csrf),
                ("step", "send_email"),
                ("ticket", &ticket),
                ("name", &person.name),
                ("document_number", &person.document_number),
            ],
        )
        .await;
    assert_eq!(sent.status, StatusCode::OK, "{}", sent.body);
    assert!(sent.body.contains("系统已经将重置链接发送到你的邮箱"));
    let link = app
        .link_token(&person.email, "/reset-password?token=")
        .await;
    let mut mail_reader = Browser::new(&app);
    let landing = mail_reader
        .get(&format!("/reset-password?token={link}"))
        .await;
    assert_eq!(landing.status, StatusCode::OK, "{}", landing.body);
    assert_eq!(landing.hidden("ticket"), link);
    let done = mail_reader
        .post(
            "/recover",
            &[
                ("csrf", &landing.csrf()),
                ("step", "reset"),
                ("ticket", &link),
                ("password", "Mailed-Pass-10"),
                ("password_confirmation", "Mailed-Pass-10"),
            ],
        )
        .await;
    assert!(done.body.contains("密码重置成功"), "{}", done.body);
    app.login_ok(&person.phone, "Mailed-Pass-10").await;
}

async fn a_classmate_confirms_in_the_inbox_and_a_photo_goes_to_manual_review(backend: Backend) {
    let app = spawn_app_with(backend, relaxed_limits).await;
    app.add_school("99003", "西部师范大学", "四川").await;
    let registrar = app.staff_token("registrar", Some("99003")).await;
    let (holder, classmate) = (Person::random(), Person::random());
    let rows = [
        enrolment_row(&holder, "2200300501", "软件227"),
        enrolment_row(&classmate, "2200300502", "软件227"),
    ];
    app.import(&registrar, "99003", csv(ENROLMENT_HEADER, &rows), false)
        .await;
    app.register_ok(&holder).await;
    app.register_ok(&classmate).await;
    let claimant = crate::identity::same_person(&holder);
    app.re_register(&claimant).await;
    app.settle_bindings().await;

    let mut browser = Browser::new(&app);
    let csrf = browser.log_in(&claimant.phone, &claimant.password).await;
    let account = browser.get("/account").await;
    assert!(
        account.body.contains("href=\"/identity\""),
        "{}",
        account.body
    );

    // 人工审核: a file that is not an image is refused at its field and writes nothing.
    let events = app.event_count().await;
    let form = browser.get("/identity/photo").await;
    assert_eq!(form.status, StatusCode::OK, "{}", form.body);
    assert!(form.body.contains("enctype=\"multipart/form-data\""));
    let refused = browser
        .post_file(
            "/identity/photo",
            &[("csrf", &csrf)],
            ("photo", "id.txt", b"not an image"),
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        refused.body.contains("id=\"photo-error\""),
        "{}",
        refused.body
    );
    assert_eq!(app.event_count().await, events);
    let forged = browser
        .post_file(
            "/identity/photo",
            &[("csrf", "forged")],
            ("photo", "id.jpg", &jpeg()),
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let sent = browser
        .post_file(
            "/identity/photo",
            &[("csrf", &csrf)],
            ("photo", "id.jpg", &jpeg()),
        )
        .await;
    assert_eq!(sent.status, StatusCode::OK, "{}", sent.body);
    assert!(sent.body.contains("照片已上传"), "{}", sent.body);
    assert!(sent.body.contains("待审核"), "{}", sent.body);
    assert_eq!(app.events_of_type("ManualReviewRequested").await.len(), 1);

    // 大学同班同学协助: a wrong name is refused at the phone; the classmate then says 是.
    let wrong = browser
        .post(
            "/identity/classmates",
            &[
                ("csrf", &csrf),
                ("name", "别人"),
                ("phone", &classmate.phone),
            ],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(wrong.body.contains("id=\"phone-error\""), "{}", wrong.body);
    let invited = browser
        .post(
            "/identity/classmates",
            &[
                ("csrf", &csrf),
                ("name", &classmate.name),
                ("phone", &classmate.phone),
            ],
        )
        .await;
    assert_eq!(invited.status, StatusCode::OK, "{}", invited.body);
    assert!(invited.body.contains("等待确认"), "{}", invited.body);

    let mut other = Browser::new(&app);
    let their_csrf = other.log_in(&classmate.phone, &classmate.password).await;
    let mut inbox = other.get("/inbox").await;
    for _ in 0..100 {
        if inbox.body.contains("name=\"request\"") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        inbox = other.get("/inbox").await;
    }
    assert!(inbox.body.contains(&claimant.name), "{}", inbox.body);
    let request = inbox.hidden("request");
    let answered = other
        .post(
            "/inbox",
            &[
                ("csrf", &their_csrf),
                ("request", &request),
                ("answer", "yes"),
            ],
        )
        .await;
    assert_eq!(answered.status, StatusCode::OK, "{}", answered.body);
    assert!(answered.body.contains("已确认"), "{}", answered.body);
    assert_eq!(app.events_of_type("IdentityTransferred").await.len(), 1);
    let claim = browser.get("/identity").await;
    assert!(claim.body.contains("审核通过"), "{}", claim.body);
    // Reviewed: the whole site opens again in the same session.
    let mut archive = browser.get("/archive").await;
    for _ in 0..100 {
        if archive.status == StatusCode::OK {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(30)).await;
        archive = browser.get("/archive").await;
    }
    assert_eq!(archive.status, StatusCode::OK, "{}", archive.body);
}

/// Where a page that moves on by itself goes (its meta refresh), as a browser reads it.
pub fn moves_on_to(page: &Page) -> String {
    let marker = "http-equiv=\"refresh\" content=\"0;url=";
    let at = page
        .body
        .find(marker)
        .unwrap_or_else(|| panic!("no refresh on the page: {}", page.body));
    let rest = &page.body[at + marker.len()..];
    rest[..rest.find('"').unwrap()].replace("&amp;", "&")
}

/// The `state` of a platform's authorization address.
pub fn flow_state(location: &str) -> String {
    let query = location.split_once('?').map_or("", |(_, q)| q);
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.to_string())
        .unwrap_or_else(|| panic!("no state in {location}"))
}

async fn wechat_binds_from_the_account_page_then_logs_in_from_the_login_page(backend: Backend) {
    let platforms = crate::oauth::stand_ins().await;
    let app = spawn_app_with(backend, |config| {
        relaxed_limits(config);
        crate::oauth::configure_providers(&platforms, config);
    })
    .await;
    let person = Person::random();
    app.register_ok(&person).await;
    let mut browser = Browser::new(&app);
    let csrf = browser.log_in(&person.phone, &person.password).await;
    let account = browser.get("/account").await;
    assert!(
        account.body.contains("action=\"/account/bind/wechat\""),
        "{}",
        account.body
    );

    let to_wechat = browser
        .post("/account/bind/wechat", &[("csrf", &csrf)])
        .await;
    // A form's answer may not redirect off the site (CSP form-action): a page moves on.
    assert_eq!(to_wechat.status, StatusCode::OK, "{}", to_wechat.body);
    let location = moves_on_to(&to_wechat);
    assert!(location.contains("/connect/qrconnect"), "{location}");
    assert!(
        location.contains("redirect_uri=") && location.contains("%2Foauth%2Fwechat%2Fcallback"),
        "the platform sends the browser back to the page: {location}"
    );
    let state = flow_state(&location);
    let code = platforms.authorize("wx-web-subject");
    let bound = browser
        .get(&format!("/oauth/wechat/callback?code={code}&state={state}"))
        .await;
    assert_eq!(bound.status, StatusCode::OK, "{}", bound.body);
    assert!(bound.body.contains("微信账号绑定成功"), "{}", bound.body);
    let replayed = browser
        .get(&format!("/oauth/wechat/callback?code={code}&state={state}"))
        .await;
    assert_eq!(replayed.status, StatusCode::BAD_REQUEST);
    assert!(
        replayed.body.contains("登录请求已过期或无效"),
        "{}",
        replayed.body
    );

    // Another browser: 微信登录 on the login page.
    let mut phone = Browser::new(&app);
    let login = phone.get("/login").await;
    assert!(login.body.contains("微信登录"), "{}", login.body);
    let to_wechat = phone
        .post("/login/wechat", &[("csrf", &login.csrf())])
        .await;
    assert_eq!(to_wechat.status, StatusCode::OK);
    let state = flow_state(&moves_on_to(&to_wechat));
    let code = platforms.authorize("wx-web-subject");
    let back = phone
        .get(&format!("/oauth/wechat/callback?code={code}&state={state}"))
        .await;
    assert_eq!(back.status, StatusCode::SEE_OTHER, "{}", back.body);
    assert_eq!(back.location(), "/account");
    let mine = phone.get("/account").await;
    assert_eq!(mine.status, StatusCode::OK);
    assert!(mine.body.contains(&person.name), "{}", mine.body);

    // A state started in one browser does not finish in another.
    let started = phone
        .post("/login/wechat", &[("csrf", &login.csrf())])
        .await;
    let state = flow_state(&moves_on_to(&started));
    let mut stranger = Browser::new(&app);
    let code = platforms.authorize("wx-web-subject");
    let stolen = stranger
        .get(&format!("/oauth/wechat/callback?code={code}&state={state}"))
        .await;
    assert_eq!(stolen.status, StatusCode::BAD_REQUEST);
    assert!(stolen.set_cookie("xuexin_session").is_none());

    let unbound = browser
        .post("/account/unbind/wechat", &[("csrf", &csrf)])
        .await;
    assert_eq!(unbound.status, StatusCode::OK, "{}", unbound.body);
    assert!(
        unbound.body.contains("已解除绑定微信账号"),
        "{}",
        unbound.body
    );
}

async fn an_e_mail_waiting_for_activation_offers_the_activation_mail_again(backend: Backend) {
    let app = spawn_app_with(backend, relaxed_limits).await;
    let first = Person::random();
    app.register_ok(&first).await;
    app.verification_token(&first.email).await;
    let mails = app.outbox(&first.email).await.len();

    // Someone registers with the same address, still waiting for its link.
    let mut browser = Browser::new(&app);
    let csrf = browser.get("/register").await.csrf();
    let second = Person {
        email: first.email.clone(),
        ..Person::random()
    };
    let code = app.registration_code(&second.phone).await;
    let refused = browser
        .post("/register", &registration_form(&csrf, &second, &code))
        .await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.body);
    assert!(
        refused.body.contains("该邮箱已经注册，正在等待激活"),
        "{}",
        refused.body
    );
    assert!(refused.body.contains("formaction=\"/verify-email/send\""));

    let resent = browser
        .post(
            "/verify-email/send",
            &[("csrf", &csrf), ("email", &first.email)],
        )
        .await;
    assert_eq!(resent.status, StatusCode::OK, "{}", resent.body);
    assert!(resent.body.contains("正在等待激活"), "{}", resent.body);
    // An address nobody registered gets the same page.
    let unknown = browser
        .post(
            "/verify-email/send",
            &[("csrf", &csrf), ("email", "nobody-at-all@example.com")],
        )
        .await;
    assert_eq!(unknown.status, StatusCode::OK);
    app.settle_queued().await;
    let mut more = app.outbox(&first.email).await.len();
    for _ in 0..100 {
        if more > mails {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        more = app.outbox(&first.email).await.len();
    }
    assert_eq!(more, mails + 1, "the activation mail went again");
    assert!(app.outbox("nobody-at-all@example.com").await.is_empty());
}

async fn a_problem_report_with_a_screenshot_is_filed_answered_and_closed_in_the_pages(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let person = Person::random();
    app.register_ok(&person).await;
    let mut browser = Browser::new(&app);
    let csrf = browser.log_in(&person.phone, &person.password).await;
    let form = browser.get("/support").await;
    assert_eq!(form.status, StatusCode::OK, "{}", form.body);
    assert!(form.body.contains("enctype=\"multipart/form-data\""));

    // No description: refused at its field, nothing written.
    let events = app.event_count().await;
    let refused = browser
        .post_file(
            "/support",
            &[
                ("csrf", &csrf),
                ("username", &person.phone),
                ("description", ""),
            ],
            ("screenshot", "page.png", b""),
        )
        .await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        refused.body
    );
    assert!(
        refused.body.contains("id=\"description-error\""),
        "{}",
        refused.body
    );
    assert_eq!(app.event_count().await, events);
    // A screenshot that is no image: refused at its field.
    let not_image = browser
        .post_file(
            "/support",
            &[
                ("csrf", &csrf),
                ("username", &person.phone),
                ("description", "无法登录"),
            ],
            ("screenshot", "page.txt", b"text"),
        )
        .await;
    assert!(
        not_image.body.contains("id=\"screenshot-error\""),
        "{}",
        not_image.body
    );
    assert_eq!(app.event_count().await, events);

    // A real screenshot is larger than the API's 64 KiB body limit; up to 2 MB passes.
    let mut screenshot = jpeg();
    screenshot.resize(1_500_000, 7);
    let filed = browser
        .post_file(
            "/support",
            &[
                ("csrf", &csrf),
                ("username", &person.phone),
                ("description", "注册时提示手机号已经被注册"),
            ],
            ("screenshot", "page.jpg", &screenshot),
        )
        .await;
    assert_eq!(filed.status, StatusCode::OK, "{}", filed.body);
    assert!(filed.body.contains("问题反馈已提交"), "{}", filed.body);
    assert!(filed.body.contains("待处理"));
    let opened = app.events_of_type("TicketOpened").await;
    assert_eq!(opened.len(), 1);
    let ticket = opened[0].0.clone();
    assert!(opened[0].1["TicketOpened"]["screenshot"]["sha256"].is_string());
    let shot = browser.get(&format!("/support/{ticket}/screenshot")).await;
    assert_eq!(shot.status, StatusCode::OK);
    assert_eq!(shot.headers["content-type"], "image/jpeg");
    let mut stranger = Browser::new(&app);
    let other = Person::random();
    app.register_ok(&other).await;
    stranger.log_in(&other.phone, &other.password).await;
    assert_eq!(
        stranger
            .get(&format!("/support/{ticket}/screenshot"))
            .await
            .status,
        StatusCode::NOT_FOUND
    );

    let admin = app.staff_token("administrator", None).await;
    let answered = app
        .post_authorized(
            &format!("/api/v1/support-tickets/{ticket}/answers"),
            &admin,
            &serde_json::json!({"answer": "请使用“继续注册”解除旧账号的手机号。"}),
        )
        .await;
    assert_eq!(answered.status, StatusCode::CREATED, "{}", answered.text);
    let mut page = browser.get("/support").await;
    for _ in 0..100 {
        if page.body.contains("已回复") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(30)).await;
        page = browser.get("/support").await;
    }
    assert!(
        page.body.contains("请使用“继续注册”解除旧账号的手机号。"),
        "{}",
        page.body
    );
    let closed = browser
        .post(&format!("/support/{ticket}/close"), &[("csrf", &csrf)])
        .await;
    assert_eq!(closed.status, StatusCode::OK, "{}", closed.body);
    assert!(closed.body.contains("已关闭"), "{}", closed.body);
}

on_both_backends!(
    a_problem_report_with_a_screenshot_is_filed_answered_and_closed_in_the_pages,
    an_e_mail_waiting_for_activation_offers_the_activation_mail_again,
    wechat_binds_from_the_account_page_then_logs_in_from_the_login_page,
    a_classmate_confirms_in_the_inbox_and_a_photo_goes_to_manual_review,
    a_password_is_recovered_by_the_security_questions_and_by_the_emailed_link,
    the_archive_shows_the_record_in_the_pages_language_and_takes_a_conclusion,
    the_account_forms_refuse_a_post_without_this_browsers_token,
    the_phone_is_changed_with_the_current_password_and_the_new_phones_code,
    the_account_log_lists_the_changes_newest_first_in_the_pages_language,
    the_mail_link_opens_a_page_whose_button_verifies_and_the_next_login_says_so,
    a_forgotten_username_is_found_by_id_number_name_and_captcha,
    a_forgotten_password_is_reset_by_sms_through_the_pages,
    a_person_registers_through_the_form_with_the_code_from_the_sms,
    the_login_page_logs_in_with_a_form_and_keeps_the_session_in_an_httponly_cookie,
    a_form_without_this_browsers_csrf_token_is_refused_and_does_nothing,
    the_pages_switch_to_english_with_one_click_and_stay_there,
);
