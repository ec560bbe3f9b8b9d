//! 问题反馈: a person files a ticket and follows it; an administrator answers; the person
//! closes it. Each step is an event; tickets are the filer's and the administrators' alone.

use crate::helpers::*;
use crate::on_both_backends;
use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::json;

async fn a_ticket_is_filed_answered_and_closed_and_each_step_is_an_event(backend: Backend) {
    let app = spawn_app(backend).await;
    let person = Person::random();
    app.register_ok(&person).await;
    let (token, _) = app.login_ok(&person.phone, &person.password).await;
    let admin = app.staff_token("administrator", None).await;

    let refused = app
        .post_authorized(
            "/api/v1/support-tickets",
            &token,
            &json!({"username": person.phone, "description": "   "}),
        )
        .await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        refused.text
    );
    assert_eq!(refused.field_errors()[0].0, "description");
    assert!(app.events_of_type("TicketOpened").await.is_empty());

    let filed = app
        .post_authorized(
            "/api/v1/support-tickets",
            &token,
            &json!({"username": person.phone, "description": "注册时提示手机号已经被注册"}),
        )
        .await;
    assert_eq!(filed.status, StatusCode::CREATED, "{}", filed.text);
    let ticket = filed.body["ticket_id"].as_str().unwrap().to_string();
    let mine = app
        .get(
            &format!("/api/v1/me/support-tickets?position={}", filed.position()),
            Some(&token),
        )
        .await;
    assert_eq!(mine.status, StatusCode::OK, "{}", mine.text);
    assert_eq!(mine.body[0]["status"], "open");
    assert_eq!(mine.body[0]["description"], "注册时提示手机号已经被注册");

    // The administrators' queue has it; a person's answer is refused.
    let queue = app
        .get(
            &format!("/api/v1/support-tickets?position={}", filed.position()),
            Some(&admin),
        )
        .await;
    assert_eq!(queue.status, StatusCode::OK, "{}", queue.text);
    assert!(queue.text.contains(&ticket));
    let not_staff = app
        .post_authorized(
            &format!("/api/v1/support-tickets/{ticket}/answers"),
            &token,
            &json!({"answer": "我自己回答"}),
        )
        .await;
    assert_eq!(not_staff.status, StatusCode::FORBIDDEN);
    assert_eq!(
        app.get("/api/v1/support-tickets", Some(&token))
            .await
            .status,
        StatusCode::FORBIDDEN
    );

    let answered = app
        .post_authorized(
            &format!("/api/v1/support-tickets/{ticket}/answers"),
            &admin,
            &json!({"answer": "您好，请使用“继续注册”。"}),
        )
        .await;
    assert_eq!(answered.status, StatusCode::CREATED, "{}", answered.text);
    let seen = app
        .get(
            &format!(
                "/api/v1/support-tickets/{ticket}?position={}",
                answered.position()
            ),
            Some(&token),
        )
        .await;
    assert_eq!(seen.body["status"], "answered", "{}", seen.text);
    assert_eq!(seen.body["answer"], "您好，请使用“继续注册”。");

    let closed = app
        .post_authorized(
            &format!("/api/v1/support-tickets/{ticket}/close"),
            &token,
            &json!({}),
        )
        .await;
    assert_eq!(closed.status, StatusCode::OK, "{}", closed.text);
    let late = app
        .post_authorized(
            &format!("/api/v1/support-tickets/{ticket}/answers"),
            &admin,
            &json!({"answer": "补充"}),
        )
        .await;
    assert_eq!(late.status, StatusCode::CONFLICT, "{}", late.text);
    assert_eq!(late.code(), "ticket_closed");

    let events = app.event_types(&ticket).await;
    assert_eq!(events, ["TicketOpened", "TicketAnswered", "TicketClosed"]);
    let answers = app.events_of_type("TicketAnswered").await;
    assert!(
        answers[0].2["actor"]
            .as_str()
            .unwrap()
            .starts_with("administrator:"),
        "the staff member is the actor: {}",
        answers[0].2
    );
}

async fn nobody_reads_or_closes_another_persons_ticket(backend: Backend) {
    let app = spawn_app(backend).await;
    let (owner, other) = (Person::random(), Person::random());
    app.register_ok(&owner).await;
    app.register_ok(&other).await;
    let (token, _) = app.login_ok(&owner.phone, &owner.password).await;
    let (others, _) = app.login_ok(&other.phone, &other.password).await;
    let filed = app
        .post_authorized(
            "/api/v1/support-tickets",
            &token,
            &json!({"username": owner.phone, "description": "无法登录"}),
        )
        .await;
    let ticket = filed.body["ticket_id"].as_str().unwrap();
    let read = app
        .get(&format!("/api/v1/support-tickets/{ticket}"), Some(&others))
        .await;
    assert_eq!(read.status, StatusCode::NOT_FOUND, "{}", read.text);
    let closed = app
        .post_authorized(
            &format!("/api/v1/support-tickets/{ticket}/close"),
            &others,
            &json!({}),
        )
        .await;
    assert_eq!(closed.status, StatusCode::NOT_FOUND, "{}", closed.text);
    let unknown = app
        .post_authorized(
            &format!("/api/v1/support-tickets/{}/close", uuid::Uuid::new_v4()),
            &token,
            &json!({}),
        )
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert!(app.event_types(ticket).await.len() == 1);
    let staff = app.staff_token("reviewer", None).await;
    let refused = app
        .post_authorized(
            "/api/v1/support-tickets",
            &staff,
            &json!({"username": "x", "description": "staff"}),
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
}

async fn fifty_parallel_tickets_file_no_more_than_ten_a_day(backend: Backend) {
    let app = spawn_app(backend).await;
    let person = Person::random();
    app.register_ok(&person).await;
    let (token, _) = app.login_ok(&person.phone, &person.password).await;
    let body = json!({"username": person.phone, "description": "同一个问题"});
    let answers =
        join_all((0..50).map(|_| app.post_authorized("/api/v1/support-tickets", &token, &body)))
            .await;
    let filed = answers
        .iter()
        .filter(|a| a.status == StatusCode::CREATED)
        .count();
    let limited = answers
        .iter()
        .filter(|a| a.status == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!((filed, limited), (10, 40));
    assert_eq!(app.events_of_type("TicketOpened").await.len(), 10);
}

on_both_backends!(
    a_ticket_is_filed_answered_and_closed_and_each_step_is_an_event,
    nobody_reads_or_closes_another_persons_ticket,
    fifty_parallel_tickets_file_no_more_than_ten_a_day,
);
