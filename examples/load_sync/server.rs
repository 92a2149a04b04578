//! The server under load: the real `waymark serve` binary in a process of its own on a
//! loopback port, as in production (the load client never shares a runtime or a process
//! with it, only the machine's cores). Stopped with SIGTERM (graceful: accepted writes
//! commit) when the run is over, killed when the load tool ends early; the crash modes
//! kill it with SIGKILL on purpose (`kill9`).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::usage;

/// A running `waymark serve`.
pub struct ServerProcess {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
}

/// How the server is started.
pub struct Launch<'a> {
    /// The `waymark` binary.
    pub bin: &'a Path,
    /// `--db`.
    pub db: &'a str,
    /// `--sqlite-synchronous`.
    pub sqlite_synchronous: &'a str,
    /// Admin token and shopper-token secret.
    pub admin_token: &'a str,
    pub token_secret: &'a str,
    /// More `serve` flags (SMTP relay, journeys, poll interval).
    pub extra: Vec<String>,
    /// More environment for the server (`RUST_LOG`); it inherits the rest.
    pub env: Vec<(String, String)>,
    /// Where the server's log (stderr) goes; inherited when None.
    pub log: Option<PathBuf>,
}

impl ServerProcess {
    /// Starts `waymark serve` on a free loopback port and waits until `/readyz` answers.
    pub async fn start(launch: &Launch<'_>, client: &reqwest::Client) -> ServerProcess {
        // A free port: bound, read, released (the server binds it right after).
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new(launch.bin)
            .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--db", launch.db])
            .args(["--sqlite-synchronous", launch.sqlite_synchronous])
            .env("WAYMARK_ADMIN_TOKEN", launch.admin_token)
            .env("WAYMARK_TOKEN_SECRET", launch.token_secret)
            .args(&launch.extra)
            .envs(launch.env.iter().map(|(k, v)| (k, v)))
            // stdout carries the load tool's JSON line; the server logs to stderr anyway.
            .stdout(Stdio::null())
            .stderr(match &launch.log {
                Some(path) => {
                    let file = std::fs::OpenOptions::new().create(true).append(true).open(path).unwrap();
                    Stdio::from(file)
                }
                None => Stdio::inherit(),
            })
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", launch.bin.display()));
        let mut server = ServerProcess { child, base: format!("http://127.0.0.1:{port}") };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(resp) = client.get(format!("{}/readyz", server.base)).send().await {
                if resp.status().is_success() {
                    return server;
                }
            }
            if let Some(status) = server.child.try_wait().unwrap() {
                panic!("waymark serve exited before it was ready: {status}");
            }
            assert!(Instant::now() < deadline, "waymark serve not ready after 30 s");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// CPU seconds the server process used so far.
    pub fn cpu_seconds(&self) -> f64 {
        usage::cpu_seconds(&format!("/proc/{}/stat", self.child.id()))
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Resident memory of the server, KiB (`VmRSS` of `/proc/PID/status`; 0 elsewhere).
    pub fn rss_kib(&self) -> u64 {
        self.status_kib("VmRSS:")
    }

    /// Peak resident memory of the server, KiB (`VmHWM`: the most since it started or
    /// since [`ServerProcess::reset_peak`]; 0 elsewhere).
    pub fn peak_kib(&self) -> u64 {
        self.status_kib("VmHWM:")
    }

    /// Sets the server's peak resident memory back to its current one (`5` written to
    /// `/proc/PID/clear_refs`), so the next peak is of what follows; false when the
    /// kernel refused (the peak then stays the lifetime's).
    pub fn reset_peak(&self) -> bool {
        std::fs::write(format!("/proc/{}/clear_refs", self.child.id()), "5").is_ok()
    }

    fn status_kib(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|v| v.split_whitespace().next().and_then(|n| n.parse().ok()))
            .unwrap_or(0)
    }

    /// SIGKILL, as a crash: nothing is drained or flushed. Waits until the process is gone.
    pub fn kill9(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// SIGTERM, then waits for the graceful shutdown (every accepted write committed).
    pub fn stop(mut self) {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status().is_ok_and(|s| s.success());
        assert!(sent, "cannot signal waymark serve ({pid})");
        let status = self.child.wait().unwrap();
        assert!(status.success(), "waymark serve did not stop cleanly: {status}");
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        // Still running only when the load tool stopped early (a panic): do not leave it.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
