//! Every setting, read once from the environment (and `.env`), validated, with the setting's
//! name in every error. `.env.example` lists them all with their defaults.

use std::collections::HashMap;
use std::str::FromStr;
use std::time::Duration;

use crate::auth::jwt::JwtAuth;
use crate::auth::{ApiToken, AuthSettings, IpAllowlist};
use crate::clients::live::ClientRegistry;
use crate::model::callback::{parse_default_callbacks, AllowedHosts, Callback, SigningSecrets};
use crate::model::retry::RetryableErrors;
use crate::model::ProcedureLimit;
use crate::procedure::allowlist::Allowlist;

#[derive(Debug, Clone)]
pub struct Settings {
    pub database_url: Option<String>,
    pub host: String,
    pub port: u16,
    pub workers: usize,
    pub db_pool_size: usize,
    pub db_read_pool_size: usize,
    pub max_result_bytes: usize,
    pub max_cursor_rows: usize,
    pub sync_concurrency: usize,
    pub sync_timeout: Duration,
    pub cleanup_interval: Duration,
    pub job_retention_days: u32,
    pub auth: AuthSettings,
    pub procedure_allowlist: Allowlist,
    pub catalog_cache_ttl: Duration,
    pub poll_interval: Duration,
    pub progress_flush_interval: Duration,
    pub shutdown_grace: Duration,
    pub max_body_bytes: usize,
    pub instance_id: String,
    pub job_timeout: Duration,
    pub max_job_timeout: Duration,
    pub lease_timeout: Duration,
    pub heartbeat_interval: Duration,
    pub rescue_interval: Duration,
    pub retryable_errors: RetryableErrors,
    pub procedure_limits: Vec<ProcedureLimit>,
    pub cancel_wait: Duration,
    /// Most parameters one request may send (413 above).
    pub max_params: usize,
    /// How far ahead `run_at` / `delay_seconds` may schedule a job.
    pub run_at_horizon: Duration,
    /// Most pending jobs one caller may have; 0: no limit.
    pub max_pending_per_owner: u32,
    /// How often an instance reads new events when nothing told it of any (Oracle's only way
    /// to see other instances' events; a safety net on PostgreSQL).
    pub event_poll_interval: Duration,
    /// The longest `GET /jobs/{id}?wait=` may hold a request.
    pub max_wait: Duration,
    /// How often a running Oracle job's progress is read from `V$SESSION_LONGOPS`.
    pub progress_poll_interval: Duration,
    /// Webhook callbacks and their deliveries (`WEBHOOK_*`).
    pub webhooks: WebhookSettings,
    /// Retention by count: the newest completed jobs kept, whatever their age (0: no limit).
    pub job_keep_completed: u32,
    /// Retention by count: the newest failed jobs kept, whatever their age (0: no limit).
    pub job_keep_failed: u32,
    /// `METRICS_ADDR`: a separate listener serving only `/metrics`, without a token. Unset:
    /// `GET /metrics` on the API port, for admin tokens and `METRICS_TOKEN`.
    pub metrics_addr: Option<std::net::SocketAddr>,
    /// `METRICS_TOKEN`: a token that may read `/metrics` on the API port and nothing else.
    pub metrics_token: Option<ApiToken>,
    /// `AUDIT`: whether audit entries are stored in `ASYNC_AUDIT` (they are logged either way).
    pub audit: bool,
    /// `AUDIT_RETENTION_DAYS`: the cleaner deletes older audit rows (0: kept forever).
    pub audit_retention_days: u32,
    /// `API_CLIENTS_POLL`: how often the clients file is looked at for changes; `None` (`off`):
    /// it is read again on `SIGHUP` only.
    pub clients_poll: Option<Duration>,
    /// What this instance serves: set by the subcommand (`serve` or `work`), not a variable.
    pub role: Role,
    /// `LIST_TOTAL_CAP`: `GET /jobs` counts matching jobs exactly up to this many; above it the
    /// total is an estimate (`total_exact: false`).
    pub list_total_cap: u32,
    /// `MAX_LIST_OFFSET`: the largest `offset` `GET /jobs` accepts (400 above: page with `cursor`).
    pub max_list_offset: u32,
}

/// An instance's role. `procgate serve` serves the whole HTTP API and runs `WORKERS` jobs at once
/// (`WORKERS=0`: an API-only instance, which accepts, reads, cancels and streams but claims
/// nothing); `procgate work` runs jobs and serves only `/health`, `/ready` and `/metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Role {
    #[default]
    Serve,
    Work,
}

#[derive(Debug, thiserror::Error)]
#[error("{name}: {message}")]
pub struct ConfigError {
    pub name: &'static str,
    pub message: String,
}

impl Settings {
    /// Serving needs a way to authenticate callers: tokens, or an explicit `API_NO_AUTH=1`; a
    /// worker-only instance (which has no job API) needs workers instead.
    pub fn check_can_serve(&self) -> Result<(), ConfigError> {
        if self.role == Role::Work {
            return self.check_can_work();
        }
        if self.auth.tokens.is_empty()
            && self.auth.clients.current().is_empty()
            && self.auth.jwt.is_none()
            && !self.auth.no_auth
        {
            return Err(ConfigError {
                name: "API_TOKENS",
                message: "no API token configured: set API_TOKENS (name:token[:admin],...), API_TOKEN, \
                          API_CLIENTS_FILE or API_JWT_KEYS, or API_NO_AUTH=1 for local work only"
                    .into(),
            });
        }
        Ok(())
    }

    /// `procgate work` runs jobs and nothing else: without workers it would do nothing at all.
    fn check_can_work(&self) -> Result<(), ConfigError> {
        if self.workers == 0 {
            return Err(ConfigError {
                name: "WORKERS",
                message: "`procgate work` runs jobs: WORKERS must be between 1 and 1024 (an API-only instance is \
                          `procgate serve` with WORKERS=0)"
                    .into(),
            });
        }
        Ok(())
    }

    /// The instance's role in words, for its start-up log line.
    pub fn role_name(&self) -> &'static str {
        match (self.role, self.workers) {
            (Role::Work, _) => "worker-only",
            (Role::Serve, 0) => "api-only",
            (Role::Serve, _) => "api and workers",
        }
    }

    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Reads settings through `lookup` (the environment, or a map in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        let workers: usize = parse_or(&get, "WORKERS", 16)?;
        // 0: an API-only instance (see `Role`).
        if workers > 1024 {
            return Err(ConfigError { name: "WORKERS", message: "must be between 0 and 1024".into() });
        }
        let sync_concurrency: usize = parse_or(&get, "SYNC_CONCURRENCY", 8)?;
        if sync_concurrency == 0 || sync_concurrency > 1024 {
            return Err(ConfigError { name: "SYNC_CONCURRENCY", message: "must be between 1 and 1024".into() });
        }
        // The call pool: one connection per worker and per synchronous call. The job store has
        // its own connections (see db::ENGINE_CONNECTIONS), so calls never starve a lease. An
        // API-only instance (WORKERS=0) still runs `POST /procedure` calls: at least one.
        let db_pool_size: usize = parse_or(&get, "DB_POOL_SIZE", workers + sync_concurrency)?;
        if db_pool_size == 0 {
            return Err(ConfigError {
                name: "DB_POOL_SIZE",
                message: "must be at least 1: POST /procedure calls take their connection from it".into(),
            });
        }
        if db_pool_size < workers {
            return Err(ConfigError {
                name: "DB_POOL_SIZE",
                message: format!("must be at least WORKERS ({workers}): every worker holds a connection for its call"),
            });
        }
        let db_read_pool_size: usize = parse_or(&get, "DB_READ_POOL_SIZE", 4)?;
        if db_read_pool_size == 0 {
            return Err(ConfigError { name: "DB_READ_POOL_SIZE", message: "must be at least 1".into() });
        }
        let lease_timeout = duration_or(&get, "LEASE_TIMEOUT", "30s")?;
        let heartbeat_interval = duration_or(&get, "HEARTBEAT_INTERVAL", "1s")?;
        if heartbeat_interval * 3 > lease_timeout {
            return Err(ConfigError {
                name: "HEARTBEAT_INTERVAL",
                message: "must be at most a third of LEASE_TIMEOUT, or live jobs would be taken for orphans".into(),
            });
        }
        let job_timeout = duration_or(&get, "JOB_TIMEOUT", "1h")?;
        let max_job_timeout = duration_or(&get, "MAX_JOB_TIMEOUT", "24h")?;
        if job_timeout > max_job_timeout {
            return Err(ConfigError { name: "JOB_TIMEOUT", message: "must not exceed MAX_JOB_TIMEOUT".into() });
        }
        Ok(Settings {
            database_url: database_url(&get)?,
            host: get("HOST").unwrap_or_else(|| "127.0.0.1".into()),
            port: parse_or(&get, "PORT", 3000)?,
            workers,
            db_pool_size,
            db_read_pool_size,
            max_result_bytes: parse_or(&get, "MAX_RESULT_BYTES", 16 * 1024 * 1024)?,
            max_cursor_rows: parse_or(&get, "MAX_CURSOR_ROWS", 100_000)?,
            sync_concurrency,
            sync_timeout: duration_or(&get, "SYNC_TIMEOUT", "30s")?,
            cleanup_interval: duration_or(&get, "CLEANUP_INTERVAL", "24h")?,
            job_retention_days: parse_or(&get, "JOB_RETENTION_DAYS", 7)?,
            auth: auth_settings(&get)?,
            procedure_allowlist: Allowlist::parse(&get("PROCEDURE_ALLOWLIST").unwrap_or_default()),
            catalog_cache_ttl: duration_or(&get, "CATALOG_CACHE_TTL", "60s")?,
            poll_interval: duration_or(&get, "POLL_INTERVAL", "1s")?,
            progress_flush_interval: duration_or(&get, "PROGRESS_FLUSH_INTERVAL", "200ms")?,
            shutdown_grace: duration_or(&get, "SHUTDOWN_GRACE", "30s")?,
            max_body_bytes: parse_or(&get, "MAX_BODY_BYTES", 1024 * 1024)?,
            instance_id: instance_id(&get)?,
            job_timeout,
            max_job_timeout,
            lease_timeout,
            heartbeat_interval,
            rescue_interval: duration_or(&get, "RESCUE_INTERVAL", "5s")?,
            retryable_errors: RetryableErrors::parse(
                &get("RETRYABLE_ERRORS").unwrap_or_else(|| RetryableErrors::DEFAULT.to_string()),
            ),
            procedure_limits: procedure_limits(&get("PROCEDURE_CONCURRENCY").unwrap_or_default())
                .map_err(|message| ConfigError { name: "PROCEDURE_CONCURRENCY", message })?,
            cancel_wait: duration_or(&get, "CANCEL_WAIT", "5s")?,
            max_params: max_params(&get)?,
            run_at_horizon: duration_or(&get, "RUN_AT_HORIZON", "366d")?,
            max_pending_per_owner: parse_or(&get, "MAX_PENDING_PER_OWNER", 0)?,
            event_poll_interval: duration_or(&get, "EVENT_POLL_INTERVAL", "500ms")?,
            max_wait: duration_or(&get, "MAX_WAIT", "60s")?,
            progress_poll_interval: duration_or(&get, "PROGRESS_POLL_INTERVAL", "1s")?,
            webhooks: webhook_settings(&get)?,
            job_keep_completed: parse_or(&get, "JOB_KEEP_COMPLETED", 0)?,
            job_keep_failed: parse_or(&get, "JOB_KEEP_FAILED", 0)?,
            metrics_addr: metrics_addr(&get)?,
            metrics_token: metrics_token(&get)?,
            audit: get("AUDIT").is_none() || flag(&get, "AUDIT")?,
            audit_retention_days: parse_or(&get, "AUDIT_RETENTION_DAYS", 90)?,
            clients_poll: clients_poll(&get)?,
            role: Role::Serve,
            list_total_cap: parse_or(&get, "LIST_TOTAL_CAP", crate::model::listing::DEFAULT_TOTAL_CAP as u32)?,
            max_list_offset: parse_or(&get, "MAX_LIST_OFFSET", 10_000)?,
        })
    }
}

fn parse_or<T: FromStr>(get: &impl Fn(&str) -> Option<String>, name: &'static str, default: T) -> Result<T, ConfigError>
where
    T::Err: std::fmt::Display,
{
    match get(name) {
        None => Ok(default),
        Some(v) => v.parse().map_err(|e| ConfigError { name, message: format!("{v:?} is not valid: {e}") }),
    }
}

/// `30s`, `24h`, `500ms`, `1h 30m`, or a plain number of seconds.
pub fn parse_duration(v: &str) -> Result<Duration, String> {
    if let Ok(secs) = v.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    humantime::parse_duration(v).map_err(|e| format!("{v:?} is not a duration (e.g. 30s, 24h): {e}"))
}

fn duration_or(
    get: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: &str,
) -> Result<Duration, ConfigError> {
    let v = get(name).unwrap_or_else(|| default.to_string());
    let d = parse_duration(&v).map_err(|message| ConfigError { name, message })?;
    if d.is_zero() {
        return Err(ConfigError { name, message: "must be greater than zero".into() });
    }
    Ok(d)
}

fn flag(get: &impl Fn(&str) -> Option<String>, name: &'static str) -> Result<bool, ConfigError> {
    match get(name).map(|v| v.to_ascii_lowercase()) {
        None => Ok(false),
        Some(v) if matches!(v.as_str(), "1" | "true" | "yes" | "on") => Ok(true),
        Some(v) if matches!(v.as_str(), "0" | "false" | "no" | "off") => Ok(false),
        Some(v) => Err(ConfigError { name, message: format!("{v:?} is not a boolean (1/0, true/false)") }),
    }
}

fn auth_settings(get: &impl Fn(&str) -> Option<String>) -> Result<AuthSettings, ConfigError> {
    let mut tokens = Vec::new();
    if let Some(list) = get("API_TOKENS") {
        for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            tokens.push(ApiToken::parse(entry).map_err(|message| ConfigError { name: "API_TOKENS", message })?);
        }
    }
    if let Some(token) = get("API_TOKEN") {
        // The predecessor's single token: one admin named `default`. Its short tokens are still
        // accepted, for its clients' sake, but not quietly.
        if token.len() < 16 {
            tracing::warn!("API_TOKEN is shorter than 16 characters: use a long random token");
        }
        tokens.push(ApiToken::new("default", &token, true));
    }
    let mut names: Vec<&str> = tokens.iter().map(|t| t.name.as_str()).collect();
    names.sort_unstable();
    if names.windows(2).any(|w| w[0] == w[1]) {
        return Err(ConfigError { name: "API_TOKENS", message: "token names must be unique".into() });
    }
    // The same token under two names would make the caller's identity depend on the order.
    for (i, a) in tokens.iter().enumerate() {
        if let Some(b) = tokens[i + 1..].iter().find(|b| a.same_token(b)) {
            return Err(ConfigError {
                name: "API_TOKENS",
                message: format!(
                    "the entries {:?} and {:?} have the same token: tokens must be unique",
                    a.name, b.name
                ),
            });
        }
    }
    let allowed_ips = IpAllowlist::parse(&get("API_ALLOWED_IPS").unwrap_or_default())
        .map_err(|message| ConfigError { name: "API_ALLOWED_IPS", message })?;
    let no_auth = flag(get, "API_NO_AUTH")?;
    let clients = clients_file(get, &tokens)?;
    let jwt = jwt_settings(get)?;
    Ok(AuthSettings { tokens, allowed_ips, no_auth, clients, jwt })
}

/// `API_CLIENTS_FILE`: the clients file, read now (a bad one stops the start with its line);
/// its names and tokens may not repeat those of `API_TOKENS` / `API_TOKEN`.
fn clients_file(get: &impl Fn(&str) -> Option<String>, tokens: &[ApiToken]) -> Result<ClientRegistry, ConfigError> {
    let Some(path) = get("API_CLIENTS_FILE") else { return Ok(ClientRegistry::none()) };
    let reserved = tokens.iter().map(|t| (t.name.clone(), *t.digest())).collect();
    ClientRegistry::open(path.into(), reserved).map_err(|message| ConfigError { name: "API_CLIENTS_FILE", message })
}

/// `API_JWT_*`: the keys file (read now: a bad one stops the start) and the claims; any other
/// `API_JWT_*` setting without `API_JWT_KEYS` is an error rather than silently unused.
fn jwt_settings(get: &impl Fn(&str) -> Option<String>) -> Result<Option<JwtAuth>, ConfigError> {
    const OTHERS: [&str; 6] = [
        "API_JWT_CLIENT_CLAIM",
        "API_JWT_PROCEDURES_CLAIM",
        "API_JWT_ADMIN_CLAIM",
        "API_JWT_AUDIENCE",
        "API_JWT_ISSUER",
        "API_JWT_LEEWAY",
    ];
    let Some(path) = get("API_JWT_KEYS") else {
        return match OTHERS.into_iter().find(|name| get(name).is_some()) {
            Some(name) => Err(ConfigError { name, message: "has no effect without API_JWT_KEYS".into() }),
            None => Ok(None),
        };
    };
    let client_claim = get("API_JWT_CLIENT_CLAIM").unwrap_or_else(|| "sub".into());
    let mut jwt =
        JwtAuth::open(path.into(), client_claim).map_err(|message| ConfigError { name: "API_JWT_KEYS", message })?;
    jwt.procedures_claim = get("API_JWT_PROCEDURES_CLAIM");
    jwt.admin_claim = get("API_JWT_ADMIN_CLAIM");
    jwt.audience = get("API_JWT_AUDIENCE");
    jwt.issuer = get("API_JWT_ISSUER");
    let leeway = get("API_JWT_LEEWAY").unwrap_or_else(|| "30s".into());
    jwt.leeway = parse_duration(&leeway).map_err(|message| ConfigError { name: "API_JWT_LEEWAY", message })?;
    if jwt.leeway > Duration::from_secs(600) {
        return Err(ConfigError { name: "API_JWT_LEEWAY", message: "must be at most 10m".into() });
    }
    Ok(Some(jwt))
}

/// `API_CLIENTS_POLL`: a duration (default 1s), or `off` (or `0`) for `SIGHUP` only.
fn clients_poll(get: &impl Fn(&str) -> Option<String>) -> Result<Option<Duration>, ConfigError> {
    match get("API_CLIENTS_POLL").as_deref() {
        Some("off" | "OFF" | "0") => Ok(None),
        _ => duration_or(get, "API_CLIENTS_POLL", "1s").map(Some),
    }
}

/// `METRICS_ADDR`: `host:port` (`127.0.0.1:9100`); a name is not resolved.
fn metrics_addr(get: &impl Fn(&str) -> Option<String>) -> Result<Option<std::net::SocketAddr>, ConfigError> {
    get("METRICS_ADDR")
        .map(|v| {
            v.parse().map_err(|e| ConfigError {
                name: "METRICS_ADDR",
                message: format!("{v:?} is not an address and port such as 127.0.0.1:9100: {e}"),
            })
        })
        .transpose()
}

/// `METRICS_TOKEN`: at least 16 characters (it is presented by a scraper, often in a file).
fn metrics_token(get: &impl Fn(&str) -> Option<String>) -> Result<Option<ApiToken>, ConfigError> {
    match get("METRICS_TOKEN") {
        None => Ok(None),
        Some(t) if t.len() < 16 => {
            Err(ConfigError { name: "METRICS_TOKEN", message: "must have at least 16 characters".into() })
        }
        Some(t) => Ok(Some(ApiToken::new("metrics", &t, false))),
    }
}

/// `PROC_TEST_DEMORA=3,REPORTS.*=1`: at most that many running jobs of each procedure the
/// pattern matches (allowlist glob syntax), across all instances.
pub fn procedure_limits(list: &str) -> Result<Vec<ProcedureLimit>, String> {
    list.split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(|entry| {
            let (pattern, n) =
                entry.split_once('=').ok_or_else(|| format!("{entry:?} is not PATTERN=N (e.g. PROC_TEST_DEMORA=3)"))?;
            let max_running: i64 = n
                .trim()
                .parse()
                .ok()
                .filter(|n| *n >= 1)
                .ok_or_else(|| format!("{entry:?}: the limit must be a whole number of at least 1"))?;
            Ok(ProcedureLimit {
                pattern: Allowlist::parse(pattern.trim()),
                text: pattern.trim().to_string(),
                max_running,
            })
        })
        .collect()
}

/// `DATABASE_URL`, or else the predecessor's `ORACLE_USER`, `ORACLE_PASSWORD`, `ORACLE_HOST`,
/// `ORACLE_PORT` (default 1521) and `ORACLE_SERVICE` as the equivalent
/// `oracle://user:password@host:port/service` (user and password URL-encoded).
fn database_url(get: &impl Fn(&str) -> Option<String>) -> Result<Option<String>, ConfigError> {
    const ORACLE: [&str; 5] = ["ORACLE_USER", "ORACLE_PASSWORD", "ORACLE_HOST", "ORACLE_PORT", "ORACLE_SERVICE"];
    if let Some(url) = get("DATABASE_URL") {
        return Ok(Some(url));
    }
    if ORACLE.iter().all(|name| get(name).is_none()) {
        return Ok(None);
    }
    let required = |name: &'static str| {
        get(name).ok_or_else(|| ConfigError {
            name,
            message: "must be set along with the other ORACLE_* settings \
                      (or set DATABASE_URL=oracle://user:password@host:port/service instead)"
                .into(),
        })
    };
    let (user, password) = (required("ORACLE_USER")?, required("ORACLE_PASSWORD")?);
    let host = required("ORACLE_HOST")?;
    let service = required("ORACLE_SERVICE")?;
    let port: u16 = parse_or(get, "ORACLE_PORT", 1521)?;
    if port == 0 {
        return Err(ConfigError { name: "ORACLE_PORT", message: "must be between 1 and 65535".into() });
    }
    if host.contains(['/', '@', '?', '#']) || host.chars().any(char::is_whitespace) {
        return Err(ConfigError { name: "ORACLE_HOST", message: format!("{host:?} is not a host name or address") });
    }
    let host = if host.contains(':') && !host.starts_with('[') { format!("[{host}]") } else { host };
    let service_ok = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '$' | '#');
    if !service.chars().all(service_ok) {
        return Err(ConfigError { name: "ORACLE_SERVICE", message: format!("{service:?} is not a service name") });
    }
    Ok(Some(format!("oracle://{}:{}@{host}:{port}/{service}", url_encode(&user), url_encode(&password))))
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
pub fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `INSTANCE_ID` fits the job table's `instance_id varchar(64)`.
fn instance_id(get: &impl Fn(&str) -> Option<String>) -> Result<String, ConfigError> {
    match get("INSTANCE_ID") {
        Some(id) if id.len() > 64 => {
            Err(ConfigError { name: "INSTANCE_ID", message: "must be at most 64 characters".into() })
        }
        Some(id) => Ok(id),
        None => Ok(default_instance_id()),
    }
}

/// `MAX_PARAMS`: 1 to 65535 (no routine has more arguments than that).
fn max_params(get: &impl Fn(&str) -> Option<String>) -> Result<usize, ConfigError> {
    let n: usize = parse_or(get, "MAX_PARAMS", 1000)?;
    if !(1..=65_535).contains(&n) {
        return Err(ConfigError { name: "MAX_PARAMS", message: "must be between 1 and 65535".into() });
    }
    Ok(n)
}

fn default_instance_id() -> String {
    let host = std::fs::read_to_string("/etc/hostname").map(|h| h.trim().to_string()).unwrap_or_default();
    let host = if host.is_empty() { "procgate".to_string() } else { host };
    let suffix = &uuid::Uuid::new_v4().simple().to_string()[..8];
    let host: String = host.chars().take(40).collect();
    format!("{host}-{}-{suffix}", std::process::id())
}

/// The `WEBHOOK_*` settings. Webhooks are off while `WEBHOOK_ALLOWED_HOSTS` is empty.
#[derive(Debug, Clone)]
pub struct WebhookSettings {
    /// The hosts callbacks may name.
    pub allowed_hosts: AllowedHosts,
    /// The key each token's deliveries are signed with.
    pub secrets: SigningSecrets,
    /// The callback a token's jobs get when their request names none, by token name.
    pub default_callbacks: HashMap<String, Callback>,
    /// Attempts per delivery, the first included.
    pub max_attempts: u32,
    /// The wait before the first retry; it doubles with each retry (up to an hour).
    pub retry_delay: Duration,
    /// How long one attempt may take, connecting included.
    pub timeout: Duration,
    /// Deliveries one instance attempts at once.
    pub concurrency: usize,
}

impl WebhookSettings {
    pub fn enabled(&self) -> bool {
        !self.allowed_hosts.is_empty()
    }
}

fn webhook_settings(get: &impl Fn(&str) -> Option<String>) -> Result<WebhookSettings, ConfigError> {
    let allowed_hosts = AllowedHosts::parse(&get("WEBHOOK_ALLOWED_HOSTS").unwrap_or_default())
        .map_err(|message| ConfigError { name: "WEBHOOK_ALLOWED_HOSTS", message })?;
    let secrets = SigningSecrets::parse(&get("WEBHOOK_SECRETS").unwrap_or_default())
        .map_err(|message| ConfigError { name: "WEBHOOK_SECRETS", message })?;
    let default_callbacks =
        parse_default_callbacks(&get("WEBHOOK_DEFAULT_CALLBACKS").unwrap_or_default(), &allowed_hosts)
            .map_err(|message| ConfigError { name: "WEBHOOK_DEFAULT_CALLBACKS", message })?;
    if let Some(name) = default_callbacks.keys().find(|name| secrets.for_owner(name).is_none()) {
        return Err(ConfigError {
            name: "WEBHOOK_DEFAULT_CALLBACKS",
            message: format!("{name:?} has a default callback but no WEBHOOK_SECRETS entry to sign it"),
        });
    }
    let max_attempts: u32 = parse_or(get, "WEBHOOK_MAX_ATTEMPTS", 8)?;
    if !(1..=100).contains(&max_attempts) {
        return Err(ConfigError { name: "WEBHOOK_MAX_ATTEMPTS", message: "must be between 1 and 100".into() });
    }
    let concurrency: usize = parse_or(get, "WEBHOOK_CONCURRENCY", 8)?;
    if !(1..=256).contains(&concurrency) {
        return Err(ConfigError { name: "WEBHOOK_CONCURRENCY", message: "must be between 1 and 256".into() });
    }
    Ok(WebhookSettings {
        allowed_hosts,
        secrets,
        default_callbacks,
        max_attempts,
        retry_delay: duration_or(get, "WEBHOOK_RETRY_DELAY", "30s")?,
        timeout: duration_or(get, "WEBHOOK_TIMEOUT", "10s")?,
        concurrency,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(pairs: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Settings::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults() {
        let s = settings(&[("API_TOKEN", "secret")]).unwrap();
        assert_eq!(s.port, 3000);
        assert_eq!(s.host, "127.0.0.1");
        assert_eq!(s.cleanup_interval, Duration::from_secs(86400));
        assert_eq!(s.job_retention_days, 7);
        assert_eq!((s.job_keep_completed, s.job_keep_failed), (0, 0));
        assert_eq!(s.db_pool_size, s.workers + s.sync_concurrency);
        assert!(s.auth.tokens[0].admin);
        assert_eq!(s.lease_timeout, Duration::from_secs(30));
        assert!(s.procedure_limits.is_empty());
        assert_eq!((s.max_params, s.max_pending_per_owner), (1000, 0));
        assert_eq!(s.progress_poll_interval, Duration::from_secs(1));
        assert_eq!(s.run_at_horizon, Duration::from_secs(366 * 86400));
        assert!(!s.webhooks.enabled());
        assert_eq!((s.webhooks.max_attempts, s.webhooks.concurrency), (8, 8));
        assert_eq!((s.webhooks.retry_delay, s.webhooks.timeout), (Duration::from_secs(30), Duration::from_secs(10)));
        let limits = procedure_limits("PROC_TEST_DEMORA=3, REPORTS.*=1").unwrap();
        assert_eq!((limits[1].text.as_str(), limits[1].max_running), ("REPORTS.*", 1));
    }

    #[test]
    fn bad_values_name_the_setting() {
        for (pairs, name) in [
            (vec![("API_TOKEN", "x"), ("PORT", "http")], "PORT"),
            (vec![("API_TOKEN", "x"), ("SYNC_TIMEOUT", "soon")], "SYNC_TIMEOUT"),
            (vec![("API_TOKEN", "x"), ("WORKERS", "1025")], "WORKERS"),
            (vec![("API_TOKEN", "x"), ("WORKERS", "0"), ("DB_POOL_SIZE", "0")], "DB_POOL_SIZE"),
            (vec![("API_TOKEN", "x"), ("WORKERS", "8"), ("DB_POOL_SIZE", "7")], "DB_POOL_SIZE"),
            (vec![("API_TOKEN", "x"), ("SYNC_CONCURRENCY", "0")], "SYNC_CONCURRENCY"),
            (vec![("API_TOKEN", "x"), ("API_NO_AUTH", "perhaps")], "API_NO_AUTH"),
            (vec![("API_TOKEN", "x"), ("API_ALLOWED_IPS", "10.0.0.0/99")], "API_ALLOWED_IPS"),
            (vec![("API_TOKENS", "a:1,a:2")], "API_TOKENS"),
            (vec![("API_TOKENS", "nocolon")], "API_TOKENS"),
            (vec![("API_TOKENS", "a:same-token,b:same-token:admin")], "API_TOKENS"),
            (vec![("API_TOKEN", "x"), ("INSTANCE_ID", &"i".repeat(65))], "INSTANCE_ID"),
            (vec![("API_TOKEN", "x"), ("PROCEDURE_CONCURRENCY", "PROC_X")], "PROCEDURE_CONCURRENCY"),
            (vec![("API_TOKEN", "x"), ("PROCEDURE_CONCURRENCY", "PROC_X=0")], "PROCEDURE_CONCURRENCY"),
            (vec![("API_TOKEN", "x"), ("LEASE_TIMEOUT", "2s")], "HEARTBEAT_INTERVAL"),
            (vec![("API_TOKEN", "x"), ("JOB_TIMEOUT", "48h")], "JOB_TIMEOUT"),
            (vec![("API_TOKEN", "x"), ("MAX_PARAMS", "0")], "MAX_PARAMS"),
            (vec![("API_TOKEN", "x"), ("RUN_AT_HORIZON", "soon")], "RUN_AT_HORIZON"),
            (vec![("API_TOKEN", "x"), ("MAX_PENDING_PER_OWNER", "-1")], "MAX_PENDING_PER_OWNER"),
            (vec![("API_TOKEN", "x"), ("WEBHOOK_ALLOWED_HOSTS", "a/b")], "WEBHOOK_ALLOWED_HOSTS"),
            (vec![("API_TOKEN", "x"), ("WEBHOOK_SECRETS", "ops:short")], "WEBHOOK_SECRETS"),
            (vec![("API_TOKEN", "x"), ("WEBHOOK_DEFAULT_CALLBACKS", "ops=http://h/")], "WEBHOOK_DEFAULT_CALLBACKS"),
            (
                vec![
                    ("API_TOKEN", "x"),
                    ("WEBHOOK_ALLOWED_HOSTS", "h"),
                    ("WEBHOOK_DEFAULT_CALLBACKS", "ops=http://h/"),
                ],
                "WEBHOOK_DEFAULT_CALLBACKS",
            ),
            (vec![("API_TOKEN", "x"), ("WEBHOOK_MAX_ATTEMPTS", "0")], "WEBHOOK_MAX_ATTEMPTS"),
            (vec![("API_TOKEN", "x"), ("WEBHOOK_CONCURRENCY", "0")], "WEBHOOK_CONCURRENCY"),
            (vec![("API_TOKEN", "x"), ("WEBHOOK_TIMEOUT", "0s")], "WEBHOOK_TIMEOUT"),
        ] {
            let err = settings(&pairs).unwrap_err();
            assert_eq!(err.name, name, "{pairs:?}: {err}");
        }
    }

    #[test]
    fn duplicate_tokens_name_both_entries_never_the_token() {
        let err = settings(&[("API_TOKENS", "a:token-one,b:token-two,c:token-one:admin")]).unwrap_err();
        assert_eq!(err.name, "API_TOKENS");
        assert!(err.message.contains("\"a\"") && err.message.contains("\"c\""), "{err}");
        assert!(!err.to_string().contains("token-one"), "{err}");
        let err = settings(&[("API_TOKENS", "ops:legacy-token-1"), ("API_TOKEN", "legacy-token-1")]).unwrap_err();
        assert!(err.message.contains("\"ops\"") && err.message.contains("\"default\""), "{err}");
    }

    #[test]
    fn serving_needs_tokens_or_explicit_no_auth() {
        assert_eq!(settings(&[]).unwrap().check_can_serve().unwrap_err().name, "API_TOKENS");
        assert!(settings(&[("API_NO_AUTH", "1")]).unwrap().check_can_serve().is_ok());
    }

    #[test]
    fn oracle_settings_make_an_oracle_url() {
        let oracle = [
            ("API_TOKEN", "x"),
            ("ORACLE_USER", "app_user"),
            ("ORACLE_PASSWORD", "p@ss:w/rd% x"),
            ("ORACLE_HOST", "db.example.com"),
            ("ORACLE_SERVICE", "FREEPDB1"),
        ];
        let s = settings(&oracle).unwrap();
        assert_eq!(
            s.database_url.as_deref(),
            Some("oracle://app_user:p%40ss%3Aw%2Frd%25%20x@db.example.com:1521/FREEPDB1")
        );
        let mut with_port = oracle.to_vec();
        with_port.extend([("ORACLE_PORT", "1522"), ("ORACLE_HOST", "::1")]);
        assert_eq!(
            settings(&with_port).unwrap().database_url.unwrap(),
            "oracle://app_user:p%40ss%3Aw%2Frd%25%20x@[::1]:1522/FREEPDB1"
        );
        // DATABASE_URL wins.
        let mut both = oracle.to_vec();
        both.push(("DATABASE_URL", "postgres://u:p@h/db"));
        assert_eq!(settings(&both).unwrap().database_url.as_deref(), Some("postgres://u:p@h/db"));
        assert_eq!(settings(&[("API_TOKEN", "x")]).unwrap().database_url, None);
    }

    #[test]
    fn oracle_setting_errors_name_the_setting() {
        let base = [("API_TOKEN", "x"), ("ORACLE_USER", "u"), ("ORACLE_PASSWORD", "p"), ("ORACLE_HOST", "h")];
        assert_eq!(settings(&base).unwrap_err().name, "ORACLE_SERVICE");
        for (name, value) in
            [("ORACLE_PORT", "99999"), ("ORACLE_PORT", "0"), ("ORACLE_HOST", "h/x"), ("ORACLE_SERVICE", "a b")]
        {
            let mut pairs = base.to_vec();
            pairs.push(("ORACLE_SERVICE", "S"));
            pairs.push((name, value));
            assert_eq!(settings(&pairs).unwrap_err().name, name, "{name}={value}");
        }
        assert_eq!(settings(&[("API_TOKEN", "x"), ("ORACLE_HOST", "h")]).unwrap_err().name, "ORACLE_USER");
        assert_eq!(url_encode("aZ0-._~ é"), "aZ0-._~%20%C3%A9");
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("24h").unwrap(), Duration::from_secs(86400));
        assert!(parse_duration("a while").is_err());
    }

    #[test]
    fn metrics_settings() {
        let s = settings(&[("API_TOKEN", "x")]).unwrap();
        assert!(s.metrics_addr.is_none() && s.metrics_token.is_none());
        let s = settings(&[
            ("API_TOKEN", "x"),
            ("METRICS_ADDR", "127.0.0.1:9100"),
            ("METRICS_TOKEN", "a-metrics-token-01"),
        ])
        .unwrap();
        assert_eq!(s.metrics_addr.unwrap().port(), 9100);
        assert!(s.metrics_token.unwrap().presented_in(Some("Bearer a-metrics-token-01")));
        for (pairs, name) in [
            (vec![("API_TOKEN", "x"), ("METRICS_ADDR", "localhost")], "METRICS_ADDR"),
            (vec![("API_TOKEN", "x"), ("METRICS_TOKEN", "short")], "METRICS_TOKEN"),
        ] {
            assert_eq!(settings(&pairs).unwrap_err().name, name);
        }
    }

    #[test]
    fn the_audit_trail_is_on_by_default_and_kept_90_days() {
        let s = settings(&[("API_TOKEN", "secret")]).unwrap();
        assert!(s.audit);
        assert_eq!(s.audit_retention_days, 90);
        let s = settings(&[("API_TOKEN", "secret"), ("AUDIT", "off"), ("AUDIT_RETENTION_DAYS", "0")]).unwrap();
        assert!(!s.audit);
        assert_eq!(s.audit_retention_days, 0);
        assert_eq!(settings(&[("AUDIT", "maybe")]).unwrap_err().name, "AUDIT");
        assert_eq!(settings(&[("AUDIT_RETENTION_DAYS", "-1")]).unwrap_err().name, "AUDIT_RETENTION_DAYS");
    }

    #[test]
    fn a_clients_file_is_read_at_start_and_errors_name_its_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("clients.toml");
        std::fs::write(&path, "[[client]]\nname = \"reports\"\ntoken = \"reports-token-1\"\n").unwrap();
        let file = path.to_str().unwrap();
        let s = settings(&[("API_CLIENTS_FILE", file)]).unwrap();
        // The file's clients are enough to serve.
        assert!(s.check_can_serve().is_ok());
        assert_eq!(s.auth.clients.current().len(), 1);
        assert_eq!(s.clients_poll, Some(Duration::from_secs(1)));
        let err = settings(&[("API_CLIENTS_FILE", file), ("API_TOKENS", "reports:another-token")]).unwrap_err();
        assert_eq!(err.name, "API_CLIENTS_FILE");
        assert!(err.message.contains("line 2") && err.message.contains("API_TOKENS"), "{err}");
        std::fs::write(&path, "[[client]]\nname = \"reports\"\ntoken = \"reports-token-1\"\nadmin = maybe\n").unwrap();
        let err = settings(&[("API_CLIENTS_FILE", file)]).unwrap_err();
        assert_eq!(err.name, "API_CLIENTS_FILE");
        assert!(err.message.contains("line 4"), "{err}");
        assert_eq!(settings(&[("API_TOKEN", "x"), ("API_CLIENTS_POLL", "off")]).unwrap().clients_poll, None);
        assert_eq!(settings(&[("API_TOKEN", "x"), ("API_CLIENTS_POLL", "soon")]).unwrap_err().name, "API_CLIENTS_POLL");
    }

    #[test]
    fn jwt_settings_need_their_keys_file_and_a_bad_one_stops_the_start() {
        let e = settings(&[("API_TOKEN", "x"), ("API_JWT_AUDIENCE", "procgate")]).unwrap_err();
        assert_eq!(e.name, "API_JWT_AUDIENCE");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("jwks.json");
        std::fs::write(&path, "{\"keys\": [{\"kty\": \"oct\", \"k\": \"c2hvcnQ\"}]}").unwrap();
        let keys = path.to_str().unwrap();
        let e = settings(&[("API_JWT_KEYS", keys)]).unwrap_err();
        assert!(e.name == "API_JWT_KEYS" && e.message.contains("32 bytes"), "{e}");
        let secret = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY";
        std::fs::write(&path, format!("{{\"kty\": \"oct\", \"k\": \"{secret}\"}}")).unwrap();
        let s = settings(&[("API_JWT_KEYS", keys), ("API_JWT_LEEWAY", "0")]).unwrap();
        let jwt = s.auth.jwt.as_ref().unwrap();
        assert_eq!((jwt.client_claim.as_str(), jwt.leeway), ("sub", Duration::ZERO));
        // JWT keys alone are a way to authenticate callers.
        assert!(s.check_can_serve().is_ok());
        let e = settings(&[("API_JWT_KEYS", keys), ("API_JWT_LEEWAY", "1h")]).unwrap_err();
        assert_eq!(e.name, "API_JWT_LEEWAY");
    }

    #[test]
    fn workers_0_is_an_api_only_instance_and_work_needs_workers() {
        let api_only = settings(&[("API_TOKEN", "x"), ("WORKERS", "0")]).unwrap();
        assert!(api_only.check_can_serve().is_ok());
        assert_eq!(api_only.role_name(), "api-only");
        // No connection is held by a worker: the call pool is for POST /procedure alone.
        assert_eq!(api_only.db_pool_size, api_only.sync_concurrency);
        let mut worker = settings(&[("WORKERS", "0")]).unwrap();
        worker.role = Role::Work;
        let err = worker.check_can_serve().unwrap_err();
        assert_eq!(err.name, "WORKERS", "{err}");
        assert!(err.message.contains("procgate work"), "{err}");
        // A worker-only instance has no job API: it needs no token.
        worker.workers = 2;
        assert!(worker.check_can_serve().is_ok());
        assert_eq!(worker.role_name(), "worker-only");
        assert_eq!(settings(&[("API_TOKEN", "x")]).unwrap().role_name(), "api and workers");
    }
}
