//! Passwords: the policy (length, the most common ones refused), argon2id hashing at
//! OWASP's parameters on a bounded pool of permits, and verification of imported bcrypt
//! hashes, which login replaces with argon2id.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use argon2::password_hash::{PasswordHash, PasswordVerifier};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use subtle::ConstantTimeEq;
use tokio::sync::Semaphore;

use super::config::HashingConfig;

pub(crate) const MIN_LENGTH: usize = 8;
pub(crate) const MAX_LENGTH: usize = 256;

/// The most common passwords of 8 characters or more, lowercased, one per line.
const COMMON: &str = include_str!("common-passwords.txt");

/// Why a password is refused, for the problem document.
pub(crate) fn policy_problem(password: &str) -> Option<String> {
    let chars = password.chars().count();
    if chars < MIN_LENGTH {
        return Some(format!("at least {MIN_LENGTH} characters"));
    }
    if chars > MAX_LENGTH {
        return Some(format!("at most {MAX_LENGTH} characters"));
    }
    let lower = password.to_lowercase();
    if COMMON.lines().any(|c| c == lower) {
        return Some("is one of the most common passwords; choose another".into());
    }
    None
}

/// Whether `hash` is an imported bcrypt hash the hub can check.
pub(crate) fn is_bcrypt(hash: &str) -> bool {
    ["$2a$", "$2b$", "$2y$"].iter().any(|p| hash.starts_with(p)) && bcrypt_cost(hash).is_some()
}

fn bcrypt_cost(hash: &str) -> Option<u32> {
    let cost: u32 = hash.get(4..6)?.parse().ok()?;
    ((4..=31).contains(&cost) && hash.len() == 60 && hash.as_bytes()[6] == b'$').then_some(cost)
}

/// The answer of a check: whether it matched and whether the stored hash should be
/// replaced by a new argon2id hash (an imported bcrypt hash, or older parameters).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Checked {
    pub(crate) matches: bool,
    pub(crate) rehash: bool,
}

/// All hashing permits are taken and the wait queue is full, or the wait ran out.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Busy {
    pub(crate) retry_after: u64,
}

/// Hashes on at most `permits` blocking threads at once; at most `queue` more wait.
#[derive(Debug, Clone)]
pub(crate) struct Hasher {
    permits: Arc<Semaphore>,
    waiting: Arc<AtomicUsize>,
    queue: usize,
    wait: Duration,
    threads: Arc<Threads>,
    /// A hash of a random password, checked for unknown emails so that they cost the
    /// same time as known ones.
    dummy: Arc<String>,
}

/// OWASP's parameters: 19 MiB, two passes, one lane.
const M_COST: u32 = 19_456;
const T_COST: u32 = 2;
const OUTPUT: usize = 32;

fn argon2() -> Argon2<'static> {
    let params =
        Params::new(M_COST, T_COST, 1, Some(OUTPUT)).expect("OWASP's parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// The working memory of one hash, kept by each hashing thread across hashes (the
/// first pass writes every block before any is read, so nothing needs clearing).
type Memory = Vec<Block>;

fn memory() -> Memory {
    vec![Block::default(); M_COST as usize]
}

fn hash_now(password: &str, memory: &mut Memory) -> String {
    let salt: [u8; 16] = rand::random();
    let mut out = [0u8; OUTPUT];
    argon2()
        .hash_password_into_with_memory(password.as_bytes(), &salt, &mut out, memory.as_mut_slice())
        .expect("argon2 hashes any input");
    format!(
        "$argon2id$v=19$m={M_COST},t={T_COST},p=1${}${}",
        STANDARD_NO_PAD.encode(salt),
        STANDARD_NO_PAD.encode(out)
    )
}

fn check_now(password: &str, hash: &str, memory: &mut Memory) -> Checked {
    let refused = Checked {
        matches: false,
        rehash: false,
    };
    if is_bcrypt(hash) {
        // bcrypt reads at most 72 bytes; longer inputs are refused rather than cut.
        let matches = password.len() <= 72 && bcrypt::verify(password, hash).unwrap_or(false);
        return Checked {
            matches,
            rehash: true,
        };
    }
    let Ok(parsed) = PasswordHash::new(hash) else {
        return refused;
    };
    let current = parsed.algorithm.as_str() == "argon2id"
        && parsed.version == Some(0x13)
        && Params::try_from(&parsed)
            .is_ok_and(|p| p.m_cost() == M_COST && p.t_cost() == T_COST && p.p_cost() == 1);
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return refused;
    };
    if current && expected.len() == OUTPUT {
        let mut raw = [0u8; 64];
        let Ok(salt) = salt.decode_b64(&mut raw) else {
            return refused;
        };
        let mut out = [0u8; OUTPUT];
        if argon2()
            .hash_password_into_with_memory(
                password.as_bytes(),
                salt,
                &mut out,
                memory.as_mut_slice(),
            )
            .is_err()
        {
            return refused;
        }
        let matches = bool::from(out.ct_eq(expected.as_bytes()));
        return Checked {
            matches,
            rehash: false,
        };
    }
    // Other parameters (stronger or older): checked as stored, then rehashed.
    let matches = Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok();
    Checked {
        matches,
        rehash: matches,
    }
}

type Job = Box<dyn FnOnce(&mut Memory) + Send>;

/// Threads that hash, each with its own working memory.
#[derive(Debug)]
struct Threads {
    jobs: std::sync::Mutex<std::sync::mpsc::Sender<Job>>,
}

impl Threads {
    fn start(count: usize) -> Self {
        let (tx, rx) = std::sync::mpsc::channel::<Job>();
        let rx = Arc::new(std::sync::Mutex::new(rx));
        for i in 0..count {
            let rx = rx.clone();
            std::thread::Builder::new()
                .name(format!("switchyard-hash-{i}"))
                .spawn(move || {
                    let mut memory = memory();
                    loop {
                        let job = match rx.lock().unwrap_or_else(|e| e.into_inner()).recv() {
                            Ok(job) => job,
                            Err(_) => return,
                        };
                        job(&mut memory);
                    }
                })
                .expect("a hashing thread starts");
        }
        Threads {
            jobs: std::sync::Mutex::new(tx),
        }
    }

    fn send(&self, job: Job) -> bool {
        self.jobs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .send(job)
            .is_ok()
    }
}

impl Hasher {
    pub(crate) fn new(config: &HashingConfig) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let permits = config.permits.unwrap_or(cores).max(1);
        let dummy = hash_now(&hex::encode(rand::random::<[u8; 16]>()), &mut memory());
        Hasher {
            permits: Arc::new(Semaphore::new(permits)),
            waiting: Arc::new(AtomicUsize::new(0)),
            queue: config.queue,
            wait: config.wait.0,
            threads: Arc::new(Threads::start(permits)),
            dummy: Arc::new(dummy),
        }
    }

    /// A new argon2id PHC string for `password`.
    pub(crate) async fn hash(&self, password: &str) -> Result<String, Busy> {
        let password = password.to_string();
        self.run(move |m| hash_now(&password, m)).await
    }

    /// Checks `password` against `hash` (argon2id or bcrypt); with no hash (an unknown
    /// account, or one without a password), against the dummy hash, always failing.
    pub(crate) async fn check(&self, password: &str, hash: Option<&str>) -> Result<Checked, Busy> {
        let password = password.to_string();
        let (hash, real) = match hash {
            Some(h) => (h.to_string(), true),
            None => (self.dummy.as_ref().clone(), false),
        };
        let checked = self.run(move |m| check_now(&password, &hash, m)).await?;
        Ok(if real {
            checked
        } else {
            Checked {
                matches: false,
                rehash: false,
            }
        })
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Memory) -> T + Send + 'static,
    ) -> Result<T, Busy> {
        let busy = Busy {
            retry_after: self.wait.as_secs().clamp(1, 30),
        };
        let permit = match self.permits.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(_) => {
                if self.waiting.fetch_add(1, Ordering::SeqCst) >= self.queue {
                    self.waiting.fetch_sub(1, Ordering::SeqCst);
                    return Err(busy);
                }
                let waited =
                    tokio::time::timeout(self.wait, self.permits.clone().acquire_owned()).await;
                self.waiting.fetch_sub(1, Ordering::SeqCst);
                match waited {
                    Ok(Ok(p)) => p,
                    _ => return Err(busy),
                }
            }
        };
        let (tx, rx) = tokio::sync::oneshot::channel();
        let sent = self.threads.send(Box::new(move |memory: &mut Memory| {
            let out = work(memory);
            drop(permit);
            let _ = tx.send(out);
        }));
        if !sent {
            return Err(busy);
        }
        rx.await.map_err(|_| busy)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_refuses_short_long_and_common_passwords_only() {
        assert!(policy_problem("short").is_some());
        assert!(policy_problem(&"x".repeat(257)).is_some());
        assert!(
            policy_problem("Password123").is_some(),
            "common, whatever the case"
        );
        assert!(policy_problem("correct horse battery staple").is_none());
        assert!(
            policy_problem("ééééééééé").is_none(),
            "characters, not bytes"
        );
    }

    #[test]
    fn hashes_are_argon2id_at_owasp_parameters_and_bcrypt_asks_for_a_rehash() {
        let m = &mut memory();
        let hash = hash_now("a long enough password", m);
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        // A standard verifier (fresh memory) agrees with the reused memory, both ways.
        let parsed = PasswordHash::new(&hash).unwrap();
        assert!(
            Argon2::default()
                .verify_password(b"a long enough password", &parsed)
                .is_ok()
        );
        let salt = argon2::password_hash::SaltString::encode_b64(&[9u8; 16]).unwrap();
        let other = argon2::password_hash::PasswordHasher::hash_password(
            &argon2(),
            b"made elsewhere pw",
            &salt,
        )
        .unwrap()
        .to_string();
        assert!(check_now("made elsewhere pw", &other, m).matches);
        assert!(!check_now("made elsewhere px", &other, m).matches);
        assert_eq!(
            check_now("a long enough password", &hash, m),
            Checked {
                matches: true,
                rehash: false
            }
        );
        assert!(!check_now("another password", &hash, m).matches);
        let imported = bcrypt::hash("a long enough password", 4).unwrap();
        assert!(is_bcrypt(&imported));
        assert_eq!(
            check_now("a long enough password", &imported, m),
            Checked {
                matches: true,
                rehash: true
            }
        );
        assert!(!check_now("wrong password!", &imported, m).matches);
        assert!(!is_bcrypt("$2b$xx$abc"));
    }

    #[tokio::test]
    async fn a_full_queue_is_busy_instead_of_waiting() {
        let hasher = Hasher::new(&HashingConfig {
            permits: Some(1),
            queue: 0,
            wait: crate::config::HumanDuration(Duration::from_secs(5)),
        });
        let first = {
            let h = hasher.clone();
            tokio::spawn(async move { h.hash("one password here").await })
        };
        tokio::time::sleep(Duration::from_millis(5)).await;
        let second = hasher.hash("two password here").await;
        assert!(
            second.is_err(),
            "no queue: the second is refused while one hashes"
        );
        assert!(first.await.unwrap().is_ok());
        assert!(hasher.hash("three password here").await.is_ok());
    }
}
