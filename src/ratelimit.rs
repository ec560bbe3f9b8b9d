//! Windowed counters in the database, shared by every node. A counter row per bucket; a
//! window opens at the first use after the last one ran out.

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

/// What a count answers, per row: its key, its count in the window, and the window's start.
pub(crate) type Counted = Vec<(String, i64, i64)>;

#[derive(Clone)]
pub struct RateLimiter {
    db: Db,
    clock: Arc<dyn Clock>,
}

impl RateLimiter {
    pub fn new(db: Db, clock: Arc<dyn Clock>) -> Self {
        Self { db, clock }
    }

    /// Counts one use of `bucket`; refuses it once the window's count passes `limit.max`.
    ///
    /// A window opens at the first use after the last one ran out (not at a clock boundary),
    /// so "one per 60 s" never lets two uses through a millisecond apart. One statement
    /// counts and decides, so a burst of parallel requests never gets past the limit.
    /// Bucket names hold phones and IPs, so they stay out of the span.
    #[tracing::instrument(skip_all)]
    pub async fn hit(&self, bucket: &str, limit: Limit) -> anyhow::Result<Result<(), Exceeded>> {
        let row = Row::of(bucket, limit);
        let now = self.clock.now().millis();
        let counted = self.count(std::slice::from_ref(&row), now).await?;
        Ok(match counted.first() {
            Some((_, count, window_start)) if *count > limit.max => Err(Exceeded {
                retry_after: retry_after(*window_start, row.length, now),
            }),
            _ => Ok(()),
        })
    }

    /// Counts one use of each row (distinct keys, in the order given) in one statement, each
    /// row counted and decided atomically against its own window's length. Answers (key,
    /// count, window start) per row.
    #[tracing::instrument(skip_all, fields(rows = rows.len()))]
    async fn count(&self, rows: &[Row], now: i64) -> anyhow::Result<Counted> {
        let sql = count_sql(rows.len(), 0);
        Ok(on_db!(&self.db, pool => {
            let mut query = sqlx::query_as(&sql).bind(now);
            for row in rows {
                query = query.bind(&row.key).bind(row.length);
            }
            query
                .fetch_all(pool)
                .await
                .context("failed to count a rate-limited action")?
        }))
    }

    /// Gives back one use counted by [`RateLimiter::hit`] in the current window: for limits
    /// on failures, the attempt is counted (and decided) before it runs, and given back when it
    /// turns out to have succeeded. One statement, so concurrent attempts never see a count
    /// that is too low.
    #[tracing::instrument(skip_all)]
    pub async fn release(&self, bucket: &str, limit: Limit) -> anyhow::Result<()> {
        self.give_back(&[Row::of(bucket, limit)]).await
    }

    /// Gives back one use of each row (sorted, distinct) in its current window, in one
    /// statement. On PostgreSQL the rows are locked in key order first, the order `count`
    /// takes them in, so a give-back and a count of the same buckets wait for each other
    /// instead of deadlocking. SQLite has one writer: no order to keep.
    async fn give_back(&self, rows: &[Row]) -> anyhow::Result<()> {
        let n = rows.len();
        let list: Vec<String> = (1..=n).map(|k| format!("${}", 2 * k)).collect();
        let list = list.join(", ");
        let live = format!(
            "window_start > $1 - {} AND count > 0",
            length_of(n, 0, "bucket")
        );
        let sql = match (&self.db, n) {
            (Db::Postgres(_), 2..) => format!(
                "UPDATE rate_limits SET count = count - 1
                 WHERE bucket IN (SELECT bucket FROM rate_limits WHERE bucket IN ({list}) AND {live}
                                  ORDER BY bucket FOR UPDATE)
                   AND {live}"
            ),
            _ => format!(
                "UPDATE rate_limits SET count = count - 1 WHERE bucket IN ({list}) AND {live}"
            ),
        };
        let now = self.clock.now().millis();
        on_db!(&self.db, pool => {
            let mut query = sqlx::query(&sql).bind(now);
            for row in rows {
                query = query.bind(&row.key).bind(row.length);
            }
            query
                .execute(pool)
                .await
                .context("failed to give back a rate-limited action")?;
        });
        Ok(())
    }

    /// Counts one use of every (bucket, limit), in one statement; if any refuses, gives them
    /// all back (one more statement) and refuses with the first refusal in the caller's order.
    /// Each bucket is counted against its own window. A bucket listed twice is counted once
    /// per listing, one statement each (one statement cannot count a row twice).
    pub async fn hit_all(
        &self,
        buckets: &[(String, Limit)],
    ) -> anyhow::Result<Result<(), Exceeded>> {
        let Some(count) = self.prepare(buckets) else {
            for (i, (bucket, limit)) in buckets.iter().enumerate() {
                if let Err(exceeded) = self.hit(bucket, *limit).await? {
                    self.release_all(&buckets[..=i]).await?;
                    return Ok(Err(exceeded));
                }
            }
            return Ok(Ok(()));
        };
        // Rows are locked in the order they are listed: always the same order, so two counts
        // of the same buckets wait for each other instead of deadlocking.
        let counted = self.count(&count.rows, count.now).await?;
        self.settle(&count, &counted).await
    }

    /// A count of `buckets` to run inside a larger statement ([`Count::sql`]); `None` if a
    /// bucket is listed twice.
    pub(crate) fn prepare<'a>(&self, buckets: &'a [(String, Limit)]) -> Option<Count<'a>> {
        Some(Count {
            buckets,
            rows: sorted_rows(buckets)?,
            now: self.clock.now().millis(),
        })
    }

    /// Decides a count from its rows (key, count, window start): the first bucket, in the
    /// caller's order, that is over its limit refuses, and then every bucket is given back
    /// (one more statement).
    pub(crate) async fn settle(
        &self,
        count: &Count<'_>,
        counted: &Counted,
    ) -> anyhow::Result<Result<(), Exceeded>> {
        let refused = count.buckets.iter().find_map(|(bucket, limit)| {
            let row = Row::of(bucket, *limit);
            let (_, n, window_start) = counted.iter().find(|(k, _, _)| *k == row.key)?;
            (*n > limit.max).then(|| Exceeded {
                retry_after: retry_after(*window_start, row.length, count.now),
            })
        });
        match refused {
            Some(exceeded) => {
                self.give_back(&count.rows).await?;
                Ok(Err(exceeded))
            }
            None => Ok(Ok(())),
        }
    }

    /// Gives back one use of every (bucket, limit) (see [`RateLimiter::release`]): distinct
    /// buckets in one statement that takes their rows in the order the count does, a bucket
    /// listed twice once per listing.
    pub async fn release_all(&self, buckets: &[(String, Limit)]) -> anyhow::Result<()> {
        if let Some(rows) = sorted_rows(buckets) {
            return self.give_back(&rows).await;
        }
        for (bucket, limit) in buckets {
            self.release(bucket, *limit).await?;
        }
        Ok(())
    }

    /// Whether the bucket is already over its limit, without counting.
    pub async fn is_exceeded(
        &self,
        bucket: &str,
        limit: Limit,
    ) -> anyhow::Result<Option<Exceeded>> {
        let now = self.clock.now().millis();
        let Row { key, length, .. } = Row::of(bucket, limit);
        let row: Option<(i64, i64)> = on_db!(&self.db, pool => {
            sqlx::query_as("SELECT window_start, count FROM rate_limits WHERE bucket = $1")
                .bind(&key)
                .fetch_optional(pool)
                .await
                .context("failed to read a rate limit")?
        });
        Ok(match row {
            Some((start, count)) if start > now - length && count >= limit.max => Some(Exceeded {
                retry_after: retry_after(start, length, now),
            }),
            _ => None,
        })
    }
}

/// A bucket's counter row: its key (the bucket's name and its window's length, so that two
/// limits of different windows on one name count apart) and the window's length in
/// milliseconds.
struct Row {
    key: String,
    length: i64,
    max: i64,
}

impl Row {
    fn of(bucket: &str, limit: Limit) -> Row {
        Row {
            key: format!("{bucket}/{}s", limit.window.as_secs()),
            length: (limit.window.as_millis() as i64).max(1),
            max: limit.max,
        }
    }
}

/// One use of each of some distinct buckets, counted at one moment, for a statement that
/// does more than count (see [`RateLimiter::prepare`]).
pub(crate) struct Count<'a> {
    buckets: &'a [(String, Limit)],
    rows: Vec<Row>,
    now: i64,
}

impl Count<'_> {
    /// The counting `INSERT … RETURNING bucket, count, window_start`, its parameters numbered
    /// from `$offset+1`: bind them with [`Count::binds`], in order.
    pub(crate) fn sql(&self, offset: usize) -> String {
        count_sql(self.rows.len(), offset)
    }

    /// An SQL condition: the counted row whose key and count are the columns `bucket` and
    /// `count` is over its limit. It uses the parameters [`Count::sql`] binds at `offset`.
    pub(crate) fn over_sql(&self, offset: usize, bucket: &str, count: &str) -> String {
        let arms: Vec<String> = (1..)
            .zip(&self.rows)
            .map(|(k, row)| format!("WHEN ${} THEN {}", offset + 2 * k, row.max))
            .collect();
        format!("{count} > CASE {bucket} {} END", arms.join(" "))
    }

    /// The parameters of [`Count::sql`]: now, then each row's key and window length.
    pub(crate) fn binds(&self) -> (i64, impl Iterator<Item = (&str, i64)>) {
        (
            self.now,
            self.rows.iter().map(|row| (row.key.as_str(), row.length)),
        )
    }
}

/// The statement that counts `n` rows, for parameters from `$offset+1`: now, then each row's
/// key and window length.
fn count_sql(n: usize, offset: usize) -> String {
    let now = format!("${}", offset + 1);
    let values: Vec<String> = (1..=n)
        .map(|k| format!("(${}, {now}, 1)", offset + 2 * k))
        .collect();
    // A row's window is current while it began less than that row's length ago.
    let current = format!(
        "rate_limits.window_start > excluded.window_start - {}",
        length_of(n, offset, "excluded.bucket")
    );
    format!(
        "INSERT INTO rate_limits (bucket, window_start, count) VALUES {}
         ON CONFLICT (bucket) DO UPDATE SET
           count = CASE WHEN {current} THEN rate_limits.count + 1 ELSE 1 END,
           window_start = CASE WHEN {current}
                               THEN rate_limits.window_start ELSE excluded.window_start END
         RETURNING bucket, count, window_start",
        values.join(", "),
    )
}

/// The SQL for the window length of the row whose key is `column`, for a statement that binds
/// now as `$offset+1` and each of its `n` rows' key and length as `$offset+2k` and
/// `$offset+2k+1`.
fn length_of(n: usize, offset: usize, column: &str) -> String {
    if n == 1 {
        return format!("${}", offset + 3);
    }
    let arms: Vec<String> = (1..=n)
        .map(|k| format!("WHEN ${} THEN ${}", offset + 2 * k, offset + 2 * k + 1))
        .collect();
    format!("CASE {column} {} END", arms.join(" "))
}

/// The rows of the buckets, in the one order every statement takes them in; `None` if a
/// bucket is listed twice (with the same window: the same row), which one statement cannot
/// count twice.
fn sorted_rows(buckets: &[(String, Limit)]) -> Option<Vec<Row>> {
    let mut rows: Vec<Row> = buckets
        .iter()
        .map(|(bucket, limit)| Row::of(bucket, *limit))
        .collect();
    rows.sort_unstable_by(|a, b| a.key.cmp(&b.key));
    (!rows.windows(2).any(|pair| pair[0].key == pair[1].key)).then_some(rows)
}

/// When a refused use may try again: the window's end, at least a second away.
fn retry_after(window_start: i64, length: i64, now: i64) -> Duration {
    Duration::from_millis((window_start + length - now).max(1000) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicI64, Ordering};
    use xuexin_domain::Timestamp;

    struct SetClock(AtomicI64);

    impl Clock for SetClock {
        fn now(&self) -> Timestamp {
            Timestamp::from_millis(self.0.load(Ordering::SeqCst))
        }
    }

    async fn limiter(start: i64) -> (RateLimiter, Arc<SetClock>) {
        let pool = sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(1)
            .connect("sqlite::memory:")
            .await
            .unwrap();
        sqlx::query(
            "CREATE TABLE rate_limits (bucket TEXT PRIMARY KEY, window_start INTEGER NOT NULL,
                                       count INTEGER NOT NULL) STRICT",
        )
        .execute(&pool)
        .await
        .unwrap();
        let clock = Arc::new(SetClock(AtomicI64::new(start)));
        (RateLimiter::new(Db::Sqlite(pool), clock.clone()), clock)
    }

    const ONE_A_MINUTE: Limit = Limit {
        max: 1,
        window: Duration::from_secs(60),
    };

    #[tokio::test]
    async fn buckets_counted_together_refuse_and_give_back_as_one_at_a_time() {
        let (limiter, _) = limiter(0).await;
        let two = Limit {
            max: 2,
            ..ONE_A_MINUTE
        };
        let buckets = vec![
            ("ip".to_string(), two),
            ("ip-name".to_string(), ONE_A_MINUTE),
        ];
        assert!(limiter.hit_all(&buckets).await.unwrap().is_ok());
        // The second bucket is full: refused with its window's rest, and both given back.
        let refused = limiter.hit_all(&buckets).await.unwrap().unwrap_err();
        assert_eq!(refused.retry_after, Duration::from_secs(60));
        assert!(limiter.is_exceeded("ip", two).await.unwrap().is_none());
        assert!(limiter
            .is_exceeded("ip-name", ONE_A_MINUTE)
            .await
            .unwrap()
            .is_some());
        // A success gives back both: the next attempt is counted again.
        limiter.release_all(&buckets).await.unwrap();
        assert!(limiter.hit_all(&buckets).await.unwrap().is_ok());
        assert!(limiter.hit_all(&buckets).await.unwrap().is_err());
    }

    #[tokio::test]
    async fn buckets_of_different_windows_are_counted_together_each_in_its_own_window() {
        let (limiter, clock) = limiter(0).await;
        let three_an_hour = Limit {
            max: 3,
            window: Duration::from_secs(3600),
        };
        let buckets = vec![
            ("ip".to_string(), three_an_hour),
            ("address".to_string(), ONE_A_MINUTE),
        ];
        assert!(limiter.hit_all(&buckets).await.unwrap().is_ok());
        // The address's minute is used up: refused with that window's rest, the hour given back.
        clock.0.store(10_000, Ordering::SeqCst);
        let refused = limiter.hit_all(&buckets).await.unwrap().unwrap_err();
        assert_eq!(refused.retry_after, Duration::from_secs(50));
        // A minute on, the address's window has run out but the hour's has not.
        clock.0.store(61_000, Ordering::SeqCst);
        assert!(limiter.hit_all(&buckets).await.unwrap().is_ok());
        clock.0.store(122_000, Ordering::SeqCst);
        assert!(limiter.hit_all(&buckets).await.unwrap().is_ok());
        // The fourth in the hour is refused by the hour, with its rest.
        clock.0.store(183_000, Ordering::SeqCst);
        let refused = limiter.hit_all(&buckets).await.unwrap().unwrap_err();
        assert_eq!(
            refused.retry_after,
            Duration::from_millis(3_600_000 - 183_000)
        );
        // And given back in both: after the hour, one more goes through.
        clock.0.store(3_600_001, Ordering::SeqCst);
        assert!(limiter.hit_all(&buckets).await.unwrap().is_ok());
    }

    #[tokio::test]
    async fn one_a_minute_is_never_two_across_a_clock_minute() {
        // The first use at 0:59; a clock-aligned window would open again at 1:00.
        let (limiter, clock) = limiter(59_000).await;
        assert!(limiter.hit("b", ONE_A_MINUTE).await.unwrap().is_ok());
        clock.0.store(61_000, Ordering::SeqCst);
        let refused = limiter.hit("b", ONE_A_MINUTE).await.unwrap().unwrap_err();
        assert_eq!(refused.retry_after, Duration::from_secs(58));
        assert!(limiter
            .is_exceeded("b", ONE_A_MINUTE)
            .await
            .unwrap()
            .is_some());
        clock.0.store(119_001, Ordering::SeqCst);
        assert!(limiter
            .is_exceeded("b", ONE_A_MINUTE)
            .await
            .unwrap()
            .is_none());
        assert!(limiter.hit("b", ONE_A_MINUTE).await.unwrap().is_ok());
    }

    #[tokio::test]
    async fn a_released_use_can_be_taken_again_within_the_window() {
        let (limiter, clock) = limiter(0).await;
        assert!(limiter.hit("b", ONE_A_MINUTE).await.unwrap().is_ok());
        limiter.release("b", ONE_A_MINUTE).await.unwrap();
        clock.0.store(30_000, Ordering::SeqCst);
        assert!(limiter.hit("b", ONE_A_MINUTE).await.unwrap().is_ok());
        assert!(limiter.hit("b", ONE_A_MINUTE).await.unwrap().is_err());
    }
}
