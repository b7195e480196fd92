//! The network steps: DNS, and a TCP connection to each address (all of them, so each one's
//! fate can be shown); and the stream the library's client then runs over.

use super::*;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

impl Check {
    // ===== DNS =====

    pub(super) async fn dns(&mut self) -> Option<Vec<SocketAddr>> {
        let started = Instant::now();
        let host = self
            .target
            .host
            .trim_start_matches('[')
            .trim_end_matches(']');
        let port = self.target.port;
        if let Ok(ip) = host.parse::<IpAddr>() {
            let step = Step::pass("dns", "DNS", started.elapsed())
                .summary(format!("{ip} is an address: nothing to look up"))
                .data(json!({ "addresses": [ip.to_string()] }));
            self.report.push(step);
            return Some(vec![SocketAddr::new(ip, port)]);
        }
        let limit = self.timeouts().connect();
        let lookup = tokio::time::timeout(limit, tokio::net::lookup_host((host, port))).await;
        let took = started.elapsed();
        let error = match lookup {
            Ok(Ok(found)) => {
                let mut addresses: Vec<SocketAddr> = Vec::new();
                for address in found {
                    if !addresses.contains(&address) {
                        addresses.push(address);
                    }
                }
                if !addresses.is_empty() {
                    let count = addresses.len();
                    let mut step = Step::pass("dns", "DNS", took)
                        .summary(format!(
                            "{host} → {count} address{}",
                            if count == 1 { "" } else { "es" }
                        ))
                        .details(addresses.iter().map(|a| {
                            format!(
                                "{} ({})",
                                a.ip(),
                                if a.is_ipv4() { "IPv4" } else { "IPv6" }
                            )
                        }))
                        .data(json!({
                            "addresses": addresses.iter().map(|a| a.ip().to_string()).collect::<Vec<_>>()
                        }));
                    if let Some(incoming) = incoming_server(host) {
                        step = step.warn(
                            format!(
                                "{host} looks like the {incoming} server, which receives mail \
                                 into your mailbox; sending goes through the SMTP server."
                            ),
                            Some("Use the provider's SMTP host (smtp.qq.com, smtp.163.com, …; see `smtpwire providers`).".into()),
                        );
                    }
                    self.report.push(step);
                    return Some(addresses);
                }
                "the name has no address".to_owned()
            }
            Ok(Err(error)) => error.to_string(),
            Err(_) => {
                let step = Step::fail("dns", "DNS", took, Exit::TempFail)
                    .summary(format!("no answer for {host} within {} s", limit.as_secs()))
                    .why("No DNS server answered in time: this machine may be offline, or its DNS servers unreachable.")
                    .fix("Check the network connection and the DNS settings, then try again.");
                self.report.push(step);
                return None;
            }
        };
        let temporary = error.contains("emporary") || error.contains("try again");
        let mut step = Step::fail("dns", "DNS", took, Exit::NoHost)
            .summary(format!("{host} does not resolve"))
            .detail(format!("resolver: {error}"));
        step = if temporary {
            step.why("The DNS lookup failed for now: this machine may be offline, or its DNS servers do not answer.")
                .fix("Check the network connection and the DNS settings, then try again.")
        } else {
            step.why(format!("There is no such host name as {host}: most often a typo."))
                .fix("Check the spelling. The usual SMTP hosts: smtp.qq.com, smtp.163.com, smtp.126.com, smtp.gmail.com, smtp.office365.com (`smtpwire providers` lists them), or use --provider NAME.")
        };
        self.report.push(step);
        None
    }

    // ===== TCP =====

    pub(super) async fn connect(
        &mut self,
        addresses: &[SocketAddr],
    ) -> Option<(TcpStream, SocketAddr)> {
        let started = Instant::now();
        let limit = self.timeouts().connect();
        let mut attempts = tokio::task::JoinSet::new();
        for (index, address) in addresses.iter().copied().enumerate() {
            attempts.spawn(async move {
                let began = Instant::now();
                let result = tokio::time::timeout(limit, TcpStream::connect(address)).await;
                (index, address, began.elapsed(), result)
            });
        }
        let mut results = Vec::new();
        while let Some(joined) = attempts.join_next().await {
            if let Ok(result) = joined {
                results.push(result);
            }
        }
        results.sort_by_key(|(index, ..)| *index);
        let took = started.elapsed();
        let mut chosen = None;
        let mut lines = Vec::new();
        let mut failures = Vec::new();
        let mut data = Vec::new();
        for (_, address, elapsed, result) in results {
            let outcome = match result {
                Ok(Ok(stream)) => {
                    let _ = stream.set_nodelay(true);
                    let used = chosen.is_none();
                    if used {
                        chosen = Some((stream, address));
                    }
                    lines.push(format!(
                        "{address}: connected in {:.0} ms{}",
                        elapsed.as_secs_f64() * 1000.0,
                        if used { " (used)" } else { "" }
                    ));
                    data.push(json!({ "address": address.to_string(), "result": "connected" }));
                    continue;
                }
                Ok(Err(error)) => ConnectFailure::from_io(error),
                Err(_) => ConnectFailure::TimedOut,
            };
            lines.push(format!("{address}: {}", outcome.describe(limit)));
            data.push(json!({ "address": address.to_string(), "result": outcome.id() }));
            failures.push((address, outcome));
        }
        let port = self.target.port;
        let data = json!({ "attempts": data });
        match chosen {
            Some((stream, address)) => {
                let mut step = Step::pass("connect", "TCP connect", took)
                    .summary(format!("connected to {address}"))
                    .data(data);
                if !failures.is_empty() {
                    step = step.details(lines).warn(
                        format!(
                            "{} of {} addresses did not take the connection. smtpwire moves on \
                             to the next address, but each failed attempt costs time.",
                            failures.len(),
                            addresses.len()
                        ),
                        failures
                            .iter()
                            .any(|(a, _)| a.is_ipv6())
                            .then(|| "If it is the IPv6 addresses, this network may have no working IPv6.".to_owned()),
                    );
                }
                self.report.push(step);
                Some((stream, address))
            }
            None => {
                let (address, first) = failures.into_iter().next()?;
                let exit = first.exit();
                let (why, fix) = first.explain(address, port, self.host_family, limit);
                let step = Step::fail("connect", "TCP connect", took, exit)
                    .summary(format!("{address}: {}", first.short()))
                    .details(if addresses.len() > 1 {
                        lines
                    } else {
                        Vec::new()
                    })
                    .why(why)
                    .fix(fix)
                    .data(data);
                self.report.push(step);
                None
            }
        }
    }
}

/// `imap.qq.com` → IMAP: the incoming server, a classic mix-up.
pub(super) fn incoming_server(host: &str) -> Option<&'static str> {
    const INCOMING: [(&str, &str); 3] = [
        ("imap.", "IMAP (incoming mail)"),
        ("pop.", "POP3 (incoming mail)"),
        ("pop3.", "POP3 (incoming mail)"),
    ];
    let host = host.to_ascii_lowercase();
    INCOMING
        .iter()
        .find(|(prefix, _)| host.starts_with(prefix))
        .map(|&(_, protocol)| protocol)
}

/// How a TCP connection attempt failed.
pub(super) enum ConnectFailure {
    Refused,
    TimedOut,
    Unreachable(String),
    Denied,
    Other(std::io::Error),
}

impl ConnectFailure {
    pub(super) fn from_io(error: std::io::Error) -> Self {
        let kind = format!("{:?}", error.kind());
        match error.kind() {
            std::io::ErrorKind::ConnectionRefused => Self::Refused,
            std::io::ErrorKind::PermissionDenied => Self::Denied,
            _ if kind == "HostUnreachable"
                || kind == "NetworkUnreachable"
                || matches!(error.raw_os_error(), Some(101 | 113)) =>
            {
                Self::Unreachable(error.to_string())
            }
            _ => Self::Other(error),
        }
    }

    pub(super) fn id(&self) -> &'static str {
        match self {
            Self::Refused => "refused",
            Self::TimedOut => "timed_out",
            Self::Unreachable(_) => "unreachable",
            Self::Denied => "denied",
            Self::Other(_) => "error",
        }
    }

    pub(super) fn short(&self) -> String {
        match self {
            Self::Refused => "connection refused".into(),
            Self::TimedOut => "timed out: no answer at all (filtered)".into(),
            Self::Unreachable(_) => "unreachable (no route, or filtered)".into(),
            Self::Denied => "blocked on this machine (permission denied)".into(),
            Self::Other(e) => e.to_string(),
        }
    }

    pub(super) fn describe(&self, limit: Duration) -> String {
        match self {
            Self::Refused => "refused (nothing listens there, or a firewall rejects)".into(),
            Self::TimedOut => format!(
                "timed out after {} s (filtered: packets dropped silently)",
                limit.as_secs()
            ),
            Self::Unreachable(e) => format!("unreachable ({e})"),
            Self::Denied => "blocked on this machine (permission denied)".into(),
            Self::Other(e) => e.to_string(),
        }
    }

    pub(super) fn exit(&self) -> Exit {
        match self {
            Self::Refused => exit_for(&Error::new(
                ErrorKind::Io(Arc::new(std::io::ErrorKind::ConnectionRefused.into())),
                Phase::Connect,
            )),
            Self::TimedOut => exit_for(&Error::new(ErrorKind::Timeout, Phase::Connect)),
            Self::Unreachable(_) | Self::Denied => Exit::Unavailable,
            Self::Other(_) => Exit::IoErr,
        }
    }

    pub(super) fn explain(
        &self,
        address: SocketAddr,
        port: u16,
        family: Family,
        limit: Duration,
    ) -> (String, String) {
        let submission =
            "Submission is 465 (implicit TLS) or 587 (STARTTLS); 25 is for mail between servers.";
        match self {
            Self::Refused => (
                format!(
                    "{} answered that nothing takes connections on port {port}: the port is wrong, \
                     the server is not running, or a firewall rejects the connection.",
                    address.ip()
                ),
                format!(
                    "Check the port. {submission}{}",
                    if family.is_public() { "" } else { " If it is your own server, check that it runs and listens on this address." }
                ),
            ),
            Self::TimedOut => (
                format!(
                    "No answer at all from {address} within {} s: the packets are dropped \
                     silently, which is what a firewall does. Many ISPs, cloud providers (AWS, \
                     Google Cloud, Azure, Alibaba Cloud) and company networks block outgoing \
                     port 25, and some block 465 or 587.",
                    limit.as_secs()
                ),
                format!(
                    "Try the other submission port (465 or 587); on a cloud server, ask the \
                     provider to lift the block or use a relay service; behind a company \
                     firewall, ask its administrator. {submission}"
                ),
            ),
            Self::Unreachable(e) => (
                format!(
                    "A router answered that {} cannot be reached ({e}): no route to it, or a \
                     firewall that rejects with an ICMP message (filtered).{}",
                    address.ip(),
                    if address.is_ipv6() { " This network may have no working IPv6." } else { "" }
                ),
                "Check the network connection, VPN and firewall; try again from another network."
                    .to_owned(),
            ),
            Self::Denied => (
                "This machine's own firewall or security policy forbids the connection.".to_owned(),
                "Allow outgoing connections to this port in the local firewall (or SELinux/AppArmor policy).".to_owned(),
            ),
            Self::Other(e) => (
                format!("The connection failed: {e}."),
                format!("Check the host and port. {submission}"),
            ),
        }
    }
}

/// How many of the first bytes from the server are kept.
const KEEP: usize = 256;

/// The TCP stream under the library's client, keeping a copy of the first bytes the server
/// sent. They are only shown: what a port that does not speak SMTP said ("this is an IMAP
/// server"), or the plaintext greeting that answered a TLS handshake. Every decision about
/// them is the session's.
pub(crate) struct Recorded {
    inner: TcpStream,
    first: Arc<Mutex<Vec<u8>>>,
}

impl Recorded {
    pub(crate) fn new(inner: TcpStream, first: Arc<Mutex<Vec<u8>>>) -> Self {
        Self { inner, first }
    }
}

impl AsyncRead for Recorded {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let result = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let (Poll::Ready(Ok(())), Ok(mut first)) = (&result, this.first.lock()) {
            let new = buf.filled().get(before..).unwrap_or_default();
            let room = KEEP.saturating_sub(first.len()).min(new.len());
            first.extend_from_slice(new.get(..room).unwrap_or_default());
        }
        result
    }
}

impl AsyncWrite for Recorded {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_failures_are_told_apart() {
        let refused = ConnectFailure::from_io(std::io::ErrorKind::ConnectionRefused.into());
        assert_eq!(refused.id(), "refused");
        assert_eq!(refused.exit(), Exit::Unavailable);
        // EHOSTUNREACH, as Linux reports an ICMP "administratively prohibited" too.
        let filtered = ConnectFailure::from_io(std::io::Error::from_raw_os_error(113));
        assert_eq!(filtered.id(), "unreachable");
        assert_eq!(ConnectFailure::TimedOut.exit(), Exit::TempFail);
        let address: SocketAddr = "[2001:db8::1]:25"
            .parse()
            .unwrap_or_else(|_| unreachable!());
        let (why, fix) =
            ConnectFailure::TimedOut.explain(address, 25, Family::Other, Duration::from_secs(10));
        assert!(
            why.contains("dropped silently") && why.contains("port 25"),
            "{why}"
        );
        assert!(fix.contains("465 or 587"), "{fix}");
        let (why, _) = filtered.explain(address, 25, Family::Other, Duration::from_secs(10));
        assert!(why.contains("no working IPv6"), "{why}");
    }

    #[test]
    fn incoming_servers_are_spotted() {
        assert!(incoming_server("imap.qq.com").is_some());
        assert!(incoming_server("pop.163.com").is_some());
        assert!(incoming_server("smtp.qq.com").is_none());
    }
}
