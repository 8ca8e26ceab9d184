//! The issuer URL of an identity provider: how it is parsed, which provider it names
//! (R-CFG-04), which providers are refused because they must be brokered (R-CFG-05), and
//! which kind an admin may configure for it.
//!
//! Tokens are matched on `iss` byte for byte (R-JWT-02), so the issuer is kept exactly as
//! given; recognition looks at the parsed scheme, host and path, never at substrings.

use serde::{Deserialize, Serialize};
use std::fmt;
use url::Url;

use crate::error::FieldError;
use crate::model::{ClaimMappings, IdpKind};

/// The request field every issuer error names.
const FIELD: &str = "issuer";

/// An identity provider's issuer URL, exactly as its tokens carry it in `iss` (trailing
/// slash included). `parse` is the only way in.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Issuer {
    raw: String,
    url: Url,
}

impl Issuer {
    /// Longest issuer accepted, in bytes.
    pub const MAX_LEN: usize = 2048;

    /// Parses untrusted input. Requires an absolute `https` URL with a host and no
    /// credentials, query or fragment; `http` is accepted only for `127.0.0.1`, `[::1]` and
    /// `localhost` so tests can run against a local simulator.
    pub fn parse(field: &str, input: &str) -> Result<Self, FieldError> {
        if input.trim().is_empty() {
            return Err(FieldError::new(
                field,
                "is required: give the issuer URL exactly as in your tokens' iss claim, e.g. https://acme.eu.auth0.com/",
            ));
        }
        if input.len() > Self::MAX_LEN {
            return Err(FieldError::new(
                field,
                format!(
                    "is {} bytes long: an issuer URL may be at most {} bytes",
                    input.len(),
                    Self::MAX_LEN
                ),
            ));
        }
        if input.trim() != input || input.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(FieldError::new(
                field,
                "contains whitespace or control characters: paste the issuer exactly as in your tokens' iss claim",
            ));
        }
        if input.contains('\\') {
            return Err(FieldError::new(
                field,
                format!("must not contain backslashes, got {input:?}"),
            ));
        }
        let url = Url::parse(input).map_err(|_| {
            FieldError::new(
                field,
                format!(
                    "must be an absolute https URL such as https://acme.okta.com, got {input:?}"
                ),
            )
        })?;
        let host = url.host_str().unwrap_or_default().to_owned();
        let secure = url.scheme() == "https" && input.starts_with("https://");
        let local_http =
            url.scheme() == "http" && input.starts_with("http://") && is_loopback(&host);
        if !(secure || local_http) {
            return Err(FieldError::new(
                field,
                format!(
                    "must be an https URL (http is allowed only for 127.0.0.1 and localhost, for local testing), got {input:?}"
                ),
            ));
        }
        if host.is_empty() {
            return Err(FieldError::new(
                field,
                format!("must name a host, got {input:?}"),
            ));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(FieldError::new(
                field,
                "must not contain a user name or password: remove the part before '@'",
            ));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(FieldError::new(
                field,
                format!(
                    "must not carry a query (?…) or fragment (#…): use the iss value of your tokens, got {input:?}"
                ),
            ));
        }
        Ok(Self {
            raw: input.to_owned(),
            url,
        })
    }

    /// The issuer exactly as given.
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// The parsed URL (normalised by the URL parser; compare tokens against `as_str`).
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// The lower-cased host name.
    pub fn host(&self) -> &str {
        self.url.host_str().unwrap_or_default()
    }

    /// The OIDC discovery document URL of R-CFG-03: `<issuer>/.well-known/openid-configuration`,
    /// without doubling the slash of issuers that end in one (Auth0).
    pub fn discovery_url(&self) -> String {
        format!(
            "{}/.well-known/openid-configuration",
            self.raw.trim_end_matches('/')
        )
    }

    /// The path exactly as written (`""` for `https://acme.okta.com`, `"/"` for
    /// `https://acme.auth0.com/`). The URL parser would turn both into `"/"`.
    fn raw_path(&self) -> &str {
        let after_scheme = self.raw.split_once("://").map_or("", |(_, rest)| rest);
        after_scheme.find('/').map_or("", |at| &after_scheme[at..])
    }
}

impl fmt::Display for Issuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

impl TryFrom<String> for Issuer {
    type Error = FieldError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Issuer::parse(FIELD, &value)
    }
}

impl From<Issuer> for String {
    fn from(issuer: Issuer) -> Self {
        issuer.raw
    }
}

fn is_loopback(host: &str) -> bool {
    matches!(host, "127.0.0.1" | "localhost" | "[::1]")
}

/// A Clerk instance's type. Sign-in (R-CFG-10) needs a production instance.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClerkInstance {
    /// `https://<app>.clerk.accounts.dev` (legacy `*.lcl.dev`).
    Development,
    /// `https://clerk.<domain>`.
    Production,
}

/// Which Okta authorization server issues the tokens.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum OktaAuthServer {
    /// The org authorization server (issuer is the org URL). Its access tokens are meant
    /// for Okta itself; apps normally use a custom server.
    Org,
    /// A custom authorization server, `/oauth2/<server_id>` (`default` is built in).
    Custom { server_id: String },
}

/// A provider recognised from its issuer (R-CFG-04), with what the issuer says about it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "provider", rename_all = "snake_case")]
pub enum Recognised {
    /// `https://<tenant>.auth0.com/` or `https://<tenant>.<region>.auth0.com/`.
    Auth0 {
        tenant: String,
        region: Option<String>,
    },
    /// A Clerk Frontend API host.
    Clerk { instance: ClerkInstance },
    /// `https://<org>.okta.com` (or `okta-emea.com`, `oktapreview.com`), optionally
    /// with `/oauth2/<server-id>`.
    Okta {
        org_host: String,
        server: OktaAuthServer,
    },
}

impl Recognised {
    /// The kind of IDP this issuer belongs to.
    pub const fn kind(&self) -> IdpKind {
        match self {
            Recognised::Auth0 { .. } => IdpKind::Auth0,
            Recognised::Clerk { .. } => IdpKind::Clerk,
            Recognised::Okta { .. } => IdpKind::Okta,
        }
    }

    /// The Clerk instance type, for Clerk issuers.
    pub const fn clerk_instance(&self) -> Option<ClerkInstance> {
        match self {
            Recognised::Clerk { instance } => Some(*instance),
            _ => None,
        }
    }

    /// The audience to pre-fill, where the provider has a well-known default: Okta's
    /// built-in `default` server uses `api://default`. Elsewhere the admin must supply it.
    pub fn suggested_audience(&self) -> Option<&'static str> {
        match self {
            Recognised::Okta {
                server: OktaAuthServer::Custom { server_id },
                ..
            } if server_id == "default" => Some("api://default"),
            _ => None,
        }
    }
}

/// Auth0 regions seen in canonical tenant hosts (§2.1 of the wire-format reference lists
/// `uk` and `ca` beside the four the admin guide names).
const AUTH0_REGIONS: [&str; 6] = ["us", "eu", "au", "jp", "uk", "ca"];

/// Okta cells whose hosts are `<org>.<suffix>`.
const OKTA_SUFFIXES: [&str; 3] = [".okta.com", ".okta-emea.com", ".oktapreview.com"];

/// A DNS label as providers mint them for tenants: lowercase letters, digits, hyphens.
fn is_tenant_label(label: &str) -> bool {
    !label.is_empty()
        && label.len() <= 63
        && !label.starts_with('-')
        && !label.ends_with('-')
        && label
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

fn auth0_host(host: &str) -> Option<(String, Option<String>)> {
    let rest = host.strip_suffix(".auth0.com")?;
    match rest.split('.').collect::<Vec<_>>().as_slice() {
        [tenant] if is_tenant_label(tenant) => Some(((*tenant).to_owned(), None)),
        [tenant, region] if is_tenant_label(tenant) && AUTH0_REGIONS.contains(region) => {
            Some(((*tenant).to_owned(), Some((*region).to_owned())))
        }
        _ => None,
    }
}

/// Clerk development hosts are Clerk's own domains; production hosts are `clerk.` on the
/// customer's domain (at least two labels after `clerk.`).
fn clerk_host(host: &str) -> Option<ClerkInstance> {
    if let Some(app) = host.strip_suffix(".clerk.accounts.dev") {
        return is_tenant_label(app).then_some(ClerkInstance::Development);
    }
    if host.ends_with(".lcl.dev") {
        return Some(ClerkInstance::Development);
    }
    let domain = host.strip_prefix("clerk.")?;
    let labels: Vec<&str> = domain.split('.').collect();
    (labels.len() >= 2 && labels.iter().all(|l| !l.is_empty()) && domain != "accounts.dev")
        .then_some(ClerkInstance::Production)
}

fn okta_host(host: &str) -> bool {
    OKTA_SUFFIXES
        .iter()
        .any(|suffix| host.strip_suffix(suffix).is_some_and(is_tenant_label))
}

fn is_okta_server_id(id: &str) -> bool {
    !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// What the issuer's scheme, host and path say about its provider.
enum Classification {
    Recognised(Recognised),
    /// A provider-owned host whose path cannot be that provider's issuer: the message says
    /// what the exact form is.
    WrongForm(String),
    Unknown,
}

fn classify(issuer: &Issuer) -> Classification {
    if issuer.url.scheme() != "https" || issuer.url.port().is_some() {
        return Classification::Unknown;
    }
    let host = issuer.host();
    let path = issuer.raw_path();
    if let Some((tenant, region)) = auth0_host(host) {
        return match path {
            "/" => Classification::Recognised(Recognised::Auth0 { tenant, region }),
            _ => Classification::WrongForm(format!(
                "is on an Auth0 host but is not an Auth0 issuer: Auth0 issuers are the bare host with a trailing slash, https://{host}/ (paste the iss claim exactly)"
            )),
        };
    }
    if let Some(instance) = clerk_host(host) {
        return match path {
            "" => Classification::Recognised(Recognised::Clerk { instance }),
            // `clerk.<domain>` is a customer's domain and may host something else.
            _ if instance == ClerkInstance::Production => Classification::Unknown,
            _ => Classification::WrongForm(format!(
                "is on a Clerk host but is not a Clerk issuer: Clerk issuers have no path and no trailing slash, https://{host}"
            )),
        };
    }
    if okta_host(host) {
        let server = match path {
            "" => Some(OktaAuthServer::Org),
            _ => path
                .strip_prefix("/oauth2/")
                .filter(|id| is_okta_server_id(id))
                .map(|id| OktaAuthServer::Custom {
                    server_id: id.to_owned(),
                }),
        };
        return match server {
            Some(server) => Classification::Recognised(Recognised::Okta {
                org_host: host.to_owned(),
                server,
            }),
            None => Classification::WrongForm(format!(
                "is on an Okta host but is not an Okta issuer: use https://{host} (org server) or https://{host}/oauth2/<server-id> (e.g. /oauth2/default), with no trailing slash"
            )),
        };
    }
    Classification::Unknown
}

/// Recognises Auth0, Clerk and Okta from their own hosts (R-CFG-04). Custom domains, and
/// provider hosts whose path is not an issuer form (e.g. an Auth0 host without its trailing
/// slash, which no Auth0 token carries), give `None`.
pub fn recognise(issuer: &Issuer) -> Option<Recognised> {
    match classify(issuer) {
        Classification::Recognised(recognised) => Some(recognised),
        Classification::WrongForm(_) | Classification::Unknown => None,
    }
}

/// Providers that must be brokered through Auth0, Clerk or Okta (R-CFG-05).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BrokeredProvider {
    Keycloak,
    MicrosoftEntraId,
    AmazonCognito,
    Google,
    FirebaseAuth,
    SupabaseAuth,
}

impl BrokeredProvider {
    /// The provider's product name, as the error shows it.
    pub const fn name(self) -> &'static str {
        match self {
            BrokeredProvider::Keycloak => "Keycloak",
            BrokeredProvider::MicrosoftEntraId => "Microsoft Entra ID",
            BrokeredProvider::AmazonCognito => "Amazon Cognito",
            BrokeredProvider::Google => "Google",
            BrokeredProvider::FirebaseAuth => "Firebase Auth",
            BrokeredProvider::SupabaseAuth => "Supabase Auth",
        }
    }

    /// The rejection message: names the provider and says to broker it.
    pub fn message(self) -> String {
        format!(
            "is a {} issuer, which cannot be connected directly: broker it through Auth0, Clerk or Okta (as an enterprise connection there) and use the broker's issuer instead",
            self.name()
        )
    }

    /// The rejection as a field error on `field`.
    pub fn rejection(self, field: &str) -> FieldError {
        FieldError::new(field, self.message())
    }
}

/// Entra ID authorities: public cloud, US government, China (§5 of the wire-format reference).
const ENTRA_HOSTS: [&str; 5] = [
    "login.microsoftonline.com",
    "sts.windows.net",
    "login.microsoftonline.us",
    "login.partner.microsoftonline.cn",
    "sts.chinacloudapi.cn",
];

/// The brokered-only provider this issuer belongs to, if any (R-CFG-05).
pub fn rejected_brokered(issuer: &Issuer) -> Option<BrokeredProvider> {
    let host = issuer.host();
    let mut segments = issuer.url.path_segments().into_iter().flatten();
    let keycloak = segments.by_ref().any(|s| s == "realms")
        && segments.next().is_some_and(|realm| !realm.is_empty());
    if keycloak {
        Some(BrokeredProvider::Keycloak)
    } else if ENTRA_HOSTS.contains(&host)
        || host.ends_with(".ciamlogin.com")
        || host.ends_with(".b2clogin.com")
    {
        Some(BrokeredProvider::MicrosoftEntraId)
    } else if host.ends_with(".amazonaws.com")
        && host
            .split('.')
            .next()
            .is_some_and(|l| l.starts_with("cognito-idp"))
    {
        Some(BrokeredProvider::AmazonCognito)
    } else if host == "accounts.google.com" {
        Some(BrokeredProvider::Google)
    } else if host == "securetoken.google.com" {
        Some(BrokeredProvider::FirebaseAuth)
    } else if host.ends_with(".supabase.co") {
        Some(BrokeredProvider::SupabaseAuth)
    } else {
        None
    }
}

/// Decides the kind an IDP is configured with. Brokered-only providers are refused whatever
/// kind is asked for (R-CFG-05); a recognised issuer fixes the kind and a different requested
/// kind is an error naming both (R-CFG-04); an unrecognised issuer (a custom domain) needs
/// the kind stated.
pub fn validate_idp_kind(
    issuer: &Issuer,
    requested: Option<IdpKind>,
) -> Result<IdpKind, FieldError> {
    if let Some(brokered) = rejected_brokered(issuer) {
        return Err(brokered.rejection(FIELD));
    }
    match (classify(issuer), requested) {
        (Classification::Recognised(recognised), None) => Ok(recognised.kind()),
        (Classification::Recognised(recognised), Some(kind)) if kind == recognised.kind() => {
            Ok(kind)
        }
        (Classification::Recognised(recognised), Some(kind)) => Err(FieldError::new(
            "kind",
            format!(
                "is {kind} but the issuer {issuer} is recognised as {actual}: set kind to {actual} or leave it empty",
                actual = recognised.kind()
            ),
        )),
        (Classification::WrongForm(message), _) => Err(FieldError::new(FIELD, message)),
        (Classification::Unknown, Some(kind)) => Ok(kind),
        (Classification::Unknown, None) => Err(FieldError::new(
            "kind",
            format!(
                "is required: the provider cannot be recognised from the issuer host {} (a custom domain?); state the kind: auth0, clerk, okta or custom_oidc (on the CLI: --kind auth0|clerk|okta|custom-oidc)",
                issuer.host()
            ),
        )),
    }
}

/// Claim mappings to pre-fill for a provider (R-CFG-03); the admin may change them until
/// the first sign-in locks them (R-CFG-08).
///
/// - Auth0: `sub` (`auth0|…`). Groups need an Action adding a namespaced claim such as
///   `https://alter.dev/groups`; they are for visibility only (R-CFG-09), so none is pre-filled.
/// - Clerk: `sub` (`user_…`). Group grants need a JWT template with a top-level claim carrying
///   the organization ID (`"groups": "{{org.id}}"`); the default token nests it under `o`.
/// - Okta: `uid` (the stable `00u…` ID; an access token's `sub` is the login name, which
///   webhooks and directory sync do not use) and `groups`, which by default carries group
///   names, so the stable-IDs flag is off. The default server's audience is `api://default`.
/// - Custom OIDC: `sub`, with the standard `email` and `name` claims.
pub fn suggested_claim_mappings(kind: IdpKind) -> ClaimMappings {
    let base = ClaimMappings::default();
    match kind {
        IdpKind::Auth0 | IdpKind::Clerk => base,
        IdpKind::Okta => ClaimMappings {
            user_id_claim: "uid".to_owned(),
            group_claim: Some("groups".to_owned()),
            ..base
        },
        IdpKind::CustomOidc => ClaimMappings {
            email_claim: Some("email".to_owned()),
            display_name_claim: Some("name".to_owned()),
            ..base
        },
    }
}

/// Whether OIDC sign-in may be configured for this issuer (R-CFG-10): a Clerk development
/// instance is refused, because Clerk offers OAuth applications only on production.
pub fn check_sign_in_issuer(issuer: &Issuer) -> Result<(), FieldError> {
    match recognise(issuer).and_then(|r| r.clerk_instance()) {
        Some(ClerkInstance::Development) => Err(FieldError::new(
            FIELD,
            format!(
                "{issuer} is a Clerk development instance: OIDC sign-in needs a production Clerk instance (https://clerk.<your-domain>); JWT verification works with either"
            ),
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iss(s: &str) -> Issuer {
        Issuer::parse("issuer", s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    // --- parsing -----------------------------------------------------------------------

    #[test]
    fn r_cfg_03_issuer_is_kept_exactly_as_given() {
        for s in [
            "https://acme.auth0.com/",
            "https://acme.okta.com",
            "https://Acme.Okta.com/oauth2/default",
        ] {
            assert_eq!(iss(s).as_str(), s);
            assert_eq!(iss(s).to_string(), s);
        }
        assert_ne!(
            iss("https://acme.auth0.com/"),
            iss("https://acme.auth0.com")
        );
    }

    #[test]
    fn r_cfg_03_discovery_url_does_not_double_the_slash() {
        assert_eq!(
            iss("https://acme.auth0.com/").discovery_url(),
            "https://acme.auth0.com/.well-known/openid-configuration"
        );
        assert_eq!(
            iss("https://acme.okta.com/oauth2/default").discovery_url(),
            "https://acme.okta.com/oauth2/default/.well-known/openid-configuration"
        );
    }

    #[test]
    fn issuer_parse_accepts_local_http_only() {
        for ok in [
            "http://127.0.0.1:8080",
            "http://localhost:9000/auth0/",
            "http://[::1]:1/x",
        ] {
            assert!(Issuer::parse("issuer", ok).is_ok(), "{ok}");
        }
        let err = Issuer::parse("issuer", "http://acme.auth0.com/").unwrap_err();
        assert_eq!(err.field, "issuer");
        assert!(err.message.contains("https"), "{err}");
    }

    #[test]
    fn issuer_parse_rejects_malformed_input_with_reasons() {
        let cases = [
            ("", "required"),
            ("   ", "required"),
            (" https://acme.okta.com", "whitespace"),
            ("https://acme.okta.com\n", "whitespace"),
            ("acme.okta.com", "absolute https URL"),
            ("accounts.google.com", "absolute https URL"),
            ("ftp://acme.okta.com", "https"),
            ("https://acme.okta.com?x=1", "query"),
            ("https://acme.okta.com#frag", "fragment"),
            ("https://acme.okta.com/?", "query"),
            ("https://user:pw@acme.okta.com", "password"),
            ("https:\\\\acme.okta.com", "backslash"),
        ];
        for (input, why) in cases {
            let err = Issuer::parse("issuer", input).unwrap_err();
            assert_eq!(err.field, "issuer");
            assert!(err.message.contains(why), "{input:?}: {err}");
        }
        let long = format!("https://acme.okta.com/{}", "a".repeat(Issuer::MAX_LEN));
        assert!(
            Issuer::parse("issuer", &long)
                .unwrap_err()
                .message
                .contains("at most")
        );
    }

    #[test]
    fn issuer_serde_round_trips_and_validates() {
        let i = iss("https://acme.eu.auth0.com/");
        let json = serde_json::to_string(&i).unwrap();
        assert_eq!(json, "\"https://acme.eu.auth0.com/\"");
        assert_eq!(serde_json::from_str::<Issuer>(&json).unwrap(), i);
        assert!(serde_json::from_str::<Issuer>("\"http://evil.example\"").is_err());
    }

    // --- R-CFG-04 recognition ------------------------------------------------------------

    fn auth0(tenant: &str, region: Option<&str>) -> Option<Recognised> {
        Some(Recognised::Auth0 {
            tenant: tenant.to_owned(),
            region: region.map(str::to_owned),
        })
    }
    fn okta(host: &str, server: Option<&str>) -> Option<Recognised> {
        Some(Recognised::Okta {
            org_host: host.to_owned(),
            server: server.map_or(OktaAuthServer::Org, |id| OktaAuthServer::Custom {
                server_id: id.to_owned(),
            }),
        })
    }
    fn clerk(instance: ClerkInstance) -> Option<Recognised> {
        Some(Recognised::Clerk { instance })
    }

    #[test]
    fn r_cfg_04_recognises_auth0_legacy_issuer() {
        assert_eq!(
            recognise(&iss("https://acme.auth0.com/")),
            auth0("acme", None)
        );
    }

    #[test]
    fn r_cfg_04_recognises_auth0_regional_issuers() {
        for region in ["us", "eu", "au", "jp", "uk", "ca"] {
            let issuer = iss(&format!("https://acme-prod.{region}.auth0.com/"));
            assert_eq!(
                recognise(&issuer),
                auth0("acme-prod", Some(region)),
                "{region}"
            );
            assert_eq!(validate_idp_kind(&issuer, None), Ok(IdpKind::Auth0));
        }
    }

    #[test]
    fn r_cfg_04_auth0_issuer_without_trailing_slash_is_not_recognised_and_says_why() {
        for s in [
            "https://acme.auth0.com",
            "https://acme.eu.auth0.com",
            "https://acme.auth0.com/oauth",
        ] {
            let issuer = iss(s);
            assert_eq!(recognise(&issuer), None, "{s}");
            let err = validate_idp_kind(&issuer, Some(IdpKind::Auth0)).unwrap_err();
            assert_eq!(err.field, "issuer");
            assert!(err.message.contains("trailing slash"), "{err}");
        }
    }

    #[test]
    fn r_cfg_04_auth0_lookalike_hosts_are_not_auth0() {
        for s in [
            "https://auth0.com/",
            "https://acme.xx.auth0.com/",
            "https://a.b.eu.auth0.com/",
            "https://acme.auth0.com.evil.io/",
        ] {
            assert_eq!(recognise(&iss(s)), None, "{s}");
        }
    }

    #[test]
    fn r_cfg_04_recognises_clerk_development_instance() {
        let issuer = iss("https://brave-otter-42.clerk.accounts.dev");
        assert_eq!(recognise(&issuer), clerk(ClerkInstance::Development));
        assert_eq!(
            recognise(&iss("https://clerk.happy.hippo-1.lcl.dev")),
            clerk(ClerkInstance::Development)
        );
        assert_eq!(validate_idp_kind(&issuer, None), Ok(IdpKind::Clerk));
    }

    #[test]
    fn r_cfg_04_recognises_clerk_production_instance() {
        let issuer = iss("https://clerk.example.com");
        assert_eq!(recognise(&issuer), clerk(ClerkInstance::Production));
        assert_eq!(
            recognise(&iss("https://clerk.shop.example.co.uk")),
            clerk(ClerkInstance::Production)
        );
        assert_eq!(
            recognise(&issuer).and_then(|r| r.clerk_instance()),
            Some(ClerkInstance::Production)
        );
    }

    #[test]
    fn r_cfg_04_clerk_issuer_forms_with_a_path_are_not_recognised() {
        assert_eq!(
            recognise(&iss("https://brave-otter-42.clerk.accounts.dev/")),
            None
        );
        let err = validate_idp_kind(&iss("https://brave-otter-42.clerk.accounts.dev/"), None)
            .unwrap_err();
        assert!(err.message.contains("no trailing slash"), "{err}");
        // clerk.<domain> is the customer's own host: with a path it is just unrecognised.
        let custom = iss("https://clerk.example.com/oidc");
        assert_eq!(recognise(&custom), None);
        assert_eq!(
            validate_idp_kind(&custom, Some(IdpKind::CustomOidc)),
            Ok(IdpKind::CustomOidc)
        );
        assert_eq!(recognise(&iss("https://clerk.com")), None);
        assert_eq!(recognise(&iss("https://clerk.accounts.dev")), None);
    }

    #[test]
    fn r_cfg_04_recognises_okta_org_authorization_server() {
        for host in [
            "acme.okta.com",
            "acme.okta-emea.com",
            "dev-123456.oktapreview.com",
            "trial-42.okta.com",
        ] {
            assert_eq!(
                recognise(&iss(&format!("https://{host}"))),
                okta(host, None),
                "{host}"
            );
        }
    }

    #[test]
    fn r_cfg_04_recognises_okta_custom_authorization_server() {
        for host in [
            "acme.okta.com",
            "acme.okta-emea.com",
            "acme.oktapreview.com",
        ] {
            for id in ["default", "aus1b2c3d4FakeAs7x8"] {
                let issuer = iss(&format!("https://{host}/oauth2/{id}"));
                assert_eq!(recognise(&issuer), okta(host, Some(id)), "{issuer}");
                assert_eq!(
                    validate_idp_kind(&issuer, Some(IdpKind::Okta)),
                    Ok(IdpKind::Okta)
                );
            }
        }
    }

    #[test]
    fn r_cfg_04_okta_default_server_suggests_api_default_audience() {
        let r = recognise(&iss("https://acme.okta.com/oauth2/default")).unwrap();
        assert_eq!(r.suggested_audience(), Some("api://default"));
        let org = recognise(&iss("https://acme.okta.com")).unwrap();
        assert_eq!(org.suggested_audience(), None);
    }

    #[test]
    fn r_cfg_04_okta_malformed_paths_are_rejected_with_the_exact_forms() {
        for s in [
            "https://acme.okta.com/",
            "https://acme.okta.com/oauth2/default/",
            "https://acme.okta.com/oauth2/",
            "https://acme.okta.com/oauth2/a/b",
            "https://acme.okta.com/other",
        ] {
            let issuer = iss(s);
            assert_eq!(recognise(&issuer), None, "{s}");
            let err = validate_idp_kind(&issuer, None).unwrap_err();
            assert_eq!(err.field, "issuer");
            assert!(err.message.contains("/oauth2/<server-id>"), "{err}");
        }
    }

    #[test]
    fn r_cfg_04_custom_domains_and_local_hosts_are_not_recognised() {
        for s in [
            "https://login.example.com/",
            "https://id.example.com/oauth2/default",
            "http://127.0.0.1:8080",
            "https://acme.okta.com:8443",
        ] {
            assert_eq!(recognise(&iss(s)), None, "{s}");
        }
    }

    #[test]
    fn r_cfg_04_custom_domain_needs_the_kind_stated() {
        let issuer = iss("https://login.example.com/");
        let err = validate_idp_kind(&issuer, None).unwrap_err();
        assert_eq!(err.field, "kind");
        assert!(
            err.message.contains("custom domain") && err.message.contains("state the kind"),
            "{err}"
        );
        for kind in IdpKind::ALL {
            assert_eq!(validate_idp_kind(&issuer, Some(kind)), Ok(kind));
        }
    }

    #[test]
    fn r_cfg_04_recognised_issuer_with_conflicting_kind_names_both() {
        let cases = [
            ("https://acme.auth0.com/", IdpKind::Okta, "okta", "auth0"),
            (
                "https://acme.okta.com",
                IdpKind::CustomOidc,
                "custom_oidc",
                "okta",
            ),
            (
                "https://clerk.example.com",
                IdpKind::Auth0,
                "auth0",
                "clerk",
            ),
        ];
        for (s, requested, asked, actual) in cases {
            let err = validate_idp_kind(&iss(s), Some(requested)).unwrap_err();
            assert_eq!(err.field, "kind");
            assert!(
                err.message.contains(asked) && err.message.contains(actual),
                "{err}"
            );
        }
    }

    // --- R-CFG-05 brokered-only providers ---------------------------------------------------

    #[test]
    fn r_cfg_05_rejects_every_brokered_provider_whatever_kind_is_asked() {
        use BrokeredProvider::*;
        let cases = [
            ("https://sso.example.com/realms/acme", Keycloak),
            ("https://sso.example.com/auth/realms/acme", Keycloak),
            ("http://localhost:8080/realms/master", Keycloak),
            (
                "https://login.microsoftonline.com/0b1f7c2e-0000-4000-8000-000000000000/v2.0",
                MicrosoftEntraId,
            ),
            (
                "https://sts.windows.net/0b1f7c2e-0000-4000-8000-000000000000/",
                MicrosoftEntraId,
            ),
            (
                "https://acme.ciamlogin.com/0b1f7c2e-0000-4000-8000-000000000000/v2.0",
                MicrosoftEntraId,
            ),
            (
                "https://acme.b2clogin.com/0b1f7c2e-0000-4000-8000-000000000000/v2.0/",
                MicrosoftEntraId,
            ),
            (
                "https://login.microsoftonline.us/tid/v2.0",
                MicrosoftEntraId,
            ),
            (
                "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEf123",
                AmazonCognito,
            ),
            ("https://accounts.google.com", Google),
            ("https://securetoken.google.com/my-project", FirebaseAuth),
            ("https://abcdefghijkl.supabase.co/auth/v1", SupabaseAuth),
        ];
        for (s, provider) in cases {
            let issuer = iss(s);
            assert_eq!(rejected_brokered(&issuer), Some(provider), "{s}");
            for requested in [
                None,
                Some(IdpKind::Auth0),
                Some(IdpKind::Clerk),
                Some(IdpKind::Okta),
                Some(IdpKind::CustomOidc),
            ] {
                let err = validate_idp_kind(&issuer, requested).unwrap_err();
                assert_eq!(err.field, "issuer");
                assert!(err.message.contains(provider.name()), "{err}");
                assert!(
                    err.message
                        .contains("broker it through Auth0, Clerk or Okta"),
                    "{err}"
                );
            }
        }
    }

    #[test]
    fn r_cfg_05_error_text_names_provider_and_broker() {
        let err = BrokeredProvider::MicrosoftEntraId.rejection("issuer");
        assert_eq!(
            err.to_string(),
            "issuer is a Microsoft Entra ID issuer, which cannot be connected directly: broker it through Auth0, Clerk or Okta (as an enterprise connection there) and use the broker's issuer instead"
        );
    }

    #[test]
    fn r_cfg_05_lookalikes_are_not_brokered() {
        for s in [
            "https://acme.okta.com/oauth2/default",
            "https://login.example.com/realmsx/acme",
            "https://login.example.com/realms",
            "https://google.com",
            "https://supabase.co.example.com",
            "https://amazonaws.com/cognito-idp",
        ] {
            assert_eq!(rejected_brokered(&iss(s)), None, "{s}");
        }
    }

    // --- R-CFG-03 pre-filled claim mappings ------------------------------------------------

    #[test]
    fn r_cfg_03_suggested_claim_mappings_per_provider() {
        let auth0 = suggested_claim_mappings(IdpKind::Auth0);
        assert_eq!(auth0, ClaimMappings::default());
        let clerk = suggested_claim_mappings(IdpKind::Clerk);
        assert_eq!(clerk.user_id_claim, "sub");
        let okta = suggested_claim_mappings(IdpKind::Okta);
        assert_eq!(okta.user_id_claim, "uid");
        assert_eq!(okta.group_claim.as_deref(), Some("groups"));
        assert!(!okta.group_claim_stable_ids);
        let oidc = suggested_claim_mappings(IdpKind::CustomOidc);
        assert_eq!(oidc.email_claim.as_deref(), Some("email"));
        assert_eq!(oidc.display_name_claim.as_deref(), Some("name"));
        for kind in IdpKind::ALL {
            assert_eq!(suggested_claim_mappings(kind).validate(), Ok(()), "{kind}");
        }
    }

    // --- R-CFG-10 sign-in needs Clerk production --------------------------------------------

    #[test]
    fn r_cfg_10_clerk_development_instance_is_rejected_for_sign_in() {
        let err =
            check_sign_in_issuer(&iss("https://brave-otter-42.clerk.accounts.dev")).unwrap_err();
        assert_eq!(err.field, "issuer");
        assert!(err.message.contains("production"), "{err}");
        for ok in [
            "https://clerk.example.com",
            "https://acme.auth0.com/",
            "https://acme.okta.com/oauth2/default",
            "https://login.example.com",
        ] {
            assert_eq!(check_sign_in_issuer(&iss(ok)), Ok(()), "{ok}");
        }
    }
}
