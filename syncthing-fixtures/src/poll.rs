//! The one way every test in the workspace waits for a condition: re-check a
//! probe at a short interval until it holds or the deadline passes. Nothing
//! sleeps "long enough and hopes", and a timeout names the condition and
//! what the probe saw last, so a failing test explains itself.
//!
//! ```no_run
//! # async fn demo(path: std::path::PathBuf) {
//! use std::time::Duration;
//! use syncthing_fixtures::poll::eventually;
//! let bytes = eventually("hello.txt on B", Duration::from_secs(20), || std::fs::read(&path)).await;
//! # }
//! ```

use std::fmt::Display;
use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

/// How often a probe is re-run: short enough not to slow a test down, long
/// enough not to load a 2-core machine with polling.
pub const INTERVAL: Duration = Duration::from_millis(50);

/// What a probe returns: the value once the condition holds, or else what it
/// saw. `Option` says nothing about a miss; a `Result`'s error is shown in
/// the timeout message (use `Err(format!(..))` to report the state seen).
pub trait Observation {
    type Value;
    fn into_result(self) -> Result<Self::Value, String>;
}

impl<T> Observation for Option<T> {
    type Value = T;
    fn into_result(self) -> Result<T, String> {
        self.ok_or_else(|| "not yet".to_owned())
    }
}

impl<T, E: Display> Observation for Result<T, E> {
    type Value = T;
    fn into_result(self) -> Result<T, String> {
        self.map_err(|e| e.to_string())
    }
}

/// A condition that did not hold before its deadline.
#[derive(Debug, thiserror::Error)]
#[error("timed out after {after:?} waiting for {what}; last seen: {last}")]
pub struct TimedOut {
    pub what: String,
    pub after: Duration,
    pub last: String,
}

/// Runs the sync `probe` until it succeeds; panics after `within`, naming
/// `what` and the last observation.
pub async fn eventually<O: Observation>(what: &str, within: Duration, mut probe: impl FnMut() -> O) -> O::Value {
    unwrap(try_eventually_async(what, within, || std::future::ready(probe())).await)
}

/// [`eventually`] for an async probe.
pub async fn eventually_async<O, F, Fut>(what: &str, within: Duration, probe: F) -> O::Value
where
    O: Observation,
    F: FnMut() -> Fut,
    Fut: Future<Output = O>,
{
    unwrap(try_eventually_async(what, within, probe).await)
}

/// [`eventually_async`] for code that must not panic (the demo, helpers that
/// return errors): the timeout comes back as a [`TimedOut`].
pub async fn try_eventually_async<O, F, Fut>(what: &str, within: Duration, mut probe: F) -> Result<O::Value, TimedOut>
where
    O: Observation,
    F: FnMut() -> Fut,
    Fut: Future<Output = O>,
{
    let deadline = Instant::now() + within;
    loop {
        let last = match probe().await.into_result() {
            Ok(value) => return Ok(value),
            Err(last) => last,
        };
        if Instant::now() >= deadline {
            return Err(TimedOut { what: what.to_owned(), after: within, last });
        }
        tokio::time::sleep(INTERVAL).await;
    }
}

fn unwrap<T>(result: Result<T, TimedOut>) -> T {
    result.unwrap_or_else(|e| panic!("{e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_timeout_names_the_condition_and_the_last_observation() {
        let mut n = 0;
        let err = try_eventually_async("never", Duration::from_millis(120), || {
            n += 1;
            let seen = n;
            async move { Err::<(), _>(format!("try {seen}")) }
        })
        .await
        .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("never") && text.contains(&format!("try {n}")), "{text}");
    }

    #[tokio::test]
    async fn returns_the_value_once_the_probe_holds() {
        let mut n = 0;
        let got = eventually("third try", Duration::from_secs(5), || {
            n += 1;
            (n >= 3).then_some(n)
        })
        .await;
        assert_eq!(got, 3);
    }

    #[tokio::test]
    #[should_panic(expected = "waiting for nothing; last seen: not yet")]
    async fn eventually_panics_at_the_deadline() {
        eventually("nothing", Duration::from_millis(60), || None::<()>).await;
    }
}
