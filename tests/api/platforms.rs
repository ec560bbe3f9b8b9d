//! Partner platforms (issue 17, item 1): an administrator registers the OpenID relying
//! parties with `xuexin admin platform`, on both backends. The client secret is printed once
//! and kept only as a keyed digest.

use crate::helpers::*;
use crate::on_both_backends;
use std::process::{Command, Output};
use xuexin::application::platforms::Platforms;

on_both_backends!(
    an_administrator_registers_lists_rotates_and_disables_a_platform,
    bad_platforms_are_refused_naming_the_setting_and_nothing_is_written,
    an_administrator_manages_platforms_in_the_console,
);

fn admin(app: &TestApp, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_xuexin"))
        .args(["admin", "platform"])
        .args(args)
        .env("DATABASE_URL", &app.database_url)
        .env("RUST_LOG", "warn")
        .output()
        .expect("the xuexin binary runs")
}

fn ok(output: Output) -> String {
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn platforms(app: &TestApp) -> Platforms {
    Platforms {
        store: app.state.store.clone(),
        db: app.state.db.clone(),
        digest: app.state.digest.clone(),
    }
}

async fn an_administrator_registers_lists_rotates_and_disables_a_platform(backend: Backend) {
    let app = spawn_app(backend).await;
    let added = ok(admin(
        &app,
        &[
            "add",
            "--client-id",
            "yz",
            "--name",
            "研究生招生信息网",
            "--redirect-uri",
            "https://yz.example.cn/callback",
            "--backchannel-logout-uri",
            "https://yz.example.cn/backchannel",
            "--scope",
            "profile,records",
            "--json",
        ],
    ));
    let added: serde_json::Value = serde_json::from_str(&added).unwrap();
    let secret = added["client_secret"]
        .as_str()
        .expect("a confidential platform's secret");
    assert!(secret.len() >= 40, "{secret}");

    // The secret is nowhere in the log, and what is there is redacted for auditors.
    let log = app.all_events_text().await;
    assert!(log.contains("PlatformRegistered"));
    assert!(!log.contains(secret), "the client secret is in the log");

    let registry = platforms(&app);
    assert!(registry.secret_matches("yz", secret).await.unwrap());
    assert!(!registry
        .secret_matches("yz", "not-the-secret")
        .await
        .unwrap());
    assert!(!registry.secret_matches("other", secret).await.unwrap());

    let listed: serde_json::Value =
        serde_json::from_str(&ok(admin(&app, &["list", "--json"]))).unwrap();
    let yz = &listed[0];
    assert_eq!(yz["client_id"], "yz");
    assert_eq!(yz["name"], "研究生招生信息网");
    assert_eq!(yz["kind"], "confidential");
    assert_eq!(
        yz["scopes"],
        serde_json::json!(["openid", "profile", "records"])
    );
    assert_eq!(yz["sector"], "yz", "a sector of its own by default");
    assert_eq!(yz["disabled"], false);
    let listed_text = ok(admin(&app, &["list"]));
    assert!(!listed_text.contains(secret) && !listed.to_string().contains("digest"));

    // A second registration of the same client_id changes nothing.
    let again = admin(
        &app,
        &[
            "add",
            "--client-id",
            "yz",
            "--name",
            "x",
            "--redirect-uri",
            "https://x.cn/cb",
        ],
    );
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("exists"));

    // Rotation: the old secret stops working at once.
    let rotated = ok(admin(&app, &["rotate-secret", "yz"]));
    let new_secret = rotated
        .lines()
        .find_map(|l| l.strip_prefix("client_secret: "))
        .unwrap()
        .to_string();
    assert!(registry.secret_matches("yz", &new_secret).await.unwrap());
    assert!(!registry.secret_matches("yz", secret).await.unwrap());

    // A public platform has no secret to rotate.
    let public = ok(admin(
        &app,
        &[
            "add",
            "--client-id",
            "zbw-app",
            "--name",
            "全国征兵网",
            "--public",
            "--redirect-uri",
            "http://127.0.0.1:9000/cb",
            "--sector",
            "conscription",
        ],
    ));
    assert!(!public.contains("client_secret"), "{public}");
    let rotate_public = admin(&app, &["rotate-secret", "zbw-app"]);
    assert!(!rotate_public.status.success());

    // Disabled: it no longer authenticates, and stays listed as disabled.
    ok(admin(&app, &["disable", "yz"]));
    assert!(!registry.secret_matches("yz", &new_secret).await.unwrap());
    let listed: serde_json::Value =
        serde_json::from_str(&ok(admin(&app, &["list", "--json"]))).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 2);
    assert_eq!(listed[0]["client_id"], "yz");
    assert_eq!(listed[0]["disabled"], true);
    assert_eq!(listed[1]["sector"], "conscription");
    assert!(!admin(&app, &["rotate-secret", "yz"]).status.success());
    assert!(!admin(&app, &["disable", "nobody"]).status.success());

    // An auditor sees that a secret exists, never its digest; a public platform has none.
    let as_of = |id: &str| {
        let output = Command::new(env!("CARGO_BIN_EXE_xuexin"))
            .args(["audit", "as-of", "2999-01-01T00:00:00Z", id])
            .env("DATABASE_URL", &app.database_url)
            .output()
            .unwrap();
        serde_json::from_str::<serde_json::Value>(&ok(output)).unwrap()
    };
    let confidential = as_of("yz");
    assert_eq!(
        confidential["state"]["secret_digest"], "[redacted]",
        "{confidential}"
    );
    let public = as_of("zbw-app");
    assert_eq!(
        public["state"]["secret_digest"],
        serde_json::Value::Null,
        "{public}"
    );
}

async fn bad_platforms_are_refused_naming_the_setting_and_nothing_is_written(backend: Backend) {
    let app = spawn_app(backend).await;
    let before = app.event_count().await;
    for (args, named) in [
        (
            vec!["--redirect-uri", "http://yz.example.cn/cb"],
            "redirect_uri",
        ),
        (
            vec!["--redirect-uri", "https://yz.example.cn/cb#x"],
            "redirect_uri",
        ),
        (
            vec!["--redirect-uri", "https://*.example.cn/cb"],
            "redirect_uri",
        ),
        (
            vec![
                "--redirect-uri",
                "https://yz.example.cn/cb",
                "--scope",
                "admin",
            ],
            "scope",
        ),
        (
            vec![
                "--redirect-uri",
                "https://yz.example.cn/cb",
                "--backchannel-logout-uri",
                "javascript:alert(1)",
            ],
            "backchannel_logout_uri",
        ),
    ] {
        let mut all = vec!["add", "--client-id", "yz", "--name", "研招网"];
        all.extend(args);
        let refused = admin(&app, &all);
        assert!(!refused.status.success(), "{all:?} accepted");
        let stderr = String::from_utf8_lossy(&refused.stderr);
        assert!(stderr.contains(named), "{all:?}: {stderr}");
    }
    let bad_id = admin(
        &app,
        &[
            "add",
            "--client-id",
            "Bad Id",
            "--name",
            "x",
            "--redirect-uri",
            "https://x.cn/cb",
        ],
    );
    assert!(String::from_utf8_lossy(&bad_id.stderr).contains("client_id"));
    assert_eq!(
        app.event_count().await,
        before,
        "a refused platform wrote something"
    );
    assert_eq!(
        ok(admin(&app, &["list"])).trim(),
        "no platform is registered"
    );
}

/// 合作平台 in the console: the same registry, for an administrator past the second factor.
async fn an_administrator_manages_platforms_in_the_console(backend: Backend) {
    let app = spawn_app(backend).await;
    let (mut admin, csrf, _) = crate::console::staff_browser(&app, "administrator", None).await;
    let empty = admin.get("/staff/platforms").await;
    assert_eq!(empty.status, reqwest::StatusCode::OK);
    assert!(empty.body.contains("合作平台"));

    // A bad redirect URI: refused at once, the form kept, nothing written.
    let before = app.event_count().await;
    let refused = admin
        .post(
            "/staff/platforms",
            &[
                ("csrf", &csrf),
                ("client_id", "xxda"),
                ("name", "学信档案"),
                ("kind", "confidential"),
                ("redirect_uris", "http://my.example.cn/cb"),
                ("scope", "profile"),
            ],
        )
        .await;
    assert_eq!(refused.status, reqwest::StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        refused.body.contains("回调地址须为完整的 https 地址"),
        "{}",
        refused.body
    );
    assert!(refused.body.contains("value=\"xxda\""));
    assert_eq!(app.event_count().await, before);

    let added = admin
        .post(
            "/staff/platforms",
            &[
                ("csrf", &csrf),
                ("client_id", "xxda"),
                ("name", "学信档案"),
                ("kind", "confidential"),
                (
                    "redirect_uris",
                    "https://my.example.cn/cb\r\nhttps://my.example.cn/cb2",
                ),
                ("backchannel_logout_uri", "https://my.example.cn/logout"),
                ("scope", "profile"),
                ("scope", "records"),
            ],
        )
        .await;
    assert_eq!(added.status, reqwest::StatusCode::OK, "{}", added.body);
    let secret = crate::console::code_by_id(&added, "shown-secret");
    let registry = platforms(&app);
    assert!(registry.secret_matches("xxda", &secret).await.unwrap());
    let shown = registry.get("xxda").await.unwrap().unwrap();
    assert_eq!(shown.settings.scopes, ["openid", "profile", "records"]);
    assert_eq!(shown.settings.redirect_uris.len(), 2);
    assert_eq!(
        shown.settings.sector, "xxda",
        "a sector of its own by default"
    );
    let event = &app.events_of_type("PlatformRegistered").await[0];
    assert!(event.2["actor"]
        .as_str()
        .unwrap()
        .starts_with("administrator:"));
    // The listing never shows the secret again.
    assert!(!admin.get("/staff/platforms").await.body.contains(&secret));

    let rotated = admin
        .post("/staff/platforms/xxda/rotate-secret", &[("csrf", &csrf)])
        .await;
    assert_eq!(rotated.status, reqwest::StatusCode::OK);
    let new_secret = crate::console::code_by_id(&rotated, "shown-secret");
    assert_ne!(new_secret, secret);
    assert!(!registry.secret_matches("xxda", &secret).await.unwrap());

    // Only an administrator: another role's form changes nothing.
    let (mut auditor, auditor_csrf, _) = crate::console::staff_browser(&app, "auditor", None).await;
    let before = app.event_count().await;
    let forbidden = auditor
        .post("/staff/platforms/xxda/disable", &[("csrf", &auditor_csrf)])
        .await;
    assert_eq!(forbidden.status, reqwest::StatusCode::FORBIDDEN);
    let forbidden = auditor
        .post(
            "/staff/platforms",
            &[
                ("csrf", &auditor_csrf),
                ("client_id", "mine"),
                ("name", "x"),
                ("kind", "public"),
                ("redirect_uris", "https://x.example.cn/cb"),
            ],
        )
        .await;
    assert_eq!(forbidden.status, reqwest::StatusCode::FORBIDDEN);
    assert_eq!(app.event_count().await, before);

    let disabled = admin
        .post("/staff/platforms/xxda/disable", &[("csrf", &csrf)])
        .await;
    assert!(disabled.body.contains("平台已停用"), "{}", disabled.body);
    assert!(!registry.secret_matches("xxda", &new_secret).await.unwrap());
    let again = admin
        .post("/staff/platforms/xxda/rotate-secret", &[("csrf", &csrf)])
        .await;
    assert_eq!(again.status, reqwest::StatusCode::CONFLICT);
    // Without the form's token nothing happens.
    let forged = admin
        .post("/staff/platforms/xxda/disable", &[("csrf", "x")])
        .await;
    assert_ne!(forged.status, reqwest::StatusCode::OK);
}
