//! Image captchas (图片验证码) for finding a username and starting password recovery: a PNG
//! drawn by the `captcha` crate, its answer kept only as a keyed hash, single use (any attempt
//! uses it up, right or wrong), five minutes.

use crate::security::DigestKey;
use anyhow::Context;
use std::sync::Arc;
use xuexin_domain::{Clock, Timestamp};
use xuexin_projections::{db_execute, on_db, Db};

pub const CAPTCHA_SECONDS: i64 = 300;
/// Upper-case letters and digits without the look-alikes (0/O, 1/I/L); answers are compared
/// case-insensitively.
const CHARS: &[char] = &[
    '2', '3', '4', '5', '6', '7', '8', '9', 'A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'J', 'K', 'M',
    'N', 'P', 'R', 'S', 'T', 'U', 'V', 'W', 'X', 'Y', 'Z',
];
const LENGTH: u32 = 5;

#[derive(Debug, PartialEq, Eq)]
pub enum CaptchaError {
    /// Missing from the request.
    Required,
    /// Wrong, expired, already used or unknown.
    Invalid,
}

pub struct NewCaptcha {
    pub id: String,
    pub png: Vec<u8>,
    pub expires_at: Timestamp,
}

impl NewCaptcha {
    /// The image as a `data:` URL, for an `<img>` (the CSP allows `img-src data:`).
    pub fn data_url(&self) -> String {
        use base64::Engine;
        format!(
            "data:image/png;base64,{}",
            base64::engine::general_purpose::STANDARD.encode(&self.png)
        )
    }
}

#[derive(Clone)]
pub struct Captchas {
    db: Db,
    key: DigestKey,
    clock: Arc<dyn Clock>,
    /// With captured SMS (or `--dev`), each answer is kept in `dev_outbox` (channel `captcha`)
    /// beside the captured codes, so that a developer or a test can solve it; never when SMS
    /// goes to a real gateway.
    reveal: bool,
}

fn normalize(answer: &str) -> String {
    answer.trim().to_ascii_uppercase()
}

impl Captchas {
    pub fn new(db: Db, key: DigestKey, clock: Arc<dyn Clock>, reveal: bool) -> Self {
        Self {
            db,
            key,
            clock,
            reveal,
        }
    }

    fn answer_hash(&self, id: &str, answer: &str) -> String {
        self.key
            .digest("captcha", format!("{id}|{}", normalize(answer)).as_bytes())
    }

    /// Draws a new captcha (on a blocking thread: image work is CPU-bound).
    #[tracing::instrument(skip_all)]
    pub async fn create(&self) -> anyhow::Result<NewCaptcha> {
        let (answer, png) = tokio::task::spawn_blocking(|| {
            use captcha::filters::{Dots, Noise, Wave};
            let mut image = captcha::Captcha::new();
            image
                .set_chars(CHARS)
                .add_chars(LENGTH)
                .apply_filter(Noise::new(0.2))
                .apply_filter(Wave::new(2.0, 16.0).horizontal())
                .view(180, 70)
                .apply_filter(Dots::new(8));
            (image.chars_as_string(), image.as_png())
        })
        .await
        .context("the captcha thread failed")?;
        let png = png.context("failed to encode the captcha")?;
        anyhow::ensure!(
            answer.chars().count() == LENGTH as usize,
            "the captcha has too few characters"
        );
        let id = uuid::Uuid::new_v4().to_string();
        let now = self.clock.now();
        let expires_at = now.plus_seconds(CAPTCHA_SECONDS);
        db_execute!(
            &self.db,
            "INSERT INTO captchas (id, answer_hash, expires_at) VALUES ($1, $2, $3)",
            &id,
            self.answer_hash(&id, &answer),
            expires_at.millis(),
        )
        .context("failed to store a captcha")?;
        if self.reveal {
            crate::gateways::outbox::put(&self.db, "captcha", &id, "captcha", &answer, now).await?;
        }
        Ok(NewCaptcha {
            id,
            png,
            expires_at,
        })
    }

    /// Uses the captcha up and says whether the answer was right.
    #[tracing::instrument(skip_all)]
    pub async fn check(
        &self,
        id: Option<&str>,
        answer: Option<&str>,
    ) -> anyhow::Result<Result<(), CaptchaError>> {
        let (Some(id), Some(answer)) = (
            id.map(str::trim).filter(|s| !s.is_empty()),
            answer.map(str::trim).filter(|s| !s.is_empty()),
        ) else {
            return Ok(Err(CaptchaError::Required));
        };
        let now = self.clock.now().millis();
        let stored: Option<(String,)> = on_db!(&self.db, pool => {
            sqlx::query_as(
                "UPDATE captchas SET consumed_at = $2
                 WHERE id = $1 AND consumed_at IS NULL AND expires_at > $2
                 RETURNING answer_hash",
            )
            .bind(id)
            .bind(now)
            .fetch_optional(pool)
            .await
            .context("failed to use a captcha")?
        });
        let Some((stored,)) = stored else {
            return Ok(Err(CaptchaError::Invalid));
        };
        let given = self.answer_hash(id, answer);
        if crate::security::constant_time_eq(stored.as_bytes(), given.as_bytes()) {
            Ok(Ok(()))
        } else {
            Ok(Err(CaptchaError::Invalid))
        }
    }
}
