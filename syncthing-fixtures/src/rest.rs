//! A minimal client for one node's REST API: GET JSON, POST, PATCH JSON,
//! always with the `X-API-Key` header (1.19 does not accept `Bearer`).
//! Syncthing's error bodies are plain text, so a failure keeps the status
//! and the body text in the error.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::FixtureError;

/// Per-request timeout for ordinary calls. Generous, because a node busy
/// hashing on a shared 2-core machine can be slow to answer.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

#[derive(Clone, Debug)]
pub(crate) struct Rest {
    client: reqwest::Client,
    base: String,
    key: String,
}

impl Rest {
    pub(crate) fn new(base: String, key: String) -> Result<Self, FixtureError> {
        let client = reqwest::Client::builder()
            // Never route loopback calls through a proxy from the environment.
            .no_proxy()
            .timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(|e| FixtureError::Rest { method: "BUILD", url: base.clone(), detail: e.to_string() })?;
        Ok(Rest { client, base, key })
    }

    pub(crate) async fn get_json(&self, path_and_query: &str) -> Result<Value, FixtureError> {
        let (url, body) = self.send(Method::GET, path_and_query, None, None).await?;
        serde_json::from_str(&body).map_err(|e| FixtureError::Rest {
            method: "GET",
            url,
            detail: format!("invalid JSON ({e}): {body}"),
        })
    }

    pub(crate) async fn post(&self, path_and_query: &str) -> Result<(), FixtureError> {
        self.send(Method::POST, path_and_query, None, None).await.map(drop)
    }

    pub(crate) async fn patch_json(&self, path_and_query: &str, body: &Value) -> Result<(), FixtureError> {
        self.send(Method::PATCH, path_and_query, Some(body), None).await.map(drop)
    }

    /// `GET /rest/system/ping` with a short timeout, for readiness polling.
    pub(crate) async fn ping(&self) -> Result<(), FixtureError> {
        let (url, body) = self.send(Method::GET, "/rest/system/ping", None, Some(Duration::from_secs(2))).await?;
        if body.contains("pong") {
            Ok(())
        } else {
            Err(FixtureError::Rest { method: "GET", url, detail: format!("unexpected ping answer: {body}") })
        }
    }

    /// Sends one request; returns the URL (for error context) and the body
    /// of a 2xx answer.
    async fn send(
        &self,
        method: Method,
        path_and_query: &str,
        json: Option<&Value>,
        timeout: Option<Duration>,
    ) -> Result<(String, String), FixtureError> {
        let url = format!("{}{}", self.base, path_and_query);
        let method_name = method_name(&method);
        let mut request = self.client.request(method, &url).header("X-API-Key", &self.key);
        if let Some(json) = json {
            request = request.json(json);
        }
        if let Some(timeout) = timeout {
            request = request.timeout(timeout);
        }
        let fail = |detail: String| FixtureError::Rest { method: method_name, url: url.clone(), detail };
        let response = request.send().await.map_err(|e| fail(error_chain(&e)))?;
        let status = response.status();
        let body = response.text().await.map_err(|e| fail(error_chain(&e)))?;
        if status.is_success() { Ok((url, body)) } else { Err(fail(describe_status(status, &body))) }
    }
}

fn method_name(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PATCH => "PATCH",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        _ => "REQUEST",
    }
}

fn describe_status(status: StatusCode, body: &str) -> String {
    // 403 `CSRF Error` (no GUI password), 401 (password set, up to 1.25) and
    // 403 `Forbidden` (password set, 1.26+ and 2.x lib/api/api_auth.go).
    let rejected = status == StatusCode::UNAUTHORIZED
        || (status == StatusCode::FORBIDDEN && (body.contains("CSRF") || body.trim() == "Forbidden"));
    let hint = if rejected { " (wrong or missing API key)" } else { "" };
    format!("HTTP {status}{hint}: {}", body.trim())
}

/// reqwest's Display hides the cause ("error sending request"); the chain
/// says "connection refused", which is what a reader needs.
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Percent-encodes a query-string value (device IDs are safe, folder IDs
/// may contain anything).
pub(crate) fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_reserved_characters() {
        assert_eq!(encode("ABC-123"), "ABC-123");
        assert_eq!(encode("my folder/x&y"), "my%20folder%2Fx%26y");
    }

    #[test]
    fn forbidden_mentions_api_key() {
        assert!(describe_status(StatusCode::FORBIDDEN, "CSRF Error\n").contains("API key"));
        assert!(describe_status(StatusCode::FORBIDDEN, "Forbidden\n").contains("API key"));
        assert!(describe_status(StatusCode::UNAUTHORIZED, "Not Authorized\n").contains("API key"));
        assert!(!describe_status(StatusCode::FORBIDDEN, "Host check error\n").contains("API key"));
    }
}
