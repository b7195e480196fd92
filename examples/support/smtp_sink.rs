//! Postfix's `smtp-sink` test server on a free loopback port, for the soak run and the
//! throughput benchmark: started here, and stopped (by its own PID) when dropped.

#![allow(dead_code, unreachable_pub)]

use std::error::Error;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

const BINARY: &str = "/usr/sbin/smtp-sink";

/// A running smtp-sink.
pub struct SmtpSink {
    /// Where it listens.
    pub addr: SocketAddr,
    child: Child,
    dir: Option<PathBuf>,
}

impl SmtpSink {
    /// Starts smtp-sink. With `dump`, each message it accepts (after the final dot, never a
    /// partial one) is appended to [`SmtpSink::dump`]; otherwise messages are thrown away.
    pub async fn start(dump: bool) -> Result<Self, Box<dyn Error>> {
        if !Path::new(BINARY).exists() {
            return Err(format!("{BINARY} not found (Debian package postfix)").into());
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let mut command = Command::new(BINARY);
        let dir = if dump {
            let dir =
                std::env::temp_dir().join(format!("smtpwire-sink-{}-{port}", std::process::id()));
            std::fs::create_dir_all(&dir)?;
            // smtp-sink drops root for the user given with -u: let that user write here.
            std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o777))?;
            command.arg("-D").arg(dir.join("dump"));
            Some(dir)
        } else {
            None
        };
        if is_root() {
            command.args(["-u", "nobody"]);
        }
        command.arg(addr.to_string()).arg("1024");
        let sink = Self {
            addr,
            child: command.spawn()?,
            dir,
        };
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(addr).await.is_ok() {
                return Ok(sink);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err("smtp-sink did not start listening".into())
    }

    /// The file messages are appended to, when started with `dump`.
    pub fn dump(&self) -> Option<PathBuf> {
        self.dir.as_ref().map(|dir| dir.join("dump"))
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// smtp-sink refuses to run as root without a user to switch to.
fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"))
}
