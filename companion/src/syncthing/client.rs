//! A typed client for Syncthing's REST API (header `X-API-Key`).
//!
//! Each call has a short per-request timeout; only [`Client::events`] waits
//! longer, because it is a long poll whose body arrives when events exist.

use super::error::{ClientError, Subject, classify, ignores_error, is_migration_notice};
use super::event::{Event, parse_events};
use super::types::{
    BrowseEntry, Completion, Config, Connections, DbFile, DbStatus, DeviceConfig, FileList, FolderConfig, Ignores,
    Need, Ping, SystemStatus, SystemVersion,
};
use crate::base_url::{self, SetupError};
use reqwest::Method;
use serde::de::DeserializeOwned;
use std::net::IpAddr;
use std::time::Duration;

/// Default timeout of an ordinary REST call.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Extra time an events long poll may take beyond its own `timeout=`.
pub const LONG_POLL_SLACK: Duration = Duration::from_secs(10);

/// Which page of a paged list (`db/need`, `remoteneed`, `localchanged`) to get.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    /// 1-based.
    pub page: u32,
    pub per_page: u32,
}

/// A handle on one Syncthing's REST API. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    api_key: String,
    timeout: Duration,
}

impl Client {
    /// A client for `base_url` (`http[s]://host:port`) with `api_key`.
    ///
    /// Syncthing's GUI certificate is self-signed, so for a loopback host an
    /// invalid certificate is accepted; elsewhere normal verification applies,
    /// so the key is never handed to an unverified remote.
    pub fn new(base_url: &str, api_key: &str) -> Result<Client, ClientError> {
        let url = base_url::parse("Syncthing", base_url)?;
        let host = url.host_str().unwrap_or_default();
        let loopback = host == "localhost"
            || host.trim_matches(|c| c == '[' || c == ']').parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
        let http = reqwest::Client::builder()
            // Syncthing is local: a system proxy must not see the API key.
            .no_proxy()
            .connect_timeout(Duration::from_secs(5))
            .tls_danger_accept_invalid_certs(loopback && url.scheme() == "https")
            .build()
            .map_err(SetupError::Build)?;
        Ok(Client {
            http,
            base: base_url.trim_end_matches('/').to_owned(),
            api_key: api_key.to_owned(),
            timeout: DEFAULT_TIMEOUT,
        })
    }

    /// The same client with another per-request timeout.
    pub fn with_timeout(mut self, timeout: Duration) -> Client {
        self.timeout = timeout;
        self
    }

    /// The base URL, without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    pub async fn ping(&self) -> Result<Ping, ClientError> {
        self.get("/rest/system/ping", &[], Subject::default()).await
    }

    pub async fn system_status(&self) -> Result<SystemStatus, ClientError> {
        self.get("/rest/system/status", &[], Subject::default()).await
    }

    pub async fn system_version(&self) -> Result<SystemVersion, ClientError> {
        self.get("/rest/system/version", &[], Subject::default()).await
    }

    pub async fn connections(&self) -> Result<Connections, ClientError> {
        self.get("/rest/system/connections", &[], Subject::default()).await
    }

    pub async fn config(&self) -> Result<Config, ClientError> {
        self.get("/rest/config", &[], Subject::default()).await
    }

    pub async fn config_folders(&self) -> Result<Vec<FolderConfig>, ClientError> {
        self.get("/rest/config/folders", &[], Subject::default()).await
    }

    pub async fn config_devices(&self) -> Result<Vec<DeviceConfig>, ClientError> {
        self.get("/rest/config/devices", &[], Subject::default()).await
    }

    pub async fn db_status(&self, folder: &str) -> Result<DbStatus, ClientError> {
        self.get("/rest/db/status", &[("folder", folder)], folder_subject(folder)).await
    }

    /// Completion of `folder` on `device` (`None`: the local device). Costly
    /// in Syncthing: call it on `FolderCompletion`/`StateChanged`, not in a loop.
    pub async fn db_completion(&self, folder: &str, device: Option<&str>) -> Result<Completion, ClientError> {
        let mut q = vec![("folder", folder)];
        q.extend(device.map(|d| ("device", d)));
        self.get("/rest/db/completion", &q, folder_subject(folder)).await
    }

    /// One file as Syncthing knows it. A 404 `No such object in the index`
    /// means "not in the index" on 1.x, but 2.x answers it for an unknown
    /// folder too (its database does not know folders): then the folder list
    /// decides which of the two it is.
    pub async fn db_file(&self, folder: &str, file: &str) -> Result<DbFile, ClientError> {
        let subject = Subject { folder: Some(folder), file: Some(file) };
        match self.get("/rest/db/file", &[("folder", folder), ("file", file)], subject).await {
            Err(ClientError::NotFound { what }) => match self.config_folders().await {
                Ok(folders) if !folders.iter().any(|f| f.id == folder) => {
                    Err(ClientError::UnknownFolder { folder: folder.to_owned() })
                }
                _ => Err(ClientError::NotFound { what }),
            },
            other => other,
        }
    }

    pub async fn db_need(&self, folder: &str, page: Option<Page>) -> Result<Need, ClientError> {
        let paging = paging(page);
        let mut q = vec![("folder", folder)];
        q.extend(paging.iter().map(|(k, v)| (*k, v.as_str())));
        self.get("/rest/db/need", &q, folder_subject(folder)).await
    }

    /// Files `device` still needs in `folder`, as known here.
    pub async fn db_remote_need(
        &self,
        folder: &str,
        device: &str,
        page: Option<Page>,
    ) -> Result<FileList, ClientError> {
        let paging = paging(page);
        let mut q = vec![("folder", folder), ("device", device)];
        q.extend(paging.iter().map(|(k, v)| (*k, v.as_str())));
        self.get("/rest/db/remoteneed", &q, folder_subject(folder)).await
    }

    /// Local changes in a receive-only folder.
    pub async fn db_local_changed(&self, folder: &str, page: Option<Page>) -> Result<FileList, ClientError> {
        let paging = paging(page);
        let mut q = vec![("folder", folder)];
        q.extend(paging.iter().map(|(k, v)| (*k, v.as_str())));
        self.get("/rest/db/localchanged", &q, folder_subject(folder)).await
    }

    /// The folder's ignore patterns. Up to 1.27.0 a failure is a 500; from
    /// 1.27.1 it is a 200 whose `error` field says what went wrong, so that
    /// field is turned into the same errors: an unknown folder, or a
    /// `.stignore` Syncthing cannot load (whose partial lines are not used).
    pub async fn db_ignores(&self, folder: &str) -> Result<Ignores, ClientError> {
        let ignores: Ignores = self.get("/rest/db/ignores", &[("folder", folder)], folder_subject(folder)).await?;
        match ignores.error.as_deref().map(str::trim) {
            Some(error) if !error.is_empty() => Err(ignores_error(folder, error)),
            _ => Ok(ignores),
        }
    }

    pub async fn db_browse(&self, folder: &str) -> Result<Vec<BrowseEntry>, ClientError> {
        self.get("/rest/db/browse", &[("folder", folder)], folder_subject(folder)).await
    }

    /// Asks Syncthing to rescan `folder`, or only `sub` inside it. Returns
    /// when the scan has finished.
    pub async fn scan(&self, folder: &str, sub: Option<&str>) -> Result<(), ClientError> {
        let mut q = vec![("folder", folder)];
        q.extend(sub.map(|s| ("sub", s)));
        let subject = folder_subject(folder);
        self.send(Method::POST, "/rest/db/scan", &q, subject, self.timeout.max(Duration::from_secs(60))).await.map(drop)
    }

    /// One `/rest/events` long poll: events of `mask` with id > `since`,
    /// waiting up to `timeout` (whole seconds) for one to exist. `limit`
    /// keeps only the newest N. The request may take `timeout` plus
    /// [`LONG_POLL_SLACK`].
    pub async fn events(
        &self,
        since: u64,
        timeout: Duration,
        mask: &str,
        limit: Option<u32>,
    ) -> Result<Vec<Event>, ClientError> {
        let path = "/rest/events";
        let since_s = since.to_string();
        let timeout_s = timeout.as_secs().to_string();
        let limit_s = limit.map(|l| l.to_string());
        let mut q = vec![("since", since_s.as_str()), ("timeout", timeout_s.as_str()), ("events", mask)];
        q.extend(limit_s.as_deref().map(|l| ("limit", l)));
        let budget = Duration::from_secs(timeout.as_secs()) + LONG_POLL_SLACK;
        let body = self.send(Method::GET, path, &q, Subject::default(), budget).await?;
        let (events, skipped) =
            parse_events(&body).map_err(|source| ClientError::Decode { path: path.to_owned(), source })?;
        for s in skipped {
            tracing::warn!(error = %s, "Syncthing sent an unreadable event");
        }
        Ok(events)
    }

    async fn get<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, &str)],
        subject: Subject<'_>,
    ) -> Result<T, ClientError> {
        let body = self.send(Method::GET, path, query, subject, self.timeout).await?;
        serde_json::from_slice(&body).map_err(|source| ClientError::Decode { path: path.to_owned(), source })
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        subject: Subject<'_>,
        timeout: Duration,
    ) -> Result<Vec<u8>, ClientError> {
        let transport = |e: reqwest::Error| self.transport_error(path, timeout, e);
        let response = self
            .http
            .request(method, format!("{}{}", self.base, path))
            .header("X-API-Key", &self.api_key)
            .query(query)
            .timeout(timeout)
            .send()
            .await
            .map_err(transport)?;
        let status = response.status();
        let body = response.bytes().await.map_err(transport)?;
        if status.is_success() && is_migration_notice(&body) {
            Err(ClientError::Migrating { url: self.base.clone(), path: path.to_owned() })
        } else if status.is_success() {
            Ok(body.to_vec())
        } else {
            let text = String::from_utf8_lossy(&body);
            Err(classify(&self.base, path, status.as_u16(), &text, subject))
        }
    }

    fn transport_error(&self, path: &str, timeout: Duration, e: reqwest::Error) -> ClientError {
        let url = self.base.clone();
        if e.is_timeout() {
            ClientError::Timeout { url, path: path.to_owned(), timeout }
        } else if e.is_connect() {
            ClientError::Unreachable { url, source: e }
        } else {
            ClientError::Transport { url, path: path.to_owned(), source: e }
        }
    }
}

fn folder_subject(folder: &str) -> Subject<'_> {
    Subject { folder: Some(folder), file: None }
}

fn paging(page: Option<Page>) -> Vec<(&'static str, String)> {
    page.map(|p| vec![("page", p.page.to_string()), ("perpage", p.per_page.to_string())]).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syncthing::stand_in::serve;

    const TEXT: &str = "text/plain; charset=utf-8";
    const JSON: &str = "application/json; charset=utf-8";

    /// 2.x: lib/api/api.go, getDBFile answers `No such object in the index`
    /// (404) when neither a global nor a local entry exists, which with the
    /// SQLite index (internal/db/sqlite/) is also what an unknown folder
    /// gets; /rest/config/folders then tells the two apart.
    fn v2_db_file(target: &str) -> (u16, &'static str, String) {
        if target.starts_with("/rest/db/file") {
            (404, TEXT, "No such object in the index\n".into())
        } else if target.starts_with("/rest/config/folders") {
            (200, JSON, r#"[{"id": "proj", "label": "proj", "path": "/srv/proj", "type": "sendreceive"}]"#.into())
        } else {
            (404, TEXT, "404 page not found\n".into())
        }
    }

    #[tokio::test]
    async fn db_file_on_2x_tells_an_unknown_folder_from_a_file_not_in_the_index() {
        let client = Client::new(&serve(v2_db_file).await, "k").unwrap();
        let e = client.db_file("nope", "a.txt").await.unwrap_err();
        assert!(matches!(&e, ClientError::UnknownFolder { folder } if folder == "nope"), "{e:?}");
        let e = client.db_file("proj", "a.txt").await.unwrap_err();
        assert!(matches!(&e, ClientError::NotFound { what } if what.contains("a.txt")), "{e:?}");
    }

    /// 1.27.1+ and 2.x: lib/api/api.go, getDBIgnores always answers 200 with
    /// `error` set from lib/model/model.go, LoadIgnores.
    fn v2_ignores(target: &str) -> (u16, &'static str, String) {
        let error = if target.contains("folder=nope") {
            "\"folder nope does not exist\""
        } else if target.contains("folder=bad") {
            "\"failed to load ignores: pattern \\\"[\\\": syntax error in pattern\""
        } else {
            "null"
        };
        (200, JSON, format!(r#"{{"ignore": ["*.tmp"], "expanded": ["*.tmp"], "error": {error}}}"#))
    }

    #[tokio::test]
    async fn ignores_answered_with_an_error_field_are_errors() {
        let client = Client::new(&serve(v2_ignores).await, "k").unwrap();
        assert_eq!(client.db_ignores("proj").await.unwrap().expanded, ["*.tmp"]);
        let e = client.db_ignores("nope").await.unwrap_err();
        assert!(matches!(&e, ClientError::UnknownFolder { folder } if folder == "nope"), "{e:?}");
        let e = client.db_ignores("bad").await.unwrap_err();
        assert!(
            matches!(&e, ClientError::Ignores { folder, reason } if folder == "bad" && reason.contains("syntax")),
            "{e:?}"
        );
    }

    #[tokio::test]
    async fn every_call_during_a_2x_migration_is_transient() {
        // cmd/syncthing/main.go, migratingAPI: one handler for every path.
        let url = serve(|_| (200, TEXT, "*** Database migration in progress ***\n\nlog line\n".into())).await;
        let client = Client::new(&url, "k").unwrap();
        let e = client.db_status("proj").await.unwrap_err();
        assert!(matches!(&e, ClientError::Migrating { path, .. } if path == "/rest/db/status"), "{e:?}");
        assert!(e.is_transient());
        let e = client.events(0, Duration::from_secs(1), "StateChanged", None).await.unwrap_err();
        assert!(matches!(e, ClientError::Migrating { .. }), "{e:?}");
    }
}
