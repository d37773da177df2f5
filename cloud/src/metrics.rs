//! Prometheus metrics: the process-wide recorder, the names this service
//! records, the HTTP middleware that counts requests, and `GET /metrics`.
//!
//! The `metrics` facade has one global recorder per process, and tests start
//! several servers in one process, so [`install`] installs it once (later calls
//! return the same handle) and every server renders the same registry.
//!
//! Labels are bounded: methods map to a fixed set, routes to their templates.
//!
//! Names (all prefixed `cloud_`):
//! - `cloud_http_requests_total{method, route, status}` — counter
//! - `cloud_http_request_duration_seconds{method, route}` — histogram
//! - `cloud_batches_total{outcome="applied"|"replayed"}` — counter
//! - `cloud_events_written_total` — counter
//! - `cloud_ws_subscribers` — gauge, recorded by `push`
//! - `cloud_push_lag_seconds` — histogram (commit → socket write), recorded by `push`

use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::Method;
use axum::http::header::CONTENT_TYPE;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics::{Unit, counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

pub const HTTP_REQUESTS: &str = "cloud_http_requests_total";
pub const HTTP_DURATION: &str = "cloud_http_request_duration_seconds";
pub const BATCHES: &str = "cloud_batches_total";
pub const EVENTS_WRITTEN: &str = "cloud_events_written_total";
pub const WS_SUBSCRIBERS: &str = "cloud_ws_subscribers";
pub const PUSH_LAG: &str = "cloud_push_lag_seconds";

/// Latency buckets, in seconds: push lag must stay well under a second, so the
/// interesting range is 1 ms .. 1 s.
const LATENCY_BUCKETS: &[f64] = &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// The process-wide Prometheus handle, installing the recorder on first use.
pub fn install() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        let builder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Full(PUSH_LAG.into()), LATENCY_BUCKETS)
            .and_then(|b| b.set_buckets_for_metric(Matcher::Full(HTTP_DURATION.into()), LATENCY_BUCKETS));
        let builder = match builder {
            Ok(b) => b,
            // Only an empty bucket list fails, and ours are constants.
            Err(e) => {
                tracing::warn!(error = %e, "metrics buckets refused; using summaries");
                PrometheusBuilder::new()
            }
        };
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        if let Err(e) = metrics::set_global_recorder(recorder) {
            // Someone else (an embedding program) installed a recorder first; our
            // handle then renders an empty registry rather than failing startup.
            tracing::warn!(error = %e, "a metrics recorder was already installed; /metrics will be empty");
        }
        describe();
        handle.clone()
    })
}

fn describe() {
    describe_counter!(HTTP_REQUESTS, "HTTP requests answered, by method, route and status");
    describe_histogram!(HTTP_DURATION, Unit::Seconds, "HTTP request handling time");
    describe_counter!(BATCHES, "files/update batches, by outcome (applied or replayed)");
    describe_counter!(EVENTS_WRITTEN, "events sequenced and stored");
    describe_gauge!(WS_SUBSCRIBERS, "live WebSocket project subscriptions");
    describe_histogram!(PUSH_LAG, Unit::Seconds, "time from commit to an event's push to a socket");
    // Registered up front so a scrape shows them before the first event.
    counter!(EVENTS_WRITTEN).absolute(0);
    gauge!(WS_SUBSCRIBERS).increment(0.0);
}

/// A batch was sequenced with `events` events.
pub fn batch_applied(events: usize) {
    counter!(BATCHES, "outcome" => "applied").increment(1);
    counter!(EVENTS_WRITTEN).increment(events as u64);
}

/// A batch id was seen again with the same content: nothing written.
pub fn batch_replayed() {
    counter!(BATCHES, "outcome" => "replayed").increment(1);
}

/// Middleware: counts every answered request by method, route template and
/// status. Every label comes from a fixed set, whatever a client sends: a
/// label per raw method or path would let anyone grow the registry (and the
/// process) without bound.
pub async fn track_http(req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = method_label(req.method());
    let route = route_label(&req);
    let response = next.run(req).await;
    let status = response.status().as_u16().to_string();
    counter!(HTTP_REQUESTS, "method" => method, "route" => route.clone(), "status" => status).increment(1);
    histogram!(HTTP_DURATION, "method" => method, "route" => route).record(start.elapsed().as_secs_f64());
    response
}

/// The method as one of a fixed set: the standard ones, else `other`.
pub fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// The route template the request matched (`/api/projects/{id}`), never the
/// raw path (which holds ids and invite codes); `unmatched` for unknown paths.
pub fn route_label(req: &Request) -> String {
    req.extensions().get::<MatchedPath>().map_or_else(|| "unmatched".to_owned(), |m| m.as_str().to_owned())
}

/// `GET /metrics`: the Prometheus text format.
#[utoipa::path(
    get,
    path = "/metrics", operation_id = "metrics",
    tag = "meta",
    description = "Prometheus metrics; served on `--metrics-listen` instead when that is set.",
    responses((status = 200, description = "the Prometheus text format", content_type = "text/plain"))
)]
pub async fn render() -> Response {
    let handle = install();
    // Upkeep drains histogram buffers; scrapes are rare, so doing it here is enough.
    handle.run_upkeep();
    ([(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], handle.render()).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_map_to_a_fixed_set() {
        assert_eq!(method_label(&Method::GET), "GET");
        assert_eq!(method_label(&Method::OPTIONS), "OPTIONS");
        assert_eq!(method_label(&Method::from_bytes(b"BREW").unwrap()), "other");
        assert_eq!(method_label(&Method::CONNECT), "other");
    }
}
