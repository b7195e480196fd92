//! Postfix's `smtp-sink` on 127.0.0.1: started by the benchmark on a free port, stopped by
//! its PID (and only that one) when the benchmark ends, even on an error.

use std::error::Error;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Where Debian's `postfix` package installs it; `SMTP_SINK` overrides.
const SMTP_SINK: &str = "/usr/sbin/smtp-sink";

/// A running smtp-sink.
pub(crate) struct Sink {
    child: Child,
    /// Where it listens.
    pub(crate) addr: SocketAddr,
    /// Its process id.
    pub(crate) pid: u32,
}

impl Sink {
    /// Starts smtp-sink. Without `pipelining` it runs with `-p` and does not announce
    /// PIPELINING. (`-P`, which the issue mentions, is something else: a Cisco PIX greeting,
    /// which implies `-e`, no ESMTP at all.)
    pub(crate) fn start(pipelining: bool) -> Result<Self, Box<dyn Error>> {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let program = std::env::var_os("SMTP_SINK").unwrap_or_else(|| SMTP_SINK.into());
        let mut command = Command::new(&program);
        if is_root() {
            // smtp-sink refuses to run as root without dropping privileges.
            command.args(["-u", "nobody"]);
        }
        if !pipelining {
            command.arg("-p");
        }
        // Backlog 1000; no -c (its counters would mix with the table on stdout).
        command
            .arg(format!("127.0.0.1:{port}"))
            .arg("1000")
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        let child = command
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", PathBuf::from(&program).display()))?;
        let mut sink = Self {
            pid: child.id(),
            child,
            addr,
        };
        let started = Instant::now();
        loop {
            if let Some(status) = sink.child.try_wait()? {
                return Err(format!("smtp-sink exited at once: {status}").into());
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return Ok(sink);
            }
            if started.elapsed() > Duration::from_secs(5) {
                return Err("smtp-sink did not listen within 5 s".into());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// CPU time the process used so far.
    pub(crate) fn cpu(&self) -> Duration {
        schedstat(&PathBuf::from(format!("/proc/{}/schedstat", self.pid)))
    }

    /// Kills exactly this process and reaps it.
    pub(crate) fn stop(mut self) -> std::io::Result<()> {
        self.kill()
    }

    fn kill(&mut self) -> std::io::Result<()> {
        if self.child.try_wait()?.is_none() {
            self.child.kill()?;
        }
        self.child.wait().map(drop)
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.kill();
    }
}

/// The first field of a `schedstat` file: nanoseconds spent on a CPU.
pub(crate) fn schedstat(path: &std::path::Path) -> Duration {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .map(Duration::from_nanos)
        .unwrap_or_default()
}

/// CPU time of the calling thread.
pub(crate) fn thread_cpu() -> Duration {
    schedstat(std::path::Path::new("/proc/thread-self/schedstat"))
}

/// The 1, 5 and 15 minute load averages.
pub(crate) fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|status| {
        status
            .lines()
            .find(|line| line.starts_with("Uid:"))
            .and_then(|line| line.split_whitespace().nth(2))
            == Some("0")
    })
}
