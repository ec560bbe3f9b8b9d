//! argon2id (OWASP: m=19456 KiB, t=2, p=1) on a fixed set of worker threads with a bounded
//! queue. Async workers never run a hash; when the queue is full the caller is told at once
//! (the HTTP layer answers 503 with Retry-After) instead of waiting in an unbounded line.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::oneshot;
use xuexin_domain::hashing::{HasherUnavailable, SecretHasher, Verification};
use xuexin_domain::values::Secret;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HashingParams {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl HashingParams {
    pub const OWASP: Self = Self {
        memory_kib: 19_456,
        iterations: 2,
        parallelism: 1,
    };

    fn argon2(self) -> Argon2<'static> {
        let params = Params::new(self.memory_kib, self.iterations, self.parallelism, None)
            .expect("argon2 parameters are validated at configuration time");
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
    }
}

enum Job {
    Hash {
        secret: Secret,
        reply: oneshot::Sender<String>,
    },
    Verify {
        phc: String,
        secret: Secret,
        reply: oneshot::Sender<Verification>,
    },
}

/// A job and when it joined the queue (the metrics' wait).
struct Queued {
    job: Job,
    at: Instant,
}

pub struct HashPool {
    jobs: SyncSender<Queued>,
    params: HashingParams,
    workers: usize,
    /// A hash of nothing anyone knows, verified against for unknown login names so that an
    /// unknown name costs the same time as a wrong password.
    decoy: String,
}

impl HashPool {
    pub fn start(params: HashingParams, workers: usize, queue: usize) -> Arc<Self> {
        let workers = workers.max(1);
        let (jobs, receiver) = sync_channel::<Queued>(queue.max(1));
        let receiver = Arc::new(Mutex::new(receiver));
        for index in 0..workers {
            let receiver = receiver.clone();
            std::thread::Builder::new()
                .name(format!("argon2-{index}"))
                .spawn(move || worker(receiver, params))
                .expect("failed to start a hashing thread");
        }
        let decoy = hash_now(params, &Secret::new(super::random::new_token()));
        Arc::new(Self {
            jobs,
            params,
            workers,
            decoy,
        })
    }

    pub fn params(&self) -> HashingParams {
        self.params
    }

    pub fn workers(&self) -> usize {
        self.workers
    }

    /// Burns one verification's worth of time for a login name that leads nowhere.
    pub async fn verify_decoy(&self, secret: &Secret) -> Result<(), HasherUnavailable> {
        self.verify(&self.decoy.clone(), secret).await.map(|_| ())
    }

    fn submit(&self, job: Job) -> Result<(), HasherUnavailable> {
        // Counted before the send, so a worker's decrement never comes first.
        metrics::gauge!("xuexin_hash_queue_depth").increment(1.0);
        match self.jobs.try_send(Queued {
            job,
            at: Instant::now(),
        }) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                metrics::gauge!("xuexin_hash_queue_depth").decrement(1.0);
                metrics::counter!("xuexin_hash_refused_total").increment(1);
                Err(HasherUnavailable)
            }
        }
    }
}

#[async_trait::async_trait]
impl SecretHasher for HashPool {
    async fn hash(&self, secret: &Secret) -> Result<String, HasherUnavailable> {
        let (reply, answer) = oneshot::channel();
        self.submit(Job::Hash {
            secret: secret.clone(),
            reply,
        })?;
        answer.await.map_err(|_| HasherUnavailable)
    }

    async fn verify(&self, phc: &str, secret: &Secret) -> Result<Verification, HasherUnavailable> {
        let (reply, answer) = oneshot::channel();
        self.submit(Job::Verify {
            phc: phc.to_string(),
            secret: secret.clone(),
            reply,
        })?;
        answer.await.map_err(|_| HasherUnavailable)
    }
}

fn worker(receiver: Arc<Mutex<Receiver<Queued>>>, params: HashingParams) {
    loop {
        let queued = {
            let Ok(guard) = receiver.lock() else { return };
            match guard.recv() {
                Ok(queued) => queued,
                Err(_) => return,
            }
        };
        metrics::gauge!("xuexin_hash_queue_depth").decrement(1.0);
        metrics::histogram!("xuexin_hash_wait_seconds").record(queued.at.elapsed().as_secs_f64());
        // A request that went away (its client gone, the request timeout) needs no hash.
        match queued.job {
            Job::Hash { secret, reply } => {
                if !reply.is_closed() {
                    let _ = reply.send(hash_now(params, &secret));
                }
            }
            Job::Verify { phc, secret, reply } => {
                if !reply.is_closed() {
                    let _ = reply.send(verify_now(params, &phc, &secret));
                }
            }
        }
    }
}

/// Hashes on the calling thread (the workers' own function; the benchmarks measure it).
pub fn hash_now(params: HashingParams, secret: &Secret) -> String {
    let salt = SaltString::encode_b64(&super::random::random_bytes::<16>())
        .expect("16 bytes is a valid salt length");
    params
        .argon2()
        .hash_password(secret.expose().as_bytes(), &salt)
        .expect("argon2 hashing with valid parameters does not fail")
        .to_string()
}

/// Verifies on the calling thread (the workers' own function; the benchmarks measure it).
pub fn verify_now(params: HashingParams, phc: &str, secret: &Secret) -> Verification {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return Verification {
            matches: false,
            needs_rehash: false,
        };
    };
    // Verify with the parameters recorded in the hash itself, then say whether they are old.
    let matches = Argon2::default()
        .verify_password(secret.expose().as_bytes(), &parsed)
        .is_ok();
    let current = parsed.algorithm.as_str() == "argon2id"
        && Params::try_from(&parsed).is_ok_and(|p| {
            p.m_cost() == params.memory_kib
                && p.t_cost() == params.iterations
                && p.p_cost() == params.parallelism
        });
    Verification {
        matches,
        needs_rehash: matches && !current,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHEAP: HashingParams = HashingParams {
        memory_kib: 1024,
        iterations: 1,
        parallelism: 1,
    };

    #[tokio::test]
    async fn hashes_verify_and_old_parameters_ask_for_a_rehash() {
        let pool = HashPool::start(HashingParams::OWASP, 1, 4);
        let phc = pool.hash(&Secret::new("Zhang-San-42")).await.unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        let ok = pool
            .verify(&phc, &Secret::new("Zhang-San-42"))
            .await
            .unwrap();
        assert_eq!(
            ok,
            Verification {
                matches: true,
                needs_rehash: false
            }
        );
        let wrong = pool
            .verify(&phc, &Secret::new("zhang-san-42"))
            .await
            .unwrap();
        assert!(!wrong.matches);

        let old = hash_now(CHEAP, &Secret::new("Zhang-San-42"));
        let verdict = pool
            .verify(&old, &Secret::new("Zhang-San-42"))
            .await
            .unwrap();
        assert_eq!(
            verdict,
            Verification {
                matches: true,
                needs_rehash: true
            }
        );
    }

    #[tokio::test]
    async fn a_full_queue_refuses_instead_of_waiting() {
        let pool = HashPool::start(HashingParams::OWASP, 1, 1);
        let mut attempts = Vec::new();
        for _ in 0..8 {
            attempts.push(pool.submit(Job::Hash {
                secret: Secret::new("x"),
                reply: oneshot::channel().0,
            }));
        }
        assert!(
            attempts.iter().any(Result::is_err),
            "eight jobs fit a queue of one"
        );
    }
}
