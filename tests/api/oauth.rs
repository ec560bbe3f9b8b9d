//! 微信登录 and 支付宝登录 against provider stand-ins that run as real HTTP servers: a WeChat
//! `/sns/oauth2/access_token` and an Alipay gateway that checks the app's RSA2 signature and
//! signs its answers with its own key, the way the platforms document it.

use crate::helpers::{relaxed_limits, spawn_app_with, Backend, Person, TestApp, TestResponse};
use crate::on_both_backends;
use axum::extract::{Query, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use reqwest::StatusCode;
use rsa::pkcs1v15::{Signature, SigningKey, VerifyingKey};
use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey};
use rsa::sha2::Sha256;
use rsa::signature::{SignatureEncoding, Signer, Verifier};
use rsa::{RsaPrivateKey, RsaPublicKey};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

on_both_backends!(
    wechat_bind_then_login_then_unbind,
    alipay_bind_and_login_with_rsa2_signatures,
    a_mismatched_or_reused_state_is_refused_and_changes_nothing,
    a_refused_code_or_a_bad_provider_signature_changes_nothing,
    the_same_subject_from_the_other_provider_reaches_nothing,
    an_unconfigured_provider_is_unavailable,
    an_unreachable_provider_leaves_no_secret_in_the_log,
);

const WECHAT_APPID: &str = "wx-test-app";
const WECHAT_SECRET: &str = "wechat-test-secret";
const ALIPAY_APP_ID: &str = "2021000000000001";
const B64: base64::engine::general_purpose::GeneralPurpose =
    base64::engine::general_purpose::STANDARD;

/// What the stand-ins know: codes a user "authorized" (code → subject), and the keys.
#[derive(Clone)]
struct Platform {
    codes: Arc<Mutex<HashMap<String, String>>>,
    app_public: RsaPublicKey,
    alipay_private: RsaPrivateKey,
    /// Gateway requests whose app signature verified.
    verified_requests: Arc<AtomicUsize>,
    /// Sign answers with a key Alipay does not own (a forged answer).
    forge: Arc<AtomicBool>,
}

pub(crate) struct StandIns {
    platform: Platform,
    wechat_url: String,
    alipay_url: String,
    app_private_pkcs8: String,
    alipay_public_spki: String,
}

impl StandIns {
    /// The user scans and agrees: the platform hands the browser this code for `subject`.
    pub(crate) fn authorize(&self, subject: &str) -> String {
        let code = uuid::Uuid::new_v4().simple().to_string();
        self.platform
            .codes
            .lock()
            .unwrap()
            .insert(code.clone(), subject.to_string());
        code
    }
}

async fn wechat_token(
    State(platform): State<Platform>,
    Query(query): Query<HashMap<String, String>>,
) -> Json<Value> {
    let arg = |k: &str| query.get(k).map(String::as_str).unwrap_or("");
    if arg("appid") != WECHAT_APPID || arg("secret") != WECHAT_SECRET {
        return Json(json!({"errcode": 40125, "errmsg": "invalid appsecret"}));
    }
    if arg("grant_type") != "authorization_code" {
        return Json(json!({"errcode": 40002, "errmsg": "invalid grant_type"}));
    }
    // Codes are single use.
    match platform.codes.lock().unwrap().remove(arg("code")) {
        Some(unionid) => Json(json!({
            "access_token": "ACCESS_TOKEN",
            "expires_in": 7200,
            "refresh_token": "REFRESH_TOKEN",
            "openid": format!("openid-{unionid}"),
            "scope": "snsapi_login",
            "unionid": unionid,
        })),
        None => Json(json!({"errcode": 40029, "errmsg": "invalid code"})),
    }
}

fn alipay_envelope(platform: &Platform, key: &str, object: &Value) -> String {
    let text = object.to_string();
    let signer = if platform.forge.load(Ordering::SeqCst) {
        RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 1024).unwrap()
    } else {
        platform.alipay_private.clone()
    };
    let signature = SigningKey::<Sha256>::new(signer).sign(text.as_bytes());
    format!(
        "{{\"{key}\":{text},\"sign\":\"{}\"}}",
        B64.encode(signature.to_bytes())
    )
}

async fn alipay_gateway(State(platform): State<Platform>, body: String) -> String {
    let params: BTreeMap<String, String> = serde_urlencoded::from_str(&body).unwrap_or_default();
    let error = |sub_code: &str, sub_msg: &str| {
        alipay_envelope(
            &platform,
            "error_response",
            &json!({"code": "40002", "msg": "Invalid Arguments", "sub_code": sub_code, "sub_msg": sub_msg}),
        )
    };
    // The documented signing string: all non-empty parameters but `sign`, sorted, k=v&k=v.
    let content = params
        .iter()
        .filter(|(k, v)| k.as_str() != "sign" && !v.is_empty())
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    let signature = params
        .get("sign")
        .and_then(|s| B64.decode(s).ok())
        .and_then(|bytes| Signature::try_from(bytes.as_slice()).ok());
    let verified = signature.is_some_and(|signature| {
        VerifyingKey::<Sha256>::new(platform.app_public.clone())
            .verify(content.as_bytes(), &signature)
            .is_ok()
    });
    if !verified {
        return error("isv.invalid-signature", "验签出错");
    }
    platform.verified_requests.fetch_add(1, Ordering::SeqCst);
    let arg = |k: &str| params.get(k).map(String::as_str).unwrap_or("");
    if arg("app_id") != ALIPAY_APP_ID
        || arg("method") != "alipay.system.oauth.token"
        || arg("sign_type") != "RSA2"
        || arg("grant_type") != "authorization_code"
    {
        return error("isv.invalid-parameter", "参数无效");
    }
    match platform.codes.lock().unwrap().remove(arg("code")) {
        Some(user_id) => alipay_envelope(
            &platform,
            "alipay_system_oauth_token_response",
            &json!({
                "access_token": "authusrB",
                "alipay_user_id": format!("2088{user_id}"),
                "expires_in": 1_296_000,
                "re_expires_in": 2_592_000,
                "refresh_token": "refresh",
                "user_id": user_id,
            }),
        ),
        None => error("isv.code-invalid", "授权码code无效"),
    }
}

async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    format!("http://{address}")
}

pub(crate) async fn stand_ins() -> StandIns {
    let mut rng = rsa::rand_core::OsRng;
    let app_private = RsaPrivateKey::new(&mut rng, 2048).unwrap();
    let alipay_private = RsaPrivateKey::new(&mut rng, 2048).unwrap();
    let platform = Platform {
        codes: Arc::default(),
        app_public: RsaPublicKey::from(&app_private),
        alipay_private: alipay_private.clone(),
        verified_requests: Arc::default(),
        forge: Arc::default(),
    };
    let wechat_url = serve(
        Router::new()
            .route("/sns/oauth2/access_token", get(wechat_token))
            .with_state(platform.clone()),
    )
    .await;
    let alipay_url = serve(
        Router::new()
            .route("/gateway.do", post(alipay_gateway))
            .with_state(platform.clone()),
    )
    .await;
    StandIns {
        platform,
        wechat_url,
        alipay_url,
        app_private_pkcs8: B64.encode(app_private.to_pkcs8_der().unwrap().as_bytes()),
        alipay_public_spki: B64.encode(
            RsaPublicKey::from(&alipay_private)
                .to_public_key_der()
                .unwrap()
                .as_bytes(),
        ),
    }
}

/// The service's settings for both stand-ins.
pub(crate) fn configure_providers(providers: &StandIns, config: &mut xuexin::config::Config) {
    let wechat = xuexin::oauth::WeChatConfig {
        app_id: WECHAT_APPID.into(),
        secret: WECHAT_SECRET.into(),
        authorize_url: format!("{}/connect/qrconnect", providers.wechat_url),
        api_url: providers.wechat_url.clone(),
    };
    let alipay = xuexin::oauth::AlipayConfig {
        app_id: ALIPAY_APP_ID.into(),
        private_key: providers.app_private_pkcs8.clone(),
        alipay_public_key: providers.alipay_public_spki.clone(),
        authorize_url: format!("{}/oauth2/publicAppAuthorize.htm", providers.alipay_url),
        gateway_url: format!("{}/gateway.do", providers.alipay_url),
    };
    config.wechat = Some(wechat);
    config.alipay = Some(alipay);
}

async fn oauth_app(backend: Backend, providers: &StandIns) -> TestApp {
    spawn_app_with(backend, |config| {
        relaxed_limits(config);
        configure_providers(providers, config);
    })
    .await
}

/// A started flow: the browser's cookie and the `state`.
struct Flow {
    cookie: String,
    state: String,
}

impl TestApp {
    async fn authorize(
        &self,
        provider: &str,
        purpose: &str,
        token: Option<&str>,
        cookie: Option<&str>,
    ) -> (TestResponse, Option<Flow>) {
        let mut request = self
            .client
            .post(format!(
                "{}/api/v1/oauth/{provider}/authorize",
                self.address
            ))
            .json(&json!({"purpose": purpose}));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(cookie) = cookie {
            request = request.header("cookie", cookie);
        }
        let response = self.send(request).await;
        let flow = (response.status == StatusCode::OK).then(|| {
            let set_cookie = response.headers["set-cookie"].to_str().unwrap();
            assert!(set_cookie.contains("HttpOnly"), "{set_cookie}");
            Flow {
                cookie: set_cookie.split(';').next().unwrap().to_string(),
                state: response.body["state"].as_str().unwrap().to_string(),
            }
        });
        (response, flow)
    }

    async fn start_flow(&self, provider: &str, purpose: &str, token: Option<&str>) -> Flow {
        let (response, flow) = self.authorize(provider, purpose, token, None).await;
        assert_eq!(response.status, StatusCode::OK, "{}", response.text);
        flow.unwrap()
    }

    async fn oauth_callback(
        &self,
        provider: &str,
        code: &str,
        state: &str,
        cookie: Option<&str>,
    ) -> TestResponse {
        let code_name = if provider == "alipay" {
            "auth_code"
        } else {
            "code"
        };
        let mut request = self
            .client
            .get(format!("{}/api/v1/oauth/{provider}/callback", self.address))
            .query(&[(code_name, code), ("state", state)]);
        if let Some(cookie) = cookie {
            request = request.header("cookie", cookie);
        }
        self.send(request).await
    }

    /// Binds `subject` of `provider` to the logged-in account.
    pub(crate) async fn bind(
        &self,
        stand_ins: &StandIns,
        provider: &str,
        token: &str,
        subject: &str,
    ) -> TestResponse {
        let flow = self.start_flow(provider, "bind", Some(token)).await;
        let code = stand_ins.authorize(subject);
        self.oauth_callback(provider, &code, &flow.state, Some(&flow.cookie))
            .await
    }

    /// Logs in through `provider` as `subject`.
    async fn external_login(
        &self,
        stand_ins: &StandIns,
        provider: &str,
        subject: &str,
    ) -> TestResponse {
        let flow = self.start_flow(provider, "login", None).await;
        let code = stand_ins.authorize(subject);
        self.oauth_callback(provider, &code, &flow.state, Some(&flow.cookie))
            .await
    }

    pub(crate) async fn delete_with(&self, path: &str, token: &str) -> TestResponse {
        self.send(
            self.client
                .delete(format!("{}{path}", self.address))
                .bearer_auth(token),
        )
        .await
    }
}

async fn wechat_bind_then_login_then_unbind(backend: Backend) {
    let providers = stand_ins().await;
    let app = oauth_app(backend, &providers).await;
    let person = Person::random();
    let account_id = app.register_ok(&person).await;
    let (token, _) = app.login_ok(&person.phone, &person.password).await;

    // The authorize URL is the platform's, with our app id, redirect URI and state.
    let (started, flow) = app.authorize("wechat", "bind", Some(&token), None).await;
    let url = started.body["authorize_url"].as_str().unwrap();
    let flow = flow.unwrap();
    assert!(
        url.starts_with(&format!(
            "{}/connect/qrconnect?appid={WECHAT_APPID}",
            providers.wechat_url
        )),
        "{url}"
    );
    assert!(url.contains("scope=snsapi_login"));
    assert!(url.contains(&format!("state={}", flow.state)));
    assert!(url.contains("redirect_uri=http%3A%2F%2F"));
    // Binding needs a session.
    let (anonymous, _) = app.authorize("wechat", "bind", None, None).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);

    let unionid = format!("union-{}", uuid::Uuid::new_v4().simple());
    let code = providers.authorize(&unionid);
    let linked = app
        .oauth_callback("wechat", &code, &flow.state, Some(&flow.cookie))
        .await;
    assert_eq!(linked.status, StatusCode::OK, "{}", linked.text);
    assert_eq!(linked.body["result"], "linked");
    app.settle().await;
    let me = app.get("/api/v1/me", Some(&token)).await;
    assert_eq!(
        me.body["linked_providers"],
        json!(["wechat"]),
        "{}",
        me.text
    );

    let logged_in = app.external_login(&providers, "wechat", &unionid).await;
    assert_eq!(logged_in.status, StatusCode::CREATED, "{}", logged_in.text);
    assert_eq!(logged_in.body["session"]["account_id"], account_id);
    let session = logged_in.body["session"]["token"].as_str().unwrap();
    assert_eq!(
        app.get("/api/v1/me", Some(session)).await.status,
        StatusCode::OK
    );
    let logins = app.events_of_type("LoginSucceeded").await;
    assert_eq!(logins.last().unwrap().1["LoginSucceeded"]["via"], "we_chat");

    let unlinked = app
        .delete_with("/api/v1/me/external-logins/wechat", &token)
        .await;
    assert_eq!(unlinked.status, StatusCode::OK, "{}", unlinked.text);
    let again = app
        .delete_with("/api/v1/me/external-logins/wechat", &token)
        .await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
    assert_eq!(again.code(), "external_login_not_linked");
    let refused = app.external_login(&providers, "wechat", &unionid).await;
    assert_eq!(refused.status, StatusCode::NOT_FOUND, "{}", refused.text);
    assert_eq!(refused.code(), "external_login_not_linked");

    // The history names each change and its actor.
    let history = app.get("/api/v1/me/history", Some(&token)).await;
    let events: Vec<&str> = history
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert!(events.contains(&"ExternalLoginLinked"));
    assert!(events.contains(&"ExternalLoginUnlinked"));
}

async fn alipay_bind_and_login_with_rsa2_signatures(backend: Backend) {
    let providers = stand_ins().await;
    let app = oauth_app(backend, &providers).await;
    let person = Person::random();
    let account_id = app.register_ok(&person).await;
    let (token, _) = app.login_ok(&person.phone, &person.password).await;

    let user_id = format!("2088{}", &uuid::Uuid::new_v4().as_u128().to_string()[..12]);
    let flow = app.start_flow("alipay", "bind", Some(&token)).await;
    let code = providers.authorize(&user_id);
    let linked = app
        .oauth_callback("alipay", &code, &flow.state, Some(&flow.cookie))
        .await;
    assert_eq!(linked.status, StatusCode::OK, "{}", linked.text);
    assert_eq!(
        providers.platform.verified_requests.load(Ordering::SeqCst),
        1
    );

    let logged_in = app.external_login(&providers, "alipay", &user_id).await;
    assert_eq!(logged_in.status, StatusCode::CREATED, "{}", logged_in.text);
    assert_eq!(logged_in.body["session"]["account_id"], account_id);
    assert_eq!(
        providers.platform.verified_requests.load(Ordering::SeqCst),
        2
    );

    // A code is good once at the platform.
    let flow = app.start_flow("alipay", "login", None).await;
    let used = app
        .oauth_callback("alipay", &code, &flow.state, Some(&flow.cookie))
        .await;
    assert_eq!(used.status, StatusCode::BAD_REQUEST, "{}", used.text);
    assert_eq!(used.code(), "oauth_code_invalid");
}

async fn a_mismatched_or_reused_state_is_refused_and_changes_nothing(backend: Backend) {
    let providers = stand_ins().await;
    let app = oauth_app(backend, &providers).await;
    let person = Person::random();
    app.register_ok(&person).await;
    let (token, _) = app.login_ok(&person.phone, &person.password).await;
    let subject = format!("union-{}", uuid::Uuid::new_v4().simple());
    let before = app.event_count().await;

    let victim = app.start_flow("wechat", "bind", Some(&token)).await;
    let attacker = app.start_flow("wechat", "login", None).await;
    let code = providers.authorize(&subject);
    // Another browser's cookie, no cookie, a made-up state, another provider's callback.
    for (provider, state, cookie) in [
        (
            "wechat",
            victim.state.as_str(),
            Some(attacker.cookie.as_str()),
        ),
        ("wechat", victim.state.as_str(), None),
        ("wechat", "made-up-state", Some(victim.cookie.as_str())),
        (
            "alipay",
            victim.state.as_str(),
            Some(victim.cookie.as_str()),
        ),
    ] {
        let refused = app.oauth_callback(provider, &code, state, cookie).await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.text);
        assert_eq!(refused.code(), "oauth_state_invalid");
    }
    assert_eq!(app.event_count().await, before);
    assert!(
        providers.platform.codes.lock().unwrap().contains_key(&code),
        "a refused state never reaches the platform"
    );

    // The right browser finishes the flow once; the state is then used up.
    let linked = app
        .oauth_callback("wechat", &code, &victim.state, Some(&victim.cookie))
        .await;
    assert_eq!(linked.status, StatusCode::OK, "{}", linked.text);
    let code = providers.authorize(&subject);
    let reused = app
        .oauth_callback("wechat", &code, &victim.state, Some(&victim.cookie))
        .await;
    assert_eq!(reused.status, StatusCode::BAD_REQUEST);
    assert_eq!(reused.code(), "oauth_state_invalid");

    // An expired state is refused.
    let flow = app.start_flow("wechat", "login", None).await;
    xuexin_projections::db_execute!(&app.db, "UPDATE oauth_states SET expires_at = 0").unwrap();
    let expired = app
        .oauth_callback("wechat", &code, &flow.state, Some(&flow.cookie))
        .await;
    assert_eq!(expired.code(), "oauth_state_invalid");
}

async fn a_refused_code_or_a_bad_provider_signature_changes_nothing(backend: Backend) {
    let providers = stand_ins().await;
    let app = oauth_app(backend, &providers).await;
    let person = Person::random();
    app.register_ok(&person).await;
    let (token, _) = app.login_ok(&person.phone, &person.password).await;
    let before = app.event_count().await;

    for provider in ["wechat", "alipay"] {
        let flow = app.start_flow(provider, "bind", Some(&token)).await;
        let refused = app
            .oauth_callback(provider, "not-a-code", &flow.state, Some(&flow.cookie))
            .await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.text);
        assert_eq!(refused.code(), "oauth_code_invalid");
    }
    // The user declined: the platform sends no code.
    let flow = app.start_flow("wechat", "login", None).await;
    let declined = app
        .send(
            app.client
                .get(format!("{}/api/v1/oauth/wechat/callback", app.address))
                .query(&[("state", flow.state.as_str())])
                .header("cookie", &flow.cookie),
        )
        .await;
    assert_eq!(declined.code(), "oauth_denied");

    // An answer not signed by Alipay's key is not believed.
    providers.platform.forge.store(true, Ordering::SeqCst);
    let flow = app.start_flow("alipay", "bind", Some(&token)).await;
    let code = providers.authorize("2088000000000001");
    let forged = app
        .oauth_callback("alipay", &code, &flow.state, Some(&flow.cookie))
        .await;
    assert_eq!(
        forged.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        forged.text
    );
    assert_eq!(forged.code(), "oauth_provider_error");
    assert_eq!(app.event_count().await, before);
}

async fn the_same_subject_from_the_other_provider_reaches_nothing(backend: Backend) {
    let providers = stand_ins().await;
    let app = oauth_app(backend, &providers).await;
    let first = Person::random();
    app.register_ok(&first).await;
    let (first_token, _) = app.login_ok(&first.phone, &first.password).await;
    let subject = format!("shared-{}", uuid::Uuid::new_v4().simple());
    let linked = app.bind(&providers, "wechat", &first_token, &subject).await;
    assert_eq!(linked.status, StatusCode::OK, "{}", linked.text);

    let other = app.external_login(&providers, "alipay", &subject).await;
    assert_eq!(other.status, StatusCode::NOT_FOUND, "{}", other.text);
    assert_eq!(other.code(), "external_login_not_linked");

    // One account per subject, one subject per provider and account.
    let second = Person::random();
    app.register_ok(&second).await;
    let (second_token, _) = app.login_ok(&second.phone, &second.password).await;
    let taken = app
        .bind(&providers, "wechat", &second_token, &subject)
        .await;
    assert_eq!(taken.status, StatusCode::CONFLICT, "{}", taken.text);
    assert_eq!(taken.code(), "external_login_taken");
    let another = app
        .bind(&providers, "wechat", &first_token, "union-someone-else")
        .await;
    assert_eq!(another.status, StatusCode::CONFLICT);
    assert_eq!(another.code(), "external_login_linked");
    // The same string at Alipay is a different login: the second account may bind it.
    let alipay = app
        .bind(&providers, "alipay", &second_token, &subject)
        .await;
    assert_eq!(alipay.status, StatusCode::OK, "{}", alipay.text);
    let wechat_login = app.external_login(&providers, "wechat", &subject).await;
    let alipay_login = app.external_login(&providers, "alipay", &subject).await;
    assert_ne!(
        wechat_login.body["session"]["account_id"],
        alipay_login.body["session"]["account_id"]
    );
}

async fn an_unconfigured_provider_is_unavailable(backend: Backend) {
    let app = spawn_app_with(backend, |_| {}).await;
    let (response, _) = app.authorize("wechat", "login", None, None).await;
    assert_eq!(response.status, StatusCode::NOT_FOUND);
    assert_eq!(response.code(), "oauth_provider_unavailable");
    let (response, _) = app.authorize("weibo", "login", None, None).await;
    assert_eq!(response.code(), "provider_invalid");
}

/// Issue 13, item 6: a provider that cannot be reached is logged by host, never with the URL
/// that carried the app secret and the authorization code (WeChat puts both in the query), nor
/// a gateway URL's key.
async fn an_unreachable_provider_leaves_no_secret_in_the_log(backend: Backend) {
    let providers = stand_ins().await;
    // A port that was free a moment ago: nothing answers there.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", listener.local_addr().unwrap())
    };
    let app = spawn_app_with(backend, |config| {
        relaxed_limits(config);
        configure_providers(&providers, config);
        if let Some(wechat) = config.wechat.as_mut() {
            wechat.api_url = closed.clone();
        }
        if let Some(alipay) = config.alipay.as_mut() {
            alipay.gateway_url = format!("{closed}/gateway.do?sign_key=alipay-url-secret");
        }
        config.sms = xuexin::config::SmsGatewayConfig::Http {
            url: format!(
                "http://sms-user:sms-password@{}/send?key=sms-url-secret",
                &closed[7..]
            ),
            token: Some("sms-bearer-secret".into()),
        };
    })
    .await;
    let person = Person::random();
    for provider in ["wechat", "alipay"] {
        let flow = app.start_flow(provider, "login", None).await;
        let code = providers.authorize("subject-1");
        let answer = app
            .oauth_callback(provider, &code, &flow.state, Some(&flow.cookie))
            .await;
        assert_eq!(
            answer.status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{}",
            answer.text
        );
        assert_eq!(answer.code(), "oauth_provider_error");
        let logs = crate::helpers::captured_logs();
        assert!(
            !logs.contains(&code),
            "the authorization code is in the log"
        );
    }
    let sms = app
        .post(
            "/api/v1/sms-codes",
            &json!({"phone": person.phone, "purpose": "register"}),
        )
        .await;
    assert_eq!(sms.status, StatusCode::SERVICE_UNAVAILABLE, "{}", sms.text);

    let logs = crate::helpers::captured_logs();
    // The failures are logged, by host.
    assert!(logs.contains("WeChat is unreachable"), "{logs}");
    assert!(logs.contains("127.0.0.1"), "{logs}");
    for secret in [
        WECHAT_SECRET,
        "alipay-url-secret",
        "sms-url-secret",
        "sms-password",
        "sms-bearer-secret",
    ] {
        assert!(!logs.contains(secret), "{secret} is in the log:\n{logs}");
    }
}
