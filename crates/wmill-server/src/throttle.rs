//! Login throttling, in memory: per account, a lock after N consecutive failures; per
//! client IP, at most M attempts a minute. The answer never says whether the account exists.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

use crate::clock::Micros;

const MINUTE: Micros = 60_000_000;
/// Entries kept before old ones are swept, so that a spray of addresses cannot grow memory.
const SWEEP_AT: usize = 100_000;

#[derive(Default)]
struct AccountState {
    failures: u32,
    locked_until: Micros,
}

#[derive(Default)]
struct State {
    accounts: HashMap<String, AccountState>,
    /// Per IP: window start and attempts in it.
    ips: HashMap<IpAddr, (Micros, u32)>,
}

/// The throttle; share one per server.
pub struct Throttle {
    threshold: u32,
    lock_for: Micros,
    per_ip_per_minute: u32,
    state: Mutex<State>,
}

impl Throttle {
    /// `threshold` failures lock an account for `lock_for`; `per_ip` attempts a minute.
    pub fn new(threshold: u32, lock_for: std::time::Duration, per_ip: u32) -> Self {
        Throttle {
            threshold,
            lock_for: lock_for.as_micros() as Micros,
            per_ip_per_minute: per_ip,
            state: Mutex::new(State::default()),
        }
    }

    /// Counts an attempt; `false` when it must be refused with 429.
    pub fn allow(&self, account: &str, ip: IpAddr, now: Micros) -> bool {
        let mut s = self.state.lock().expect("throttle lock");
        if s.ips.len() > SWEEP_AT {
            s.ips.retain(|_, (start, _)| now - *start < MINUTE);
        }
        let (start, count) = s.ips.entry(ip).or_insert((now, 0));
        if now - *start >= MINUTE {
            *start = now;
            *count = 0;
        }
        *count += 1;
        if *count > self.per_ip_per_minute {
            return false;
        }
        s.accounts
            .get(account)
            .is_none_or(|a| a.locked_until <= now)
    }

    /// Records a failed attempt on `account`.
    pub fn failed(&self, account: &str, now: Micros) {
        let mut s = self.state.lock().expect("throttle lock");
        if s.accounts.len() > SWEEP_AT {
            s.accounts
                .retain(|_, a| a.locked_until > now || a.failures > 0);
        }
        let a = s.accounts.entry(account.to_string()).or_default();
        a.failures += 1;
        if a.failures >= self.threshold {
            a.locked_until = now + self.lock_for;
            a.failures = 0;
        }
    }

    /// A success resets the account's count.
    pub fn succeeded(&self, account: &str) {
        self.state
            .lock()
            .expect("throttle lock")
            .accounts
            .remove(account);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const IP: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

    #[test]
    fn an_account_locks_after_the_threshold_and_unlocks_later() {
        let t = Throttle::new(3, Duration::from_secs(60), 1000);
        let now = 1_000_000;
        for _ in 0..3 {
            assert!(t.allow("a@x", IP, now));
            t.failed("a@x", now);
        }
        assert!(!t.allow("a@x", IP, now + 1));
        assert!(
            t.allow("b@x", IP, now + 1),
            "other accounts are not affected"
        );
        assert!(t.allow("a@x", IP, now + 61_000_000));
    }

    #[test]
    fn success_resets_the_count() {
        let t = Throttle::new(3, Duration::from_secs(60), 1000);
        t.failed("a@x", 0);
        t.failed("a@x", 0);
        t.succeeded("a@x");
        t.failed("a@x", 0);
        t.failed("a@x", 0);
        assert!(t.allow("a@x", IP, 1));
    }

    #[test]
    fn an_ip_gets_a_budget_per_minute() {
        let t = Throttle::new(100, Duration::from_secs(60), 5);
        for i in 0..5 {
            assert!(t.allow(&format!("u{i}@x"), IP, 10));
        }
        assert!(!t.allow("u9@x", IP, 10));
        assert!(t.allow("u9@x", IP, 10 + MINUTE));
    }
}
