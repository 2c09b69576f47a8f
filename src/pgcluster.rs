//! A private, throw-away PostgreSQL cluster (`initdb` + `pg_ctl` on a free port in a temp dir),
//! for `procgate demo`, the test suite and the benchmarks. As root it runs PostgreSQL as the
//! `postgres` user (initdb refuses root). A detached watchdog stops the cluster and removes its
//! directory if this process dies without doing so.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context};

pub struct PgCluster {
    dir: PathBuf,
    port: u16,
    bin: PathBuf,
    run_as_postgres: bool,
    stopped: bool,
}

/// How to start the cluster.
#[derive(Debug, Clone, Copy)]
pub struct ClusterOptions {
    /// `false` trades durability for speed (tests); benchmarks and the demo keep it on.
    pub fsync: bool,
    pub max_connections: u32,
}

impl Default for ClusterOptions {
    fn default() -> Self {
        Self { fsync: true, max_connections: 200 }
    }
}

/// The newest PostgreSQL server's binaries (`/usr/lib/postgresql/<v>/bin`), or the directory
/// of an `initdb` on PATH.
pub fn find_bin_dir() -> anyhow::Result<PathBuf> {
    let root = Path::new("/usr/lib/postgresql");
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir(root)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path().join("bin"))))
        .filter(|(_, p): &(u32, PathBuf)| p.join("initdb").exists())
        .collect();
    versions.sort();
    if let Some((_, p)) = versions.pop() {
        return Ok(p);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path).find(|d| d.join("initdb").exists() && d.join("pg_ctl").exists()).context(
        "PostgreSQL server binaries (initdb, pg_ctl) not found. Install them with \
             `sudo apt-get install -y postgresql` (or run scripts/demo.sh, which does)",
    )
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl PgCluster {
    pub fn start(options: ClusterOptions) -> anyhow::Result<PgCluster> {
        let bin = find_bin_dir()?;
        let run_as_postgres = is_root();
        let dir = tempfile::Builder::new().prefix("procgate-pg-").tempdir()?.keep();
        if run_as_postgres {
            chmod_open(&dir)?;
        }
        let mut cluster = PgCluster { dir, port: 0, bin, run_as_postgres, stopped: false };
        cluster.spawn_watchdog()?;
        let data = cluster.dir.join("data");
        cluster.run(
            "initdb",
            &["-D", path_str(&data)?, "-A", "trust", "-U", "postgres", "-E", "UTF8", "--locale=C", "--no-sync"],
        )?;
        let fsync = if options.fsync { "on" } else { "off" };
        // A port can be taken between choosing and binding it: try a few.
        for attempt in 0..5 {
            cluster.port = free_port()?;
            let opts = format!(
                "-p {} -k {} -c listen_addresses=127.0.0.1 -c max_connections={} -c fsync={fsync} \
                 -c shared_buffers=256MB -c synchronous_commit={}",
                cluster.port,
                path_str(&cluster.dir)?,
                options.max_connections,
                if options.fsync { "on" } else { "off" },
            );
            let log = cluster.dir.join("postgres.log");
            match cluster
                .run("pg_ctl", &["-D", path_str(&data)?, "-w", "-t", "60", "-l", path_str(&log)?, "-o", &opts, "start"])
            {
                Ok(()) => return Ok(cluster),
                Err(e) if attempt == 4 => {
                    let tail = std::fs::read_to_string(&log).unwrap_or_default();
                    return Err(e.context(format!("PostgreSQL did not start; its log:\n{tail}")));
                }
                Err(_) => continue,
            }
        }
        unreachable!()
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// A URL for database `db` as the `postgres` superuser (trust auth, loopback only).
    pub fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    pub fn bin_dir(&self) -> &Path {
        &self.bin
    }

    /// Restarts the server (fast shutdown: sessions are terminated), keeping data and port.
    pub fn restart(&self) -> anyhow::Result<()> {
        let (data, log) = (self.dir.join("data"), self.dir.join("postgres.log"));
        // -l again: otherwise the new server would hold our output pipe open.
        self.run("pg_ctl", &["-D", path_str(&data)?, "-l", path_str(&log)?, "-m", "fast", "-w", "-t", "60", "restart"])
    }

    /// Turns TLS on with this certificate and key (PEM files), and restarts the server. With
    /// `tls_only`, TCP clients that do not use TLS are refused (`hostssl` lines in pg_hba.conf).
    pub fn enable_tls(&self, cert: &Path, key: &Path, tls_only: bool) -> anyhow::Result<()> {
        let data = self.dir.join("data");
        // The server reads its key only if it owns it and no one else may read it.
        for (from, name, mode) in [(cert, "server.crt", 0o644), (key, "server.key", 0o600)] {
            let to = data.join(name);
            std::fs::copy(from, &to).with_context(|| format!("cannot copy {}", from.display()))?;
            chown_like(&to, &data, mode)?;
        }
        let mut conf = std::fs::OpenOptions::new().append(true).open(data.join("postgresql.conf"))?;
        std::io::Write::write_all(
            &mut conf,
            b"\nssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n",
        )?;
        if tls_only {
            let hba = "local all all trust\nhostssl all all 127.0.0.1/32 trust\nhostssl all all ::1/128 trust\n";
            std::fs::write(data.join("pg_hba.conf"), hba)?;
        }
        self.restart()
    }

    /// Stops the cluster and removes its directory.
    pub fn stop(&mut self) {
        if self.stopped {
            return;
        }
        self.stopped = true;
        if let Ok(data) = path_str(&self.dir.join("data")) {
            let _ = self.run("pg_ctl", &["-D", data, "-m", "fast", "-w", "stop"]);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }

    fn command(&self, program: &str) -> Command {
        let exe = self.bin.join(program);
        if self.run_as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(exe);
            c
        } else {
            Command::new(exe)
        }
    }

    fn run(&self, program: &str, args: &[&str]) -> anyhow::Result<()> {
        let out = self
            .command(program)
            .args(args)
            .stdin(Stdio::null())
            .current_dir(&self.dir)
            .output()
            .with_context(|| format!("cannot run {program}"))?;
        if !out.status.success() {
            bail!("{program} failed: {}", String::from_utf8_lossy(&out.stderr).trim());
        }
        Ok(())
    }

    /// A detached shell that outlives us: once our pid is gone, it stops the cluster.
    fn spawn_watchdog(&self) -> anyhow::Result<()> {
        let pg_ctl = self.bin.join("pg_ctl");
        let data = self.dir.join("data");
        let runuser = if self.run_as_postgres { "runuser -u postgres -- " } else { "" };
        let script = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 1; done; \
             [ -d '{data}' ] && {runuser}'{pg_ctl}' -D '{data}' -m immediate stop >/dev/null 2>&1; \
             rm -rf '{dir}'",
            pid = std::process::id(),
            data = data.display(),
            pg_ctl = pg_ctl.display(),
            dir = self.dir.display(),
        );
        Command::new("setsid")
            .args(["sh", "-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("cannot start the cluster watchdog (setsid)")?;
        Ok(())
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        self.stop();
    }
}

fn path_str(p: &Path) -> anyhow::Result<&str> {
    p.to_str().context("temporary path is not UTF-8")
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0").unwrap_or(false)
}

#[cfg(unix)]
fn chmod_open(dir: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o777))?;
    Ok(())
}

#[cfg(not(unix))]
fn chmod_open(_: &Path) -> anyhow::Result<()> {
    Ok(())
}

/// Gives `file` the owner of `like` (the server's user) and `mode`.
#[cfg(unix)]
fn chown_like(file: &Path, like: &Path, mode: u32) -> anyhow::Result<()> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let owner = std::fs::metadata(like)?;
    std::os::unix::fs::chown(file, Some(owner.uid()), Some(owner.gid()))?;
    std::fs::set_permissions(file, std::fs::Permissions::from_mode(mode))?;
    Ok(())
}

#[cfg(not(unix))]
fn chown_like(_: &Path, _: &Path, _: u32) -> anyhow::Result<()> {
    Ok(())
}

/// Creates database `name` (if missing) and loads the job table and the test procedures.
pub async fn create_demo_database(cluster: &PgCluster, name: &str) -> anyhow::Result<String> {
    let (admin, conn) = tokio_postgres::connect(&cluster.url("postgres"), tokio_postgres::NoTls).await?;
    let driver = tokio::spawn(conn);
    let exists = admin.query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name]).await?.is_some();
    if !exists {
        admin.batch_execute(&format!("CREATE DATABASE {}", crate::procedure::name::quote_identifier(name))).await?;
    }
    drop(admin);
    let _ = driver.await;
    let url = cluster.url(name);
    load_sql(&url, &[SQL_TABLE, SQL_TEST_PROCEDURES]).await?;
    Ok(url)
}

pub const SQL_TABLE: &str = include_str!("../sql/postgres/create_async_jobs_table.sql");
pub const SQL_TEST_PROCEDURES: &str = include_str!("../sql/postgres/create_test_procedures.sql");

/// Runs SQL scripts against `url`, in order.
pub async fn load_sql(url: &str, scripts: &[&str]) -> anyhow::Result<()> {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
    let driver = tokio::spawn(conn);
    for script in scripts {
        client.batch_execute(script).await?;
    }
    drop(client);
    let _ = driver.await;
    Ok(())
}
