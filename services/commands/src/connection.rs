//! Connecting to NATS from `NATS_URL`, which may carry credentials
//! (`nats://user:password@host:port`, see `infra/nats/authorization.conf`).
//!
//! async-nats 0.42 parses a URL's user and password but never sends them, so they are taken
//! out here and given to the connection explicitly. A URL without credentials connects
//! without any, which is what a server without authorization (a foreign one, a test's) wants;
//! a server without authorization also accepts a login it does not check.

use async_nats::{ConnectOptions, ServerAddr};

/// The `NATS_URL` of a process that runs as `user` against the server `make up` starts, with
/// the development password of `infra/nats/authorization.conf` (loopback development only).
pub fn development_nats_url(user: &str) -> String {
    format!("nats://{user}:{user}-dev-only@127.0.0.1:4222")
}

/// Connect options logged in as the URL says, and the servers to connect to. `nats_url` is
/// one URL or several separated by commas (the nodes of one cluster, one login).
pub fn nats_connect_options(
    nats_url: &str,
) -> Result<(ConnectOptions, Vec<ServerAddr>), InvalidNatsUrl> {
    let invalid = |reason: String| InvalidNatsUrl {
        url: redact_nats_url(nats_url),
        reason,
    };
    let mut servers = Vec::new();
    let mut login: Option<(String, Option<String>)> = None;
    for part in nats_url.split(',').map(str::trim) {
        let server: ServerAddr = part.parse().map_err(|error| invalid(format!("{error}")))?;
        if let Some(user) = server.username() {
            let this = (
                percent_decode(user).map_err(invalid)?,
                server
                    .password()
                    .map(percent_decode)
                    .transpose()
                    .map_err(invalid)?,
            );
            match &login {
                Some(first) if *first != this => {
                    return Err(invalid("its servers name different logins".to_owned()));
                }
                _ => login = Some(this),
            }
        }
        servers.push(server);
    }
    let options = match login {
        None => ConnectOptions::new(),
        Some((user, Some(password))) => ConnectOptions::with_user_and_password(user, password),
        // `nats://token@host`: NATS reads a user without a password as a token.
        Some((token, None)) => ConnectOptions::with_token(token),
    };
    Ok((options, servers))
}

/// `nats_url` with every password replaced by `***`, for logs and error messages.
pub fn redact_nats_url(nats_url: &str) -> String {
    nats_url
        .split(',')
        .map(|part| {
            let (scheme, rest) = part.split_once("://").unwrap_or(("", part));
            let authority_end = rest.find('/').unwrap_or(rest.len());
            let Some(at) = rest[..authority_end].rfind('@') else {
                return part.to_owned();
            };
            let (userinfo, host) = rest.split_at(at);
            let user = userinfo.split_once(':').map_or(userinfo, |(user, _)| user);
            let hidden = if userinfo.contains(':') {
                format!("{user}:***")
            } else {
                // A lone user part is a token: hide it whole.
                "***".to_owned()
            };
            let separator = if scheme.is_empty() { "" } else { "://" };
            format!("{scheme}{separator}{hidden}{host}")
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// A `NATS_URL` that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("invalid NATS URL {url}: {reason}")]
pub struct InvalidNatsUrl {
    /// The URL with its passwords hidden.
    pub url: String,
    pub reason: String,
}

/// Decodes `%XX` escapes (a URL's user and password are kept escaped).
fn percent_decode(escaped: &str) -> Result<String, String> {
    let bytes = escaped.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'%' {
            let byte = escaped
                .get(index + 1..index + 3)
                .and_then(|hex| u8::from_str_radix(hex, 16).ok())
                .ok_or_else(|| "a bad %-escape in its user or password".to_owned())?;
            decoded.push(byte);
            index += 3;
        } else {
            decoded.push(bytes[index]);
            index += 1;
        }
    }
    String::from_utf8(decoded).map_err(|_| "its user or password is not UTF-8".to_owned())
}

#[cfg(test)]
mod tests {
    use super::{nats_connect_options, percent_decode, redact_nats_url};

    fn check_redacted(url: &str, expected: &str) {
        assert_eq!(redact_nats_url(url), expected, "{url}");
    }

    #[test]
    fn redacts_passwords_and_tokens() {
        check_redacted("nats://127.0.0.1:4222", "nats://127.0.0.1:4222");
        check_redacted(
            "nats://dose:dose-dev-only@127.0.0.1:4222",
            "nats://dose:***@127.0.0.1:4222",
        );
        check_redacted("nats://s3cr3t@host:4222", "nats://***@host:4222");
        check_redacted(
            "nats://a:b@n1:4222,nats://a:b@n2:4222",
            "nats://a:***@n1:4222,nats://a:***@n2:4222",
        );
        check_redacted("a:b@host", "a:***@host");
    }

    #[test]
    fn decodes_escaped_credentials() {
        assert_eq!(percent_decode("p%40ss%3Aword").as_deref(), Ok("p@ss:word"));
        assert_eq!(percent_decode("plain").as_deref(), Ok("plain"));
        assert!(percent_decode("bad%4").is_err());
        assert!(percent_decode("bad%zz").is_err());
    }

    #[test]
    fn takes_one_login_for_all_servers() {
        let (_, servers) =
            nats_connect_options("nats://u:p@n1:4222, nats://n2:4223").expect("one login");
        assert_eq!(servers.len(), 2);
        let error =
            nats_connect_options("nats://u:p@n1:4222,nats://v:q@n2:4222").expect_err("two logins");
        assert!(!error.to_string().contains(":p@"), "{error}");
        assert!(nats_connect_options("nats://127.0.0.1:4222").is_ok());
        assert!(nats_connect_options("not a url at all").is_err());
    }
}
