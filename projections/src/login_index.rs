//! Login index: every name an account can log in with (phone, e-mail, document-number digest)
//! → the account. Registration checks and login read it; the aggregates, not this index,
//! decide races.

use crate::db::{execute_rows, Db, Param, Tx};
use crate::event::{DomainEventKind, StoredEvent};
use crate::projection::{decode, Projection, ProjectionError};
use crate::{on_db, tx_execute};
use xuexin_domain::identity::IdentityEvent;
use xuexin_domain::ids::login_name_key;
use xuexin_domain::login_name::LoginNameEvent;

pub const NAME: &str = "login_index_v1";
pub const ID_NUMBER_KIND: &str = "id_number";

/// `id_number:<digest>`, the key a document number is indexed under.
pub fn id_number_key(number_digest: &str) -> String {
    format!("{ID_NUMBER_KIND}:{number_digest}")
}

/// One change to the index, as the fold decides it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Put {
        key: String,
        kind: String,
        account_id: String,
    },
    /// Removes the key only while it still points at that account.
    Remove { key: String, account_id: String },
}

/// The fold: which index changes an event makes.
pub fn changes(event: &DomainEventKind) -> Vec<Change> {
    match event {
        DomainEventKind::LoginName(LoginNameEvent::LoginNameClaimed {
            account_id,
            kind,
            value,
        }) => vec![Change::Put {
            key: login_name_key(*kind, value),
            kind: kind.as_str().to_string(),
            account_id: account_id.to_string(),
        }],
        DomainEventKind::LoginName(LoginNameEvent::LoginNameReleased {
            account_id,
            kind,
            value,
            ..
        }) => vec![Change::Remove {
            key: login_name_key(*kind, value),
            account_id: account_id.to_string(),
        }],
        DomainEventKind::LoginName(LoginNameEvent::LoginNameTakenOver {
            account_id,
            kind,
            value,
            ..
        }) => vec![Change::Put {
            key: login_name_key(*kind, value),
            kind: kind.as_str().to_string(),
            account_id: account_id.to_string(),
        }],
        DomainEventKind::Identity(IdentityEvent::IdentityTransferred { to, document, .. }) => {
            vec![Change::Put {
                key: id_number_key(&document.number_digest),
                kind: ID_NUMBER_KIND.to_string(),
                account_id: to.to_string(),
            }]
        }
        DomainEventKind::Identity(IdentityEvent::IdentityBound {
            account_id,
            document,
            ..
        }) => vec![Change::Put {
            key: id_number_key(&document.number_digest),
            kind: ID_NUMBER_KIND.to_string(),
            account_id: account_id.to_string(),
        }],
        DomainEventKind::Identity(IdentityEvent::IdentityReleased {
            account_id,
            document,
        }) => vec![Change::Remove {
            key: id_number_key(&document.number_digest),
            account_id: account_id.to_string(),
        }],
        _ => vec![],
    }
}

pub struct LoginIndex;

#[async_trait::async_trait]
impl Projection for LoginIndex {
    fn name(&self) -> &'static str {
        NAME
    }

    fn tables(&self) -> &'static [&'static str] {
        &["login_index_v1"]
    }

    fn aggregate_types(&self) -> Option<&'static [&'static str]> {
        Some(&["LoginName", "Identity"])
    }

    fn reads_metadata(&self) -> bool {
        false
    }

    async fn apply(&self, tx: &mut Tx, event: &StoredEvent) -> Result<(), ProjectionError> {
        self.apply_batch(tx, std::slice::from_ref(event)).await
    }

    /// Puts are gathered into multi-row upserts (the last put of a key wins, as it would one
    /// by one); a removal first writes the puts before it, so order is kept.
    async fn apply_batch(
        &self,
        tx: &mut Tx,
        events: &[StoredEvent],
    ) -> Result<(), ProjectionError> {
        let mut puts = PendingPuts::default();
        for event in events {
            if !self.reads(event) {
                continue;
            }
            for change in changes(&decode(event)?) {
                match change {
                    Change::Put {
                        key,
                        kind,
                        account_id,
                    } => puts.add(key, kind, account_id),
                    Change::Remove { key, account_id } => {
                        puts.write(tx).await?;
                        tx_execute!(
                            tx,
                            "DELETE FROM login_index_v1 WHERE login_key = $1 AND account_id = $2",
                            &key,
                            &account_id,
                        )?;
                    }
                }
            }
        }
        puts.write(tx).await?;
        Ok(())
    }
}

/// Puts not yet written, one per key.
#[derive(Default)]
struct PendingPuts {
    rows: Vec<Vec<Param>>,
    by_key: std::collections::HashMap<String, usize>,
}

impl PendingPuts {
    fn add(&mut self, key: String, kind: String, account_id: String) {
        let row = vec![
            Param::Text(key.clone()),
            Param::Text(kind),
            Param::Text(account_id),
        ];
        match self.by_key.get(&key) {
            Some(&index) => self.rows[index] = row,
            None => {
                self.by_key.insert(key, self.rows.len());
                self.rows.push(row);
            }
        }
    }

    async fn write(&mut self, tx: &mut Tx) -> Result<(), ProjectionError> {
        if self.rows.is_empty() {
            return Ok(());
        }
        execute_rows(
            tx,
            "INSERT INTO login_index_v1 (login_key, kind, account_id)",
            &["TEXT", "TEXT", "TEXT"],
            "ON CONFLICT (login_key) DO UPDATE
             SET kind = excluded.kind, account_id = excluded.account_id",
            &self.rows,
        )
        .await?;
        self.rows.clear();
        self.by_key.clear();
        Ok(())
    }
}

/// A login name and the state of the account it leads to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginEntry {
    pub kind: String,
    pub account_id: String,
    /// `None` while the account view has not caught up with the account.
    pub status: Option<String>,
    pub email_verified: bool,
    pub phone_masked: Option<String>,
    pub email: Option<String>,
}

pub async fn lookup(db: &Db, key: &str) -> sqlx::Result<Option<LoginEntry>> {
    type Row = (
        String,
        String,
        Option<String>,
        Option<bool>,
        Option<String>,
        Option<String>,
    );
    let row: Option<Row> = on_db!(db, pool => {
        sqlx::query_as(
            "SELECT l.kind, l.account_id, a.status, a.email_verified, a.phone_masked, a.email
             FROM login_index_v1 l LEFT JOIN account_view_v1 a ON a.account_id = l.account_id
             WHERE l.login_key = $1",
        )
        .bind(key)
        .fetch_optional(pool)
        .await?
    });
    Ok(row.map(
        |(kind, account_id, status, email_verified, phone_masked, email)| {
            entry_of(
                kind,
                account_id,
                status,
                email_verified,
                phone_masked,
                email,
            )
        },
    ))
}

/// A lookup's row as an entry (no account view row yet: not verified).
fn entry_of(
    kind: String,
    account_id: String,
    status: Option<String>,
    email_verified: Option<bool>,
    phone_masked: Option<String>,
    email: Option<String>,
) -> LoginEntry {
    LoginEntry {
        kind,
        account_id,
        status,
        email_verified: email_verified.unwrap_or(false),
        phone_masked,
        email,
    }
}

/// The lookup's columns and joins, with one more column: `$current`, a dialect's subquery.
macro_rules! lookup_with {
    ($current:literal) => {
        concat!(
            "SELECT l.kind, l.account_id, a.status, a.email_verified, a.phone_masked, a.email, (",
            $current,
            ") FROM (SELECT 1) AS one
             LEFT JOIN login_index_v1 l ON l.login_key = $1
             LEFT JOIN account_view_v1 a ON a.account_id = l.account_id"
        )
    };
}

/// [`lookup_current`] on PostgreSQL, for a statement that does more (the resend's): its
/// parameters are the key and the index's name ([`NAME`]). Its last column says whether the
/// row is current.
///
/// Whether an event the index reads lies past its stored checkpoint, in the projector's own
/// order, is one probe of a partial index on those events (migration 0020; its predicate is
/// this query's, word for word, so the planner uses it; the bounds are scalar subqueries for
/// the same reason). No checkpoint row: not current.
pub const LOOKUP_CURRENT_POSTGRES: &str = lookup_with!(
    "SELECT NOT EXISTS (SELECT 1 FROM events e
                         WHERE e.aggregate_type IN ('LoginName', 'Identity')
                           AND (e.transaction_id, e.position)
                               > ((SELECT transaction_id::text::xid8
                                     FROM projection_checkpoints WHERE projection = $2),
                                  (SELECT position
                                     FROM projection_checkpoints WHERE projection = $2)))
            AND EXISTS (SELECT 1 FROM projection_checkpoints WHERE projection = $2)"
);

/// [`lookup`], and whether its answer is current: whether, in the same query's snapshot, the
/// index's stored checkpoint had passed every event of the aggregates it reads (`LoginName`,
/// `Identity`). When it is, the answer is what waiting for the index to reach the log's head
/// would give, without the wait; when it is not (or the index has no checkpoint yet), the
/// caller waits and looks up again. Events of other aggregates past the checkpoint (an
/// index that only passed them over stores its checkpoint lazily) change nothing here.
pub async fn lookup_current(db: &Db, key: &str) -> sqlx::Result<(Option<LoginEntry>, bool)> {
    type Row = (
        Option<String>,
        Option<String>,
        Option<String>,
        Option<bool>,
        Option<String>,
        Option<String>,
        Option<bool>,
    );
    let row: Row = match db {
        Db::Postgres(pool) => {
            sqlx::query_as(LOOKUP_CURRENT_POSTGRES)
                .bind(key)
                .bind(NAME)
                .fetch_one(pool)
                .await?
        }
        Db::Sqlite(pool) => {
            sqlx::query_as(lookup_with!(
                "SELECT NOT EXISTS (SELECT 1 FROM events e
                                     WHERE e.aggregate_type IN ('LoginName', 'Identity')
                                       AND e.position > (SELECT position FROM projection_checkpoints
                                                          WHERE projection = $2))
                        AND EXISTS (SELECT 1 FROM projection_checkpoints WHERE projection = $2)"
            ))
            .bind(key)
            .bind(NAME)
            .fetch_one(pool)
            .await?
        }
    };
    let (kind, account_id, status, email_verified, phone_masked, email, current) = row;
    let entry = kind.zip(account_id).map(|(kind, account_id)| {
        entry_of(
            kind,
            account_id,
            status,
            email_verified,
            phone_masked,
            email,
        )
    });
    Ok((entry, current.unwrap_or(false)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `lookup_current`'s queries and migration 0020's partial indexes name the aggregates
    /// the index reads as literals (a parameter would keep the planner off the index).
    #[test]
    fn the_current_check_names_the_aggregates_the_index_reads() {
        assert_eq!(
            LoginIndex.aggregate_types(),
            Some(&["LoginName", "Identity"][..])
        );
        assert!(LOOKUP_CURRENT_POSTGRES.contains("IN ('LoginName', 'Identity')"));
        for migration in [
            include_str!("../../migrations/postgres/0020_events_login_index_types.sql"),
            include_str!("../../migrations/sqlite/0020_events_login_index_types.sql"),
        ] {
            assert!(migration.contains("WHERE aggregate_type IN ('LoginName', 'Identity')"));
        }
    }
    use uuid::Uuid;
    use xuexin_domain::ids::{AccountId, LoginNameKind};
    use xuexin_domain::values::{DocumentSummary, DocumentType};

    #[test]
    fn claims_and_releases_put_and_remove_keys() {
        let account_id = AccountId(Uuid::from_u128(7));
        let claimed = DomainEventKind::LoginName(LoginNameEvent::LoginNameClaimed {
            account_id,
            kind: LoginNameKind::Phone,
            value: "+8613800138000".into(),
        });
        assert_eq!(
            changes(&claimed),
            vec![Change::Put {
                key: "phone:+8613800138000".into(),
                kind: "phone".into(),
                account_id: account_id.to_string()
            }]
        );
        let document = DocumentSummary {
            kind: DocumentType::ResidentIdCard,
            number_digest: "ff".into(),
            masked: "m".into(),
        };
        let released = DomainEventKind::Identity(IdentityEvent::IdentityReleased {
            account_id,
            document,
        });
        assert_eq!(
            changes(&released),
            vec![Change::Remove {
                key: "id_number:ff".into(),
                account_id: account_id.to_string()
            }]
        );
    }
}
