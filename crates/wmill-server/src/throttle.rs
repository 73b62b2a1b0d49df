//! Per-client-address limits on logins, in memory (per instance): at most M attempts a
//! minute, and at most a few audited refusals a minute so that a flood cannot bury the audit
//! log. The per-account lock, which must hold across instances and restarts, lives in the
//! database (`AuthStore::count_login_attempt`).
//!
//! Refused logins are also counted for the server's log, which gets at most one line a
//! minute per address: the first refusal is reported at once, the ones after it within the
//! minute are counted and reported together by [`Throttle::refuse`] or
//! [`Throttle::take_unreported`], whichever comes first once the minute is over.
//!
//! The state is bounded by size and age: entries older than a minute with nothing left to
//! report are useless and swept, and when more addresses than [`MAX_ADDRESSES`] are live at
//! once, the oldest windows are dropped first (with any refusals not reported yet).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

use crate::clock::Micros;

const MINUTE: Micros = 60_000_000;
/// Addresses tracked at most.
pub const MAX_ADDRESSES: usize = 100_000;
/// Refused logins audited per address and minute; past that, one more entry says that the
/// rest of the minute is not audited.
pub const AUDITED_REFUSALS_PER_MINUTE: u32 = 20;

#[derive(Clone, Copy)]
struct Window {
    start: Micros,
    attempts: u32,
    audited: u32,
    /// Refusals not reported in the log yet (kept across windows).
    unreported: u32,
    /// When the last log line about this address was written (kept across windows).
    reported_at: Option<Micros>,
}

impl Window {
    /// Whether a log line about this address may be written at `now`.
    fn may_report(&self, now: Micros) -> bool {
        self.reported_at.is_none_or(|t| now - t >= MINUTE)
    }
}

/// Whether a refused login is audited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditBudget {
    /// Audit it.
    Yes,
    /// Audit it, saying that further refusals from this address are not audited this minute.
    Last,
    /// Do not audit it.
    No,
}

/// A refused login, counted by [`Throttle::refuse`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused {
    /// Whether to audit it.
    pub audit: AuditBudget,
    /// How many refused logins from the address to report in the log now (this one
    /// included); `None` when a line about it was written less than a minute ago, and this
    /// one is counted for the next.
    pub report: Option<u32>,
}

/// The per-address limits; share one per server.
pub struct Throttle {
    per_ip_per_minute: u32,
    ips: Mutex<HashMap<IpAddr, Window>>,
}

impl Throttle {
    /// At most `per_ip` attempts a minute per address.
    pub fn new(per_ip: u32) -> Self {
        Throttle {
            per_ip_per_minute: per_ip,
            ips: Mutex::new(HashMap::new()),
        }
    }

    fn window<T>(&self, ip: IpAddr, now: Micros, f: impl FnOnce(&mut Window) -> T) -> T {
        let mut ips = self.ips.lock().unwrap_or_else(|e| e.into_inner());
        if ips.len() >= MAX_ADDRESSES && !ips.contains_key(&ip) {
            ips.retain(|_, w| now - w.start < MINUTE);
            if ips.len() >= MAX_ADDRESSES {
                // Every tracked address is live: drop the oldest tenth of the windows.
                let mut starts: Vec<Micros> = ips.values().map(|w| w.start).collect();
                let cut = starts.len() / 10;
                let (_, nth, _) = starts.select_nth_unstable(cut);
                let nth = *nth;
                ips.retain(|_, w| w.start > nth);
            }
        }
        let w = ips.entry(ip).or_insert(Window {
            start: now,
            attempts: 0,
            audited: 0,
            unreported: 0,
            reported_at: None,
        });
        if now - w.start >= MINUTE {
            *w = Window {
                start: now,
                attempts: 0,
                audited: 0,
                ..*w
            };
        }
        f(w)
    }

    /// Counts an attempt from `ip`; `false` when it must be refused with 429.
    pub fn allow(&self, ip: IpAddr, now: Micros) -> bool {
        let limit = self.per_ip_per_minute;
        self.window(ip, now, |w| {
            w.attempts = w.attempts.saturating_add(1);
            w.attempts <= limit
        })
    }

    /// Counts a refused login from `ip`: whether it is audited, and whether to write the
    /// log line about the address now.
    pub fn refuse(&self, ip: IpAddr, now: Micros) -> Refused {
        self.window(ip, now, |w| {
            w.audited = w.audited.saturating_add(1);
            let audit = match w.audited {
                n if n < AUDITED_REFUSALS_PER_MINUTE => AuditBudget::Yes,
                n if n == AUDITED_REFUSALS_PER_MINUTE => AuditBudget::Last,
                _ => AuditBudget::No,
            };
            w.unreported = w.unreported.saturating_add(1);
            let report = w.may_report(now).then(|| {
                w.reported_at = Some(now);
                std::mem::take(&mut w.unreported)
            });
            Refused { audit, report }
        })
    }

    /// The refused logins counted but not reported yet, per address, for the addresses
    /// whose last log line is a minute old: they are reported now. Also forgets the
    /// addresses with nothing left to count or report.
    pub fn take_unreported(&self, now: Micros) -> Vec<(IpAddr, u32)> {
        let mut ips = self.ips.lock().unwrap_or_else(|e| e.into_inner());
        let mut due = Vec::new();
        ips.retain(|ip, w| {
            if w.unreported > 0 && w.may_report(now) {
                due.push((*ip, std::mem::take(&mut w.unreported)));
                w.reported_at = Some(now);
            }
            now - w.start < MINUTE || w.unreported > 0 || !w.may_report(now)
        });
        due.sort();
        due
    }

    /// Addresses tracked now.
    pub fn len(&self) -> usize {
        self.ips.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Whether no address is tracked.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IP: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

    #[test]
    fn an_ip_gets_a_budget_per_minute() {
        let t = Throttle::new(5);
        for _ in 0..5 {
            assert!(t.allow(IP, 10));
        }
        assert!(!t.allow(IP, 10));
        assert!(t.allow(IP, 10 + MINUTE));
    }

    #[test]
    fn refusals_are_audited_up_to_a_budget() {
        let t = Throttle::new(1000);
        let got: Vec<AuditBudget> = (0..AUDITED_REFUSALS_PER_MINUTE + 2)
            .map(|_| t.refuse(IP, 1).audit)
            .collect();
        assert_eq!(
            got.iter().filter(|b| **b == AuditBudget::Yes).count() as u32,
            AUDITED_REFUSALS_PER_MINUTE - 1
        );
        assert_eq!(
            got[AUDITED_REFUSALS_PER_MINUTE as usize - 1],
            AuditBudget::Last
        );
        assert_eq!(got.last(), Some(&AuditBudget::No));
        assert_eq!(t.refuse(IP, 1 + MINUTE).audit, AuditBudget::Yes);
    }

    #[test]
    fn refusals_are_reported_once_a_minute_per_address() {
        let t = Throttle::new(1000);
        let other = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1));
        // The first refusal at once, the next ones counted.
        assert_eq!(t.refuse(IP, 0).report, Some(1));
        for i in 1..5 {
            assert_eq!(t.refuse(IP, i).report, None);
        }
        assert_eq!(t.refuse(other, 5).report, Some(1), "per address");
        assert_eq!(t.take_unreported(MINUTE - 1), vec![]);
        // A minute after the last line, the four counted since.
        assert_eq!(t.take_unreported(MINUTE), vec![(IP, 4)]);
        assert_eq!(t.refuse(IP, MINUTE + 1).report, None);
        // ... or the next refusal after that minute reports them with itself.
        assert_eq!(t.refuse(IP, 2 * MINUTE).report, Some(2));
        assert_eq!(t.refuse(IP, 3 * MINUTE + 1).report, Some(1));
        // Addresses with nothing left to report are forgotten.
        assert_eq!(t.take_unreported(5 * MINUTE), vec![]);
        assert!(t.is_empty());
    }

    #[test]
    fn the_state_is_bounded_by_size_and_age() {
        let t = Throttle::new(10);
        let ip = |i: u32| IpAddr::V4(std::net::Ipv4Addr::from(i));
        for i in 0..MAX_ADDRESSES as u32 {
            t.allow(ip(i), Micros::from(i));
        }
        assert_eq!(t.len(), MAX_ADDRESSES);
        // All live: the oldest tenth goes.
        t.allow(ip(u32::MAX), MAX_ADDRESSES as Micros);
        assert!(
            t.len() <= MAX_ADDRESSES - MAX_ADDRESSES / 10 + 1,
            "{}",
            t.len()
        );
        // A minute later, every old window is swept at the next new address.
        for i in 0..MAX_ADDRESSES as u32 {
            t.allow(ip(i), MINUTE * 2);
        }
        t.allow(ip(u32::MAX - 1), MINUTE * 4);
        assert!(t.len() < MAX_ADDRESSES, "{}", t.len());
    }
}
