//! The network path to a vault, for `kvsops doctor`: the route the HTTP client takes (direct, or
//! the proxy of `HTTPS_PROXY`/`ALL_PROXY` unless `NO_PROXY` lists the host — decided by the same
//! matcher the SDK's HTTP client uses), name resolution (here, or by the proxy), the connection
//! (or the proxy's tunnel), and TLS plus Key Vault's authentication challenge, which names the
//! vault's tenant and the token scope.
//!
//! Nothing here sends a token: the challenge is what Key Vault answers to a request without one.

use std::net::SocketAddr;
use std::time::Duration;

use azure_core::http::headers::HeaderName;
use azure_core::http::{Method, Request, Url};
use hyper_util::client::proxy::matcher::{Intercept, Matcher};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use super::credential::one_line;
use super::doctor::Check;

/// The longest a response head from a proxy may be.
const MAX_HEAD: usize = 16 * 1024;

/// What Key Vault's challenge says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Challenge {
    /// The tenant of the vault (the last segment of `authorization`), if named.
    pub tenant: Option<String>,
    /// The token scope (`scope`, or `resource` + `/.default`).
    pub scope: Option<String>,
}

/// How requests to a vault leave this machine.
enum Route {
    Direct { why: String },
    Proxy { intercept: Intercept, shown: String, var: &'static str },
}

/// The host and port of a vault URL.
fn host_port(vault_url: &str) -> Option<(String, u16)> {
    let url = Url::parse(vault_url).ok()?;
    let host = url.host_str()?.trim_start_matches('[').trim_end_matches(']').to_string();
    Some((host, url.port_or_known_default().unwrap_or(443)))
}

/// The proxy variable in force for https URLs (the first set of curl's and reqwest's names).
fn proxy_var() -> Option<&'static str> {
    ["HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"]
        .into_iter()
        .find(|v| std::env::var(v).is_ok_and(|s| !s.trim().is_empty()))
}

/// A proxy URI for messages: scheme, host and port, never the user name or password.
fn shown_proxy(uri: &http::Uri) -> String {
    let scheme = uri.scheme_str().unwrap_or("http");
    let host = uri.host().unwrap_or("?");
    match uri.port_u16() {
        Some(p) => format!("{scheme}://{host}:{p}"),
        None => format!("{scheme}://{host}"),
    }
}

fn route(vault_url: &str) -> Route {
    let uri: Option<http::Uri> = vault_url.parse().ok();
    let intercept = uri.as_ref().and_then(|u| Matcher::from_system().intercept(u));
    match (intercept, proxy_var()) {
        (Some(intercept), var) => {
            let shown = shown_proxy(intercept.uri());
            Route::Proxy { intercept, shown, var: var.unwrap_or("the system proxy settings") }
        }
        (None, Some(var)) => {
            let no = ["NO_PROXY", "no_proxy"].into_iter().find(|v| std::env::var(v).is_ok()).unwrap_or("NO_PROXY");
            Route::Direct { why: format!("{var} is set, but {no} lists this host") }
        }
        (None, None) => Route::Direct { why: "no HTTPS_PROXY or ALL_PROXY is set".into() },
    }
}

/// The fix for a vault name that does not resolve.
fn dns_fix(vault: &str) -> String {
    let name = vault_name(vault);
    format!(
        "check the vault name (az keyvault show --name {name} --query properties.vaultUri -o tsv); a deleted vault \
         is listed by az keyvault list-deleted; a vault behind a private endpoint needs the \
         privatelink.vaultcore.azure.net DNS zone linked to this network"
    )
}

/// The vault's name: the first label of its host.
pub(super) fn vault_name(vault_url: &str) -> String {
    host_port(vault_url)
        .map(|(h, _)| h.split('.').next().unwrap_or("").to_string())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "<vault>".into())
}

/// Checks the path to `vault_url`; returns the lines and, when Key Vault answered, its challenge.
pub(super) async fn check(vault_url: &str, limit: Duration) -> (Vec<Check>, Option<Challenge>) {
    let mut checks = Vec::new();
    let Some((host, port)) = host_port(vault_url) else {
        checks.push(Check::fail(
            "url",
            format!("{vault_url} is not a valid URL"),
            Some(format!("use the form {}", super::URL_FORM)),
        ));
        return (checks, None);
    };
    let connected = match route(vault_url) {
        Route::Direct { why } => direct(&host, port, &why, limit, &mut checks).await,
        Route::Proxy { intercept, shown, var } => {
            proxied(&host, port, &intercept, &shown, var, limit, &mut checks).await
        }
    };
    if !connected {
        checks.push(Check::skip("https", "not checked: no connection to the vault".into()));
        return (checks, None);
    }
    let (line, challenge) = https(vault_url, limit).await;
    checks.push(line);
    (checks, challenge)
}

async fn direct(host: &str, port: u16, why: &str, limit: Duration, checks: &mut Vec<Check>) -> bool {
    let vault = format!("https://{host}");
    let lookup = tokio::time::timeout(limit, tokio::net::lookup_host((host, port))).await;
    let addrs: Vec<SocketAddr> = match lookup {
        Ok(Ok(a)) => a.collect(),
        Ok(Err(e)) => {
            checks.push(Check::fail(
                "dns",
                format!("{host} does not resolve here ({e}); route: direct, {why}"),
                Some(dns_fix(&vault)),
            ));
            return false;
        }
        Err(_) => {
            checks.push(Check::fail(
                "dns",
                format!("resolving {host} took longer than {:.0} s; route: direct, {why}", limit.as_secs_f64()),
                Some("check this machine's DNS resolver (/etc/resolv.conf)".into()),
            ));
            return false;
        }
    };
    if addrs.is_empty() {
        checks.push(Check::fail(
            "dns",
            format!("{host} resolves to no address; route: direct, {why}"),
            Some(dns_fix(&vault)),
        ));
        return false;
    }
    let shown: Vec<String> = addrs.iter().take(4).map(|a| a.ip().to_string()).collect();
    checks.push(Check::ok("dns", format!("{host} resolves to {} (route: direct, {why})", shown.join(", "))));
    let mut last = String::new();
    for addr in addrs.iter().take(4) {
        match tokio::time::timeout(limit, TcpStream::connect(addr)).await {
            Ok(Ok(_)) => {
                checks.push(Check::ok("connect", format!("TCP connection to {addr} established")));
                return true;
            }
            Ok(Err(e)) => last = format!("{addr}: {e}"),
            Err(_) => last = format!("{addr}: no answer within {:.0} s", limit.as_secs_f64()),
        }
    }
    checks.push(Check::fail(
        "connect",
        format!("cannot connect to {host}:{port} ({last})"),
        Some(format!(
            "a firewall, or the vault's network rules, block this machine (az keyvault network-rule list --name {}); \
             if this network needs a proxy, set HTTPS_PROXY",
            vault_name(&vault)
        )),
    ));
    false
}

async fn proxied(
    host: &str,
    port: u16,
    intercept: &Intercept,
    shown: &str,
    var: &str,
    limit: Duration,
    checks: &mut Vec<Check>,
) -> bool {
    let puri = intercept.uri();
    let scheme = puri.scheme_str().unwrap_or("http");
    if scheme != "http" {
        checks.push(Check::ok("proxy", format!("route: through the proxy {shown} ({var}), which resolves {host}")));
        checks.push(Check::skip(
            "tunnel",
            format!("not checked: kvsops checks tunnels through http:// proxies only ({shown}); see the https line"),
        ));
        return true;
    }
    let phost = puri.host().unwrap_or("").trim_start_matches('[').trim_end_matches(']').to_string();
    let pport = puri.port_u16().unwrap_or(80);
    let stream = match tokio::time::timeout(limit, TcpStream::connect((phost.as_str(), pport))).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            checks.push(Check::fail(
                "proxy",
                format!("route: through the proxy {shown} ({var}), but it cannot be reached: {e}"),
                Some(format!("check {var}; if {host} is reachable without a proxy, add it to NO_PROXY")),
            ));
            return false;
        }
        Err(_) => {
            checks.push(Check::fail(
                "proxy",
                format!(
                    "route: through the proxy {shown} ({var}), which did not accept a connection within {:.0} s",
                    limit.as_secs_f64()
                ),
                Some(format!("check {var} and the network path to the proxy")),
            ));
            return false;
        }
    };
    checks.push(Check::ok(
        "proxy",
        format!("route: through the proxy {shown} ({var}); the proxy resolves {host}, not this machine"),
    ));
    let auth = intercept.basic_auth().and_then(|v| v.to_str().ok()).map(str::to_string);
    match tokio::time::timeout(limit, tunnel(stream, host, port, auth.as_deref())).await {
        Ok(Ok((200..=299, _))) => {
            checks.push(Check::ok("tunnel", format!("the proxy resolved {host} and opened a tunnel to port {port}")));
            true
        }
        Ok(Ok((status, reason))) => {
            let reason = if reason.is_empty() { String::new() } else { format!(": {reason}") };
            let (detail, fix) = match status {
                407 => (
                    format!("the proxy {shown} wants authentication (HTTP 407{reason})"),
                    format!("put the proxy's user and password in {var} (http://user:password@host:port)"),
                ),
                502..=504 => (
                    format!("the proxy {shown} could not reach {host} (HTTP {status}{reason}): the name does not resolve, or the vault is not reachable from the proxy"),
                    dns_fix(&format!("https://{host}")),
                ),
                _ => (
                    format!("the proxy {shown} refused a tunnel to {host}:{port} (HTTP {status}{reason})"),
                    format!("allow CONNECT to *.vault.azure.net:443 on the proxy, or add {host} to NO_PROXY if it is reachable directly"),
                ),
            };
            checks.push(Check::fail("tunnel", detail, Some(fix)));
            false
        }
        Ok(Err(e)) => {
            checks.push(Check::fail(
                "tunnel",
                format!("the proxy {shown} broke off the tunnel request: {e}"),
                Some(format!("check that {var} names an HTTP proxy")),
            ));
            false
        }
        Err(_) => {
            checks.push(Check::fail(
                "tunnel",
                format!("the proxy {shown} did not answer a tunnel request within {:.0} s", limit.as_secs_f64()),
                Some("check the proxy; KVSOPS_AZURE_TIMEOUT sets this limit".into()),
            ));
            false
        }
    }
}

/// Sends `CONNECT host:port` and returns the proxy's status and a one-line reason (the status
/// text, or the start of the body).
async fn tunnel(mut stream: TcpStream, host: &str, port: u16, auth: Option<&str>) -> std::io::Result<(u16, String)> {
    let mut req = format!("CONNECT {host}:{port} HTTP/1.1\r\nHost: {host}:{port}\r\n");
    if let Some(a) = auth {
        req.push_str(&format!("Proxy-Authorization: {a}\r\n"));
    }
    req.push_str("\r\n");
    stream.write_all(req.as_bytes()).await?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 2048];
    let head_end = loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "connection closed before an answer"));
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if buf.len() > MAX_HEAD {
            return Err(std::io::Error::other("the answer's head is too long"));
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let status_line = head.lines().next().unwrap_or("");
    let mut parts = status_line.splitn(3, ' ');
    let (_, code, text) = (parts.next(), parts.next(), parts.next().unwrap_or(""));
    let status = code
        .and_then(|c| c.parse::<u16>().ok())
        .ok_or_else(|| std::io::Error::other(format!("not an HTTP answer: {:?}", one_line(status_line))))?;
    if (200..300).contains(&status) {
        return Ok((status, String::new()));
    }
    // A refusal usually says why in its body: read what arrives promptly (bounded).
    let length = head
        .lines()
        .find_map(|l| l.split_once(':').filter(|(k, _)| k.trim().eq_ignore_ascii_case("content-length")))
        .and_then(|(_, v)| v.trim().parse::<usize>().ok())
        .unwrap_or(0)
        .min(2048);
    let mut body = buf[head_end..].to_vec();
    while body.len() < length {
        match tokio::time::timeout(Duration::from_secs(2), stream.read(&mut chunk)).await {
            Ok(Ok(n)) if n > 0 => body.extend_from_slice(&chunk[..n]),
            _ => break,
        }
    }
    body.truncate(length);
    let body = one_line(&String::from_utf8_lossy(&body));
    let reason = if body.is_empty() { text.trim().to_string() } else { body };
    Ok((status, reason.chars().filter(|c| !c.is_control()).take(200).collect()))
}

/// TLS and Key Vault's challenge, through the SDK's own HTTP client (so the same proxy, CA
/// bundle and TLS settings as the key operations).
async fn https(vault_url: &str, limit: Duration) -> (Check, Option<Challenge>) {
    let url = match Url::parse(&format!("{}/keys?api-version=7.6", vault_url.trim_end_matches('/'))) {
        Ok(u) => u,
        Err(e) => return (Check::fail("https", format!("{vault_url} is not a valid URL: {e}"), None), None),
    };
    let client = azure_core::http::new_http_client(None);
    let request = Request::new(url, Method::Get);
    let response = match tokio::time::timeout(limit, client.execute_request(&request)).await {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => {
            let cause = super::cause_chain(&e);
            let lower = cause.to_ascii_lowercase();
            let fix = if ["certificate", "unknownissuer", "invalid peer", "tls handshake"]
                .iter()
                .any(|p| lower.contains(p))
            {
                "the vault's certificate is not trusted here (TLS inspection by a proxy or firewall?): set SSL_CERT_FILE \
                 to a CA bundle that includes the inspecting CA"
                    .to_string()
            } else {
                "check the lines above and the network path to the vault".to_string()
            };
            return (Check::fail("https", format!("no HTTPS answer from {vault_url}: {cause}"), Some(fix)), None);
        }
        Err(_) => {
            return (
                Check::fail(
                    "https",
                    format!("{vault_url} did not answer within {:.0} s", limit.as_secs_f64()),
                    Some("check the vault's firewall and the proxy; KVSOPS_AZURE_TIMEOUT sets this limit".into()),
                ),
                None,
            )
        }
    };
    let status = u16::from(response.status());
    let header = response.headers().get_optional_str(&HeaderName::from_static("www-authenticate")).map(str::to_string);
    match (status, header.as_deref().and_then(parse_challenge)) {
        (401, Some(c)) => {
            let tenant = c.tenant.as_deref().map(|t| format!(", tenant {t}")).unwrap_or_default();
            (
                Check::ok("https", format!("TLS certificate trusted; Key Vault answered with its challenge{tenant}")),
                Some(c),
            )
        }
        _ => (
            Check::fail(
                "https",
                format!(
                    "{vault_url} answered HTTP {status} without Key Vault's challenge: it is not a Key Vault endpoint"
                ),
                Some("check the vault URL (az keyvault show --name <vault> --query properties.vaultUri -o tsv)".into()),
            ),
            None,
        ),
    }
}

/// Parses `Bearer authorization="https://login.microsoftonline.com/<tenant>", resource="..."`
/// (or `authorization_uri`, `scope`).
pub(super) fn parse_challenge(header: &str) -> Option<Challenge> {
    let rest = header.trim().strip_prefix("Bearer")?.trim();
    let mut params = std::collections::HashMap::new();
    for part in rest.split(',') {
        if let Some((k, v)) = part.split_once('=') {
            params.insert(k.trim().to_ascii_lowercase(), v.trim().trim_matches('"').to_string());
        }
    }
    let tenant = params
        .get("authorization")
        .or_else(|| params.get("authorization_uri"))
        .and_then(|a| a.trim_end_matches('/').rsplit('/').next().map(str::to_string))
        .filter(|t| !t.is_empty());
    let scope = params
        .get("scope")
        .cloned()
        .or_else(|| params.get("resource").map(|r| format!("{}/.default", r.trim_end_matches('/'))));
    Some(Challenge { tenant, scope })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_give_tenant_and_scope() {
        let c = parse_challenge(
            r#"Bearer authorization="https://login.microsoftonline.com/t-1", resource="https://vault.azure.net""#,
        );
        assert_eq!(
            c,
            Some(Challenge { tenant: Some("t-1".into()), scope: Some("https://vault.azure.net/.default".into()) })
        );
        let c = parse_challenge(
            r#"Bearer authorization_uri="https://login.microsoftonline.us/t-2/", scope="https://vault.usgovcloudapi.net/.default""#,
        );
        assert_eq!(c.and_then(|c| c.scope), Some("https://vault.usgovcloudapi.net/.default".into()));
        assert_eq!(parse_challenge("Basic realm=x"), None);
    }

    #[test]
    fn proxies_are_shown_without_credentials() {
        let uri: http::Uri = "http://user:s3cret@proxy.example:3128".parse().unwrap();
        assert_eq!(shown_proxy(&uri), "http://proxy.example:3128");
    }

    #[test]
    fn vault_names_are_the_first_label() {
        assert_eq!(vault_name("https://contoso.vault.azure.net"), "contoso");
        assert_eq!(vault_name("https://contoso.vault.azure.net:443"), "contoso");
    }
}
