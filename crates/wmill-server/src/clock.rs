//! Time, passed in: the server reads the clock only through [`Clock`], so that tests can
//! move it (token expiry, lockout windows) without sleeping.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, Utc};

/// Microseconds since the Unix epoch, the unit timestamps are stored in.
pub type Micros = i64;

/// A source of the current time.
pub trait Clock: Send + Sync + 'static {
    /// Now, in microseconds since the epoch.
    fn now(&self) -> Micros;
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Micros {
        Utc::now().timestamp_micros()
    }
}

/// A clock that tests advance by hand. Every reading moves it on by one microsecond, so
/// that events in a test are strictly ordered in time, as they are in real life.
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<AtomicI64>);

impl ManualClock {
    /// Starts at the system's current time.
    pub fn new() -> Self {
        ManualClock(Arc::new(AtomicI64::new(Utc::now().timestamp_micros())))
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: std::time::Duration) {
        self.0.fetch_add(by.as_micros() as i64, Ordering::SeqCst);
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Micros {
        self.0.fetch_add(1, Ordering::SeqCst)
    }
}

/// Converts stored microseconds to a wire timestamp.
pub fn to_ts(micros: Micros) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(micros).unwrap_or_default()
}

/// Converts a wire timestamp to stored microseconds.
pub fn from_ts(ts: DateTime<Utc>) -> Micros {
    ts.timestamp_micros()
}
