//! The web pages over HTTP, as a browser without JavaScript uses them: forms, cookies, CSRF,
//! redirects, languages and the security headers. (The browser suite drives Chromium.)

use crate::helpers::*;
use crate::on_both_backends;
use reqwest::header::{HeaderMap, CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE};
use reqwest::StatusCode;
use std::collections::BTreeMap;

/// A browser: no redirects followed, cookies kept by hand.
struct Browser<'a> {
    app: &'a TestApp,
    client: reqwest::Client,
    cookies: BTreeMap<String, String>,
}

struct Page {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Page {
    fn location(&self) -> &str {
        self.headers
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    fn set_cookie(&self, name: &str) -> Option<String> {
        self.headers
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with(&format!("{name}=")))
            .map(str::to_string)
    }

    /// The value of the hidden CSRF field of the page's forms.
    fn csrf(&self) -> String {
        let at = self
            .body
            .find("name=\"csrf\" value=\"")
            .expect("a CSRF field on the page");
        let rest = &self.body[at + "name=\"csrf\" value=\"".len()..];
        rest[..rest.find('"').unwrap()].to_string()
    }
}

impl<'a> Browser<'a> {
    fn new(app: &'a TestApp) -> Self {
        Self {
            app,
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookies: BTreeMap::new(),
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn keep(&mut self, response: reqwest::Response) -> Page {
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

    async fn get(&mut self, path: &str) -> Page {
        let response = self
            .client
            .get(format!("{}{path}", self.app.address))
            .header(COOKIE, self.cookie_header())
            .send()
            .await
            .unwrap();
        self.keep(response).await
    }

    async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
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

on_both_backends!(
    the_login_page_logs_in_with_a_form_and_keeps_the_session_in_an_httponly_cookie,
    a_form_without_this_browsers_csrf_token_is_refused_and_does_nothing,
    the_pages_switch_to_english_with_one_click_and_stay_there,
);
