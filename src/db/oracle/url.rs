//! `oracle://user:password@host[:port]/service`: the credentials and an Easy Connect string.
//!
//! User and password are percent-decoded (`p%40ss` is `p@ss`), so any password can be written
//! in a URL; `ORACLE_USER`/`ORACLE_PASSWORD`/... are turned into such a URL by `config.rs`.
//! Without a service the host part is passed on as written: a TNS alias (`oracle://u:p@PROD`)
//! resolved through `tnsnames.ora` (`TNS_ADMIN`).

use std::fmt;

/// Oracle's default listener port.
pub const DEFAULT_PORT: u16 = 1521;

#[derive(Clone, PartialEq, Eq)]
pub struct ConnectSettings {
    pub username: String,
    pub password: String,
    /// `//host:port/service` (Easy Connect) or a TNS alias.
    pub connect_string: String,
}

impl fmt::Debug for ConnectSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectSettings")
            .field("username", &self.username)
            .field("password", &"***")
            .field("connect_string", &self.connect_string)
            .finish()
    }
}

/// Parses an `oracle://` URL. Errors never repeat the password.
pub fn parse(url: &str) -> Result<ConnectSettings, String> {
    let rest = url
        .get(..9)
        .filter(|s| s.eq_ignore_ascii_case("oracle://"))
        .map(|_| &url[9..])
        .ok_or("expected oracle://user:password@host:port/service")?;
    if rest.contains(['?', '#']) {
        return Err("query parameters are not supported in an oracle:// URL (use a TNS alias for options)".into());
    }
    let (userinfo, location) =
        rest.rsplit_once('@').ok_or("missing user and password (oracle://user:password@host:port/service)")?;
    let (user, password) = userinfo.split_once(':').ok_or("missing password (oracle://user:password@...)")?;
    let username = percent_decode(user).map_err(|e| format!("user: {e}"))?;
    let password = percent_decode(password).map_err(|e| format!("password: {e}"))?;
    if username.is_empty() || password.is_empty() {
        return Err("user and password must not be empty".into());
    }
    let (hostport, service) = match location.split_once('/') {
        Some((h, s)) => (h, Some(s)),
        None => (location, None),
    };
    let (host, port) = split_host_port(hostport)?;
    if host.is_empty() {
        return Err("missing host".into());
    }
    if host.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("invalid host".into());
    }
    let connect_string = match service.filter(|s| !s.is_empty()) {
        Some(service) => {
            let valid = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '$' | '#' | ':' | '/');
            if !service.chars().all(valid) {
                return Err(format!("invalid service name {service:?}"));
            }
            format!("//{host}:{}/{service}", port.unwrap_or(DEFAULT_PORT))
        }
        None if port.is_some() => return Err("missing service name (oracle://user:password@host:port/service)".into()),
        None => host.to_string(), // a TNS alias
    };
    Ok(ConnectSettings { username, password, connect_string })
}

/// `host`, `host:1521`, `[::1]:1521`.
fn split_host_port(s: &str) -> Result<(&str, Option<u16>), String> {
    let (host, port) = if let Some(inner) = s.strip_prefix('[') {
        let (h, after) = inner.split_once(']').ok_or("unterminated [IPv6] host")?;
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':').ok_or("expected :port after ]")?),
        };
        // Easy Connect wants the brackets kept.
        return Ok((&s[..h.len() + 2], port.map(parse_port).transpose()?));
    } else {
        match s.rsplit_once(':') {
            Some((h, p)) => (h, Some(parse_port(p)?)),
            None => (s, None),
        }
    };
    Ok((host, port))
}

fn parse_port(p: &str) -> Result<u16, String> {
    match p.parse::<u16>() {
        Ok(port) if port > 0 => Ok(port),
        _ => Err(format!("invalid port {p:?}")),
    }
}

/// `%XX` escapes to bytes; the result must be UTF-8. `+` stays `+` (this is not a form body).
pub fn percent_decode(s: &str) -> Result<String, String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
            let byte = hex.and_then(|h| u8::from_str_radix(h, 16).ok()).ok_or("invalid %-escape")?;
            out.push(byte);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "not UTF-8 after %-decoding".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn easy_connect_from_url() {
        let s = parse("oracle://scott:tiger@db.example.com:1522/FREEPDB1").unwrap();
        assert_eq!(s.username, "scott");
        assert_eq!(s.password, "tiger");
        assert_eq!(s.connect_string, "//db.example.com:1522/FREEPDB1");
        let s = parse("ORACLE://scott:tiger@127.0.0.1/orclpdb1.example.com").unwrap();
        assert_eq!(s.connect_string, "//127.0.0.1:1521/orclpdb1.example.com");
        let s = parse("oracle://scott:tiger@[::1]:1521/FREE").unwrap();
        assert_eq!(s.connect_string, "//[::1]:1521/FREE");
        let s = parse("oracle://scott:tiger@PROD_TNS").unwrap();
        assert_eq!(s.connect_string, "PROD_TNS");
    }

    #[test]
    fn url_encoded_credentials() {
        let s = parse("oracle://app%5Fuser:p%40ss%3Aw%2Frd%25%20x+y@h:1521/S").unwrap();
        assert_eq!(s.username, "app_user");
        assert_eq!(s.password, "p@ss:w/rd% x+y");
        // An unencoded @ in the password still works: the last @ ends the credentials.
        assert_eq!(parse("oracle://u:a@b@h:1521/S").unwrap().password, "a@b");
        assert_eq!(percent_decode("%C3%B1").unwrap(), "ñ");
        assert!(percent_decode("%zz").is_err());
        assert!(percent_decode("%4").is_err());
        assert!(percent_decode("%ff").is_err());
    }

    #[test]
    fn oracle_settings_round_trip_through_the_url() {
        for pw in ["tiger", "p@ss:w/rd%?#&=+ x", "ñandú\"'", "a b"] {
            let url =
                format!("oracle://{}:{}@h:1521/S", crate::config::url_encode("user@x"), crate::config::url_encode(pw));
            let s = parse(&url).unwrap();
            assert_eq!((s.username.as_str(), s.password.as_str()), ("user@x", pw));
        }
    }

    #[test]
    fn bad_urls_are_refused_without_echoing_the_password() {
        for bad in [
            "postgres://u:p@h/db",
            "oracle://h:1521/S",
            "oracle://u@h:1521/S",
            "oracle://u:@h:1521/S",
            "oracle://u:secretpw@h:99999/S",
            "oracle://u:secretpw@h:0/S",
            "oracle://u:secretpw@h:1521",
            "oracle://u:secretpw@:1521/S",
            "oracle://u:secretpw@h:1521/S?x=1",
            "oracle://u:secretpw@h:1521/S V",
            "oracle://u:secretpw@[::1/S",
        ] {
            let err = parse(bad).unwrap_err();
            assert!(!err.contains("secretpw"), "{bad}: {err}");
        }
        let debug = format!("{:?}", parse("oracle://u:secretpw@h:1521/S").unwrap());
        assert!(!debug.contains("secretpw"), "{debug}");
    }
}
