//! Images kept outside the event log (record photos, identity-review photos), named by their
//! SHA-256; events carry only the hash. The type is told from the bytes, never from what the
//! client claims.

use crate::problem::{Problem, ProblemKind};
use anyhow::Context;
use sha2::{Digest, Sha256};
use xuexin_domain::record::PhotoRef;
use xuexin_domain::Timestamp;
use xuexin_projections::{db_execute, on_db, Db};

pub const MAX_IMAGE_BYTES: usize = 2 * 1024 * 1024;

/// `image/jpeg` or `image/png` from the magic bytes.
pub fn sniff_image(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else if bytes.starts_with(&[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A]) {
        Some("image/png")
    } else {
        None
    }
}

/// Past this, an oversized upload is no longer drained: the connection is closed instead.
const DRAIN_LIMIT: usize = 32 * 1024 * 1024;

/// Reads an uploaded image body. An oversized one is read to its end (up to a bound) and
/// discarded, so that the client gets the clear 400 instead of a reset connection.
pub async fn read_image(body: axum::body::Body) -> Result<Vec<u8>, Problem> {
    use futures::StreamExt;
    let mut stream = body.into_data_stream();
    let mut kept = Vec::new();
    let mut total = 0usize;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|_| Problem::new(ProblemKind::BadRequest, "image_empty"))?;
        total += chunk.len();
        if total <= MAX_IMAGE_BYTES {
            kept.extend_from_slice(&chunk);
        } else if total > DRAIN_LIMIT {
            break;
        }
    }
    if total > MAX_IMAGE_BYTES {
        return Err(Problem::new(ProblemKind::BadRequest, "image_too_large"));
    }
    Ok(kept)
}

/// An uploaded image's type (`image/jpeg`, `image/png`), or the code of why it is refused:
/// empty, too large, or neither JPEG nor PNG by its bytes.
pub fn image_type(bytes: &[u8]) -> Result<&'static str, &'static str> {
    if bytes.is_empty() {
        return Err("image_empty");
    }
    if bytes.len() > MAX_IMAGE_BYTES {
        return Err("image_too_large");
    }
    sniff_image(bytes).ok_or("image_type")
}

/// Checks an uploaded image for the API: a 400 with the refusal's code.
pub fn check_image(bytes: &[u8]) -> Result<&'static str, Problem> {
    image_type(bytes).map_err(|code| Problem::new(ProblemKind::BadRequest, code))
}

/// Stores the bytes (once per content) and returns their reference.
pub async fn put(
    db: &Db,
    bytes: &[u8],
    content_type: &str,
    at: Timestamp,
) -> anyhow::Result<PhotoRef> {
    let sha256 = hex::encode(Sha256::digest(bytes));
    db_execute!(
        db,
        "INSERT INTO blobs (sha256, content_type, size, bytes, created_at) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (sha256) DO NOTHING",
        &sha256,
        content_type,
        bytes.len() as i64,
        bytes,
        at.millis(),
    )
    .context("failed to store an image")?;
    Ok(PhotoRef {
        sha256,
        content_type: content_type.to_string(),
        size: bytes.len() as u64,
    })
}

pub async fn get(db: &Db, sha256: &str) -> anyhow::Result<Option<(String, Vec<u8>)>> {
    let row: Option<(String, Vec<u8>)> = on_db!(db, pool => {
        sqlx::query_as("SELECT content_type, bytes FROM blobs WHERE sha256 = $1")
            .bind(sha256)
            .fetch_optional(pool)
            .await
            .context("failed to read an image")?
    });
    Ok(row)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_are_recognised_by_their_bytes() {
        assert_eq!(sniff_image(&[0xFF, 0xD8, 0xFF, 0xE0]), Some("image/jpeg"));
        assert_eq!(sniff_image(b"\x89PNG\r\n\x1a\n...."), Some("image/png"));
        assert_eq!(sniff_image(b"GIF89a"), None);
        assert!(check_image(&[]).is_err());
        assert!(check_image(&vec![0xFF; MAX_IMAGE_BYTES + 1]).is_err());
    }
}
