//! Password hashing with argon2id, off the async runtime on a bounded pool, so that a storm
//! of logins never stalls token-authenticated requests.

use std::sync::Arc;

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::Semaphore;

use crate::error::{Error, Result};

/// argon2id cost parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Argon2Params {
    /// Memory in KiB.
    pub m_cost: u32,
    /// Iterations.
    pub t_cost: u32,
    /// Lanes.
    pub p_cost: u32,
}

impl Argon2Params {
    /// OWASP's floor for argon2id: m=19456 KiB, t=2, p=1.
    pub const OWASP: Argon2Params = Argon2Params {
        m_cost: 19456,
        t_cost: 2,
        p_cost: 1,
    };

    /// Cheap parameters for tests only; never below argon2's own minimums.
    pub const TEST: Argon2Params = Argon2Params {
        m_cost: 64,
        t_cost: 1,
        p_cost: 1,
    };

    fn argon2(&self) -> Argon2<'static> {
        let params = Params::new(self.m_cost, self.t_cost, self.p_cost, None)
            .expect("argon2 parameters are validated at start-up");
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
    }

    /// Checks that argon2 accepts these parameters.
    pub fn validate(&self) -> std::result::Result<(), String> {
        Params::new(self.m_cost, self.t_cost, self.p_cost, None)
            .map(|_| ())
            .map_err(|e| format!("invalid argon2 parameters: {e}"))
    }
}

/// Outcome of a verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verified {
    /// Wrong password (or no account).
    No,
    /// Right password; the stored hash is as strong as configured.
    Yes,
    /// Right password; here is a new hash with the current parameters to store.
    YesRehashed(String),
}

/// Hashes and verifies passwords on at most `permits` blocking threads at a time.
#[derive(Clone)]
pub struct Hasher {
    params: Argon2Params,
    permits: Arc<Semaphore>,
    dummy: Arc<String>,
}

impl Hasher {
    /// A hasher with these parameters and at most `concurrency` hashes at once.
    pub fn new(params: Argon2Params, concurrency: usize) -> Self {
        let argon = params.argon2();
        let dummy = argon
            .hash_password(b"dummy password for unknown accounts")
            .expect("hashing a constant cannot fail")
            .to_string();
        Hasher {
            params,
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            dummy: Arc::new(dummy),
        }
    }

    /// The parameters new hashes get.
    pub fn params(&self) -> Argon2Params {
        self.params
    }

    async fn run<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> Result<T> {
        let _permit = self.permits.acquire().await.map_err(Error::internal)?;
        tokio::task::spawn_blocking(f)
            .await
            .map_err(Error::internal)
    }

    /// Hashes a new password into a PHC string.
    pub async fn hash(&self, password: String) -> Result<String> {
        let params = self.params;
        self.run(move || hash_now(params, &password)).await?
    }

    /// Verifies `password` against `stored`, or against a dummy hash when there is no
    /// account, so that both cases take about the same time.
    pub async fn verify(&self, password: String, stored: Option<String>) -> Result<Verified> {
        let params = self.params;
        let dummy = self.dummy.clone();
        self.run(move || {
            let (phc, real) = match &stored {
                Some(s) => (s.as_str(), true),
                None => (dummy.as_str(), false),
            };
            let Ok(parsed) = PasswordHash::new(phc) else {
                return Ok(Verified::No);
            };
            let ok = params
                .argon2()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok();
            if !(ok && real) {
                return Ok(Verified::No);
            }
            if weaker_than(&parsed, params) {
                return Ok(Verified::YesRehashed(hash_now(params, &password)?));
            }
            Ok(Verified::Yes)
        })
        .await?
    }
}

fn hash_now(params: Argon2Params, password: &str) -> Result<String> {
    params
        .argon2()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(Error::internal)
}

/// Whether a stored hash is weaker than (or of another algorithm than) the configuration.
fn weaker_than(parsed: &PasswordHash, want: Argon2Params) -> bool {
    if parsed.algorithm.as_str() != "argon2id" {
        return true;
    }
    match Params::try_from(parsed) {
        Ok(p) => p.m_cost() < want.m_cost || p.t_cost() < want.t_cost || p.p_cost() < want.p_cost,
        Err(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_weak_ones_are_upgraded() {
        let weak = Hasher::new(Argon2Params::TEST, 2);
        let h = weak.hash("mypassword123".into()).await.unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=64,t=1,p=1$"));
        assert_eq!(
            weak.verify("mypassword123".into(), Some(h.clone()))
                .await
                .unwrap(),
            Verified::Yes
        );
        assert_eq!(
            weak.verify("wrong".into(), Some(h.clone())).await.unwrap(),
            Verified::No
        );
        assert_eq!(
            weak.verify("mypassword123".into(), None).await.unwrap(),
            Verified::No
        );
        assert_eq!(
            weak.verify("x".into(), Some("garbage".into()))
                .await
                .unwrap(),
            Verified::No
        );

        let stronger = Hasher::new(
            Argon2Params {
                m_cost: 128,
                t_cost: 2,
                p_cost: 1,
            },
            2,
        );
        match stronger
            .verify("mypassword123".into(), Some(h))
            .await
            .unwrap()
        {
            Verified::YesRehashed(new) => assert!(new.starts_with("$argon2id$v=19$m=128,t=2,p=1$")),
            other => panic!("expected a rehash, got {other:?}"),
        }
    }

    #[test]
    fn owasp_parameters_are_valid() {
        assert!(Argon2Params::OWASP.validate().is_ok());
        assert!(
            Argon2Params {
                m_cost: 1,
                t_cost: 0,
                p_cost: 0
            }
            .validate()
            .is_err()
        );
    }
}
