//! A typed client for the cloud's HTTP API (docs/wire.md),
//! used by both sides: the owner (projects, files/update, invites) and the
//! invitee (events, files snapshot, accept, members, progress).
//!
//! Every call sends `Authorization: Bearer <token>`. Failures come back as
//! one [`ApiError`] that tells a refusal (4xx: the cloud read the request
//! and said no, retrying the same request will not help) from a transient
//! failure (5xx, 429, timeouts, the network) that a retry may fix. The
//! cloud's error body `{"error": {"code", "message", "invalid"}}` is kept.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use cloud_protocol::{
    CreateProjectRequest, ErrorBody, EventsPage, FilesSnapshot, InvalidChange, Invite, Me, Member, MemberList,
    ProgressReport, Project, ProjectList, UpdateFilesRequest, UpdateFilesResponse,
};
use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use super::tls::{self, TlsSetupError};
use crate::base_url::{self, SetupError};
use crate::config::CloudAccess;

/// Default timeout of one request; a batch of 1000 changes is well below it.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a call to the cloud failed.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The URL is not one, or the HTTP client cannot be built.
    #[error(transparent)]
    Setup(#[from] SetupError),
    /// The CA file is unreadable or holds no certificate, or TLS cannot be set up.
    #[error(transparent)]
    Tls(#[from] TlsSetupError),
    /// The TLS handshake failed on the cloud's certificate (untrusted CA,
    /// wrong name, expired): `problem` says which, and what to do.
    #[error("{problem} (the cloud at {url})")]
    Certificate { url: String, problem: String },
    /// The cloud answered 4xx (except 408 and 429): the request as sent will
    /// never succeed. `code` and `message` come from the wire error body.
    #[error("the cloud refused {method} {path} ({status} {code}): {message}")]
    Refused {
        method: String,
        path: String,
        status: u16,
        code: String,
        message: String,
        /// For a refused batch (422): each bad entry.
        invalid: Vec<InvalidChange>,
    },
    /// 5xx, 408 or 429: the cloud is there but cannot serve now.
    #[error("the cloud failed {method} {path} ({status} {code}): {message}")]
    Unavailable {
        method: String,
        path: String,
        status: u16,
        code: String,
        message: String,
        /// From `Retry-After`, when the cloud sent one.
        retry_after: Option<Duration>,
    },
    #[error("the cloud is not reachable at {url}: {detail}")]
    Unreachable { url: String, detail: String },
    #[error("the cloud at {url} did not answer {path} in time")]
    Timeout { url: String, path: String },
    #[error("unexpected answer from the cloud to {path}: {detail}")]
    Decode { path: String, detail: String },
}

impl ApiError {
    /// True when retrying the same request later may succeed. A certificate
    /// failure counts: the cloud never read the request, and a renewed
    /// certificate (or a fixed `--cloud-ca` after a restart) lets it through,
    /// so the outbox must keep the batch rather than set it aside.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            ApiError::Unavailable { .. }
                | ApiError::Unreachable { .. }
                | ApiError::Timeout { .. }
                | ApiError::Certificate { .. }
        )
    }

    /// The TLS handshake failed on the cloud's certificate.
    pub fn is_certificate_problem(&self) -> bool {
        matches!(self, ApiError::Certificate { .. })
    }

    /// The HTTP status, when the cloud answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            ApiError::Refused { status, .. } | ApiError::Unavailable { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The wire error code (`not_found`, `invalid_change`, …), when the cloud answered.
    pub fn code(&self) -> Option<&str> {
        match self {
            ApiError::Refused { code, .. } | ApiError::Unavailable { code, .. } => Some(code),
            _ => None,
        }
    }

    /// The cloud's one-sentence reason, when it answered.
    pub fn message(&self) -> Option<&str> {
        match self {
            ApiError::Refused { message, .. } | ApiError::Unavailable { message, .. } => Some(message),
            _ => None,
        }
    }

    /// The bad entries a 422 named (empty otherwise).
    pub fn invalid_entries(&self) -> &[InvalidChange] {
        match self {
            ApiError::Refused { invalid, .. } => invalid,
            _ => &[],
        }
    }

    /// 401: the token is missing, wrong or revoked (not the request's fault).
    pub fn is_unauthorized(&self) -> bool {
        self.status() == Some(401)
    }

    /// 404: unknown project or not a member (the cloud does not say which).
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }

    /// How long the cloud asked us to wait, if it did.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ApiError::Unavailable { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// One plain sentence for people: what is wrong and what to do.
    pub fn advice(&self) -> String {
        match self {
            ApiError::Unreachable { url, .. } => {
                format!(
                    "The cloud is not reachable at {url}: check the URL (`companion login --cloud URL`) and that the cloud is running."
                )
            }
            ApiError::Timeout { url, .. } => {
                format!("The cloud at {url} did not answer in time; try again in a moment.")
            }
            ApiError::Certificate { url, problem } => format!("{problem} (the cloud at {url})."),
            e if e.is_unauthorized() => {
                "The cloud rejected the token: run `companion login --cloud URL --token TOKEN` with a valid token."
                    .to_owned()
            }
            ApiError::Refused { message, .. } => format!("The cloud refused: {message}."),
            ApiError::Unavailable { message, .. } => {
                format!("The cloud cannot serve right now ({message}); try again in a moment.")
            }
            other => format!("{other}."),
        }
    }
}

/// A handle on one cloud, with one user's token. Cheap to clone.
#[derive(Clone)]
pub struct CloudClient {
    http: reqwest::Client,
    /// The TLS settings `http` uses, for the WebSocket to use too.
    tls: Arc<rustls::ClientConfig>,
    base: String,
    token: String,
    /// The cloud's clock against ours, from every answer's `Date`.
    clock: super::cloud_clock::CloudClock,
}

impl std::fmt::Debug for CloudClient {
    // The token stays out of logs and panics.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CloudClient").field("base", &self.base).finish_non_exhaustive()
    }
}

impl CloudClient {
    /// A client for the cloud at `base_url` (`http[s]://host[:port]`),
    /// trusting the system's CA certificates.
    pub fn new(base_url: &str, token: &str) -> Result<CloudClient, ApiError> {
        CloudClient::build(base_url, token, DEFAULT_TIMEOUT, None)
    }

    /// A client for the cloud the settings name, trusting the system's CA
    /// certificates and those of `--cloud-ca` when given.
    pub fn from_access(access: &CloudAccess) -> Result<CloudClient, ApiError> {
        CloudClient::build(&access.url, &access.token, DEFAULT_TIMEOUT, access.ca.as_deref())
    }

    /// [`CloudClient::new`], also trusting the CA certificates in the PEM file `ca`.
    pub fn with_ca(base_url: &str, token: &str, ca: Option<&Path>) -> Result<CloudClient, ApiError> {
        CloudClient::build(base_url, token, DEFAULT_TIMEOUT, ca)
    }

    /// [`CloudClient::new`] with another per-request timeout.
    pub fn with_timeout(base_url: &str, token: &str, timeout: Duration) -> Result<CloudClient, ApiError> {
        CloudClient::build(base_url, token, timeout, None)
    }

    fn build(base_url: &str, token: &str, timeout: Duration, ca: Option<&Path>) -> Result<CloudClient, ApiError> {
        base_url::parse("cloud", base_url)?;
        let tls = tls::client_config(ca)?;
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(timeout)
            .tls_backend_preconfigured(rustls::ClientConfig::clone(&tls))
            .build()
            .map_err(SetupError::Build)?;
        Ok(CloudClient {
            http,
            tls,
            base: base_url.trim_end_matches('/').to_owned(),
            token: token.to_owned(),
            clock: Default::default(),
        })
    }

    /// The TLS settings (system roots plus `--cloud-ca`), for the WebSocket.
    pub fn tls_config(&self) -> Arc<rustls::ClientConfig> {
        self.tls.clone()
    }

    /// The base URL, without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// The bearer token (for the WebSocket upgrade).
    pub fn token(&self) -> &str {
        &self.token
    }

    /// `ws[s]://host[:port]/api/ws`, the push endpoint.
    pub fn ws_url(&self) -> String {
        let rest = self
            .base
            .strip_prefix("https://")
            .map(|r| format!("wss://{r}"))
            .or_else(|| self.base.strip_prefix("http://").map(|r| format!("ws://{r}")))
            .unwrap_or_else(|| self.base.clone());
        format!("{rest}/api/ws")
    }

    /// `GET /api/me`: who the token belongs to.
    pub async fn me(&self) -> Result<Me, ApiError> {
        self.call(Method::GET, "/api/me", None::<&()>).await
    }

    /// `POST /api/projects`: a new project owned by the caller.
    pub async fn create_project(&self, name: &str, folder_id: &str) -> Result<Project, ApiError> {
        let body = CreateProjectRequest { name: name.to_owned(), folder_id: folder_id.to_owned() };
        self.call(Method::POST, "/api/projects", Some(&body)).await
    }

    /// `GET /api/projects`: projects the caller owns or is an accepted member of.
    pub async fn projects(&self) -> Result<Vec<Project>, ApiError> {
        let list: ProjectList = self.call(Method::GET, "/api/projects", None::<&()>).await?;
        Ok(list.projects)
    }

    /// `GET /api/projects/{id}`.
    pub async fn project(&self, project: Uuid) -> Result<Project, ApiError> {
        self.call(Method::GET, &format!("/api/projects/{project}"), None::<&()>).await
    }

    /// `POST /api/projects/{id}/files/update` (owner): one batch, all or nothing.
    pub async fn update_files(
        &self,
        project: Uuid,
        request: &UpdateFilesRequest,
    ) -> Result<UpdateFilesResponse, ApiError> {
        self.call(Method::POST, &format!("/api/projects/{project}/files/update"), Some(request)).await
    }

    /// `GET /api/projects/{id}/events?since_seq=N[&limit=L]`: one page of events after `since_seq`.
    pub async fn events(&self, project: Uuid, since_seq: i64, limit: Option<u32>) -> Result<EventsPage, ApiError> {
        let mut path = format!("/api/projects/{project}/events?since_seq={since_seq}");
        if let Some(limit) = limit {
            path.push_str(&format!("&limit={limit}"));
        }
        self.call(Method::GET, &path, None::<&()>).await
    }

    /// `GET /api/projects/{id}/files`: every path's current state, as of one seq.
    pub async fn files(&self, project: Uuid) -> Result<FilesSnapshot, ApiError> {
        self.call(Method::GET, &format!("/api/projects/{project}/files"), None::<&()>).await
    }

    /// `POST /api/projects/{id}/invites` (owner): a single-use code, for `user` only if given.
    pub async fn create_invite(&self, project: Uuid, user: Option<Uuid>) -> Result<Invite, ApiError> {
        let path = format!("/api/projects/{project}/invites");
        match user {
            Some(user_id) => self.call(Method::POST, &path, Some(&serde_json::json!({ "user_id": user_id }))).await,
            None => self.call(Method::POST, &path, None::<&()>).await,
        }
    }

    /// `POST /api/invites/{code}/accept`: the caller becomes a member.
    pub async fn accept_invite(&self, code: &str) -> Result<Member, ApiError> {
        let code: String = url_segment(code.trim());
        self.call(Method::POST, &format!("/api/invites/{code}/accept"), None::<&()>).await
    }

    /// `GET /api/projects/{id}/members`.
    pub async fn members(&self, project: Uuid) -> Result<Vec<Member>, ApiError> {
        let list: MemberList = self.call(Method::GET, &format!("/api/projects/{project}/members"), None::<&()>).await?;
        Ok(list.members)
    }

    /// `DELETE /api/projects/{id}/members/{user_id}` (owner): revoked at once.
    pub async fn revoke_member(&self, project: Uuid, user: Uuid) -> Result<Member, ApiError> {
        self.call(Method::DELETE, &format!("/api/projects/{project}/members/{user}"), None::<&()>).await
    }

    /// Ours minus the cloud's clock, as its last answer showed ([`super::cloud_clock`]).
    pub fn clock_offset(&self) -> Option<time::Duration> {
        self.clock.offset()
    }

    /// `GET /api/projects/{id}/progress`: each member's last reported state per
    /// file, every page of it (the cloud answers in pages and says where the
    /// next starts), merged into one report.
    pub async fn progress(&self, project: Uuid) -> Result<ProgressReport, ApiError> {
        let mut whole = ProgressReport { members: Vec::new(), next_cursor: None };
        let mut cursor: Option<String> = None;
        loop {
            let path = match &cursor {
                Some(c) => format!("/api/projects/{project}/progress?cursor={c}"),
                None => format!("/api/projects/{project}/progress"),
            };
            let page: ProgressReport = self.call(Method::GET, &path, None::<&()>).await?;
            for member in page.members {
                // A member whose rows span two pages continues the last entry.
                match whole.members.last_mut() {
                    Some(last) if last.user_id == member.user_id => last.files.extend(member.files),
                    _ => whole.members.push(member),
                }
            }
            match page.next_cursor {
                // A cursor that does not move would loop forever.
                Some(next) if cursor.as_deref() != Some(next.as_str()) => cursor = Some(next),
                _ => return Ok(whole),
            }
        }
    }

    /// One request; a success body is decoded as `T`, anything else becomes an [`ApiError`].
    async fn call<T: DeserializeOwned, B: Serialize + ?Sized>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<T, ApiError> {
        let mut request = self.http.request(method.clone(), format!("{}{path}", self.base)).bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.map_err(|e| self.transport_error(path, e))?;
        let status = response.status();
        self.clock.observe(response.headers());
        let retry_after = retry_after(&response);
        let bytes = response.bytes().await.map_err(|e| self.transport_error(path, e))?;
        if status.is_success() {
            return serde_json::from_slice(&bytes).map_err(|e| ApiError::Decode {
                path: path.to_owned(),
                detail: format!("{e} in {}", preview(&bytes)),
            });
        }
        Err(error_from(&method, path, status, &bytes, retry_after))
    }

    fn transport_error(&self, path: &str, e: reqwest::Error) -> ApiError {
        if e.is_timeout() {
            ApiError::Timeout { url: self.base.clone(), path: path.to_owned() }
        } else if e.is_decode() {
            ApiError::Decode { path: path.to_owned(), detail: e.to_string() }
        } else if let Some(problem) = tls::certificate_problem(&e) {
            ApiError::Certificate { url: self.base.clone(), problem }
        } else {
            // reqwest's Display is terse; its source chain says why (refused, reset, DNS).
            let mut detail = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                detail = format!("{detail}: {s}");
                source = s.source();
            }
            ApiError::Unreachable { url: self.base.clone(), detail }
        }
    }
}

/// Maps a non-success answer to the error, keeping the wire error body when
/// there is one (a proxy in front of the cloud may answer plain text).
fn error_from(method: &Method, path: &str, status: StatusCode, body: &[u8], retry_after: Option<Duration>) -> ApiError {
    let (code, message, invalid) = match serde_json::from_slice::<ErrorBody>(body) {
        Ok(b) => (b.error.code, b.error.message, b.error.invalid),
        Err(_) => {
            (status.canonical_reason().unwrap_or("error").to_lowercase().replace(' ', "_"), preview(body), Vec::new())
        }
    };
    let (method, path) = (method.to_string(), path.to_owned());
    let status_code = status.as_u16();
    let transient =
        status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::REQUEST_TIMEOUT;
    if transient {
        ApiError::Unavailable { method, path, status: status_code, code, message, retry_after }
    } else {
        ApiError::Refused { method, path, status: status_code, code, message, invalid }
    }
}

fn retry_after(response: &reqwest::Response) -> Option<Duration> {
    let value = response.headers().get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// The start of a body, for error messages.
fn preview(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let text = text.trim();
    if text.is_empty() {
        return "(empty body)".to_owned();
    }
    let mut end = text.len().min(200);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

/// Percent-encodes one path segment (an invite code typed by a person).
fn url_segment(raw: &str) -> String {
    raw.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_split_into_refused_and_transient() {
        let body = br#"{"error":{"code":"invalid_change","message":"1 of the changes are invalid","invalid":[{"index":0,"path":"../x","reason":"dot"}]}}"#;
        let e = error_from(&Method::POST, "/p", StatusCode::UNPROCESSABLE_ENTITY, body, None);
        assert!(!e.is_transient());
        assert_eq!(e.code(), Some("invalid_change"));
        assert_eq!(e.invalid_entries().len(), 1);
        for (status, transient) in [(500, true), (503, true), (429, true), (408, true), (404, false), (401, false)] {
            let e = error_from(&Method::GET, "/p", StatusCode::from_u16(status).unwrap(), b"oops", None);
            assert_eq!(e.is_transient(), transient, "{status}");
            assert_eq!(e.status(), Some(status));
        }
        let plain = error_from(&Method::GET, "/p", StatusCode::BAD_GATEWAY, b"upstream down", None);
        assert_eq!(plain.code(), Some("bad_gateway"));
        assert_eq!(plain.message(), Some("upstream down"));
    }

    #[test]
    fn urls_are_checked_and_ws_derived() {
        assert!(matches!(CloudClient::new("ftp://x", "t"), Err(ApiError::Setup(SetupError::InvalidUrl { .. }))));
        assert!(matches!(CloudClient::new("not a url", "t"), Err(ApiError::Setup(SetupError::InvalidUrl { .. }))));
        let c = CloudClient::new("http://127.0.0.1:3001/", "t").unwrap();
        assert_eq!(c.base_url(), "http://127.0.0.1:3001");
        assert_eq!(c.ws_url(), "ws://127.0.0.1:3001/api/ws");
        let c = CloudClient::new("https://cloud.example", "secret-token").unwrap();
        assert_eq!(c.ws_url(), "wss://cloud.example/api/ws");
        assert!(!format!("{c:?}").contains("secret-token"));
    }

    #[test]
    fn invite_codes_are_encoded() {
        assert_eq!(url_segment("ab-C_9"), "ab-C_9");
        assert_eq!(url_segment("a/b c"), "a%2Fb%20c");
    }
}
