//! The clients in force: read from `API_CLIENTS_FILE` at start, read again on `SIGHUP` and when
//! the file changes (its size, modification time or inode, looked at every `API_CLIENTS_POLL`).
//!
//! The set is swapped whole behind a lock held only to clone an `Arc`, so a request sees either
//! the old set or the new one, never a mix, and none waits for a reload. A file that fails its
//! checks on reload is logged with its line and the old set stays in force. A client whose name
//! and rate are unchanged keeps its rate limiter (its bucket's state) across reloads.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock, Weak};
use std::time::{Duration, SystemTime};

use super::{file, Client};

/// The live clients; cheap to clone (all clones see the same set).
#[derive(Clone)]
pub struct ClientRegistry {
    inner: Arc<Inner>,
}

struct Inner {
    /// `API_CLIENTS_FILE`; `None`: no file, no clients.
    path: Option<PathBuf>,
    /// The names and token digests of `API_TOKENS` / `API_TOKEN`, which the file may not reuse.
    reserved: Vec<(String, [u8; 32])>,
    current: RwLock<Arc<Vec<Client>>>,
}

impl std::fmt::Debug for ClientRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientRegistry")
            .field("path", &self.inner.path)
            .field("clients", &self.current().len())
            .finish()
    }
}

impl ClientRegistry {
    /// No clients file.
    pub fn none() -> Self {
        Self::with(None, Vec::new(), Vec::new())
    }

    /// Reads the file at `path`; `reserved` are the environment's token names and digests.
    pub fn open(path: PathBuf, reserved: Vec<(String, [u8; 32])>) -> Result<Self, String> {
        let clients = file::load(&path)?;
        check_reserved(&clients, &reserved).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(Self::with(Some(path), reserved, clients))
    }

    fn with(path: Option<PathBuf>, reserved: Vec<(String, [u8; 32])>, clients: Vec<Client>) -> Self {
        Self { inner: Arc::new(Inner { path, reserved, current: RwLock::new(Arc::new(clients)) }) }
    }

    pub fn path(&self) -> Option<&Path> {
        self.inner.path.as_deref()
    }

    /// The clients in force now.
    pub fn current(&self) -> Arc<Vec<Client>> {
        self.inner.current.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The client of that name now, if any (for an authenticator that names the client, such
    /// as a JWT's claim, to take its access from the file).
    pub fn by_name(&self, name: &str) -> Option<Client> {
        self.current().iter().find(|c| c.name == name).cloned()
    }

    /// Reads the file again and puts it in force, or leaves the current set if it fails its
    /// checks. Returns how many clients are in force.
    pub fn reload(&self) -> Result<usize, String> {
        let Some(path) = &self.inner.path else { return Ok(0) };
        let mut clients = file::load(path)?;
        check_reserved(&clients, &self.inner.reserved).map_err(|e| format!("{}: {e}", path.display()))?;
        let mut current = self.inner.current.write().unwrap_or_else(|e| e.into_inner());
        keep_limiters(&current, &mut clients);
        let n = clients.len();
        *current = Arc::new(clients);
        Ok(n)
    }

    /// Reloads on `SIGHUP` and when the file changes (looked at every `poll`; `None`: on
    /// `SIGHUP` only), logging each outcome, until the last clone of this registry is dropped.
    /// Without a file, does nothing.
    pub fn watch(&self, poll: Option<Duration>) {
        let Some(path) = self.inner.path.clone() else { return };
        let weak: Weak<Inner> = Arc::downgrade(&self.inner);
        // Installed now, before the listener answers: a SIGHUP never finds the default action
        // (which ends the process).
        let mut hangup = hangup_signal();
        let mut seen = stamp(&path);
        tokio::spawn(async move {
            loop {
                let signalled = tokio::select! {
                    _ = next_tick(poll) => false,
                    _ = next_hangup(&mut hangup) => true,
                };
                let Some(inner) = weak.upgrade() else { break };
                let now = stamp(&path);
                if !signalled && (poll.is_none() || now == seen) {
                    continue;
                }
                seen = now;
                let why = if signalled { "SIGHUP" } else { "the file changed" };
                match (ClientRegistry { inner }).reload() {
                    Ok(n) => tracing::info!(file = %path.display(), clients = n, "clients file reloaded ({why})"),
                    Err(e) => {
                        tracing::error!("clients file not reloaded ({why}), the previous clients stay in force: {e}")
                    }
                }
            }
        });
    }
}

/// The next look at the file; never, when polling is off. Without polling, the task still
/// wakes at least once a minute to notice that the registry is gone.
async fn next_tick(poll: Option<Duration>) {
    tokio::time::sleep(poll.unwrap_or(Duration::from_secs(60))).await
}

/// The file's identity for change detection; `None` while it cannot be read.
fn stamp(path: &Path) -> Option<(u64, Option<SystemTime>, u64)> {
    let meta = std::fs::metadata(path).ok()?;
    #[cfg(unix)]
    let inode = std::os::unix::fs::MetadataExt::ino(&meta);
    #[cfg(not(unix))]
    let inode = 0;
    Some((meta.len(), meta.modified().ok(), inode))
}

#[cfg(unix)]
type Hangup = Option<tokio::signal::unix::Signal>;
#[cfg(not(unix))]
type Hangup = ();

#[cfg(unix)]
fn hangup_signal() -> Hangup {
    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        .map_err(|e| tracing::warn!("no SIGHUP handler ({e}): the clients file reloads only when it changes"))
        .ok()
}

#[cfg(not(unix))]
fn hangup_signal() -> Hangup {}

/// The next `SIGHUP`; never, without a handler.
#[cfg(unix)]
async fn next_hangup(hangup: &mut Hangup) {
    if let Some(signal) = hangup {
        if signal.recv().await.is_some() {
            return;
        }
    }
    std::future::pending().await
}

#[cfg(not(unix))]
async fn next_hangup(_: &mut Hangup) {
    std::future::pending().await
}

/// The file may reuse neither a name nor a token of `API_TOKENS` / `API_TOKEN`: the caller's
/// identity would depend on which list is read first.
fn check_reserved(clients: &[Client], reserved: &[(String, [u8; 32])]) -> Result<(), String> {
    for c in clients {
        if let Some((name, _)) = reserved.iter().find(|(name, _)| *name == c.name) {
            return Err(format!("line {}: client {name:?} is also named in API_TOKENS or API_TOKEN", c.line));
        }
        if let Some((name, _)) = reserved.iter().find(|(_, digest)| digest == c.digest()) {
            return Err(format!(
                "line {}: client {:?} has the same token as {name:?} of API_TOKENS or API_TOKEN",
                c.line, c.name
            ));
        }
    }
    Ok(())
}

/// A client whose name and rate are unchanged keeps its bucket.
fn keep_limiters(old: &[Client], new: &mut [Client]) {
    for client in new.iter_mut() {
        let Some(rate) = client.access.rate.as_ref().map(|r| r.rate()) else { continue };
        if let Some(kept) = old
            .iter()
            .filter(|o| o.name == client.name)
            .find_map(|o| o.access.rate.as_ref().filter(|r| r.rate() == rate))
        {
            client.access.rate = Some(kept.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clients::sha256;

    fn write(path: &Path, text: &str) {
        std::fs::write(path, text).unwrap();
    }

    #[test]
    fn a_reload_swaps_the_set_or_keeps_the_old_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("clients.toml");
        write(&path, "[[client]]\nname = \"a\"\ntoken = \"token-a-1\"\nrate = \"5/s\"\n");
        let registry = ClientRegistry::open(path.clone(), vec![]).unwrap();
        let before = registry.current();
        let limiter = before[0].access.rate.clone().unwrap();
        assert_eq!(registry.by_name("a").unwrap().line, 2);
        assert!(registry.by_name("b").is_none());

        // Same name and rate, new token: the bucket is kept.
        write(&path, "[[client]]\nname = \"a\"\ntoken = \"token-a-2\"\nrate = \"5/s\"\n");
        assert_eq!(registry.reload().unwrap(), 1);
        let after = registry.current();
        assert_eq!(after[0].digest(), &sha256("token-a-2"));
        assert!(Arc::ptr_eq(after[0].access.rate.as_ref().unwrap(), &limiter));
        // The old set, still held by a request in flight, is unchanged.
        assert_eq!(before[0].digest(), &sha256("token-a-1"));

        // A new rate is a new bucket.
        write(&path, "[[client]]\nname = \"a\"\ntoken = \"token-a-2\"\nrate = \"6/s\"\n");
        registry.reload().unwrap();
        assert!(!Arc::ptr_eq(registry.current()[0].access.rate.as_ref().unwrap(), &limiter));

        // A bad file: an error with its line, and the set in force stays.
        write(&path, "[[client]]\nname = \"a\"\ntoken = \"token-a-3\"\nrte = \"6/s\"\n");
        let e = registry.reload().unwrap_err();
        assert!(e.contains("line 4"), "{e}");
        assert_eq!(registry.current()[0].digest(), &sha256("token-a-2"));
    }

    #[test]
    fn the_file_may_not_reuse_an_environment_token_or_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("clients.toml");
        let reserved = vec![("ops".to_string(), sha256("ops-token-1"))];
        write(&path, "[[client]]\nname = \"ops\"\ntoken = \"other-token\"\n");
        let e = ClientRegistry::open(path.clone(), reserved.clone()).unwrap_err();
        assert!(e.contains("line 2") && e.contains("API_TOKENS"), "{e}");
        write(&path, "\n[[client]]\nname = \"b\"\ntoken = \"ops-token-1\"\n");
        let e = ClientRegistry::open(path.clone(), reserved.clone()).unwrap_err();
        assert!(e.contains("line 3") && e.contains("same token") && !e.contains("ops-token-1"), "{e}");
        write(&path, "[[client]]\nname = \"b\"\ntoken = \"b-token-1\"\n");
        assert_eq!(ClientRegistry::open(path, reserved).unwrap().current().len(), 1);
        assert!(ClientRegistry::none().reload().is_ok());
    }
}
