//! What the benchmarks (docs/benchmarks.md) changed, held in place: password hashing on a
//! few dedicated low-priority threads that reuse their memory, with hashes that argon2's own
//! code verifies and the other way round.

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};
use wmill_server::password::{Argon2Params, HASH_THREAD_NICE, Hasher, Verified};

const SMALL: Argon2Params = Argon2Params {
    m_cost: 256,
    t_cost: 2,
    p_cost: 1,
};

/// The nice value of the calling thread (Linux: field 19 of /proc/thread-self/stat).
fn my_nice() -> Option<i32> {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    // The command name (field 2) is in parentheses and may hold spaces.
    let rest = &stat[stat.rfind(')')? + 2..];
    rest.split_whitespace().nth(16)?.parse().ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hashing_runs_on_a_fixed_set_of_low_priority_threads() {
    let hasher = Hasher::new(SMALL, 2);
    let mut jobs = Vec::new();
    for _ in 0..40 {
        let h = hasher.clone();
        jobs.push(tokio::spawn(async move {
            h.run(|| {
                let name = std::thread::current().name().map(String::from);
                (name, my_nice())
            })
            .await
            .unwrap()
        }));
    }
    let mut names = std::collections::BTreeSet::new();
    for j in jobs {
        let (name, nice) = j.await.unwrap();
        let name = name.expect("hashing threads are named");
        assert!(name.starts_with("argon2-"), "{name}");
        if cfg!(target_os = "linux") {
            assert_eq!(nice, Some(HASH_THREAD_NICE), "on {name}");
        }
        names.insert(name);
    }
    assert!(names.len() <= 2, "40 jobs on at most 2 threads: {names:?}");
    // The request threads keep their normal priority.
    if cfg!(target_os = "linux") {
        assert_eq!(my_nice(), Some(0));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_hashes_and_argon2s_verify_each_other() {
    let hasher = Hasher::new(SMALL, 2);
    let argon = Argon2::new(
        Algorithm::Argon2id,
        Version::V0x13,
        Params::new(SMALL.m_cost, SMALL.t_cost, SMALL.p_cost, None).unwrap(),
    );
    let password = "correct horse battery staple ü";

    let ours = hasher.hash(password.into()).await.unwrap();
    assert!(ours.starts_with("$argon2id$v=19$m=256,t=2,p=1$"), "{ours}");
    let parsed = PasswordHash::new(&ours).unwrap();
    assert!(argon.verify_password(password.as_bytes(), &parsed).is_ok());
    assert!(argon.verify_password(b"wrong", &parsed).is_err());

    let theirs = argon
        .hash_password(password.as_bytes())
        .unwrap()
        .to_string();
    assert_eq!(
        hasher
            .verify(password.into(), Some(theirs.clone()))
            .await
            .unwrap(),
        Verified::Yes
    );
    assert_eq!(
        hasher.verify("wrong".into(), Some(theirs)).await.unwrap(),
        Verified::No
    );
    // Two hashes of one password differ (fresh salt), and both verify.
    let again = hasher.hash(password.into()).await.unwrap();
    assert_ne!(ours, again);
    for h in [ours, again] {
        assert_eq!(
            hasher.verify(password.into(), Some(h)).await.unwrap(),
            Verified::Yes
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stored_hashes_of_other_costs_still_verify() {
    let hasher = Hasher::new(SMALL, 1);
    for (m, t) in [(64, 1), (1024, 1), (1024, 2), (128, 3)] {
        let argon = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(m, t, 1, None).unwrap(),
        );
        let stored = argon.hash_password(b"mypassword123").unwrap().to_string();
        let got = hasher
            .verify("mypassword123".into(), Some(stored.clone()))
            .await
            .unwrap();
        // Weaker than configured: upgraded; stronger (more memory than the thread keeps):
        // verified on a buffer of its own.
        match got {
            Verified::Yes => assert!(m >= SMALL.m_cost && t >= SMALL.t_cost, "{stored}"),
            Verified::YesRehashed(new) => {
                assert!(m < SMALL.m_cost || t < SMALL.t_cost, "{stored}");
                assert!(new.starts_with("$argon2id$v=19$m=256,t=2,p=1$"));
            }
            Verified::No => panic!("{stored} did not verify"),
        }
        assert_eq!(
            hasher.verify("nope".into(), Some(stored)).await.unwrap(),
            Verified::No
        );
    }
    // Garbage and other algorithms never verify.
    for stored in [
        "",
        "$argon2id$v=19$m=256,t=2,p=1$",
        "$2b$12$abcdefghijklmnopqrstuv",
    ] {
        assert_eq!(
            hasher
                .verify("x".into(), Some(stored.to_string()))
                .await
                .unwrap(),
            Verified::No
        );
    }
}
