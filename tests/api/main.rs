//! HTTP integration tests: the real application on a random port, against PostgreSQL (a fresh
//! database per test) and against SQLite, with the same test bodies for both.

mod helpers;

mod account;
mod audit;
mod browser;
mod cli;
mod console;
mod crash;
mod db_roles;
mod devices;
mod edge;
mod email;
mod factor;
mod global_order;
mod headers;
mod idempotency;
mod identity;
mod language;
mod layers;
mod limits;
mod log_tail;
mod login;
mod nats;
mod oauth;
mod openapi;
mod operations;
mod platforms;
mod projections;
mod races;
mod ready;
mod records;
mod recovery;
mod registration;
mod schemas;
mod secrets;
mod settled;
mod sms;
mod smtp;
mod sso;
mod store;
mod support;
mod web;
