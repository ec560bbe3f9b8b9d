//! xuexin's read models: folds over the event log and their SQL persistence, on PostgreSQL and
//! SQLite alike.

pub mod account_view;
pub mod binder;
pub mod checkpoint;
pub mod db;
pub mod event;
pub mod identity_claims;
pub mod login_index;
pub mod projection;
pub mod records;
pub mod registration_sagas;
pub mod support;
pub mod tasks;
pub mod transfers;

pub use db::{Backend, Db, Tx};
pub use event::{Checkpoint, DomainEventKind, StoredEvent};
pub use projection::{Projection, ProjectionError};

/// Every projection this build maintains, in the order projectors start.
pub fn all() -> Vec<std::sync::Arc<dyn Projection>> {
    vec![
        std::sync::Arc::new(login_index::LoginIndex),
        std::sync::Arc::new(account_view::AccountViewProjection),
        std::sync::Arc::new(registration_sagas::RegistrationSagas),
        std::sync::Arc::new(records::RecordViews),
        std::sync::Arc::new(binder::RecordBinder),
        std::sync::Arc::new(identity_claims::IdentityClaims),
        std::sync::Arc::new(transfers::IdentityTransfers),
        std::sync::Arc::new(support::SupportTickets),
    ]
}
