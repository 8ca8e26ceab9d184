//! A browser as far as sign-in is concerned: a real HTTP client that follows redirects and
//! keeps cookies per host as browsers do (`Path`, `Max-Age=0` deletes, `Secure` only over
//! https, `HttpOnly` recorded). `https://alter.test` is the ingress: requests to it go to
//! the sign-in service over plain HTTP, as an ingress terminating TLS would. The browser
//! stops at the first URL on `app.test` (the app's own page) and reports where it landed.

use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};

/// The public URL of the sign-in service in these tests.
pub const PUBLIC_URL: &str = "https://alter.test";
/// The app's host: the browser stops there.
pub const APP_HOST: &str = "app.test";

#[derive(Clone, Debug)]
pub struct StoredCookie {
    pub name: String,
    pub value: String,
    pub host: String,
    pub path: String,
    pub secure: bool,
    pub http_only: bool,
    pub same_site: Option<String>,
}

/// Where a navigation ended.
#[derive(Debug)]
pub struct Visit {
    /// The last URL requested, or the app URL the browser was sent to.
    pub url: url::Url,
    /// The status of the last answer (0 when it stopped at the app without a request).
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
    /// Every URL visited, in order.
    pub hops: Vec<String>,
}

impl Visit {
    /// Whether the browser ended on the app's page.
    pub fn at_app(&self) -> bool {
        self.url.host_str() == Some(APP_HOST)
    }

    /// A query parameter of the final URL.
    pub fn param(&self, name: &str) -> Option<String> {
        self.url
            .query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }

    /// The `X-Alter-Error` of a refusal page.
    pub fn error(&self) -> Option<String> {
        self.headers
            .get("x-alter-error")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }
}

pub struct Browser {
    http: reqwest::Client,
    alter_port: u16,
    pub cookies: Vec<StoredCookie>,
}

impl Browser {
    pub fn new(alter_port: u16) -> Self {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        Self {
            http,
            alter_port,
            cookies: Vec::new(),
        }
    }

    fn transport_url(&self, url: &url::Url) -> String {
        if url.host_str() == Some("alter.test") {
            let mut local = url.clone();
            let _ = local.set_scheme("http");
            let _ = local.set_host(Some("127.0.0.1"));
            let _ = local.set_port(Some(self.alter_port));
            local.to_string()
        } else {
            url.to_string()
        }
    }

    fn cookie_header(&self, url: &url::Url) -> String {
        let host = url.host_str().unwrap_or_default();
        let https = url.scheme() == "https";
        self.cookies
            .iter()
            .filter(|c| c.host == host && url.path().starts_with(&c.path) && (!c.secure || https))
            .map(|c| format!("{}={}", c.name, c.value))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn store_cookie(&mut self, url: &url::Url, header: &str) {
        let mut parts = header.split(';');
        let Some((name, value)) = parts.next().and_then(|p| p.trim().split_once('=')) else {
            return;
        };
        let mut cookie = StoredCookie {
            name: name.to_owned(),
            value: value.to_owned(),
            host: url.host_str().unwrap_or_default().to_owned(),
            path: "/".to_owned(),
            secure: false,
            http_only: false,
            same_site: None,
        };
        let mut delete = false;
        for attribute in parts {
            let (key, val) = attribute
                .trim()
                .split_once('=')
                .map_or((attribute.trim(), ""), |(k, v)| (k, v));
            match key.to_ascii_lowercase().as_str() {
                "path" => cookie.path = val.to_owned(),
                "secure" => cookie.secure = true,
                "httponly" => cookie.http_only = true,
                "samesite" => cookie.same_site = Some(val.to_owned()),
                "max-age" => delete = val.parse::<i64>().is_ok_and(|s| s <= 0),
                _ => {}
            }
        }
        // A browser refuses a Secure cookie from an http page, and a __Host- cookie that is
        // not Secure with Path=/.
        if cookie.secure && url.scheme() != "https" {
            return;
        }
        if cookie.name.starts_with("__Host-") && (!cookie.secure || cookie.path != "/") {
            return;
        }
        self.cookies
            .retain(|c| !(c.name == cookie.name && c.host == cookie.host));
        if !delete {
            self.cookies.push(cookie);
        }
    }

    /// Navigates to `url` with `method`, following redirects until a page, an error or the
    /// app's host.
    pub async fn navigate(&mut self, method: reqwest::Method, url: &str) -> Visit {
        let mut url = url::Url::parse(url).expect("absolute URL");
        let mut method = method;
        let mut hops = Vec::new();
        for _ in 0..10 {
            if url.host_str() == Some(APP_HOST) {
                hops.push(url.to_string());
                return Visit {
                    url,
                    status: 0,
                    headers: Default::default(),
                    body: String::new(),
                    hops,
                };
            }
            hops.push(url.to_string());
            let cookie = self.cookie_header(&url);
            let mut request = self.http.request(method.clone(), self.transport_url(&url));
            if !cookie.is_empty() {
                request = request.header(COOKIE, cookie);
            }
            let response = request.send().await.expect("request");
            for header in response.headers().get_all(SET_COOKIE) {
                if let Ok(text) = header.to_str() {
                    self.store_cookie(&url, text);
                }
            }
            let status = response.status();
            let headers = response.headers().clone();
            if status.is_redirection()
                && let Some(location) = headers.get(LOCATION).and_then(|v| v.to_str().ok())
            {
                url = url.join(location).expect("location");
                if status == reqwest::StatusCode::SEE_OTHER {
                    method = reqwest::Method::GET;
                }
                continue;
            }
            let body = response.text().await.unwrap_or_default();
            return Visit {
                url,
                status: status.as_u16(),
                headers,
                body,
                hops,
            };
        }
        panic!("more than 10 redirects: {hops:?}");
    }

    pub async fn open(&mut self, url: &str) -> Visit {
        self.navigate(reqwest::Method::GET, url).await
    }

    /// The cookies this browser holds for the sign-in service.
    pub fn alter_cookies(&self) -> Vec<&StoredCookie> {
        self.cookies
            .iter()
            .filter(|c| c.host == "alter.test")
            .collect()
    }

    /// Requests `url` once, without following a redirect.
    pub async fn step(&mut self, url: &str) -> (u16, Option<String>, reqwest::header::HeaderMap) {
        let url = url::Url::parse(url).expect("absolute URL");
        let cookie = self.cookie_header(&url);
        let mut request = self.http.get(self.transport_url(&url));
        if !cookie.is_empty() {
            request = request.header(COOKIE, cookie);
        }
        let response = request.send().await.expect("request");
        for header in response.headers().get_all(SET_COOKIE) {
            if let Ok(text) = header.to_str() {
                self.store_cookie(&url, text);
            }
        }
        let location = response
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        (
            response.status().as_u16(),
            location,
            response.headers().clone(),
        )
    }
}
