//! Fixed-window counters in the database, shared by every node. A counter row per bucket;
//! a hit in a new window restarts it.

use crate::config::Limit;
use anyhow::Context;
use std::sync::Arc;
use std::time::Duration;
use xuexin_domain::Clock;
use xuexin_projections::{on_db, Db};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exceeded {
    pub retry_after: Duration,
}

#[derive(Clone)]
pub struct RateLimiter {
    db: Db,
    clock: Arc<dyn Clock>,
}

impl RateLimiter {
    pub fn new(db: Db, clock: Arc<dyn Clock>) -> Self {
        Self { db, clock }
    }

    fn window(&self, limit: Limit) -> (i64, i64) {
        let now = self.clock.now().millis();
        let length = (limit.window.as_millis() as i64).max(1);
        (now - now.rem_euclid(length), length)
    }

    /// Counts one use of `bucket`; refuses it once the window's count passes `limit.max`.
    /// Bucket names hold phones and IPs, so they stay out of the span.
    #[tracing::instrument(skip_all)]
    pub async fn hit(&self, bucket: &str, limit: Limit) -> anyhow::Result<Result<(), Exceeded>> {
        let (window_start, length) = self.window(limit);
        let key = format!("{bucket}/{}s", limit.window.as_secs());
        let (count,): (i64,) = on_db!(&self.db, pool => {
            sqlx::query_as(
                "INSERT INTO rate_limits (bucket, window_start, count) VALUES ($1, $2, 1)
                 ON CONFLICT (bucket) DO UPDATE SET
                   count = CASE WHEN rate_limits.window_start = excluded.window_start
                                THEN rate_limits.count + 1 ELSE 1 END,
                   window_start = excluded.window_start
                 RETURNING count",
            )
            .bind(&key)
            .bind(window_start)
            .fetch_one(pool)
            .await
            .context("failed to count a rate-limited action")?
        });
        if count > limit.max {
            let retry_after = window_start + length - self.clock.now().millis();
            return Ok(Err(Exceeded {
                retry_after: Duration::from_millis(retry_after.max(1000) as u64),
            }));
        }
        Ok(Ok(()))
    }

    /// Gives back one use counted by [`RateLimiter::hit`] in the current window: for limits
    /// on failures, the attempt is counted (and decided) before it runs, and given back when it
    /// turns out to have succeeded. One statement, so concurrent attempts never see a count
    /// that is too low.
    #[tracing::instrument(skip_all)]
    pub async fn release(&self, bucket: &str, limit: Limit) -> anyhow::Result<()> {
        let (window_start, _) = self.window(limit);
        let key = format!("{bucket}/{}s", limit.window.as_secs());
        on_db!(&self.db, pool => {
            sqlx::query(
                "UPDATE rate_limits SET count = count - 1
                 WHERE bucket = $1 AND window_start = $2 AND count > 0",
            )
            .bind(&key)
            .bind(window_start)
            .execute(pool)
            .await
            .context("failed to give back a rate-limited action")?;
        });
        Ok(())
    }

    /// Whether the bucket is already over its limit, without counting.
    pub async fn is_exceeded(
        &self,
        bucket: &str,
        limit: Limit,
    ) -> anyhow::Result<Option<Exceeded>> {
        let (window_start, length) = self.window(limit);
        let key = format!("{bucket}/{}s", limit.window.as_secs());
        let row: Option<(i64, i64)> = on_db!(&self.db, pool => {
            sqlx::query_as("SELECT window_start, count FROM rate_limits WHERE bucket = $1")
                .bind(&key)
                .fetch_optional(pool)
                .await
                .context("failed to read a rate limit")?
        });
        Ok(match row {
            Some((start, count)) if start == window_start && count >= limit.max => {
                let retry_after = window_start + length - self.clock.now().millis();
                Some(Exceeded {
                    retry_after: Duration::from_millis(retry_after.max(1000) as u64),
                })
            }
            _ => None,
        })
    }
}
