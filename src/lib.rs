//! xuexin: an event-sourced CQRS account service for a national student-information network.
//! See docs/architecture.md for the map.

pub mod application;
pub mod audit;
pub mod blobs;
pub mod captcha;
pub mod cli;
pub mod clock;
pub mod codes;
pub mod config;
pub mod deferred;
pub mod event_schemas;
pub mod faults;
pub mod gateways;
pub mod housekeeping;
pub mod http;
pub mod login_names;
pub mod messages;
pub mod messenger;
pub mod oauth;
pub mod problem;
pub mod projector;
pub mod ratelimit;
pub mod rebuild;
pub mod relay;
pub mod security;
pub mod sessions;
pub mod shutdown;
pub mod startup;
pub mod state;
pub mod store;
pub mod tasks;
pub mod telemetry;
pub mod web;
pub mod workdays;
