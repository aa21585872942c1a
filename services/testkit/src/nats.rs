//! A private `nats-server` for one test: JetStream on, a loopback port the kernel picked, a
//! temporary file store; restartable in place and killed on drop.

use std::fs::{File, OpenOptions};
use std::io::{Read as _, Seek as _, SeekFrom};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};

/// How long a starting server may take to accept connections with JetStream ready.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a server may take to exit after SIGTERM before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// How often a start or stop is checked on.
const POLL_INTERVAL: Duration = Duration::from_millis(20);
/// How much of the server's log an error quotes.
const LOG_TAIL_BYTES: u64 = 4096;

const CONFIG_FILE: &str = "nats-server.conf";
const LOG_FILE: &str = "nats-server.log";
const STORE_DIR: &str = "store";
const AUTHORIZATION_FILE: &str = "authorization.conf";

/// `infra/nats/authorization.conf`, the users and permissions `make up` runs with; embedded so
/// the tests check exactly the permissions that run.
const AUTHORIZATION_CONFIG: &str = include_str!("../../../infra/nats/authorization.conf");

/// A user of `infra/nats/authorization.conf`, with its development password (every one is
/// `<user>-dev-only`; loopback development only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NatsUser {
    /// The all-in-one `carelog run` process: the four services and the projections.
    Carelog,
    Dose,
    Consent,
    Target,
    Observation,
    Projections,
    Clinic,
    Therapist,
    Patient,
    Auditor,
}

impl NatsUser {
    pub const ALL: [NatsUser; 10] = [
        NatsUser::Carelog,
        NatsUser::Dose,
        NatsUser::Consent,
        NatsUser::Target,
        NatsUser::Observation,
        NatsUser::Projections,
        NatsUser::Clinic,
        NatsUser::Therapist,
        NatsUser::Patient,
        NatsUser::Auditor,
    ];

    pub fn name(self) -> &'static str {
        match self {
            NatsUser::Carelog => "carelog",
            NatsUser::Dose => "dose",
            NatsUser::Consent => "consent",
            NatsUser::Target => "target",
            NatsUser::Observation => "observation",
            NatsUser::Projections => "projections",
            NatsUser::Clinic => "clinic",
            NatsUser::Therapist => "therapist",
            NatsUser::Patient => "patient",
            NatsUser::Auditor => "auditor",
        }
    }

    /// The development password, as written in `infra/nats/authorization.conf`.
    pub fn dev_password(self) -> String {
        format!("{}-dev-only", self.name())
    }
}

/// A `nats-server` owned by one test. The first start lets the server pick a free port (and
/// reads it back from the server's ports file, so no other process can take it in between);
/// [`NatsServer::restart`] reuses that port and the store, so a test sees the same log again.
#[derive(Debug)]
pub struct NatsServer {
    binary: PathBuf,
    /// Holds the config file, the server's log and the JetStream store; deleted on drop.
    work_dir: tempfile::TempDir,
    port: u16,
    /// Config lines beyond the single node's (a cluster block, for a cluster node).
    extra_config: String,
    /// Who the harness itself connects as: `None` on a server without authorization.
    system_user: Option<NatsUser>,
    /// `None` after [`NatsServer::kill`] until the next [`NatsServer::restart`].
    process: Option<Child>,
}

impl NatsServer {
    /// Starts a server with JetStream enabled and waits until it accepts connections.
    pub async fn start() -> anyhow::Result<NatsServer> {
        let binary = find_nats_server()?;
        let work_dir = tempfile::Builder::new()
            .prefix("carelog-nats-")
            .tempdir()
            .context("create a temporary directory for nats-server")?;
        let (process, port) = launch(&binary, work_dir.path(), None, "", None).await?;
        Ok(NatsServer {
            binary,
            work_dir,
            port,
            extra_config: String::new(),
            system_user: None,
            process: Some(process),
        })
    }

    /// Starts a server like [`NatsServer::start`] that also enforces
    /// `infra/nats/authorization.conf`: every client must log in as one of its users and may
    /// only use that user's subjects. Connect with [`NatsServer::client_as`];
    /// [`NatsServer::client`] logs in as [`NatsUser::Carelog`].
    pub async fn start_with_authorization() -> anyhow::Result<NatsServer> {
        let binary = find_nats_server()?;
        let work_dir = tempfile::Builder::new()
            .prefix("carelog-nats-")
            .tempdir()
            .context("create a temporary directory for nats-server")?;
        let authorization_path = work_dir.path().join(AUTHORIZATION_FILE);
        std::fs::write(&authorization_path, AUTHORIZATION_CONFIG)
            .with_context(|| format!("write {}", authorization_path.display()))?;
        // Included relative to the config file: nats-server 2.9 joins an absolute include
        // path onto the config's directory, so the file is copied beside it.
        let extra_config = format!("include ./{AUTHORIZATION_FILE}");
        let system_user = Some(NatsUser::Carelog);
        let (process, port) =
            launch(&binary, work_dir.path(), None, &extra_config, system_user).await?;
        Ok(NatsServer {
            binary,
            work_dir,
            port,
            extra_config,
            system_user,
            process: Some(process),
        })
    }

    /// Starts a server with `extra_config` appended to its config, on a free port, without
    /// waiting for JetStream (a cluster node cannot be ready before a quorum of its peers is).
    pub(crate) fn spawn_with(extra_config: String) -> anyhow::Result<NatsServer> {
        let binary = find_nats_server()?;
        let work_dir = tempfile::Builder::new()
            .prefix("carelog-nats-")
            .tempdir()
            .context("create a temporary directory for nats-server")?;
        let port = free_port()?;
        let process = spawn(&binary, work_dir.path(), Some(port), &extra_config)?;
        Ok(NatsServer {
            binary,
            work_dir,
            port,
            extra_config,
            system_user: None,
            process: Some(process),
        })
    }

    /// Waits until this server accepts JetStream clients (see [`NatsServer::spawn_with`]).
    pub(crate) async fn wait_until_ready(&mut self) -> anyhow::Result<()> {
        let process = self
            .process
            .as_mut()
            .context("the test nats-server is not running")?;
        wait_until_ready(
            process,
            self.work_dir.path(),
            Some(self.port),
            self.system_user,
        )
        .await?;
        Ok(())
    }

    /// `nats://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's process id while it runs (benchmarks read its CPU time from `/proc`).
    pub fn pid(&self) -> Option<u32> {
        self.process.as_ref().map(Child::id)
    }

    /// `nats://<user>:<password>@127.0.0.1:<port>`: the URL a process configured through
    /// `NATS_URL` would get to log in as `user`.
    pub fn url_as(&self, user: NatsUser) -> String {
        format!(
            "nats://{}:{}@127.0.0.1:{}",
            user.name(),
            user.dev_password(),
            self.port
        )
    }

    /// A new client connected to this server; on a server with authorization, logged in as
    /// [`NatsUser::Carelog`].
    pub async fn client(&self) -> anyhow::Result<async_nats::Client> {
        match self.system_user {
            Some(user) => self.client_as(user).await,
            None => async_nats::connect(self.url())
                .await
                .with_context(|| format!("connect to the test nats-server at {}", self.url())),
        }
    }

    /// A new client logged in as `user` (see [`NatsServer::start_with_authorization`]).
    pub async fn client_as(&self, user: NatsUser) -> anyhow::Result<async_nats::Client> {
        self.client_as_with(user, async_nats::ConnectOptions::new())
            .await
    }

    /// Like [`NatsServer::client_as`], with `options` (an event callback that sees the
    /// server's permission errors, say).
    pub async fn client_as_with(
        &self,
        user: NatsUser,
        options: async_nats::ConnectOptions,
    ) -> anyhow::Result<async_nats::Client> {
        options
            .user_and_password(user.name().to_owned(), user.dev_password())
            .connect(self.url())
            .await
            .with_context(|| {
                format!(
                    "connect to the test nats-server at {} as {}",
                    self.url(),
                    user.name()
                )
            })
    }

    /// Stops the server gracefully (SIGTERM, then waits for it to exit) and starts it again on
    /// the same port with the same store. Also brings the server back after [`NatsServer::kill`].
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        if let Some(process) = self.process.take() {
            stop_gracefully(&self.binary, process, self.work_dir.path()).await?;
        }
        let (process, _port) = launch(
            &self.binary,
            self.work_dir.path(),
            Some(self.port),
            &self.extra_config,
            self.system_user,
        )
        .await?;
        self.process = Some(process);
        Ok(())
    }

    /// Kills the server with SIGKILL, as a crash would; [`NatsServer::restart`] starts it again.
    pub fn kill(&mut self) {
        if let Some(mut process) = self.process.take() {
            // Errors mean the process has already exited, which is all we want.
            let _ = process.kill();
            let _ = process.wait();
        }
    }
}

impl NatsServer {
    /// Freezes the server (SIGSTOP): connections stay open but nothing is answered, as when a
    /// server stalls or a network drops packets. [`NatsServer::resume`] thaws it.
    pub fn pause(&self) -> anyhow::Result<()> {
        self.signal("STOP")
    }

    /// Thaws a server frozen by [`NatsServer::pause`] (SIGCONT).
    pub fn resume(&self) -> anyhow::Result<()> {
        self.signal("CONT")
    }

    fn signal(&self, signal: &str) -> anyhow::Result<()> {
        let process = self
            .process
            .as_ref()
            .context("the test nats-server is not running")?;
        let status = std::process::Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(process.id().to_string())
            .status()
            .with_context(|| format!("send SIG{signal} to the test nats-server"))?;
        anyhow::ensure!(status.success(), "kill -{signal} failed: {status}");
        Ok(())
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The `nats-server` binary: `CARELOG_NATS_SERVER`, else `nats-server` on `PATH`, else the
/// Debian package's `/usr/sbin/nats-server` (root's `PATH` has `/usr/sbin`, other users' not).
fn find_nats_server() -> anyhow::Result<PathBuf> {
    if let Some(configured) = std::env::var_os("CARELOG_NATS_SERVER") {
        let configured = PathBuf::from(configured);
        if is_executable_file(&configured) {
            return Ok(configured);
        }
        bail!(
            "CARELOG_NATS_SERVER={} is not an executable file",
            configured.display()
        );
    }
    let on_path = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .map(|dir| dir.join("nats-server"));
    let well_known = ["/usr/sbin/nats-server", "/usr/bin/nats-server"]
        .into_iter()
        .map(PathBuf::from);
    on_path
        .chain(well_known)
        .find(|candidate| is_executable_file(candidate))
        .context(
            "nats-server not found: run `make up` (installs it) or `apt-get install nats-server`",
        )
}

fn is_executable_file(path: &Path) -> bool {
    path.metadata()
        .is_ok_and(|metadata| metadata.is_file() && metadata.permissions().mode() & 0o111 != 0)
}

/// Writes the config, starts the server and waits until it is ready. `port: None` lets the
/// server pick a free one. Returns the running process and its port.
async fn launch(
    binary: &Path,
    work_dir: &Path,
    port: Option<u16>,
    extra_config: &str,
    system_user: Option<NatsUser>,
) -> anyhow::Result<(Child, u16)> {
    let mut process = spawn(binary, work_dir, port, extra_config)?;
    match wait_until_ready(&mut process, work_dir, port, system_user).await {
        Ok(port) => Ok((process, port)),
        Err(error) => {
            let _ = process.kill();
            let _ = process.wait();
            Err(error)
        }
    }
}

/// A port that was free a moment ago, for configs that must name their ports up front (a
/// cluster's routes). The tiny race with other processes is accepted: tests retry nothing, but
/// the kernel hands out ports round-robin, so a clash is rare.
pub(crate) fn free_port() -> anyhow::Result<u16> {
    let listener =
        std::net::TcpListener::bind("127.0.0.1:0").context("find a free loopback port")?;
    Ok(listener.local_addr().context("read a free port")?.port())
}

/// Writes the config and starts the server, without waiting.
fn spawn(
    binary: &Path,
    work_dir: &Path,
    port: Option<u16>,
    extra_config: &str,
) -> anyhow::Result<Child> {
    let store_dir = work_dir.join(STORE_DIR);
    let config = format!(
        "# Written by carelog-testkit.\n\
         host: 127.0.0.1\n\
         port: {port}\n\
         max_payload: 1MB\n\
         jetstream {{\n  store_dir: {store_dir:?}\n}}\n\
         {extra_config}\n",
        // -1: a random free port, reported through the ports file.
        port = port.map_or(-1, i32::from),
        store_dir = store_dir.display().to_string(),
    );
    let config_path = work_dir.join(CONFIG_FILE);
    std::fs::write(&config_path, config)
        .with_context(|| format!("write {}", config_path.display()))?;

    let log_path = work_dir.join(LOG_FILE);
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .with_context(|| format!("open {}", log_path.display()))?;
    let log_for_stderr = log
        .try_clone()
        .with_context(|| format!("open {} for stderr", log_path.display()))?;
    Command::new(binary)
        .arg("-c")
        .arg(&config_path)
        .arg("--ports_file_dir")
        .arg(work_dir)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_for_stderr)
        .spawn()
        .with_context(|| format!("start {}", binary.display()))
}

/// Polls until the server accepts a client whose JetStream API answers. Fails early when the
/// process exits, and after [`READY_TIMEOUT`] otherwise; either error quotes the server's log.
async fn wait_until_ready(
    process: &mut Child,
    work_dir: &Path,
    mut port: Option<u16>,
    system_user: Option<NatsUser>,
) -> anyhow::Result<u16> {
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        if let Some(status) = process
            .try_wait()
            .context("check on the starting nats-server")?
        {
            bail!(
                "nats-server exited during startup ({status}); the end of its log:\n{}",
                log_tail(work_dir)
            );
        }
        if port.is_none() {
            port = read_ports_file(work_dir, process.id());
        }
        if let Some(port) = port {
            if accepts_jetstream_clients(port, system_user).await {
                return Ok(port);
            }
        }
        if Instant::now() >= deadline {
            bail!(
                "nats-server did not accept JetStream clients within {} s; the end of its log:\n{}",
                READY_TIMEOUT.as_secs(),
                log_tail(work_dir)
            );
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// Asks the JetStream API for the account's info with a plain request: async-nats'
/// `query_account()` cannot parse the answer of nats-server 2.9, and a raw request works with
/// every version. Without JetStream the request finds no responders.
async fn accepts_jetstream_clients(port: u16, user: Option<NatsUser>) -> bool {
    let attempt = async {
        let mut options = async_nats::ConnectOptions::new();
        if let Some(user) = user {
            options = options.user_and_password(user.name().to_owned(), user.dev_password());
        }
        let client = options
            .connect(format!("nats://127.0.0.1:{port}"))
            .await
            .ok()?;
        let reply = client.request("$JS.API.INFO", "".into()).await.ok()?;
        let reply = String::from_utf8_lossy(&reply.payload).into_owned();
        (reply.contains("account_info_response") && !reply.contains(r#""error""#)).then_some(())
    };
    matches!(
        tokio::time::timeout(Duration::from_secs(2), attempt).await,
        Ok(Some(()))
    )
}

/// The client port from `<binary>_<pid>.ports`, which the server writes once it listens:
/// `{"nats":["nats://127.0.0.1:40231"],...}`.
fn read_ports_file(work_dir: &Path, pid: u32) -> Option<u16> {
    let suffix = format!("_{pid}.ports");
    std::fs::read_dir(work_dir)
        .ok()?
        .filter_map(Result::ok)
        .find(|entry| entry.file_name().to_string_lossy().ends_with(&suffix))
        .and_then(|entry| std::fs::read_to_string(entry.path()).ok())
        .and_then(|contents| client_port_from_ports_json(&contents))
}

fn client_port_from_ports_json(contents: &str) -> Option<u16> {
    let (_, after_key) = contents.split_once(r#""nats""#)?;
    let after_colon = after_key.trim_start().strip_prefix(':')?;
    let after_bracket = after_colon.trim_start().strip_prefix('[')?;
    let url = after_bracket
        .trim_start()
        .strip_prefix('"')?
        .split('"')
        .next()?;
    url.rsplit(':').next()?.parse().ok()
}

/// Sends SIGTERM (through `nats-server --signal`, which needs no extra crate) and waits for the
/// exit; kills the process if it is still running after [`STOP_TIMEOUT`].
async fn stop_gracefully(binary: &Path, mut process: Child, work_dir: &Path) -> anyhow::Result<()> {
    if process
        .try_wait()
        .context("check on nats-server")?
        .is_some()
    {
        return Ok(());
    }
    let signal = Command::new(binary)
        .arg("--signal")
        .arg(format!("term={}", process.id()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .with_context(|| format!("run {} --signal term", binary.display()))?;
    let deadline = Instant::now() + STOP_TIMEOUT;
    loop {
        if process
            .try_wait()
            .context("wait for nats-server to exit")?
            .is_some()
        {
            return Ok(());
        }
        if Instant::now() >= deadline {
            let _ = process.kill();
            let _ = process.wait();
            bail!(
                "nats-server did not exit within {} s of SIGTERM (signal sender: {signal}); killed it. The end of its log:\n{}",
                STOP_TIMEOUT.as_secs(),
                log_tail(work_dir)
            );
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

fn log_tail(work_dir: &Path) -> String {
    let read = || -> std::io::Result<String> {
        let mut log = File::open(work_dir.join(LOG_FILE))?;
        let length = log.metadata()?.len();
        log.seek(SeekFrom::Start(length.saturating_sub(LOG_TAIL_BYTES)))?;
        let mut bytes = Vec::new();
        log.read_to_end(&mut bytes)?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    };
    read().unwrap_or_else(|error| format!("(could not read the log: {error})"))
}

#[cfg(test)]
mod tests {
    use super::{client_port_from_ports_json, NatsUser, AUTHORIZATION_CONFIG};

    #[test]
    fn every_user_and_password_is_in_the_authorization_config() {
        for user in NatsUser::ALL {
            let entry = format!(
                "{{ user: {}, password: \"{}\",",
                user.name(),
                user.dev_password()
            );
            assert!(
                AUTHORIZATION_CONFIG.contains(&entry),
                "infra/nats/authorization.conf lacks {entry}"
            );
        }
        assert_eq!(
            AUTHORIZATION_CONFIG.matches("{ user: ").count(),
            NatsUser::ALL.len(),
            "authorization.conf has a user NatsUser does not know"
        );
    }

    fn check(contents: &str, expected: Option<u16>) {
        assert_eq!(
            client_port_from_ports_json(contents),
            expected,
            "{contents}"
        );
    }

    #[test]
    fn reads_the_client_port_from_a_ports_file() {
        check(
            r#"{"nats":["nats://127.0.0.1:40231"],"monitoring":null,"cluster":null}"#,
            Some(40231),
        );
        check(r#"{"nats": [ "nats://127.0.0.1:4222" ]}"#, Some(4222));
        check(r#"{"monitoring":["http://127.0.0.1:8222"]}"#, None);
        check(r#"{"nats":["nats://127.0.0.1:notaport"]}"#, None);
        check("", None);
    }
}
