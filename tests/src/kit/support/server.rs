//! The shared in-process test cloud (`cloud::testing`), with a test client
//! for it (typed calls through the product's own client, raw requests for
//! bad input) and the cast of users an access test needs (owner,
//! member, invited, revoked, stranger).

use std::time::Duration;

use cloud_protocol::{
    Change, ErrorBody, Event, EventsPage, FilesSnapshot, Invite, Me, Member, Op, ProgressReport, Project,
    UpdateFilesRequest, UpdateFilesResponse,
};
use companion::cloud_client::api::CloudClient;
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use uuid::Uuid;

/// How long a test waits for anything the server does.
pub const DEADLINE: Duration = Duration::from_secs(20);

pub use cloud::testing::TestCloud;

/// This crate's test [`Client`] for a [`TestCloud`].
pub trait Clients {
    /// A client sending `token`.
    fn client(&self, token: &str) -> Client;
    /// A client sending no token.
    fn anonymous(&self) -> Client;
}

impl Clients for TestCloud {
    fn client(&self, token: &str) -> Client {
        Client::new(&self.url(), Some(token.to_owned()))
    }

    fn anonymous(&self) -> Client {
        Client::new(&self.url(), None)
    }
}

/// A test client for the cloud API: typed calls go through the product's own
/// client (the companion's [`CloudClient`]) and panic with the cloud's error
/// when they fail; raw requests ([`request`](Self::request), [`get`](Self::get),
/// [`post_json`](Self::post_json), …) are for bad input and for the status
/// codes and headers the typed client hides.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
    typed: CloudClient,
}

impl Client {
    pub fn new(base: &str, token: Option<String>) -> Client {
        let http = reqwest::Client::builder().timeout(DEADLINE).build().expect("http client");
        let typed =
            CloudClient::with_timeout(base, token.as_deref().unwrap_or_default(), DEADLINE).expect("typed client");
        Client { http, base: base.trim_end_matches('/').to_owned(), token, typed }
    }

    /// The product's typed client, with this client's token.
    pub fn typed(&self) -> &CloudClient {
        &self.typed
    }

    /// A request to `path` (starting with `/`), with the bearer token if any.
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let req = self.http.request(method, format!("{}{path}", self.base));
        match &self.token {
            Some(token) => req.bearer_auth(token),
            None => req,
        }
    }

    pub async fn get(&self, path: &str) -> Response {
        self.request(Method::GET, path).send().await.expect("GET")
    }

    pub async fn post_json<T: Serialize + ?Sized>(&self, path: &str, body: &T) -> Response {
        self.request(Method::POST, path).json(body).send().await.expect("POST")
    }

    /// A POST with a raw body and the given content type (none if `None`).
    pub async fn post_raw(&self, path: &str, content_type: Option<&str>, body: impl Into<reqwest::Body>) -> Response {
        let mut req = self.request(Method::POST, path).body(body);
        if let Some(ct) = content_type {
            req = req.header(reqwest::header::CONTENT_TYPE, ct);
        }
        req.send().await.expect("POST")
    }

    /// A POST of JSON serialized beforehand (the benches build their bodies
    /// before the clock starts); a transport error is the caller's to judge.
    pub async fn post_serialized(&self, path: &str, json: String) -> reqwest::Result<Response> {
        self.request(Method::POST, path)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(json)
            .send()
            .await
    }

    pub async fn delete(&self, path: &str) -> Response {
        self.request(Method::DELETE, path).send().await.expect("DELETE")
    }

    pub async fn me(&self) -> Me {
        self.typed.me().await.unwrap_or_else(|e| panic!("{e}"))
    }

    pub async fn create_project(&self, name: &str, folder_id: &str) -> Project {
        self.typed.create_project(name, folder_id).await.unwrap_or_else(|e| panic!("{e}"))
    }

    pub async fn projects(&self) -> Vec<Project> {
        self.typed.projects().await.unwrap_or_else(|e| panic!("{e}"))
    }

    pub async fn project(&self, project: Uuid) -> Project {
        self.typed.project(project).await.unwrap_or_else(|e| panic!("{e}"))
    }

    pub async fn update(&self, project: Uuid, batch_id: Uuid, changes: Vec<Change>) -> UpdateFilesResponse {
        let body = UpdateFilesRequest { batch_id, changes };
        self.typed.update_files(project, &body).await.unwrap_or_else(|e| panic!("{e}"))
    }

    pub async fn events(&self, project: Uuid, since_seq: i64, limit: Option<u32>) -> EventsPage {
        self.typed.events(project, since_seq, limit).await.unwrap_or_else(|e| panic!("{e}"))
    }

    /// Every event of the project, following `has_more`.
    pub async fn all_events(&self, project: Uuid) -> Vec<Event> {
        let (mut all, mut since) = (Vec::new(), 0);
        loop {
            let page = self.events(project, since, None).await;
            all.extend(page.events);
            since = page.next_seq;
            if !page.has_more {
                return all;
            }
        }
    }

    pub async fn files(&self, project: Uuid) -> FilesSnapshot {
        self.typed.files(project).await.unwrap_or_else(|e| panic!("{e}"))
    }

    /// An invite, addressed to `user` if given.
    pub async fn invite(&self, project: Uuid, user: Option<Uuid>) -> Invite {
        self.typed.create_invite(project, user).await.unwrap_or_else(|e| panic!("{e}"))
    }

    pub async fn accept(&self, code: &str) -> Member {
        self.typed.accept_invite(code).await.unwrap_or_else(|e| panic!("{e}"))
    }

    pub async fn members(&self, project: Uuid) -> Vec<Member> {
        self.typed.members(project).await.unwrap_or_else(|e| panic!("{e}"))
    }

    pub async fn revoke(&self, project: Uuid, user: Uuid) -> Member {
        self.typed.revoke_member(project, user).await.unwrap_or_else(|e| panic!("{e}"))
    }

    /// The whole progress report (every page of it, merged).
    pub async fn progress(&self, project: Uuid) -> ProgressReport {
        self.typed.progress(project).await.unwrap_or_else(|e| panic!("{e}"))
    }
}

/// The body of a `200 OK`, or a panic showing what came instead.
pub async fn ok<T: DeserializeOwned>(resp: Response) -> T {
    expect_status(resp, StatusCode::OK).await
}

/// The body of a response with `status`, or a panic showing what came instead.
pub async fn expect_status<T: DeserializeOwned>(resp: Response, status: StatusCode) -> T {
    let (got, url) = (resp.status(), resp.url().clone());
    let text = resp.text().await.expect("response body");
    assert_eq!(got, status, "{url}: {text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{url}: body is not the expected JSON ({e}): {text}"))
}

/// Asserts a wire error with `status` and `code`; returns the body.
pub async fn expect_error(resp: Response, status: StatusCode, code: &str) -> ErrorBody {
    let (got, url) = (resp.status(), resp.url().clone());
    let text = resp.text().await.expect("response body");
    assert_eq!(got, status, "{url}: {text}");
    let body: ErrorBody =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{url}: not the wire error body ({e}): {text}"));
    assert_eq!(body.error.code, code, "{url}: {text}");
    assert!(!body.error.message.is_empty(), "{url}: empty message");
    body
}

/// A valid BLAKE3 hash string made from `n`.
pub fn hash(n: u64) -> String {
    format!("blake3:{:064x}", n)
}

/// A valid create of `path`.
pub fn create(path: &str, n: u64) -> Change {
    Change::upsert(Op::Create, path, hash(n), n, 1_732_850_000_000 + n as i64)
}

/// Who calls, in an access test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Who {
    NoToken,
    BadToken,
    Stranger,
    /// Addressed by an invite they have not accepted.
    Invited,
    Member,
    /// Accepted, then revoked by the owner.
    Revoked,
    Owner,
}

impl Who {
    pub const ALL: [Who; 7] =
        [Who::NoToken, Who::BadToken, Who::Stranger, Who::Invited, Who::Member, Who::Revoked, Who::Owner];
}

/// One project and a user in each relation to it.
pub struct Cast {
    pub project: Uuid,
    pub owner: (Uuid, String),
    pub member: (Uuid, String),
    pub invited: (Uuid, String),
    pub revoked: (Uuid, String),
    pub stranger: (Uuid, String),
}

impl Cast {
    /// A fresh test cloud on SQLite, with a cast on it.
    pub async fn start() -> (TestCloud, Cast) {
        let cloud = TestCloud::start_sqlite().await;
        let cast = Cast::new(&cloud).await;
        (cloud, cast)
    }

    /// Sets the cast up through the API (so it also exercises invites and revokes).
    pub async fn new(cloud: &TestCloud) -> Cast {
        let owner = cloud.add_user("owner").await;
        let member = cloud.add_user("member").await;
        let invited = cloud.add_user("invited").await;
        let revoked = cloud.add_user("revoked").await;
        let stranger = cloud.add_user("stranger").await;
        let as_owner = cloud.client(&owner.1);
        let project = as_owner.create_project("Shots", "abcde-fghij").await.id;
        for user in [&member, &revoked] {
            let invite = as_owner.invite(project, None).await;
            cloud.client(&user.1).accept(&invite.code).await;
        }
        as_owner.invite(project, Some(invited.0)).await;
        as_owner.revoke(project, revoked.0).await;
        Cast { project, owner, member, invited, revoked, stranger }
    }

    /// The token `who` sends (`None`: no Authorization header).
    pub fn token(&self, who: Who) -> Option<String> {
        match who {
            Who::NoToken => None,
            Who::BadToken => Some(cloud::auth::generate_token()),
            Who::Stranger => Some(self.stranger.1.clone()),
            Who::Invited => Some(self.invited.1.clone()),
            Who::Member => Some(self.member.1.clone()),
            Who::Revoked => Some(self.revoked.1.clone()),
            Who::Owner => Some(self.owner.1.clone()),
        }
    }

    /// A client for `who`.
    pub fn client(&self, cloud: &TestCloud, who: Who) -> Client {
        Client::new(&cloud.url(), self.token(who))
    }
}
