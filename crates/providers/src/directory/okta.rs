//! Okta, as an API Services app: an access token by client credentials with a
//! `private_key_jwt` assertion (RS256 from the app's private JWK), then `GET /api/v1/users`,
//! the DEPROVISIONED users the default listing hides (`search=status eq "DEPROVISIONED"`),
//! `GET /api/v1/groups` and each group's `GET /api/v1/groups/{id}/users`, every listing
//! followed through its `Link: rel="next"` cursor to the end.

use std::collections::VecDeque;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use alter_core::ExternalGroupId;
use alter_core::provider_events::okta_user_status;
use alter_secrets::SecretString;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::header::{HeaderMap, LINK, WWW_AUTHENTICATE};
use serde::Deserialize;
use serde_json::json;
use tokio::time::Instant;
use url::Url;

use super::credential::{OktaSigningKey, endpoint};
use super::transport::{Reply, Transport, with_form};
use super::{
    DirectoryGroup, DirectoryPage, DirectoryUser, Fail, group_id, non_blank, unexpected, user_id,
};

/// Scopes requested for the token.
pub(crate) const SCOPES: &str = "okta.users.read okta.groups.read";
const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// Lifetime of a client assertion (Okta accepts up to one hour).
const ASSERTION_LIFETIME: u64 = 300;
const USERS_LIMIT: &str = "200";
const GROUPS_LIMIT: &str = "1000";
const DEPROVISIONED: &str = "status eq \"DEPROVISIONED\"";

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    #[serde(default)]
    token_type: Option<String>,
    #[serde(default)]
    expires_in: Option<u64>,
}

#[derive(Deserialize)]
struct OktaUser {
    id: String,
    status: String,
    #[serde(default)]
    profile: Profile,
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Profile {
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    display_name: Option<String>,
    #[serde(default)]
    first_name: Option<String>,
    #[serde(default)]
    last_name: Option<String>,
}

#[derive(Deserialize)]
struct OktaGroup {
    id: String,
    #[serde(default)]
    profile: GroupProfile,
}

#[derive(Default, Deserialize)]
struct GroupProfile {
    #[serde(default)]
    name: Option<String>,
}

#[derive(Deserialize)]
struct OktaMember {
    id: String,
}

enum Phase {
    Users(Url),
    Deprovisioned(Url),
    Groups(Url),
    /// Walks the groups listing again, a page at a time, listing each group's members.
    Members {
        next_groups: Option<Url>,
        queue: VecDeque<ExternalGroupId>,
        current: Option<(ExternalGroupId, Url, bool)>,
    },
    Done,
}

struct Token {
    value: SecretString,
    refresh_at: Instant,
}

pub(crate) struct OktaReader {
    base: Url,
    client_id: String,
    key: OktaSigningKey,
    token: Token,
    phase: Phase,
}

impl OktaReader {
    pub(crate) async fn open(
        t: &mut Transport,
        base: Url,
        client_id: &str,
        key: OktaSigningKey,
    ) -> Result<Self, Fail> {
        let token = fetch_token(t, &base, client_id, &key).await?;
        let users = first_users_url(&base, None);
        Ok(Self {
            base,
            client_id: client_id.to_string(),
            key,
            token,
            phase: Phase::Users(users),
        })
    }

    /// One directory read (a 403 here is the missing admin role).
    pub(crate) async fn probe(&mut self, t: &mut Transport) -> Result<(), Fail> {
        let mut url = endpoint(&self.base, &["api", "v1", "users"]);
        url.query_pairs_mut().append_pair("limit", "1");
        let reply = self.get(t, "GET /api/v1/users", &url).await?;
        if reply.status != 200 {
            return Err(unexpected("GET /api/v1/users", &reply));
        }
        reply
            .json::<Vec<serde_json::Value>>("GET /api/v1/users")
            .map(|_| ())
    }

    pub(crate) async fn next_page(
        &mut self,
        t: &mut Transport,
    ) -> Result<Option<DirectoryPage>, Fail> {
        loop {
            let phase = std::mem::replace(&mut self.phase, Phase::Done);
            match phase {
                Phase::Done => return Ok(None),
                Phase::Users(url) => {
                    let (users, next) = self.users(t, "GET /api/v1/users", &url).await?;
                    self.phase = match next {
                        Some(n) => Phase::Users(n),
                        None => {
                            Phase::Deprovisioned(first_users_url(&self.base, Some(DEPROVISIONED)))
                        }
                    };
                    if !users.is_empty() {
                        return Ok(Some(DirectoryPage::Users(users)));
                    }
                }
                Phase::Deprovisioned(url) => {
                    let what = "GET /api/v1/users?search=status eq \"DEPROVISIONED\"";
                    let (users, next) = self.users(t, what, &url).await?;
                    // `search` matches every user with that status; keep only those, in case
                    // a provider's search is looser than its filter.
                    let users: Vec<_> = users
                        .into_iter()
                        .filter(|u| u.status == alter_core::UserStatus::Deprovisioned)
                        .collect();
                    self.phase = match next {
                        Some(n) => Phase::Deprovisioned(n),
                        None => Phase::Groups(self.first_groups_url()),
                    };
                    if !users.is_empty() {
                        return Ok(Some(DirectoryPage::Users(users)));
                    }
                }
                Phase::Groups(url) => {
                    let (groups, next) = self.groups(t, &url).await?;
                    self.phase = match next {
                        Some(n) => Phase::Groups(n),
                        None => Phase::Members {
                            next_groups: Some(self.first_groups_url()),
                            queue: VecDeque::new(),
                            current: None,
                        },
                    };
                    if !groups.is_empty() {
                        return Ok(Some(DirectoryPage::Groups(groups)));
                    }
                }
                Phase::Members {
                    next_groups,
                    mut queue,
                    current,
                } => {
                    if let Some((group, url, first)) = current {
                        let (users, next) = self.members(t, &url).await?;
                        self.phase = Phase::Members {
                            next_groups,
                            queue,
                            current: next.map(|n| (group.clone(), n, false)),
                        };
                        if first || !users.is_empty() {
                            return Ok(Some(DirectoryPage::Members { group, users }));
                        }
                        continue;
                    }
                    if let Some(group) = queue.pop_front() {
                        let mut url = endpoint(
                            &self.base,
                            &["api", "v1", "groups", group.as_str(), "users"],
                        );
                        url.query_pairs_mut().append_pair("limit", GROUPS_LIMIT);
                        self.phase = Phase::Members {
                            next_groups,
                            queue,
                            current: Some((group, url, true)),
                        };
                        continue;
                    }
                    let Some(url) = next_groups else {
                        return Ok(None);
                    };
                    let (groups, next) = self.groups(t, &url).await?;
                    queue.extend(groups.into_iter().map(|g| g.external_id));
                    self.phase = Phase::Members {
                        next_groups: next,
                        queue,
                        current: None,
                    };
                }
            }
        }
    }

    fn first_groups_url(&self) -> Url {
        let mut url = endpoint(&self.base, &["api", "v1", "groups"]);
        url.query_pairs_mut().append_pair("limit", GROUPS_LIMIT);
        url
    }

    async fn users(
        &mut self,
        t: &mut Transport,
        what: &str,
        url: &Url,
    ) -> Result<(Vec<DirectoryUser>, Option<Url>), Fail> {
        let reply = self.get(t, what, url).await?;
        if reply.status != 200 {
            return Err(unexpected(what, &reply));
        }
        let next = self.next_link(what, &reply.headers)?;
        let rows: Vec<OktaUser> = reply.json(what)?;
        let users = rows
            .into_iter()
            .map(|u| {
                let status = okta_user_status(&u.status).ok_or_else(|| {
                    Fail::Malformed(format!(
                        "{what}: user {} has the undocumented Okta status {:?}; nothing was changed, report this status so it can be mapped",
                        u.id, u.status
                    ))
                })?;
                let p = u.profile;
                let name = p.display_name.filter(|s| !s.trim().is_empty()).or_else(|| {
                    let joined = [p.first_name, p.last_name]
                        .into_iter()
                        .flatten()
                        .map(|s| s.trim().to_string())
                        .filter(|s| !s.is_empty())
                        .collect::<Vec<_>>()
                        .join(" ");
                    Some(joined)
                });
                Ok(DirectoryUser {
                    external_id: user_id(&u.id)?,
                    email: non_blank(p.email),
                    display_name: non_blank(name),
                    status,
                })
            })
            .collect::<Result<Vec<_>, Fail>>()?;
        Ok((users, next))
    }

    async fn groups(
        &mut self,
        t: &mut Transport,
        url: &Url,
    ) -> Result<(Vec<DirectoryGroup>, Option<Url>), Fail> {
        const WHAT: &str = "GET /api/v1/groups";
        let reply = self.get(t, WHAT, url).await?;
        if reply.status != 200 {
            return Err(unexpected(WHAT, &reply));
        }
        let next = self.next_link(WHAT, &reply.headers)?;
        let rows: Vec<OktaGroup> = reply.json(WHAT)?;
        let groups = rows
            .into_iter()
            .map(|g| {
                Ok(DirectoryGroup {
                    external_id: group_id(&g.id)?,
                    name: non_blank(g.profile.name),
                })
            })
            .collect::<Result<Vec<_>, Fail>>()?;
        Ok((groups, next))
    }

    async fn members(
        &mut self,
        t: &mut Transport,
        url: &Url,
    ) -> Result<(Vec<alter_core::ExternalUserId>, Option<Url>), Fail> {
        const WHAT: &str = "GET /api/v1/groups/{id}/users";
        let reply = self.get(t, WHAT, url).await?;
        if reply.status == 404 {
            // Deleted since it was listed: no members to report.
            return Ok((Vec::new(), None));
        }
        let next = self.next_link(WHAT, &reply.headers)?;
        let rows: Vec<OktaMember> = reply.json(WHAT)?;
        let users = rows
            .into_iter()
            .map(|m| user_id(&m.id))
            .collect::<Result<Vec<_>, _>>()?;
        Ok((users, next))
    }

    /// The `rel="next"` URL, which must stay on the org (the token goes with it).
    fn next_link(&self, what: &str, headers: &HeaderMap) -> Result<Option<Url>, Fail> {
        let Some(raw) = next_link(headers) else {
            return Ok(None);
        };
        let url = Url::parse(&raw).map_err(|e| {
            Fail::Malformed(format!("{what}: the next-page link is not a URL ({e})"))
        })?;
        let same_origin = url.scheme() == self.base.scheme()
            && url.host_str() == self.base.host_str()
            && url.port_or_known_default() == self.base.port_or_known_default();
        if !same_origin {
            return Err(Fail::Malformed(format!(
                "{what}: the next-page link leads to another host ({}); it was not followed",
                url.host_str().unwrap_or("?")
            )));
        }
        Ok(Some(url))
    }

    /// A GET with the bearer token, refreshed when due and once on a 401; a 403 is explained.
    async fn get(&mut self, t: &mut Transport, what: &str, url: &Url) -> Result<Reply, Fail> {
        if Instant::now() >= self.token.refresh_at {
            self.token = fetch_token(t, &self.base, &self.client_id, &self.key).await?;
        }
        let mut refreshed = false;
        loop {
            let token = self.token.value.clone();
            let reply = t
                .send(what, |c| c.get(url.clone()).bearer_auth(token.expose()))
                .await?;
            match reply.status {
                200 | 404 => return Ok(reply),
                401 if !refreshed => {
                    refreshed = true;
                    self.token = fetch_token(t, &self.base, &self.client_id, &self.key).await?;
                }
                401 => {
                    return Err(Fail::refused(
                        "client_id",
                        format!(
                            "tokens of this app are no longer accepted ({what}: {})",
                            reply.summary()
                        ),
                    ));
                }
                403 => return Err(forbidden(what, &reply)),
                _ => return Err(unexpected(what, &reply)),
            }
        }
    }
}

fn forbidden(what: &str, reply: &Reply) -> Fail {
    let www = reply
        .headers
        .get(WWW_AUTHENTICATE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if www.contains("insufficient_scope") {
        Fail::refused(
            "client_id",
            format!(
                "the app's token lacks a required scope ({what}: {}): grant okta.users.read and okta.groups.read on the app's Okta API Scopes tab",
                reply.summary()
            ),
        )
    } else {
        Fail::refused(
            "client_id",
            format!(
                "the app may not read the directory ({what}: {}): it has no administrator role; assign the Read-only Administrator role to the app (Applications → the app → Admin roles)",
                reply.summary()
            ),
        )
    }
}

fn first_users_url(base: &Url, search: Option<&str>) -> Url {
    let mut url = endpoint(base, &["api", "v1", "users"]);
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("limit", USERS_LIMIT);
        if let Some(s) = search {
            q.append_pair("search", s);
        }
    }
    url
}

/// The target of the `rel="next"` link among the `Link` headers (one per line, or several
/// comma-separated in one).
pub(crate) fn next_link(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(LINK)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .find_map(|part| {
            let (target, params) = part.trim().split_once(';')?;
            let is_next = params.split(';').any(|p| {
                let p = p.trim().replace(' ', "");
                p == "rel=\"next\"" || p == "rel=next"
            });
            let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
            is_next.then(|| target.to_string())
        })
}

/// A `private_key_jwt` client assertion: `iss` = `sub` = client_id, `aud` = the token URL,
/// a fresh `jti`, a five-minute `exp`, signed with the app's RSA key.
pub(crate) fn client_assertion(
    key: &OktaSigningKey,
    client_id: &str,
    token_url: &str,
) -> Result<String, Fail> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let header = json!({ "alg": key.alg.name(), "kid": key.kid, "typ": "JWT" });
    let claims = json!({
        "iss": client_id, "sub": client_id, "aud": token_url,
        "iat": now, "exp": now + ASSERTION_LIFETIME,
        "jti": uuid::Uuid::new_v4().to_string(),
    });
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let mut signature = vec![0u8; key.key_pair.public_modulus_len()];
    key.key_pair
        .sign(
            key.alg.padding(),
            &aws_lc_rs::rand::SystemRandom::new(),
            input.as_bytes(),
            &mut signature,
        )
        .map_err(|_| {
            Fail::refused(
                "private_jwk",
                "could not sign the client assertion: generate a new RSA key pair for the app",
            )
        })?;
    Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature)))
}

async fn fetch_token(
    t: &mut Transport,
    base: &Url,
    client_id: &str,
    key: &OktaSigningKey,
) -> Result<Token, Fail> {
    const WHAT: &str = WHAT_TOKEN;
    let url = endpoint(base, &["oauth2", "v1", "token"]);
    let assertion = client_assertion(key, client_id, url.as_str())?;
    // A retried attempt reuses the assertion; Okta refuses a replayed jti only once one
    // attempt was accepted, and then no retry happens.
    let reply = t
        .send(WHAT, |c| {
            with_form(
                c.post(url.clone())
                    .header(reqwest::header::ACCEPT, "application/json"),
                &[
                    ("grant_type", "client_credentials"),
                    ("scope", SCOPES),
                    ("client_assertion_type", ASSERTION_TYPE),
                    ("client_assertion", assertion.as_str()),
                ],
            )
        })
        .await?;
    if reply.status != 200 {
        return Err(token_refusal(&reply, &key.kid));
    }
    let answer: TokenAnswer = reply.json(WHAT)?;
    if answer
        .token_type
        .as_deref()
        .is_some_and(|ty| !ty.eq_ignore_ascii_case("bearer"))
    {
        return Err(dpop_refusal());
    }
    let lifetime = answer.expires_in.unwrap_or(3600).max(60);
    let margin = (lifetime / 10).min(300);
    Ok(Token {
        value: SecretString::new(answer.access_token),
        refresh_at: Instant::now() + Duration::from_secs(lifetime - margin),
    })
}

fn dpop_refusal() -> Fail {
    Fail::refused(
        "client_id",
        "the app requires DPoP-bound tokens, which directory sync does not send: untick \"Require Demonstrating Proof of Possession (DPoP) header in token requests\" in the app's General settings",
    )
}

fn token_refusal(reply: &Reply, kid: &str) -> Fail {
    let v: serde_json::Value = serde_json::from_slice(&reply.body).unwrap_or_default();
    let error = v.get("error").and_then(|e| e.as_str()).unwrap_or("");
    let summary = reply.summary();
    match (reply.status, error) {
        (_, "use_dpop_nonce" | "invalid_dpop_proof") => dpop_refusal(),
        (400, "invalid_scope") => Fail::refused(
            "client_id",
            format!(
                "the app is not granted {SCOPES} ({summary}): grant both on the app's Okta API Scopes tab"
            ),
        ),
        (401 | 400, "invalid_client") => Fail::refused(
            "private_jwk",
            format!(
                "Okta refused the signed client assertion ({summary}): check the client ID, that the app uses Public key / Private key client authentication, and that its public keys include kid {kid}"
            ),
        ),
        (401 | 403, _) | (400, "unauthorized_client" | "access_denied") => Fail::refused(
            "client_id",
            format!(
                "Okta refused the token request ({summary}): check the client ID of the API Services app"
            ),
        ),
        _ => unexpected(WHAT_TOKEN, reply),
    }
}

const WHAT_TOKEN: &str = "POST /oauth2/v1/token";

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn next_link_is_found_on_its_own_line_or_among_others() {
        let mut h = HeaderMap::new();
        h.append(
            LINK,
            HeaderValue::from_static("<https://a.okta.com/api/v1/users?limit=2>; rel=\"self\""),
        );
        h.append(
            LINK,
            HeaderValue::from_static(
                "<https://a.okta.com/api/v1/users?after=x&limit=2>; rel=\"next\"",
            ),
        );
        assert_eq!(
            next_link(&h).as_deref(),
            Some("https://a.okta.com/api/v1/users?after=x&limit=2")
        );
        let mut one = HeaderMap::new();
        one.insert(
            LINK,
            HeaderValue::from_static("<https://a/s>; rel=\"self\", <https://a/n>; rel=\"next\""),
        );
        assert_eq!(next_link(&one).as_deref(), Some("https://a/n"));
        let mut last = HeaderMap::new();
        last.insert(
            LINK,
            HeaderValue::from_static("<https://a/s>; rel=\"self\""),
        );
        assert_eq!(next_link(&last), None);
    }
}
