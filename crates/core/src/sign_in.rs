//! OIDC sign-in settings (R-CFG-10): what an admin may configure, checked before anything is
//! stored. Return URLs are compared byte for byte at sign-in (no wildcards, no prefixes), so
//! a finished sign-in can only ever send the browser to a URL the admin wrote down.

use url::Url;

use crate::FieldError;

/// At most this many allowed return URLs per app.
pub const MAX_RETURN_URLS: usize = 20;
/// At most this many extra scopes.
pub const MAX_SCOPES: usize = 20;

/// The client ID: what the provider shows, non-empty, no whitespace, at most 255 bytes.
pub fn check_client_id(client_id: &str) -> Result<(), FieldError> {
    const FIELD: &str = "client_id";
    if client_id.is_empty() {
        return Err(FieldError::new(
            FIELD,
            "is required: copy the Client ID of the OIDC application you created at the identity provider",
        ));
    }
    if client_id.len() > 255
        || client_id
            .chars()
            .any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(FieldError::new(
            FIELD,
            "must be at most 255 characters with no spaces: paste the Client ID exactly as the identity provider shows it",
        ));
    }
    Ok(())
}

/// The client secret on its first setting: non-empty, at most 1024 bytes.
pub fn check_client_secret(secret: &str) -> Result<(), FieldError> {
    if secret.trim().is_empty() {
        return Err(FieldError::new(
            "client_secret",
            "is required when sign-in is first set up: copy the Client Secret of the OIDC application",
        ));
    }
    if secret.len() > 1024 {
        return Err(FieldError::new(
            "client_secret",
            "is longer than 1024 bytes: paste the secret alone, without surrounding text",
        ));
    }
    Ok(())
}

/// One allowed return URL: absolute, `https` (or `http` on a loopback host, for
/// development), no credentials, no fragment, no wildcard.
pub fn check_return_url(field: &str, value: &str) -> Result<(), FieldError> {
    if value.contains('*') {
        return Err(FieldError::new(
            field,
            format!(
                "{value:?} contains '*': return URLs are compared exactly; list each URL in full"
            ),
        ));
    }
    let url = Url::parse(value).map_err(|e| {
        FieldError::new(
            field,
            format!("{value:?} is not an absolute URL ({e}): give e.g. https://app.example.com/auth/done"),
        )
    })?;
    let loopback = matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        other => {
            return Err(FieldError::new(
                field,
                format!(
                    "{value:?} uses {other}: return URLs must be https (http only on localhost or 127.0.0.1)"
                ),
            ));
        }
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(FieldError::new(field, format!("{value:?} has no host")));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(FieldError::new(
            field,
            format!("{value:?} carries credentials: remove user:password@"),
        ));
    }
    if url.fragment().is_some() {
        return Err(FieldError::new(
            field,
            format!(
                "{value:?} has a fragment (#…): the result code is sent as a query parameter, so give the URL without one"
            ),
        ));
    }
    if url.as_str() != value {
        return Err(FieldError::new(
            field,
            format!(
                "{value:?} is not in its normal form, which is {:?}: give that, since return URLs are compared byte for byte",
                url.as_str()
            ),
        ));
    }
    Ok(())
}

/// The allowed return URLs: 1..=20, each valid, none twice.
pub fn check_return_urls(urls: &[String]) -> Result<(), FieldError> {
    if urls.is_empty() {
        return Err(FieldError::new(
            "return_urls",
            "needs at least one: the URL of your app where a finished sign-in lands (it receives ?code=…)",
        ));
    }
    if urls.len() > MAX_RETURN_URLS {
        return Err(FieldError::new(
            "return_urls",
            format!(
                "has {} entries; at most {MAX_RETURN_URLS} are allowed",
                urls.len()
            ),
        ));
    }
    for (i, url) in urls.iter().enumerate() {
        check_return_url(&format!("return_urls[{i}]"), url)?;
        if urls[..i].contains(url) {
            return Err(FieldError::new(
                format!("return_urls[{i}]"),
                format!("{url:?} is listed twice"),
            ));
        }
    }
    Ok(())
}

/// Scopes besides `openid`: OAuth scope tokens (printable ASCII, no spaces, quotes or
/// backslashes), at most 20; `openid` itself is always sent and is dropped if listed.
pub fn normalise_scopes(scopes: &[String]) -> Result<Vec<String>, FieldError> {
    let mut out: Vec<String> = Vec::new();
    for (i, scope) in scopes.iter().enumerate() {
        let scope = scope.trim();
        let valid = !scope.is_empty()
            && scope.len() <= 128
            && scope
                .bytes()
                .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b));
        if !valid {
            return Err(FieldError::new(
                format!("scopes[{i}]"),
                format!("{scope:?} is not a scope: give one word such as profile, email or groups"),
            ));
        }
        if scope != "openid" && !out.iter().any(|s| s == scope) {
            out.push(scope.to_owned());
        }
    }
    if out.len() > MAX_SCOPES {
        return Err(FieldError::new(
            "scopes",
            format!("has {} scopes; at most {MAX_SCOPES} are allowed", out.len()),
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r_cfg_10_return_urls_are_exact_https_urls_without_wildcards() {
        for ok in [
            "https://app.example.com/auth/done",
            "https://app.example.com/auth/done?tab=1",
            "http://127.0.0.1:3000/cb",
            "http://localhost:3000/cb",
        ] {
            assert_eq!(check_return_url("u", ok), Ok(()), "{ok}");
        }
        for (bad, says) in [
            ("https://*.example.com/cb", "'*'"),
            ("http://app.example.com/cb", "https"),
            ("javascript:alert(1)", "javascript"),
            ("/relative", "absolute"),
            ("https://u:p@app.example.com/cb", "credentials"),
            ("https://app.example.com/cb#x", "fragment"),
            ("https://APP.example.com/cb", "normal form"),
            ("https://app.example.com", "normal form"),
        ] {
            let err = check_return_url("return_urls[0]", bad).unwrap_err();
            assert_eq!(err.field, "return_urls[0]");
            assert!(err.message.contains(says), "{bad}: {err}");
        }
        assert!(check_return_urls(&[]).is_err());
        let twice = vec!["https://a.example.com/".to_owned(); 2];
        assert_eq!(
            check_return_urls(&twice).unwrap_err().field,
            "return_urls[1]"
        );
    }

    #[test]
    fn r_cfg_10_client_id_secret_and_scopes_are_checked() {
        assert!(check_client_id("0oa1b2c3").is_ok());
        assert_eq!(check_client_id("").unwrap_err().field, "client_id");
        assert!(check_client_id("a b").is_err());
        assert_eq!(check_client_secret(" ").unwrap_err().field, "client_secret");
        let scopes = ["profile", "openid", "email", "profile"].map(String::from);
        assert_eq!(normalise_scopes(&scopes).unwrap(), vec!["profile", "email"]);
        assert_eq!(
            normalise_scopes(&["a b".to_owned()]).unwrap_err().field,
            "scopes[0]"
        );
    }
}

/// The URLs of one app's sign-in, all under the sign-in service's public URL (`public.signin_url`,
/// reached through the ingress): the two redirect URIs and the Wallet logout URL an admin
/// pastes into the identity provider, and where an app starts a sign-in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignInUrls {
    /// Start of `app.authenticate()`: `GET …/authorize?return_to=<allowed URL>`.
    pub authorize_url: String,
    /// Redirect URI of `app.authenticate()`.
    pub app_redirect_uri: String,
    /// Start of a Wallet sign-in.
    pub wallet_login_url: String,
    /// Redirect URI of the Wallet.
    pub wallet_redirect_uri: String,
    /// Where the identity provider returns the browser after the Wallet's logout
    /// (`post_logout_redirect_uri`).
    pub wallet_logout_url: String,
}

impl SignInUrls {
    /// The URLs of `app` under `public_url` (a trailing slash is ignored).
    pub fn new(public_url: &str, app: crate::AppId) -> Self {
        let base = format!("{}/v1/signin/{app}", public_url.trim_end_matches('/'));
        Self {
            authorize_url: format!("{base}/authorize"),
            app_redirect_uri: format!("{base}/callback"),
            wallet_login_url: format!("{base}/wallet/login"),
            wallet_redirect_uri: format!("{base}/wallet/callback"),
            wallet_logout_url: format!("{base}/wallet/logged-out"),
        }
    }
}

/// The sign-in service's public URL: absolute, `https` (or `http` on loopback), nothing
/// after the path.
pub fn check_public_url(field: &str, value: &str) -> Result<(), FieldError> {
    let url = Url::parse(value).map_err(|e| {
        FieldError::new(
            field,
            format!("{value:?} is not an absolute URL ({e}): give where browsers reach the sign-in service, e.g. https://alter.example.com"),
        )
    })?;
    let loopback = matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
    if !(url.scheme() == "https" || (url.scheme() == "http" && loopback)) {
        return Err(FieldError::new(
            field,
            format!(
                "{value:?} must be https (http only on localhost or 127.0.0.1): sign-in cookies are Secure"
            ),
        ));
    }
    if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
        return Err(FieldError::new(
            field,
            format!("{value:?} must be a plain base URL, without query, fragment or credentials"),
        ));
    }
    Ok(())
}
