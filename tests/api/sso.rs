//! The OpenID provider (issue 17), driven by a real relying-party library: the Rust
//! `openidconnect` crate does discovery, builds the authorization URL (PKCE S256, state,
//! nonce), exchanges the code, validates the ID token against the JWKS and calls userinfo; a
//! cookie-keeping browser without JavaScript goes through the real login and consent pages.
//! The checks of the OpenID Foundation's Basic OP plan are reproduced by name, on both
//! backends. (The independent Python client is `tests/oidc/client.py`, run at the end.)

use crate::helpers::*;
use crate::on_both_backends;
use crate::web::{Browser, Page};
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreProviderMetadata, CoreUserInfoClaims,
};
use openidconnect::{
    AccessToken, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce,
    OAuth2TokenResponse, PkceCodeChallenge, RedirectUrl, RefreshToken, Scope, TokenResponse,
};
use reqwest::StatusCode;
use serde_json::Value;
use std::collections::BTreeMap;

on_both_backends!(
    oidcc_server_signs_a_person_in_through_the_login_and_consent_pages,
    oidcc_refusals_never_redirect_to_an_unregistered_uri_and_issue_nothing,
    oidcc_prompts_max_age_and_hints,
    a_withdrawn_consent_or_a_deactivated_account_ends_the_platforms_tokens,
    the_independent_python_client_completes_every_flow,
    signing_out_of_xuexin_reaches_every_platforms_back_channel,
    a_wechat_login_on_the_providers_login_page_goes_back_to_the_platform,
    a_code_and_a_refresh_token_each_work_once_under_fifty_parallel_requests,
    a_password_change_elsewhere_signs_the_browsers_platform_out,
);

const REDIRECT: &str = "https://yz.example.cn/callback";
const AFTER_LOGOUT: &str = "https://yz.example.cn/bye";

/// An app whose public URL is the address it listens on: the issuer is what a platform
/// reaches.
async fn provider(backend: Backend) -> TestApp {
    spawn_app_as_issuer(backend, relaxed_limits).await
}

/// Registers a platform with the CLI; answers its client secret.
fn add_platform(app: &TestApp, client_id: &str, name: &str, extra: &[&str]) -> String {
    let mut args = vec![
        "admin",
        "platform",
        "add",
        "--client-id",
        client_id,
        "--name",
        name,
        "--redirect-uri",
        REDIRECT,
        "--post-logout-redirect-uri",
        AFTER_LOGOUT,
        "--scope",
        "profile,phone,email,identity,records",
        "--json",
    ];
    args.extend_from_slice(extra);
    let output = app.cli(&args);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let answer: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    answer["client_secret"].as_str().unwrap_or("").to_string()
}

type Rp = CoreClient<
    openidconnect::EndpointSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointMaybeSet,
    openidconnect::EndpointMaybeSet,
>;

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The platform: discovery, then a client with the secret.
async fn relying_party(app: &TestApp, client_id: &str, secret: &str) -> Rp {
    let metadata =
        CoreProviderMetadata::discover_async(IssuerUrl::new(app.address.clone()).unwrap(), &http())
            .await
            .expect("discovery (oidcc-server)");
    CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(client_id.into()),
        Some(ClientSecret::new(secret.into())),
    )
    .set_redirect_uri(RedirectUrl::new(REDIRECT.into()).unwrap())
}

fn query_of(url: &str) -> BTreeMap<String, String> {
    let query = url.split_once('?').map_or("", |(_, q)| q);
    form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect()
}

/// The path and query of an absolute URL on the app (the browser speaks in paths).
fn path_of(app: &TestApp, url: &str) -> String {
    url.strip_prefix(&app.address).unwrap_or(url).to_string()
}

/// Follows the provider's redirects, logging in and consenting when asked, until the answer
/// leaves for the platform; answers that URL.
async fn drive(browser: &mut Browser<'_>, mut page: Page, person: Option<&Person>) -> String {
    for _ in 0..8 {
        assert!(
            page.status.is_redirection(),
            "the provider answered {} with {}",
            page.status,
            page.body
        );
        let to = page.location().to_string();
        if to.starts_with("https://") {
            return to;
        }
        page = browser.get(&to).await;
        if to.starts_with("/login?sso=") {
            let person = person.expect("a person to log in");
            assert!(
                page.body.contains("yz-name"),
                "the login page names the platform"
            );
            let form = [
                ("csrf", page.csrf()),
                ("sso", page.hidden("sso")),
                ("login", person.phone.clone()),
                ("password", person.password.clone()),
            ];
            let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            page = browser.post("/login", &form).await;
        } else if to.starts_with("/oauth2/consent") {
            assert_eq!(page.status, StatusCode::OK, "{}", page.body);
            let form = [
                ("csrf", page.csrf()),
                ("sso", page.hidden("sso")),
                ("decision", "allow".to_string()),
            ];
            let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            page = browser.post("/oauth2/consent", &form).await;
        }
    }
    panic!("the sign-in did not come back to the platform");
}

struct Authorization {
    pkce: openidconnect::PkceCodeVerifier,
    nonce: Nonce,
    url: String,
}

fn authorization(rp: &Rp, scopes: &[&str], extra: &[(&str, &str)]) -> (Authorization, CsrfToken) {
    let (challenge, pkce) = PkceCodeChallenge::new_random_sha256();
    let mut request = rp
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .set_pkce_challenge(challenge);
    for scope in scopes {
        request = request.add_scope(Scope::new(scope.to_string()));
    }
    for (name, value) in extra {
        request = request.add_extra_param(*name, *value);
    }
    let (url, state, nonce) = request.url();
    (
        Authorization {
            pkce,
            nonce,
            url: url.to_string(),
        },
        state,
    )
}

/// A whole sign-in: authorize in the browser, the code back with its state, the exchange,
/// and the ID token validated by the library (signature by JWKS, iss, aud, exp, nonce).
async fn sign_in(
    app: &TestApp,
    rp: &Rp,
    browser: &mut Browser<'_>,
    person: Option<&Person>,
    scopes: &[&str],
) -> (
    openidconnect::core::CoreTokenResponse,
    openidconnect::core::CoreIdTokenClaims,
) {
    let (auth, state) = authorization(rp, scopes, &[]);
    let start = browser.get(&path_of(app, &auth.url)).await;
    let back = drive(browser, start, person).await;
    let query = query_of(&back);
    assert!(back.starts_with(REDIRECT), "{back}");
    assert_eq!(query.get("state"), Some(state.secret()));
    assert_eq!(query.get("iss"), Some(&app.address), "RFC 9207 iss");
    exchange(rp, &query["code"], auth).await
}

/// The platform's side of a code: the exchange (with the PKCE verifier), and the ID token
/// validated by the library (signature by JWKS, iss, aud, exp, nonce).
async fn exchange(
    rp: &Rp,
    code: &str,
    auth: Authorization,
) -> (
    openidconnect::core::CoreTokenResponse,
    openidconnect::core::CoreIdTokenClaims,
) {
    let tokens = rp
        .exchange_code(AuthorizationCode::new(code.to_string()))
        .unwrap()
        .set_pkce_verifier(auth.pkce)
        .request_async(&http())
        .await
        .expect("the code is exchanged");
    let claims = tokens
        .id_token()
        .expect("an ID token")
        .claims(&rp.id_token_verifier(), &auth.nonce)
        .expect("the ID token validates (oidcc-idtoken-signature)")
        .clone();
    (tokens, claims)
}

async fn userinfo_json(app: &TestApp, request: reqwest::RequestBuilder) -> (StatusCode, Value) {
    let _ = app;
    let response = request.send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn registered(app: &TestApp) -> Person {
    let person = Person::random();
    app.register_ok(&person).await;
    person
}

async fn oidcc_server_signs_a_person_in_through_the_login_and_consent_pages(backend: Backend) {
    let app = provider(backend).await;
    let secret = add_platform(&app, "yz", "yz-name", &[]);
    let person = registered(&app).await;
    let rp = relying_party(&app, "yz", &secret).await;
    let mut browser = Browser::new(&app);

    // oidcc-server + oidcc-scope-all: login page → consent page → code → tokens.
    let (tokens, claims) = sign_in(
        &app,
        &rp,
        &mut browser,
        Some(&person),
        &["profile", "email", "phone", "identity"],
    )
    .await;
    assert!(claims.auth_time().is_some());
    let subject = claims.subject().to_string();
    assert_eq!(subject.len(), 64, "a pairwise subject: {subject}");

    // oidcc-userinfo-get through the library.
    let info: CoreUserInfoClaims = rp
        .user_info(tokens.access_token().clone(), None)
        .unwrap()
        .request_async(&http())
        .await
        .expect("userinfo");
    assert_eq!(info.subject().as_str(), subject);
    let name = info
        .name()
        .and_then(|n| n.get(None))
        .map(|n| n.as_str().to_string());
    assert_eq!(
        name.as_deref(),
        Some(person.name.as_str()),
        "oidcc-scope-profile"
    );
    assert!(
        info.phone_number()
            .is_some_and(|p| p.as_str().ends_with(&person.phone)),
        "oidcc-scope-phone"
    );
    // oidcc-scope-email: the address is not verified yet, so it is not given.
    assert!(info.email().is_none());

    // oidcc-userinfo-post-header and oidcc-userinfo-post-body.
    let at = tokens.access_token().secret().clone();
    let userinfo = format!("{}/oauth2/userinfo", app.address);
    let (status, header) = userinfo_json(&app, http().post(&userinfo).bearer_auth(&at)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(header["sub"], subject.as_str());
    assert_eq!(
        header["document_number_masked"]
            .as_str()
            .map(|m| m.contains('*')),
        Some(true)
    );
    assert_eq!(header["document_digest"].as_str().map(str::len), Some(64));
    assert!(!header.to_string().contains(&person.document_number));
    let (status, body) = userinfo_json(
        &app,
        http()
            .post(&userinfo)
            .form(&[("access_token", at.as_str())]),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, header);
    let (status, _) = userinfo_json(&app, http().get(&userinfo).bearer_auth("nonsense")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // A second sign-in by the signed-in browser: no password, no consent page.
    let (_, again) = sign_in(&app, &rp, &mut browser, None, &["profile"]).await;
    assert_eq!(
        again.subject().as_str(),
        subject,
        "the same person, the same sub"
    );

    // oidcc-ensure-other-scope-order-succeeds, -request-without-nonce-, -with-unknown-parameter-.
    let url = format!(
        "/oauth2/authorize?scope=profile%20openid&response_type=code&client_id=yz&redirect_uri={}&state=s1&frobnicate=1",
        urlencode(REDIRECT)
    );
    let start = browser.get(&url).await;
    let back = drive(&mut browser, start, None).await;
    let code = query_of(&back)["code"].clone();
    let tokens_without_nonce = token_request(
        &app,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("client_id", "yz"),
            ("client_secret", &secret),
        ],
        None,
    )
    .await;
    // oidcc-server-client-secret-post.
    assert_eq!(
        tokens_without_nonce.0,
        StatusCode::OK,
        "{}",
        tokens_without_nonce.1
    );
    assert!(tokens_without_nonce.1["id_token"].is_string());

    // A second platform in its own sector sees another subject (pairwise, PIPL).
    let other_secret = add_platform(&app, "zb", "yz-name", &[]);
    let other = relying_party(&app, "zb", &other_secret).await;
    let (_, at_other) = sign_in(&app, &other, &mut browser, None, &[]).await;
    assert_ne!(at_other.subject().as_str(), subject);

    // oidcc-refresh-token: rotation, and a reused refresh token revokes the family.
    let first = tokens.refresh_token().expect("a refresh token").clone();
    let refreshed = rp
        .exchange_refresh_token(&first)
        .unwrap()
        .request_async(&http())
        .await
        .expect("a refresh");
    let second = refreshed
        .refresh_token()
        .expect("a new refresh token")
        .clone();
    assert_ne!(second.secret(), first.secret());
    assert!(rp
        .exchange_refresh_token(&first)
        .unwrap()
        .request_async(&http())
        .await
        .is_err());
    assert!(
        rp.exchange_refresh_token(&second)
            .unwrap()
            .request_async(&http())
            .await
            .is_err(),
        "reuse revoked the whole family"
    );
    let (status, _) = userinfo_json(
        &app,
        http()
            .get(&userinfo)
            .bearer_auth(refreshed.access_token().secret()),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Each sign-in is an event of the account, in 账号日志, on NATS's subjects.
    let signed_in = app.events_of_type("SignedInToPlatform").await;
    assert_eq!(signed_in.len(), 4);
    assert_eq!(app.events_of_type("PlatformAccessGranted").await.len(), 2);
    let log = browser.get("/account/log").await;
    assert!(log.body.contains("yz-name"), "{}", log.body);
    // No secret and no token in any event.
    let all = app.all_events_text().await;
    for secret in [&secret, &at, first.secret(), &code] {
        assert!(!all.contains(secret.as_str()));
    }
}

fn urlencode(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

async fn token_request(
    app: &TestApp,
    form: &[(&str, &str)],
    basic: Option<(&str, &str)>,
) -> (StatusCode, Value) {
    let mut request = http()
        .post(format!("{}/oauth2/token", app.address))
        .form(form);
    if let Some((id, secret)) = basic {
        request = request.basic_auth(id, Some(secret));
    }
    let response = request.send().await.unwrap();
    (
        response.status(),
        response.json().await.unwrap_or(Value::Null),
    )
}

/// Authorizes in the signed-in browser with these parameters; answers the way back.
async fn code_for(app: &TestApp, browser: &mut Browser<'_>, challenge: Option<&str>) -> String {
    let mut url = format!(
        "/oauth2/authorize?scope=openid&response_type=code&client_id=yz&redirect_uri={}",
        urlencode(REDIRECT)
    );
    if let Some(challenge) = challenge {
        url.push_str(&format!(
            "&code_challenge={challenge}&code_challenge_method=S256"
        ));
    }
    let start = browser.get(&url).await;
    let back = drive(browser, start, None).await;
    let _ = app;
    query_of(&back)["code"].clone()
}

async fn oidcc_refusals_never_redirect_to_an_unregistered_uri_and_issue_nothing(backend: Backend) {
    let app = provider(backend).await;
    let secret = add_platform(&app, "yz", "yz-name", &[]);
    let person = registered(&app).await;
    let rp = relying_party(&app, "yz", &secret).await;
    let mut browser = Browser::new(&app);
    sign_in(&app, &rp, &mut browser, Some(&person), &[]).await;
    let base = "/oauth2/authorize?client_id=yz&scope=openid&state=st&redirect_uri=".to_string();

    // oidcc-ensure-registered-redirect-uri: an error page, never a redirect.
    for uri in [
        "https://evil.example/callback",
        "https://yz.example.cn/callback/",
        "https://yz.example.cn/callback?x=1",
    ] {
        let page = browser
            .get(&format!("{base}{}&response_type=code", urlencode(uri)))
            .await;
        assert_eq!(page.status, StatusCode::BAD_REQUEST, "{uri}");
        assert!(page.location().is_empty());
    }
    let unknown = browser
        .get("/oauth2/authorize?client_id=nobody&response_type=code&scope=openid")
        .await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST);

    // oidcc-response-type-missing: told to the platform.
    let page = browser.get(&format!("{base}{}", urlencode(REDIRECT))).await;
    let back = query_of(page.location());
    assert_eq!(back["error"], "invalid_request", "{}", page.location());
    assert_eq!(back["state"], "st");
    let page = browser
        .get(&format!(
            "{base}{}&response_type=token",
            urlencode(REDIRECT)
        ))
        .await;
    assert_eq!(
        query_of(page.location())["error"],
        "unsupported_response_type"
    );

    // An unsigned request object is refused (request_not_supported), not signed in.
    let object = "eyJhbGciOiJub25lIn0.eyJzY29wZSI6Im9wZW5pZCJ9.";
    let page = browser
        .get(&format!(
            "{base}{}&response_type=code&request={object}",
            urlencode(REDIRECT)
        ))
        .await;
    assert_eq!(query_of(page.location())["error"], "request_not_supported");

    // oidcc-codereuse: a code works once; its second use revokes what it issued.
    let code = code_for(&app, &mut browser, None).await;
    let exchange = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
    ];
    let (status, first) = token_request(&app, &exchange, Some(("yz", &secret))).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let (status, again) = token_request(&app, &exchange, Some(("yz", &secret))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(again["error"], "invalid_grant");
    let userinfo = format!("{}/oauth2/userinfo", app.address);
    let access = first["access_token"].as_str().unwrap();
    let (status, _) = userinfo_json(&app, http().get(&userinfo).bearer_auth(access)).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the reused code's token is revoked"
    );

    // oidcc-codereuse-30seconds: the same, with the first use 30 seconds old.
    let code = code_for(&app, &mut browser, None).await;
    let exchange = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
    ];
    let (_, first) = token_request(&app, &exchange, Some(("yz", &secret))).await;
    age_codes(&app, 30_000).await;
    let (_, again) = token_request(&app, &exchange, Some(("yz", &secret))).await;
    assert_eq!(again["error"], "invalid_grant");
    let access = first["access_token"].as_str().unwrap();
    let (status, _) = userinfo_json(&app, http().get(&userinfo).bearer_auth(access)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // An expired code (older than 60 s), a wrong verifier, a wrong secret, another client's
    // code: invalid_grant or invalid_client, and nothing is issued.
    let code = code_for(&app, &mut browser, None).await;
    age_codes(&app, 61_000).await;
    let (_, expired) = token_request(
        &app,
        &[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
        ],
        Some(("yz", &secret)),
    )
    .await;
    assert_eq!(expired["error"], "invalid_grant");
    let verifier = "v".repeat(50);
    let challenge = {
        use sha2::Digest;
        base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            sha2::Sha256::digest(verifier.as_bytes()),
        )
    };
    let code = code_for(&app, &mut browser, Some(&challenge)).await;
    let with = |verifier: &'static str| {
        [
            ("grant_type", "authorization_code"),
            ("redirect_uri", REDIRECT),
            ("code_verifier", verifier),
        ]
    };
    let wrong = "w".repeat(50);
    let wrong: &'static str = Box::leak(wrong.into_boxed_str());
    let mut form = with(wrong).to_vec();
    form.push(("code", &code));
    let (_, refused) = token_request(&app, &form, Some(("yz", &secret))).await;
    assert_eq!(refused["error"], "invalid_grant");
    let (status, refused) = token_request(&app, &form, Some(("yz", "not-the-secret"))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(refused["error"], "invalid_client");
    let tokens_before: i64 = count_tokens(&app).await;
    let (status, refused) = token_request(
        &app,
        &[
            ("grant_type", "authorization_code"),
            ("code", "x"),
            ("redirect_uri", REDIRECT),
        ],
        Some(("zz", "zz")),
    )
    .await;
    assert_eq!(
        (status, refused["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_client"))
    );
    let (_, refused) =
        token_request(&app, &[("grant_type", "password")], Some(("yz", &secret))).await;
    assert_eq!(refused["error"], "unsupported_grant_type");
    assert_eq!(
        count_tokens(&app).await,
        tokens_before,
        "nothing was issued"
    );
}

async fn age_codes(app: &TestApp, millis: i64) {
    let sql = "UPDATE sso_codes SET used_at = used_at - $1, created_at = created_at - $1, expires_at = expires_at - $1";
    match &app.db {
        xuexin_projections::Db::Postgres(pool) => {
            sqlx::query(sql).bind(millis).execute(pool).await.unwrap();
        }
        xuexin_projections::Db::Sqlite(pool) => {
            sqlx::query(sql).bind(millis).execute(pool).await.unwrap();
        }
    }
}

async fn count_tokens(app: &TestApp) -> i64 {
    let sql = "SELECT COUNT(*) FROM sso_tokens";
    match &app.db {
        xuexin_projections::Db::Postgres(pool) => {
            sqlx::query_scalar(sql).fetch_one(pool).await.unwrap()
        }
        xuexin_projections::Db::Sqlite(pool) => {
            sqlx::query_scalar(sql).fetch_one(pool).await.unwrap()
        }
    }
}

async fn oidcc_prompts_max_age_and_hints(backend: Backend) {
    let app = provider(backend).await;
    let secret = add_platform(&app, "yz", "yz-name", &[]);
    let person = registered(&app).await;
    let rp = relying_party(&app, "yz", &secret).await;
    let mut browser = Browser::new(&app);

    // oidcc-prompt-none-not-logged-in: login_required on the redirect.
    let (auth, _) = authorization(&rp, &[], &[("prompt", "none")]);
    let page = browser.get(&path_of(&app, &auth.url)).await;
    assert_eq!(query_of(page.location())["error"], "login_required");

    // oidcc-login-hint: the login form is filled with the hint.
    let (auth, _) = authorization(&rp, &[], &[("login_hint", &person.phone)]);
    let page = browser.get(&path_of(&app, &auth.url)).await;
    let login = browser.get(page.location()).await;
    assert!(
        login.body.contains(&format!("value=\"{}\"", person.phone)),
        "{}",
        login.body
    );

    let (_, first) = sign_in(&app, &rp, &mut browser, Some(&person), &[]).await;
    let first_auth = first.auth_time().unwrap();

    // oidcc-prompt-none-logged-in: straight back with a code.
    let (auth, _) = authorization(&rp, &[], &[("prompt", "none")]);
    let page = browser.get(&path_of(&app, &auth.url)).await;
    assert!(
        query_of(page.location()).contains_key("code"),
        "{}",
        page.location()
    );

    // oidcc-max-age-10000: no new login.
    let (auth, _) = authorization(&rp, &[], &[("max_age", "10000")]);
    let page = browser.get(&path_of(&app, &auth.url)).await;
    assert!(query_of(page.location()).contains_key("code"));

    // oidcc-ui-locales: the pages follow the platform's language.
    let (auth, _) = authorization(&rp, &[], &[("ui_locales", "en"), ("prompt", "login")]);
    let page = browser.get(&path_of(&app, &auth.url)).await;
    let login = browser.get(page.location()).await;
    assert!(login.body.contains("lang=\"en\""), "{}", login.body);

    // oidcc-prompt-login and oidcc-max-age-1: a new login, with a later auth_time.
    for extra in [("prompt", "login"), ("max_age", "1")] {
        // max_age counts whole seconds: the last login is more than one second old.
        tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
        let (auth, _) = authorization(&rp, &[], &[extra]);
        let page = browser.get(&path_of(&app, &auth.url)).await;
        assert!(
            page.location().starts_with("/login?sso="),
            "{extra:?}: {}",
            page.location()
        );
        let back = drive(&mut browser, page, Some(&person)).await;
        let (_, claims) = exchange(&rp, &query_of(&back)["code"], auth).await;
        assert!(claims.auth_time().unwrap() > first_auth, "{extra:?}");
    }

    // oidcc-id-token-hint: the hint's person passes silently; a hint for someone else asks
    // for a login (login_required with prompt=none).
    let (tokens, _) = sign_in(&app, &rp, &mut browser, None, &[]).await;
    let hint = tokens.id_token().unwrap().to_string();
    let (auth, _) = authorization(&rp, &[], &[("prompt", "none"), ("id_token_hint", &hint)]);
    let page = browser.get(&path_of(&app, &auth.url)).await;
    assert!(
        query_of(page.location()).contains_key("code"),
        "{}",
        page.location()
    );
    let stranger = registered(&app).await;
    let mut other_browser = Browser::new(&app);
    sign_in(&app, &rp, &mut other_browser, Some(&stranger), &[]).await;
    let page = other_browser.get(&path_of(&app, &auth.url)).await;
    assert_eq!(query_of(page.location())["error"], "login_required");

    // RP-initiated logout with the hint: signed out, back to the registered URI with state.
    let logout = format!(
        "/oauth2/logout?id_token_hint={hint}&post_logout_redirect_uri={}&state=bye1",
        urlencode(AFTER_LOGOUT)
    );
    let page = browser.get(&logout).await;
    assert_eq!(page.location(), format!("{AFTER_LOGOUT}?state=bye1"));
    let (auth, _) = authorization(&rp, &[], &[("prompt", "none")]);
    let page = browser.get(&path_of(&app, &auth.url)).await;
    assert_eq!(query_of(page.location())["error"], "login_required");
    // An unregistered post-logout URI is an error page, and signs no one out.
    let page = other_browser
        .get(&format!(
            "/oauth2/logout?client_id=yz&post_logout_redirect_uri={}",
            urlencode("https://evil.example/")
        ))
        .await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    let page = other_browser.get(&path_of(&app, &auth.url)).await;
    assert!(query_of(page.location()).contains_key("code"));
}

async fn a_withdrawn_consent_or_a_deactivated_account_ends_the_platforms_tokens(backend: Backend) {
    let app = provider(backend).await;
    let secret = add_platform(&app, "yz", "yz-name", &[]);
    let person = registered(&app).await;
    let rp = relying_party(&app, "yz", &secret).await;
    let mut browser = Browser::new(&app);
    let (tokens, _) = sign_in(&app, &rp, &mut browser, Some(&person), &["profile"]).await;
    let introspect = |token: String| {
        let app = &app;
        let secret = secret.clone();
        async move {
            let response = http()
                .post(format!("{}/oauth2/introspect", app.address))
                .basic_auth("yz", Some(secret))
                .form(&[("token", token)])
                .send()
                .await
                .unwrap();
            response.json::<Value>().await.unwrap()
        }
    };
    let at = tokens.access_token().secret().clone();
    let active = introspect(at.clone()).await;
    assert_eq!(active["active"], true, "{active}");
    assert_eq!(active["scope"], "openid profile");

    // The holder sees the platform in 账号管理 and withdraws it: the tokens die at once.
    let account_id = app.events_of_type("PlatformAccessGranted").await[0]
        .0
        .clone();
    let account = browser.get("/account").await;
    assert!(account.body.contains("yz-name"), "{}", account.body);
    let csrf = account.csrf();
    let withdrawn = browser
        .post("/account/grants/yz/revoke", &[("csrf", csrf.as_str())])
        .await;
    assert_eq!(withdrawn.status, StatusCode::SEE_OTHER);
    assert!(!browser.get("/account").await.body.contains("yz-name"));
    assert_eq!(introspect(at).await["active"], false);
    assert!(rp
        .exchange_refresh_token(&RefreshToken::new(
            tokens.refresh_token().unwrap().secret().clone()
        ))
        .unwrap()
        .request_async(&http())
        .await
        .is_err());
    assert_eq!(app.events_of_type("PlatformAccessRevoked").await.len(), 1);

    // Signing in again asks for consent again; revocation (RFC 7009) ends a token.
    let (tokens, _) = sign_in(&app, &rp, &mut browser, None, &["profile"]).await;
    let revoke = http()
        .post(format!("{}/oauth2/revoke", app.address))
        .basic_auth("yz", Some(&secret))
        .form(&[("token", tokens.access_token().secret().as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(revoke.status(), StatusCode::OK);
    let info = rp
        .user_info(AccessToken::new(tokens.access_token().secret().clone()), None)
        .unwrap()
        .request_async::<openidconnect::EmptyAdditionalClaims, _, openidconnect::core::CoreGenderClaim>(&http())
        .await;
    assert!(info.is_err());

    // The identity moves to a new account (OldAccountDeactivated): the old one's tokens die.
    let (tokens, _) = sign_in(&app, &rp, &mut browser, None, &["profile"]).await;
    let at = tokens.access_token().secret().clone();
    assert_eq!(introspect(at.clone()).await["active"], true);
    // (The transfer itself is identity review's business, tested there; here the event.)
    app.state
        .store
        .execute::<xuexin_domain::account::Account>(
            &account_id,
            xuexin_domain::account::AccountCommand::DeactivateAsOldAccount {
                new_account: xuexin_domain::AccountId::new_random(),
            },
            &app.state.account_services,
            &xuexin::store::CommandMetadata::system("test"),
        )
        .await
        .unwrap();
    assert_eq!(introspect(at).await["active"], false);
    let (status, _) = userinfo_json(
        &app,
        http()
            .get(format!("{}/oauth2/userinfo", app.address))
            .bearer_auth(tokens.access_token().secret()),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // And it cannot sign in to a platform any more.
    let (auth, _) = authorization(&rp, &[], &[("prompt", "none")]);
    let page = browser.get(&path_of(&app, &auth.url)).await;
    assert!(
        query_of(page.location()).contains_key("error"),
        "{}",
        page.location()
    );
}

async fn the_independent_python_client_completes_every_flow(backend: Backend) {
    let app = provider(backend).await;
    let secret = add_platform(&app, "yz", "yz-name", &[]);
    let person = registered(&app).await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/oidc/client.py");
    let app_address = app.address.clone();
    let output = tokio::process::Command::new("python3")
        .arg(script)
        .args([
            "--issuer",
            &app_address,
            "--client-id",
            "yz",
            "--client-secret",
            &secret,
        ])
        .args([
            "--redirect-uri",
            REDIRECT,
            "--post-logout-redirect-uri",
            AFTER_LOGOUT,
        ])
        .args(["--login", &person.phone, "--password", &person.password])
        .args(["--scope", "openid profile phone email"])
        .output()
        .await
        .expect("python3 runs");
    assert!(
        output.status.success(),
        "the Python client failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let summary: Value = serde_json::from_slice(&output.stdout).expect("a JSON summary");
    assert_eq!(summary["refreshed"], true);
    assert_eq!(summary["logged_out"], true);
    assert!(summary["claims"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c == "name"));
}

/// A platform's back-channel endpoint: answers 503 to the first `refuse` posts (to prove the
/// outbox retries), then 200; hands each `logout_token` it accepts to the test.
async fn back_channel(refuse: usize) -> (String, tokio::sync::mpsc::UnboundedReceiver<String>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (sender, receiver) = tokio::sync::mpsc::unbounded_channel();
    let refused = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let app = axum::Router::new().route(
        "/bc",
        axum::routing::post(move |body: axum::body::Bytes| {
            let sender = sender.clone();
            let refused = refused.clone();
            async move {
                if refused.fetch_add(1, std::sync::atomic::Ordering::SeqCst) < refuse {
                    return axum::http::StatusCode::SERVICE_UNAVAILABLE;
                }
                let form: BTreeMap<String, String> =
                    form_urlencoded::parse(&body).into_owned().collect();
                let _ = sender.send(form.get("logout_token").cloned().unwrap_or_default());
                axum::http::StatusCode::OK
            }
        }),
    );
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{address}/bc"), receiver)
}

/// The claims of a logout token, after checking its RS256 signature against the JWKS the
/// provider publishes (as a platform does), and its header's `typ`.
async fn verified_logout_token(app: &TestApp, token: &str) -> Value {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
    use base64::Engine;
    use rsa::pkcs1v15::{Signature, VerifyingKey};
    use rsa::signature::Verifier;
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "a compact JWS: {token}");
    let header: Value = serde_json::from_slice(&B64.decode(parts[0]).unwrap()).unwrap();
    assert_eq!(header["typ"], "logout+jwt");
    assert_eq!(header["alg"], "RS256");
    let jwks: Value = reqwest::get(format!("{}/oauth2/jwks", app.address))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == header["kid"])
        .expect("the token's key is published");
    let number =
        |name: &str| rsa::BigUint::from_bytes_be(&B64.decode(key[name].as_str().unwrap()).unwrap());
    let public = rsa::RsaPublicKey::new(number("n"), number("e")).unwrap();
    let signature = Signature::try_from(B64.decode(parts[2]).unwrap().as_slice()).unwrap();
    VerifyingKey::<rsa::sha2::Sha256>::new(public)
        .verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &signature)
        .expect("the logout token's signature verifies");
    serde_json::from_slice(&B64.decode(parts[1]).unwrap()).unwrap()
}

async fn signing_out_of_xuexin_reaches_every_platforms_back_channel(backend: Backend) {
    let app = provider(backend).await;
    let (yz_uri, mut yz_logouts) = back_channel(1).await;
    let (zb_uri, mut zb_logouts) = back_channel(0).await;
    let yz_secret = add_platform(
        &app,
        "yz",
        "yz-name",
        &["--backchannel-logout-uri", &yz_uri],
    );
    let zb_secret = add_platform(
        &app,
        "zb",
        "zb-name",
        &["--backchannel-logout-uri", &zb_uri],
    );
    let person = registered(&app).await;
    let yz = relying_party(&app, "yz", &yz_secret).await;
    let zb = relying_party(&app, "zb", &zb_secret).await;
    let mut browser = Browser::new(&app);
    let (yz_tokens, at_yz) = sign_in(&app, &yz, &mut browser, Some(&person), &[]).await;
    // The second platform signs the person in without a password (the login page is skipped).
    let (auth, _) = authorization(&zb, &[], &[]);
    let start = browser.get(&path_of(&app, &auth.url)).await;
    assert!(
        start.location().starts_with("/oauth2/consent"),
        "{}",
        start.location()
    );
    let back = drive(&mut browser, start, None).await;
    let (tokens, at_zb) = exchange(&zb, &query_of(&back)["code"], auth).await;

    // 退出 at xuexin: both platforms hear it, each about its own subject and the same session.
    let account = browser.get("/account").await;
    let csrf = account.csrf();
    let out = browser.post("/logout", &[("csrf", csrf.as_str())]).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    let wait = std::time::Duration::from_secs(30);
    let sid_of = |id_token: String| {
        use base64::Engine;
        let body = id_token.split('.').nth(1).unwrap().to_string();
        let claims: Value = serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(body)
                .unwrap(),
        )
        .unwrap();
        claims["sid"].clone()
    };
    let zb_sid = sid_of(tokens.id_token().unwrap().to_string());
    let yz_sid = sid_of(yz_tokens.id_token().unwrap().to_string());
    assert_eq!(zb_sid, yz_sid, "one xuexin session");
    assert!(zb_sid.is_string());
    for (receiver, claims, client) in [
        (&mut zb_logouts, &at_zb, "zb"),
        // yz's endpoint refused the first post: the outbox retried.
        (&mut yz_logouts, &at_yz, "yz"),
    ] {
        let token = tokio::time::timeout(wait, receiver.recv())
            .await
            .unwrap_or_else(|_| panic!("no back-channel logout reached {client}"))
            .unwrap();
        let logout = verified_logout_token(&app, &token).await;
        assert_eq!(logout["iss"], app.address.as_str());
        assert_eq!(logout["aud"], client);
        assert_eq!(logout["sub"], claims.subject().as_str());
        assert_eq!(logout["sid"], zb_sid);
        assert!(logout["events"][xuexin::messenger::BACKCHANNEL_LOGOUT_EVENT].is_object());
        assert!(logout.get("nonce").is_none());
        assert!(logout["exp"].as_i64().unwrap() > logout["iat"].as_i64().unwrap());
    }
    // Once each: a second logout of nothing sends nothing more.
    let again = browser.post("/logout", &[("csrf", csrf.as_str())]).await;
    assert_eq!(again.status, StatusCode::SEE_OTHER);
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert!(zb_logouts.try_recv().is_err());
}

async fn a_wechat_login_on_the_providers_login_page_goes_back_to_the_platform(backend: Backend) {
    let stand_ins = crate::oauth::stand_ins().await;
    let app = spawn_app_as_issuer(backend, |config| {
        relaxed_limits(config);
        crate::oauth::configure_providers(&stand_ins, config);
    })
    .await;
    let secret = add_platform(&app, "yz", "yz-name", &[]);
    let person = registered(&app).await;
    // The person binds WeChat in 账号管理 first.
    let mut browser = Browser::new(&app);
    let csrf = browser.log_in(&person.phone, &person.password).await;
    let to_wechat = browser
        .post("/account/bind/wechat", &[("csrf", &csrf)])
        .await;
    let state = crate::web::flow_state(&crate::web::moves_on_to(&to_wechat));
    let code = stand_ins.authorize("wx-sso-subject");
    let bound = browser
        .get(&format!("/oauth/wechat/callback?code={code}&state={state}"))
        .await;
    assert_eq!(bound.status, StatusCode::OK, "{}", bound.body);

    // Another browser: the platform sends it to xuexin, whose login page offers 微信登录.
    let rp = relying_party(&app, "yz", &secret).await;
    let mut phone = Browser::new(&app);
    let (auth, state) = authorization(&rp, &["profile"], &[]);
    let start = phone.get(&path_of(&app, &auth.url)).await;
    let login = phone.get(start.location()).await;
    assert!(login.body.contains("/login/wechat"), "{}", login.body);
    let sso = login.hidden("sso");
    let to_wechat = phone
        .post("/login/wechat", &[("csrf", &login.csrf()), ("sso", &sso)])
        .await;
    let flow = crate::web::flow_state(&crate::web::moves_on_to(&to_wechat));
    let code = stand_ins.authorize("wx-sso-subject");
    let back = phone
        .get(&format!("/oauth/wechat/callback?code={code}&state={flow}"))
        .await;
    assert_eq!(back.status, StatusCode::SEE_OTHER, "{}", back.body);
    assert_eq!(back.location(), format!("/oauth2/continue?sso={sso}"));
    let to_platform = drive(&mut phone, back, None).await;
    let query = query_of(&to_platform);
    assert_eq!(query.get("state"), Some(state.secret()));
    let (_, claims) = exchange(&rp, &query["code"], auth).await;
    assert_eq!(claims.audiences()[0].as_str(), "yz");
}

async fn a_code_and_a_refresh_token_each_work_once_under_fifty_parallel_requests(backend: Backend) {
    let app = provider(backend).await;
    let secret = add_platform(&app, "yz", "yz-name", &[]);
    let person = registered(&app).await;
    let rp = relying_party(&app, "yz", &secret).await;
    let mut browser = Browser::new(&app);
    let (tokens, _) = sign_in(&app, &rp, &mut browser, Some(&person), &[]).await;
    let code = code_for(&app, &mut browser, None).await;
    let exchange = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
    ];
    let answers = futures::future::join_all(
        (0..50).map(|_| token_request(&app, &exchange, Some(("yz", &secret)))),
    )
    .await;
    let issued = answers
        .iter()
        .filter(|(status, _)| *status == StatusCode::OK)
        .count();
    assert_eq!(issued, 1, "one exchange wins: {answers:?}");
    assert!(answers
        .iter()
        .all(|(status, body)| *status == StatusCode::OK || body["error"] == "invalid_grant"));

    let refresh = tokens.refresh_token().unwrap().secret().clone();
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh.as_str()),
    ];
    let answers = futures::future::join_all(
        (0..50).map(|_| token_request(&app, &form, Some(("yz", &secret)))),
    )
    .await;
    let rotated: Vec<&Value> = answers
        .iter()
        .filter(|(status, _)| *status == StatusCode::OK)
        .map(|(_, body)| body)
        .collect();
    assert_eq!(rotated.len(), 1, "one refresh wins: {answers:?}");
    // The others were reuses: the family is revoked, the winner's tokens included.
    let (status, _) = userinfo_json(
        &app,
        http()
            .get(format!("{}/oauth2/userinfo", app.address))
            .bearer_auth(rotated[0]["access_token"].as_str().unwrap()),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

async fn a_password_change_elsewhere_signs_the_browsers_platform_out(backend: Backend) {
    let app = provider(backend).await;
    let (uri, mut logouts) = back_channel(0).await;
    let secret = add_platform(&app, "yz", "yz-name", &["--backchannel-logout-uri", &uri]);
    let person = registered(&app).await;
    let rp = relying_party(&app, "yz", &secret).await;
    let mut browser = Browser::new(&app);
    let (_, claims) = sign_in(&app, &rp, &mut browser, Some(&person), &[]).await;
    // The person changes the password from another device: the browser's session ends, and
    // the platform it signed in to hears it.
    let (token, _) = app.login_ok(&person.phone, &person.password).await;
    let changed = app
        .post_authorized(
            "/api/v1/me/password",
            &token,
            &serde_json::json!({"current_password": person.password,
                "password": "Changed-Pass-42", "password_confirmation": "Changed-Pass-42"}),
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.text);
    let logout = tokio::time::timeout(std::time::Duration::from_secs(30), logouts.recv())
        .await
        .expect("the platform hears the logout")
        .unwrap();
    let logout = verified_logout_token(&app, &logout).await;
    assert_eq!(logout["sub"], claims.subject().as_str());
    // The session that changed the password signed in to no platform: nothing more arrives.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert!(logouts.try_recv().is_err());
}
