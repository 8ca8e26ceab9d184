//! Clerk Backend API with the instance's secret key: `GET /v1/users` (a bare array, offset
//! paging, oldest first), organizations as groups (`GET /v1/organizations`) and each one's
//! memberships (`GET /v1/organizations/{id}/memberships`), both `{data,total_count}`.

use alter_core::provider_events::clerk_user_status;
use alter_core::{ExternalGroupId, ExternalUserId};
use alter_secrets::SecretString;
use serde::Deserialize;
use url::Url;

use super::credential::endpoint;
use super::transport::{Reply, Transport};
use super::{
    DirectoryGroup, DirectoryPage, DirectoryUser, Fail, group_id, non_blank, unexpected, user_id,
};

/// Rows per request (Clerk's maximum).
const LIMIT: usize = 500;

#[derive(Deserialize)]
struct ClerkUser {
    id: String,
    #[serde(default)]
    first_name: Option<String>,
    #[serde(default)]
    last_name: Option<String>,
    #[serde(default)]
    primary_email_address_id: Option<String>,
    #[serde(default)]
    email_addresses: Vec<EmailAddress>,
    #[serde(default)]
    banned: bool,
}

#[derive(Deserialize)]
struct EmailAddress {
    id: String,
    email_address: String,
}

#[derive(Deserialize)]
struct Envelope<T> {
    data: Vec<T>,
    #[serde(default)]
    total_count: Option<u64>,
}

#[derive(Deserialize)]
struct Organization {
    id: String,
    #[serde(default)]
    name: Option<String>,
}

#[derive(Deserialize)]
struct Membership {
    public_user_data: PublicUserData,
}

#[derive(Deserialize)]
struct PublicUserData {
    user_id: String,
}

enum Phase {
    Users {
        offset: usize,
    },
    Groups {
        offset: usize,
    },
    /// Walks the organizations again, one page at a time, listing each one's members.
    Members {
        next_orgs: Option<usize>,
        queue: std::collections::VecDeque<ExternalGroupId>,
        current: Option<(ExternalGroupId, usize)>,
    },
    Done,
}

pub(crate) struct ClerkReader {
    base: Url,
    key: SecretString,
    phase: Phase,
}

impl ClerkReader {
    pub(crate) fn new(base: Url, key: SecretString) -> Self {
        Self {
            base,
            key,
            phase: Phase::Users { offset: 0 },
        }
    }

    /// One authenticated read.
    pub(crate) async fn probe(&mut self, t: &mut Transport) -> Result<(), Fail> {
        let url = endpoint(&self.base, &["v1", "users"]);
        let reply = self
            .get(t, "GET /v1/users", &url, &[("limit", "1")])
            .await?;
        if reply.status != 200 {
            return Err(unexpected("GET /v1/users", &reply));
        }
        reply
            .json::<Vec<serde_json::Value>>("GET /v1/users")
            .map(|_| ())
    }

    pub(crate) async fn next_page(
        &mut self,
        t: &mut Transport,
    ) -> Result<Option<DirectoryPage>, Fail> {
        loop {
            match &mut self.phase {
                Phase::Done => return Ok(None),
                Phase::Users { offset } => {
                    let at = *offset;
                    let users = self.users(t, at).await?;
                    self.phase = if users.len() < LIMIT {
                        Phase::Groups { offset: 0 }
                    } else {
                        Phase::Users {
                            offset: at + users.len(),
                        }
                    };
                    if !users.is_empty() {
                        return Ok(Some(DirectoryPage::Users(users)));
                    }
                }
                Phase::Groups { offset } => {
                    let at = *offset;
                    let (groups, more) = self.organizations(t, at).await?;
                    self.phase = if more {
                        Phase::Groups {
                            offset: at + groups.len(),
                        }
                    } else {
                        Phase::Members {
                            next_orgs: Some(0),
                            queue: std::collections::VecDeque::new(),
                            current: None,
                        }
                    };
                    if !groups.is_empty() {
                        return Ok(Some(DirectoryPage::Groups(groups)));
                    }
                }
                Phase::Members {
                    next_orgs,
                    queue,
                    current,
                } => {
                    if let Some((group, offset)) = current.take() {
                        let at = offset;
                        let (users, more) = self.members(t, &group, at).await?;
                        if let Phase::Members { current, .. } = &mut self.phase
                            && more
                        {
                            *current = Some((group.clone(), at + users.len()));
                        }
                        if at == 0 || !users.is_empty() {
                            return Ok(Some(DirectoryPage::Members { group, users }));
                        }
                        continue;
                    }
                    if let Some(group) = queue.pop_front() {
                        *current = Some((group, 0));
                        continue;
                    }
                    let Some(at) = *next_orgs else {
                        self.phase = Phase::Done;
                        return Ok(None);
                    };
                    let (groups, more) = self.organizations(t, at).await?;
                    if let Phase::Members {
                        next_orgs, queue, ..
                    } = &mut self.phase
                    {
                        *next_orgs = more.then_some(at + groups.len());
                        queue.extend(groups.into_iter().map(|g| g.external_id));
                    }
                }
            }
        }
    }

    async fn users(
        &mut self,
        t: &mut Transport,
        offset: usize,
    ) -> Result<Vec<DirectoryUser>, Fail> {
        const WHAT: &str = "GET /v1/users";
        let url = endpoint(&self.base, &["v1", "users"]);
        let (limit, offset) = (LIMIT.to_string(), offset.to_string());
        let query = [
            ("limit", limit.as_str()),
            ("offset", offset.as_str()),
            ("order_by", "+created_at"),
        ];
        let reply = self.get(t, WHAT, &url, &query).await?;
        if reply.status != 200 {
            return Err(unexpected(WHAT, &reply));
        }
        let rows: Vec<ClerkUser> = reply.json(WHAT)?;
        rows.into_iter()
            .map(|u| {
                let email = u
                    .primary_email_address_id
                    .as_deref()
                    .and_then(|id| u.email_addresses.iter().find(|e| e.id == id))
                    .map(|e| e.email_address.clone());
                let name = [u.first_name, u.last_name]
                    .into_iter()
                    .flatten()
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect::<Vec<_>>()
                    .join(" ");
                Ok(DirectoryUser {
                    external_id: user_id(&u.id)?,
                    email: non_blank(email),
                    display_name: non_blank(Some(name)),
                    status: clerk_user_status(u.banned),
                })
            })
            .collect()
    }

    /// One page of organizations (oldest first) and whether more follow.
    async fn organizations(
        &mut self,
        t: &mut Transport,
        offset: usize,
    ) -> Result<(Vec<DirectoryGroup>, bool), Fail> {
        const WHAT: &str = "GET /v1/organizations";
        let url = endpoint(&self.base, &["v1", "organizations"]);
        let (limit, off) = (LIMIT.to_string(), offset.to_string());
        let query = [
            ("limit", limit.as_str()),
            ("offset", off.as_str()),
            ("order_by", "+created_at"),
        ];
        let reply = self.get(t, WHAT, &url, &query).await?;
        if reply.status != 200 {
            return Err(unexpected(WHAT, &reply));
        }
        let page: Envelope<Organization> = reply.json(WHAT)?;
        let more = more_after(offset, page.data.len(), page.total_count);
        let groups = page
            .data
            .into_iter()
            .map(|o| {
                Ok(DirectoryGroup {
                    external_id: group_id(&o.id)?,
                    name: non_blank(o.name),
                })
            })
            .collect::<Result<Vec<_>, Fail>>()?;
        Ok((groups, more))
    }

    /// One page of an organization's members and whether more follow.
    async fn members(
        &mut self,
        t: &mut Transport,
        group: &ExternalGroupId,
        offset: usize,
    ) -> Result<(Vec<alter_core::ExternalUserId>, bool), Fail> {
        const WHAT: &str = "GET /v1/organizations/{id}/memberships";
        let url = endpoint(
            &self.base,
            &["v1", "organizations", group.as_str(), "memberships"],
        );
        let (limit, off) = (LIMIT.to_string(), offset.to_string());
        let query = [("limit", limit.as_str()), ("offset", off.as_str())];
        let reply = self.get(t, WHAT, &url, &query).await?;
        if reply.status == 404 {
            // Deleted since it was listed: no members to report.
            return Ok((Vec::new(), false));
        }
        let page: Envelope<Membership> = reply.json(WHAT)?;
        let more = more_after(offset, page.data.len(), page.total_count);
        let users = page
            .data
            .into_iter()
            .map(|m| user_id(&m.public_user_data.user_id))
            .collect::<Result<Vec<_>, _>>()?;
        Ok((users, more))
    }

    /// Whether Clerk still has the user (`GET /v1/users/{id}`: 200 or 404).
    pub(crate) async fn user_exists(
        &self,
        t: &mut Transport,
        user: &ExternalUserId,
    ) -> Result<bool, Fail> {
        const WHAT: &str = "GET /v1/users/{id}";
        let url = endpoint(&self.base, &["v1", "users", user.as_str()]);
        let reply = self.get(t, WHAT, &url, &[]).await?;
        Ok(reply.status == 200)
    }

    /// A GET with the secret key; 401/403 mean the key no longer works.
    async fn get(
        &self,
        t: &mut Transport,
        what: &str,
        url: &Url,
        query: &[(&str, &str)],
    ) -> Result<Reply, Fail> {
        let key = self.key.expose();
        let reply = t
            .send(what, |c| c.get(url.clone()).bearer_auth(key).query(query))
            .await?;
        match reply.status {
            200 | 404 => Ok(reply),
            401 | 403 => Err(Fail::refused(
                "secret_key",
                format!(
                    "was refused by Clerk ({what}: {}): the key is wrong, revoked, or belongs to another instance; copy the Secret key from Clerk Dashboard → Configure → API keys",
                    reply.summary()
                ),
            )),
            _ => Err(unexpected(what, &reply)),
        }
    }
}

/// Whether an offset page is followed by another: a full page not yet at the total.
fn more_after(offset: usize, len: usize, total: Option<u64>) -> bool {
    let reached = u64::try_from(offset + len).unwrap_or(u64::MAX);
    len >= LIMIT && total.is_none_or(|t| reached < t)
}
