//! Auth0: a Management API token by client credentials (its scope must include `read:users`),
//! then the users — paged with `include_totals` when the tenant is well under the 1,000-row
//! ceiling of `GET /api/v2/users`, otherwise through a users-export job whose gzip NDJSON
//! file is streamed and decoded page by page. Auth0 has no groups here.

use std::collections::VecDeque;
use std::io::Write as _;
use std::time::Duration;

use alter_core::ExternalUserId;
use alter_core::provider_events::auth0_user_status;
use alter_secrets::SecretString;
use flate2::write::GzDecoder;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::time::Instant;
use url::Url;

use super::credential::endpoint;
use super::transport::{Reply, Transport, with_form};
use super::{DirectoryPage, DirectoryUser, Fail, MAX_PAGE_ITEMS, non_blank, unexpected, user_id};

/// Rows per `GET /api/v2/users` page (Auth0's maximum).
const PER_PAGE: usize = 100;
/// Tenants with at least this many users are read through an export job: paging reaches only
/// the first 1,000 rows, and this leaves room for users added while the listing runs.
pub(crate) const EXPORT_FROM_USERS: u64 = 900;
/// First wait between export-job status polls; doubles up to [`MAX_POLL_INTERVAL`].
const FIRST_POLL_INTERVAL: Duration = Duration::from_millis(500);
const MAX_POLL_INTERVAL: Duration = Duration::from_secs(10);
/// How long an export job may stay pending before the run gives up.
const EXPORT_DEADLINE: Duration = Duration::from_secs(60 * 60);
/// Largest export kept in memory when it comes as one JSON array instead of NDJSON.
const MAX_ARRAY_EXPORT: usize = 512 * 1024 * 1024;
/// The user fields read.
const FIELDS: [&str; 4] = ["user_id", "email", "name", "blocked"];

struct Token {
    value: SecretString,
    refresh_at: Instant,
}

enum Phase {
    Start,
    Paging { page: usize },
    Export(Box<ExportStream>),
    Done,
}

pub(crate) struct Auth0Reader {
    base: Url,
    client_id: String,
    client_secret: SecretString,
    token: Token,
    phase: Phase,
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    #[serde(default)]
    scope: Option<String>,
    #[serde(default)]
    expires_in: Option<u64>,
}

#[derive(Deserialize)]
struct Auth0User {
    user_id: String,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    blocked: Option<Value>,
}

impl Auth0User {
    fn into_user(self) -> Result<DirectoryUser, Fail> {
        let blocked = match self.blocked {
            Some(Value::Bool(b)) => b,
            Some(Value::String(s)) => s == "true",
            _ => false,
        };
        Ok(DirectoryUser {
            external_id: user_id(&self.user_id)?,
            email: non_blank(self.email),
            display_name: non_blank(self.name),
            status: auth0_user_status(blocked),
        })
    }
}

#[derive(Deserialize)]
struct Job {
    id: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    location: Option<String>,
}

impl Auth0Reader {
    pub(crate) async fn open(
        t: &mut Transport,
        base: Url,
        client_id: &str,
        client_secret: &SecretString,
    ) -> Result<Self, Fail> {
        let token = fetch_token(t, &base, client_id, client_secret).await?;
        Ok(Self {
            base,
            client_id: client_id.to_string(),
            client_secret: client_secret.clone(),
            token,
            phase: Phase::Start,
        })
    }

    /// One read of the users list.
    pub(crate) async fn probe(&mut self, t: &mut Transport) -> Result<(), Fail> {
        let url = endpoint(&self.base, &["api", "v2", "users"]);
        let reply = self
            .get(
                t,
                "GET /api/v2/users",
                &url,
                &[("per_page", "1"), ("page", "0")],
            )
            .await?;
        match reply.status {
            200 => Ok(()),
            _ => Err(unexpected("GET /api/v2/users", &reply)),
        }
    }

    pub(crate) async fn next_page(
        &mut self,
        t: &mut Transport,
    ) -> Result<Option<DirectoryPage>, Fail> {
        loop {
            match &mut self.phase {
                Phase::Done => return Ok(None),
                Phase::Start => {
                    let (users, total) = self.users_page(t, 0).await?;
                    if total.is_some_and(|n| n >= EXPORT_FROM_USERS) {
                        let stream = self.export(t).await?;
                        self.phase = Phase::Export(Box::new(stream));
                        continue;
                    }
                    self.phase = if users.len() < PER_PAGE {
                        Phase::Done
                    } else {
                        Phase::Paging { page: 1 }
                    };
                    return Ok(Some(DirectoryPage::Users(users)));
                }
                Phase::Paging { page } => {
                    let n = *page;
                    let (users, _) = self.users_page(t, n).await?;
                    if users.is_empty() {
                        self.phase = Phase::Done;
                        return Ok(None);
                    }
                    self.phase = if users.len() < PER_PAGE {
                        Phase::Done
                    } else {
                        Phase::Paging { page: n + 1 }
                    };
                    return Ok(Some(DirectoryPage::Users(users)));
                }
                Phase::Export(stream) => {
                    let users = stream.next_users().await?;
                    if users.is_empty() {
                        self.phase = Phase::Done;
                        return Ok(None);
                    }
                    return Ok(Some(DirectoryPage::Users(users)));
                }
            }
        }
    }

    /// Page `page` of `GET /api/v2/users` in creation order, and the reported total.
    async fn users_page(
        &mut self,
        t: &mut Transport,
        page: usize,
    ) -> Result<(Vec<DirectoryUser>, Option<u64>), Fail> {
        const WHAT: &str = "GET /api/v2/users";
        let url = endpoint(&self.base, &["api", "v2", "users"]);
        let page_s = page.to_string();
        let per_page = PER_PAGE.to_string();
        let fields = FIELDS.join(",");
        let query = [
            ("page", page_s.as_str()),
            ("per_page", per_page.as_str()),
            ("include_totals", "true"),
            ("sort", "created_at:1"),
            ("fields", fields.as_str()),
            ("include_fields", "true"),
        ];
        let reply = self.get(t, WHAT, &url, &query).await?;
        if reply.status == 400 && reply.summary().contains("invalid_paging") {
            return Err(Fail::Unavailable(
                "GET /api/v2/users: the tenant grew past the 1,000 users Auth0 lets a listing page through while this run was reading it; the next run reads it through a users export".into(),
            ));
        }
        if reply.status != 200 {
            return Err(unexpected(WHAT, &reply));
        }
        let body: Value = reply.json(WHAT)?;
        let (rows, total) = match body {
            Value::Array(rows) => (rows, None),
            Value::Object(mut o) => {
                let total = o.get("total").and_then(Value::as_u64);
                match o.remove("users") {
                    Some(Value::Array(rows)) => (rows, total),
                    _ => {
                        return Err(Fail::Malformed(format!(
                            "{WHAT}: the answer has no users array"
                        )));
                    }
                }
            }
            _ => return Err(Fail::Malformed(format!("{WHAT}: the answer is not a list"))),
        };
        let users = rows
            .into_iter()
            .map(|v| {
                serde_json::from_value::<Auth0User>(v)
                    .map_err(|e| Fail::Malformed(format!("{WHAT}: a user could not be read ({e})")))
                    .and_then(Auth0User::into_user)
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok((users, total))
    }

    /// Starts a users-export job, waits for it, and opens its download.
    async fn export(&mut self, t: &mut Transport) -> Result<ExportStream, Fail> {
        const WHAT: &str = "POST /api/v2/jobs/users-exports";
        let url = endpoint(&self.base, &["api", "v2", "jobs", "users-exports"]);
        let body = json!({
            "format": "json",
            "fields": FIELDS.iter().map(|f| json!({ "name": f })).collect::<Vec<_>>(),
        });
        self.ensure_token(t).await?;
        let reply = self
            .authorized(t, WHAT, |c, token| {
                c.post(url.clone()).bearer_auth(token).json(&body)
            })
            .await?;
        if !matches!(reply.status, 200 | 201) {
            return Err(unexpected(WHAT, &reply));
        }
        let mut job: Job = reply.json(WHAT)?;
        let started = Instant::now();
        let mut interval = FIRST_POLL_INTERVAL;
        let location = loop {
            match job.status.as_str() {
                "completed" => match job.location.take() {
                    Some(l) => break l,
                    None => {
                        return Err(Fail::Malformed(format!(
                            "users-export job {}: completed without a download location",
                            job.id
                        )));
                    }
                },
                "failed" => {
                    return Err(Fail::Unavailable(format!(
                        "users-export job {} failed at Auth0; the run can be retried",
                        job.id
                    )));
                }
                _ => {}
            }
            if started.elapsed() > EXPORT_DEADLINE {
                return Err(Fail::Unavailable(format!(
                    "users-export job {} was still {} after {} minutes; the run can be retried",
                    job.id,
                    job.status,
                    EXPORT_DEADLINE.as_secs() / 60
                )));
            }
            tokio::time::sleep(interval).await;
            interval = (interval * 2).min(MAX_POLL_INTERVAL);
            let what = "GET /api/v2/jobs/{id}";
            let url = endpoint(&self.base, &["api", "v2", "jobs", &job.id]);
            let reply = self.get(t, what, &url, &[]).await?;
            if reply.status != 200 {
                return Err(unexpected(what, &reply));
            }
            job = reply.json(what)?;
        };
        if !crate::http::is_allowed_key_url(&location) {
            return Err(Fail::Malformed(
                "the users export's download location is not an https URL".into(),
            ));
        }
        let download = Url::parse(&location).map_err(|e| {
            Fail::Malformed(format!("the users export's location is not a URL ({e})"))
        })?;
        // A pre-signed URL: no Authorization header goes with it.
        let response = t
            .send_streamed("users-export download", |c| c.get(download.clone()))
            .await?;
        if response.status().as_u16() != 200 {
            return Err(Fail::Unavailable(format!(
                "users-export download answered HTTP {} (the link may have expired); the run can be retried",
                response.status().as_u16()
            )));
        }
        Ok(ExportStream::new(response))
    }

    /// Whether Auth0 still has the user (`GET /api/v2/users/{id}`: 200 or 404).
    pub(crate) async fn user_exists(
        &mut self,
        t: &mut Transport,
        user: &ExternalUserId,
    ) -> Result<bool, Fail> {
        const WHAT: &str = "GET /api/v2/users/{id}";
        let url = endpoint(&self.base, &["api", "v2", "users", user.as_str()]);
        let reply = self.get(t, WHAT, &url, &[("fields", "user_id")]).await?;
        match reply.status {
            200 => Ok(true),
            404 => Ok(false),
            _ => Err(unexpected(WHAT, &reply)),
        }
    }

    /// A GET with the bearer token (refreshed when due, and once on a 401).
    async fn get(
        &mut self,
        t: &mut Transport,
        what: &str,
        url: &Url,
        query: &[(&str, &str)],
    ) -> Result<Reply, Fail> {
        self.ensure_token(t).await?;
        self.authorized(t, what, |c, token| {
            c.get(url.clone()).bearer_auth(token).query(query)
        })
        .await
    }

    async fn authorized<F>(
        &mut self,
        t: &mut Transport,
        what: &str,
        build: F,
    ) -> Result<Reply, Fail>
    where
        F: Fn(&reqwest::Client, &str) -> reqwest::RequestBuilder,
    {
        let mut refreshed = false;
        loop {
            let token = self.token.value.clone();
            let reply = t.send(what, |c| build(c, token.expose())).await?;
            match reply.status {
                401 if !refreshed => {
                    refreshed = true;
                    self.token =
                        fetch_token(t, &self.base, &self.client_id, &self.client_secret).await?;
                }
                401 => {
                    return Err(Fail::refused(
                        "client_secret",
                        format!(
                            "no longer gives a token Auth0 accepts ({what}: {}): check the application's credentials",
                            reply.summary()
                        ),
                    ));
                }
                403 => {
                    return Err(Fail::refused(
                        "client_id",
                        format!(
                            "is not allowed to read users ({what}: {}): in Auth0 Dashboard → Applications → APIs → Auth0 Management API → Machine to Machine Applications, grant this application read:users",
                            reply.summary()
                        ),
                    ));
                }
                _ => return Ok(reply),
            }
        }
    }

    async fn ensure_token(&mut self, t: &mut Transport) -> Result<(), Fail> {
        if Instant::now() >= self.token.refresh_at {
            self.token = fetch_token(t, &self.base, &self.client_id, &self.client_secret).await?;
        }
        Ok(())
    }
}

/// The Management API audience of a tenant: `https://{domain}/api/v2/`.
fn audience(base: &Url) -> String {
    format!("{}/api/v2/", base.as_str().trim_end_matches('/'))
}

async fn fetch_token(
    t: &mut Transport,
    base: &Url,
    client_id: &str,
    client_secret: &SecretString,
) -> Result<Token, Fail> {
    const WHAT: &str = "POST /oauth/token";
    let url = endpoint(base, &["oauth", "token"]);
    let audience = audience(base);
    let reply = t
        .send(WHAT, |c| {
            with_form(
                c.post(url.clone()),
                &[
                    ("grant_type", "client_credentials"),
                    ("client_id", client_id),
                    ("client_secret", client_secret.expose()),
                    ("audience", audience.as_str()),
                ],
            )
        })
        .await?;
    match reply.status {
        200 => {}
        401 => {
            return Err(Fail::refused(
                "client_secret",
                format!(
                    "was not accepted with this client ID ({}): copy the Client ID and Client Secret of the Machine-to-Machine application from Auth0 Dashboard → Applications",
                    reply.summary()
                ),
            ));
        }
        403 => {
            return Err(Fail::refused(
                "client_id",
                format!(
                    "may not call the Management API of this tenant ({}): authorize the application for the Auth0 Management API (audience {audience}) in Auth0 Dashboard → Applications → APIs",
                    reply.summary()
                ),
            ));
        }
        _ => return Err(unexpected(WHAT, &reply)),
    }
    let answer: TokenAnswer = reply.json(WHAT)?;
    let scopes = answer.scope.unwrap_or_default();
    if !scopes.split_whitespace().any(|s| s == "read:users") {
        let granted = if scopes.trim().is_empty() {
            "none".to_string()
        } else {
            scopes
        };
        return Err(Fail::refused(
            "client_id",
            format!(
                "has no read:users scope on the Auth0 Management API (granted: {granted}): in Auth0 Dashboard → Applications → APIs → Auth0 Management API → Machine to Machine Applications, add read:users to this application's grant"
            ),
        ));
    }
    let lifetime = answer.expires_in.unwrap_or(86_400).max(60);
    let margin = (lifetime / 10).min(300);
    Ok(Token {
        value: SecretString::new(answer.access_token),
        refresh_at: Instant::now() + Duration::from_secs(lifetime - margin),
    })
}

/// The gzip export file, decoded while it downloads: pages are cut from complete NDJSON
/// lines, so memory holds one page and one network chunk. A file that is one JSON array is
/// tolerated (read whole, then paged).
struct ExportStream {
    response: Option<reqwest::Response>,
    decoder: Option<GzDecoder<Vec<u8>>>,
    /// Users of an array-shaped export not yet handed out.
    array: Option<VecDeque<DirectoryUser>>,
    line: u64,
    /// The body has ended; the decoder holds the rest of the file.
    eof: bool,
}

impl ExportStream {
    fn new(response: reqwest::Response) -> Self {
        Self {
            response: Some(response),
            decoder: Some(GzDecoder::new(Vec::new())),
            array: None,
            line: 0,
            eof: false,
        }
    }

    /// Up to [`MAX_PAGE_ITEMS`] users; empty at the end.
    async fn next_users(&mut self) -> Result<Vec<DirectoryUser>, Fail> {
        let mut users = Vec::new();
        loop {
            if let Some(rest) = &mut self.array {
                let n = rest.len().min(MAX_PAGE_ITEMS);
                return Ok(rest.drain(..n).collect());
            }
            let Some(decoder) = self.decoder.as_mut() else {
                return Ok(users);
            };
            let buf = decoder.get_mut();
            if self.line == 0 && buf.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
                self.read_array().await?;
                continue;
            }
            let mut start = 0;
            while users.len() < MAX_PAGE_ITEMS {
                let Some(end) = buf
                    .get(start..)
                    .and_then(|b| b.iter().position(|x| *x == b'\n'))
                else {
                    break;
                };
                let line = buf.get(start..start + end).unwrap_or_default();
                start += end + 1;
                self.line += 1;
                if let Some(u) = parse_line(line, self.line)? {
                    users.push(u);
                }
            }
            buf.drain(..start);
            if users.len() >= MAX_PAGE_ITEMS {
                return Ok(users);
            }
            if self.eof {
                // Every complete line is read: the last one may lack its newline.
                if let Some(mut decoder) = self.decoder.take() {
                    let rest = std::mem::take(decoder.get_mut());
                    self.line += 1;
                    if let Some(u) = parse_line(&rest, self.line)? {
                        users.push(u);
                    }
                }
                return Ok(users);
            }
            self.eof = !self.pull().await?;
        }
    }

    /// Feeds the next network chunk to the decoder; false at the end of the body.
    async fn pull(&mut self) -> Result<bool, Fail> {
        let (Some(response), Some(decoder)) = (self.response.as_mut(), self.decoder.as_mut())
        else {
            return Ok(false);
        };
        match response.chunk().await {
            Ok(Some(chunk)) => {
                decoder.write_all(&chunk).map_err(|e| gzip_error(&e))?;
                Ok(true)
            }
            Ok(None) => {
                self.response = None;
                decoder.try_finish().map_err(|e| gzip_error(&e))?;
                Ok(false)
            }
            Err(e) => Err(Fail::Unavailable(format!(
                "reading the users export failed ({}); the run can be retried",
                crate::http::describe(&e)
            ))),
        }
    }

    /// Reads an array-shaped export whole.
    async fn read_array(&mut self) -> Result<(), Fail> {
        while self.pull().await? {
            let size = self.decoder.as_mut().map_or(0, |d| d.get_mut().len());
            if size > MAX_ARRAY_EXPORT {
                return Err(Fail::Malformed(format!(
                    "the users export is a JSON array larger than {MAX_ARRAY_EXPORT} bytes; only NDJSON exports are streamed"
                )));
            }
        }
        let body = self
            .decoder
            .take()
            .map(|mut d| std::mem::take(d.get_mut()))
            .unwrap_or_default();
        let rows: Vec<Auth0User> = serde_json::from_slice(&body).map_err(|e| {
            Fail::Malformed(format!(
                "the users export is not a JSON array of users ({e})"
            ))
        })?;
        let users = rows
            .into_iter()
            .map(Auth0User::into_user)
            .collect::<Result<VecDeque<_>, _>>()?;
        self.array = Some(users);
        Ok(())
    }
}

fn gzip_error(e: &std::io::Error) -> Fail {
    Fail::Malformed(format!("the users export is not a valid gzip file ({e})"))
}

fn parse_line(line: &[u8], number: u64) -> Result<Option<DirectoryUser>, Fail> {
    let trimmed = line.trim_ascii();
    if trimmed.is_empty() {
        return Ok(None);
    }
    let user: Auth0User = serde_json::from_slice(trimmed).map_err(|e| {
        Fail::Malformed(format!(
            "line {number} of the users export is not a user JSON object ({e})"
        ))
    })?;
    user.into_user().map(Some)
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use flate2::Compression;
    use flate2::write::GzEncoder;

    use super::*;

    fn gz(text: &str) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::fast());
        e.write_all(text.as_bytes()).unwrap();
        e.finish().unwrap()
    }

    async fn read(text: &str) -> Result<Vec<Vec<DirectoryUser>>, Fail> {
        let response = reqwest::Response::from(http::Response::new(gz(text)));
        let mut s = ExportStream::new(response);
        let mut pages = Vec::new();
        loop {
            let page = s.next_users().await?;
            if page.is_empty() {
                return Ok(pages);
            }
            pages.push(page);
        }
    }

    #[tokio::test]
    async fn ndjson_and_array_exports_are_read_with_absent_blocked_as_active() {
        let mut text = String::new();
        for i in 0..2500 {
            text.push_str(&format!(
                "{{\"user_id\":\"auth0|{i}\",\"email\":\"u{i}@x.test\",\"blocked\":{}}}\n",
                i % 2 == 0
            ));
        }
        text.push_str("{\"user_id\":\"auth0|last\",\"extra\":1}");
        let pages = read(&text).await.unwrap();
        assert_eq!(
            pages.iter().map(Vec::len).collect::<Vec<_>>(),
            vec![1000, 1000, 501]
        );
        let last = &pages[2][500];
        assert_eq!(last.external_id.as_str(), "auth0|last");
        assert_eq!(last.status, alter_core::UserStatus::Active);
        assert_eq!(pages[0][0].status, alter_core::UserStatus::Suspended);

        let array = "[{\"user_id\":\"auth0|a\",\"name\":\"A\"},{\"user_id\":\"auth0|b\"}]";
        let pages = read(array).await.unwrap();
        assert_eq!(pages.len(), 1);
        assert_eq!(pages[0][0].display_name.as_deref(), Some("A"));

        assert!(matches!(
            read("{\"user_id\":\"auth0|a\"}\nnot json\n").await,
            Err(Fail::Malformed(_))
        ));
        let plain = reqwest::Response::from(http::Response::new(b"{}\n".to_vec()));
        let mut s = ExportStream::new(plain);
        assert!(matches!(s.next_users().await, Err(Fail::Malformed(m)) if m.contains("gzip")));
    }
}
