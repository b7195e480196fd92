//! Send throughput of smtpwire against lettre 0.11, on one reused loopback connection to
//! Postfix's `smtp-sink`, for 1 KiB, 100 KiB and 5 MiB messages, plaintext and implicit TLS.
//!
//! ```sh
//! cargo run --release --example throughput                  # everything, 3 runs per case
//! cargo run --release --example throughput -- --quick       # a tenth of the messages, 1 run
//! cargo run --release --example throughput -- --sizes 1k --modes plain --runs 5
//! ```
//!
//! Options:
//!
//! * `--runs K`: repetitions of each timed case (default 3); the table shows the median run
//!   and the range of msg/s;
//! * `--sizes 1k,100k,5m`, `--modes plain,tls`,
//!   `--clients send,batch,lettre,lettre-nodelay,lettre-pool`: what to run;
//! * `--budget SECONDS`: a send loop stops early once this has passed (default 5; lettre
//!   manages about 23 messages/s in some cases);
//! * `--no-flights`: skip the counting pass;
//! * `--dot-every N`: every Nth body line starts with a dot, to be stuffed (default 50, 0 for
//!   none);
//! * `--quick`: a tenth of the messages, one run, a 3 s budget.
//!
//! `SMTP_SINK` overrides the path of `smtp-sink` (default `/usr/sbin/smtp-sink`, from
//! Debian's `postfix` package).
//!
//! What runs, all on 127.0.0.1:
//!
//! * two `smtp-sink` processes started here (one announcing PIPELINING, one with `-p`, which
//!   does not) and killed by their PIDs at the end;
//! * for implicit TLS, a TLS terminator on its own thread (tokio-rustls, ring, a certificate
//!   made for this run) in front of the first smtp-sink, which has no TLS; both clients trust
//!   the same CA and go through the same terminator;
//! * the clients, one at a time, on this thread's single-threaded runtime:
//!   smtpwire `Client::send` in a loop, smtpwire `Client::send_batch` with all messages at
//!   once, lettre `AsyncSmtpConnection::send` in a loop (one connection, lettre's fastest
//!   path), the same over a socket the benchmark set TCP_NODELAY on (lettre sets none; this
//!   row shows what Nagle's algorithm costs it, and what lettre's lockstep costs without it),
//!   and lettre `AsyncSmtpTransport<Tokio1Executor>::send_raw` with a pool of one connection
//!   (the documented API; it sends NOOP before each reuse).
//!
//! Every client sends the same pre-built message bytes (CRLF lines, 2% of them starting with
//! a dot by default). Each timed run connects, sends one message untimed, times the messages,
//! then quits untimed, so the figures are for a reused connection.
//!
//! Two passes:
//!
//! 1. **Flights and writes.** Each client runs through a counting proxy that counts client
//!    flights (bursts with no server byte in between), once with 1 message and once with
//!    more; the difference divided by the extra messages is the steady cost per message,
//!    free of the setup and QUIT. Socket writes are counted the same way by a layer under the
//!    client (smtpwire via `Client::connect_with`, lettre via `connect_with_transport`;
//!    lettre's pool cannot take a stream, so its writes are not counted).
//! 2. **Throughput.** No proxy except the TLS terminator: messages/s, MiB/s of message bytes,
//!    CPU time of the client thread (TLS included) and of the server side (smtp-sink, plus
//!    the terminator under TLS) per message.
//!
//! The machine is shared: the load average is printed with each case. Compare clients within
//! one run, not runs across machines.

#![allow(clippy::indexing_slicing, reason = "a table printer, not library code")]

#[path = "throughput/clients.rs"]
mod clients;
#[path = "throughput/proxy.rs"]
mod proxy;
#[path = "throughput/sink.rs"]
mod sink;

use clients::{Job, Kind, Outcome, Target};
use sink::{loadavg, schedstat, Sink};
use std::error::Error;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// A message size with its default counts.
#[derive(Clone, Copy, Debug)]
struct Size {
    label: &'static str,
    bytes: usize,
    /// Messages per timed run: enough that a run lasts about a second or more, so a burst of
    /// load from elsewhere on a shared machine averages out.
    count: usize,
    /// Messages in the larger run of the flight pass.
    flight_count: usize,
}

const SIZES: [Size; 3] = [
    Size {
        label: "1 KiB",
        bytes: 1024,
        count: 5000,
        flight_count: 40,
    },
    Size {
        label: "100 KiB",
        bytes: 100 * 1024,
        count: 1000,
        flight_count: 20,
    },
    Size {
        label: "5 MiB",
        bytes: 5 * 1024 * 1024,
        count: 40,
        flight_count: 4,
    },
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Plain,
    Tls,
}

impl Mode {
    fn label(self) -> &'static str {
        match self {
            Self::Plain => "plain",
            Self::Tls => "implicit TLS",
        }
    }
}

struct Options {
    runs: usize,
    clients: Vec<Kind>,
    flights: bool,
    dot_every: usize,
    sizes: Vec<Size>,
    modes: Vec<Mode>,
    budget: Duration,
    scale: usize,
}

impl Options {
    fn parse() -> Result<Self, Box<dyn Error>> {
        let mut options = Self {
            runs: 3,
            clients: Kind::ALL.to_vec(),
            flights: true,
            dot_every: 50,
            sizes: SIZES.to_vec(),
            modes: vec![Mode::Plain, Mode::Tls],
            budget: Duration::from_secs(5),
            scale: 1,
        };
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            let mut value = || args.next().ok_or_else(|| format!("{arg} needs a value"));
            match arg.as_str() {
                "--runs" => options.runs = value()?.parse::<usize>()?.max(1),
                "--budget" => options.budget = Duration::from_secs_f64(value()?.parse()?),
                "--quick" => {
                    options.runs = 1;
                    options.scale = 10;
                    options.budget = Duration::from_secs(3);
                }
                "--sizes" => {
                    let wanted = value()?.to_ascii_lowercase();
                    options.sizes = SIZES
                        .iter()
                        .filter(|s| {
                            let short = s.label.replace(' ', "").replace("iB", "").to_lowercase();
                            wanted.split(',').any(|w| w == short)
                        })
                        .copied()
                        .collect();
                }
                "--modes" => {
                    let wanted = value()?;
                    options.modes = [Mode::Plain, Mode::Tls]
                        .into_iter()
                        .filter(|m| {
                            let short = if *m == Mode::Plain { "plain" } else { "tls" };
                            wanted.split(',').any(|w| w == short)
                        })
                        .collect();
                }
                "--clients" => {
                    let wanted = value()?;
                    options.clients = Kind::ALL
                        .into_iter()
                        .filter(|k| wanted.split(',').any(|w| w == k.short()))
                        .collect();
                }
                "--no-flights" => options.flights = false,
                "--dot-every" => options.dot_every = value()?.parse()?,
                "--bench" => {} // passed by `cargo bench`
                other => return Err(format!("unknown option {other} (see the doc comment)").into()),
            }
        }
        if options.sizes.is_empty() || options.modes.is_empty() || options.clients.is_empty() {
            return Err(
                "nothing selected (sizes: 1k,100k,5m; modes: plain,tls; clients: \
                 send,batch,lettre,lettre-nodelay,lettre-pool)"
                    .into(),
            );
        }
        Ok(options)
    }
}

/// `bytes` of message: a few headers, then 76-character lines, every `dot_every`th starting
/// with a dot (none if 0), CRLF line endings.
fn message(bytes: usize, dot_every: usize) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut message = format!(
        "From: <bench@localhost>\r\nTo: <sink@localhost>\r\nSubject: throughput, {bytes} bytes\r\n\
         Message-ID: <throughput-{bytes}@localhost>\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=us-ascii\r\n\r\n"
    )
    .into_bytes();
    let mut line = 0usize;
    while message.len() < bytes {
        let room = bytes - message.len();
        let length = 76.min(room.saturating_sub(2));
        for at in 0..length {
            let byte = if at == 0 && dot_every > 0 && line % dot_every == 0 {
                b'.'
            } else {
                ALPHABET[(line * 7 + at) % ALPHABET.len()]
            };
            message.push(byte);
        }
        message.extend_from_slice(&b"\r\n"[..2.min(room - length)]);
        line += 1;
    }
    message
}

/// The steady cost per message of a counter, from a run with 1 message and one with `n`.
fn per_message(one: u64, many: u64, n: usize) -> f64 {
    (many as f64 - one as f64) / (n as f64 - 1.0)
}

struct FlightRow {
    server: &'static str,
    size: Size,
    mode: Mode,
    kind: Kind,
    n: usize,
    flights: (u64, u64),
    writes: Option<(u64, u64)>,
    connections: usize,
}

impl FlightRow {
    fn flights_per_message(&self) -> f64 {
        per_message(self.flights.0, self.flights.1, self.n)
    }

    fn writes_per_message(&self) -> Option<f64> {
        self.writes
            .map(|(one, many)| per_message(one, many, self.n))
    }
}

struct TimedRow {
    size: Size,
    mode: Mode,
    kind: Kind,
    /// Each run, with the server side's CPU time.
    runs: Vec<(Outcome, Duration)>,
    loads: Vec<String>,
}

impl TimedRow {
    fn rate(outcome: &Outcome) -> f64 {
        outcome.messages as f64 / outcome.elapsed.as_secs_f64().max(1e-9)
    }

    /// The run with the median rate, and the lowest and highest rates.
    fn median(&self) -> Option<(&(Outcome, Duration), f64, f64)> {
        let mut sorted: Vec<&(Outcome, Duration)> = self.runs.iter().collect();
        sorted.sort_by(|a, b| Self::rate(&a.0).total_cmp(&Self::rate(&b.0)));
        let low = Self::rate(&sorted.first()?.0);
        let high = Self::rate(&sorted.last()?.0);
        Some((sorted.get(sorted.len() / 2)?, low, high))
    }
}

struct Bench {
    sink: Sink,
    sink_lockstep: Sink,
    terminator: proxy::Proxy,
    ca_der: Vec<u8>,
    counting_plain: proxy::CountingProxy,
    counting_tls: proxy::CountingProxy,
    counting_lockstep: proxy::CountingProxy,
}

impl Bench {
    fn target(&self, mode: Mode) -> Target {
        match mode {
            Mode::Plain => Target {
                addr: self.sink.addr,
                ca_der: None,
            },
            Mode::Tls => Target {
                addr: self.terminator.addr,
                ca_der: Some(self.ca_der.clone()),
            },
        }
    }

    fn server_cpu(&self, mode: Mode) -> Duration {
        match mode {
            Mode::Plain => self.sink.cpu(),
            Mode::Tls => self.sink.cpu() + schedstat(&self.terminator.schedstat),
        }
    }

    /// One client through a counting proxy: total flights, total writes, connections made.
    async fn count(
        &self,
        proxy: &proxy::CountingProxy,
        kind: Kind,
        ca_der: Option<Vec<u8>>,
        message: &[u8],
        count: usize,
    ) -> Result<(u64, Option<u64>, usize), Box<dyn Error>> {
        let before = proxy.connections.lock().map(|c| c.len()).unwrap_or(0);
        let target = Target {
            addr: proxy.addr,
            ca_der,
        };
        let outcome = clients::run(&Job {
            kind,
            target: &target,
            message,
            count,
            budget: Duration::from_secs(3600),
            count_writes: true,
        })
        .await?;
        // Wait for the proxy to see both sides close, so the last bytes are counted.
        let started = Instant::now();
        loop {
            let connections: Vec<_> = proxy
                .connections
                .lock()
                .map(|c| c.iter().skip(before).cloned().collect())
                .unwrap_or_default();
            let closed = connections.iter().all(|c| c.closed.load(Ordering::SeqCst));
            if closed || started.elapsed() > Duration::from_secs(3) {
                let flights = connections
                    .iter()
                    .map(|c| c.flights.load(Ordering::SeqCst))
                    .sum();
                return Ok((flights, outcome.writes, connections.len()));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn Error>> {
    let options = Options::parse()?;
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    println!(
        "smtpwire send throughput against lettre 0.11; {cores} cores; load average {}",
        loadavg()
    );

    let sink = Sink::start(true)?;
    let sink_lockstep = Sink::start(false)?;
    let (acceptor, ca_der) = proxy::make_tls()?;
    let terminator = proxy::spawn_tls_terminator(sink.addr, acceptor)?;
    let bench = Bench {
        counting_plain: proxy::spawn_counting(sink.addr)?,
        counting_tls: proxy::spawn_counting(terminator.addr)?,
        counting_lockstep: proxy::spawn_counting(sink_lockstep.addr)?,
        sink,
        sink_lockstep,
        terminator,
        ca_der,
    };
    println!(
        "smtp-sink pid {} on {} (PIPELINING), pid {} on {} (-p: no PIPELINING); TLS terminator \
         on {} -> {}",
        bench.sink.pid,
        bench.sink.addr,
        bench.sink_lockstep.pid,
        bench.sink_lockstep.addr,
        bench.terminator.addr,
        bench.sink.addr
    );
    for (name, sink) in [
        ("smtp-sink", &bench.sink),
        ("smtp-sink -p", &bench.sink_lockstep),
    ] {
        let config = {
            let mut config = smtpwire::transport::ClientConfig::new("127.0.0.1", sink.addr.port());
            config.session.tls = smtpwire::session::TlsPolicy::Plaintext;
            config
        };
        let mut client = smtpwire::transport::Client::connect(config).await?;
        let pipelining = client
            .session()
            .capabilities()
            .is_some_and(|c| c.pipelining());
        println!("{name} offers PIPELINING: {pipelining}");
        client.quit().await?;
    }

    let messages: Vec<(Size, Vec<u8>)> = options
        .sizes
        .iter()
        .map(|&size| (size, message(size.bytes, options.dot_every)))
        .collect();

    // Pass 1: flights and writes.
    println!("\n== pass 1: flights and writes per message (through the counting proxy) ==");
    let mut flight_rows = Vec::new();
    let mut plans: Vec<(&'static str, &proxy::CountingProxy, Mode, &Size, &[u8])> = Vec::new();
    for &mode in &options.modes {
        for (size, message) in &messages {
            let proxy = match mode {
                Mode::Plain => &bench.counting_plain,
                Mode::Tls => &bench.counting_tls,
            };
            plans.push(("PIPELINING", proxy, mode, size, message));
        }
    }
    if !options.flights {
        plans.clear();
        println!("(skipped: --no-flights)");
    } else if let Some((size, message)) = messages.first() {
        if options.modes.contains(&Mode::Plain) {
            plans.push((
                "no PIPELINING",
                &bench.counting_lockstep,
                Mode::Plain,
                size,
                message,
            ));
        }
    }
    for (server, proxy, mode, size, message) in plans {
        for &kind in &options.clients {
            let ca = (mode == Mode::Tls).then(|| bench.ca_der.clone());
            let n = size.flight_count;
            let one = bench.count(proxy, kind, ca.clone(), message, 1).await?;
            let many = bench.count(proxy, kind, ca, message, n).await?;
            let row = FlightRow {
                server,
                size: *size,
                mode,
                kind,
                n,
                flights: (one.0, many.0),
                writes: one.1.zip(many.1),
                connections: one.2.max(many.2),
            };
            println!(
                "{:<13} {:<8} {:<12} {:<22} flights {:>4} (1 msg) {:>5} ({:>2} msgs) -> {:>5.2}/msg   \
                 writes/msg {:>6}   connections {}",
                row.server,
                row.size.label,
                row.mode.label(),
                row.kind.label(),
                row.flights.0,
                row.flights.1,
                n,
                row.flights_per_message(),
                row.writes_per_message()
                    .map_or("-".into(), |w| format!("{w:.2}")),
                row.connections
            );
            flight_rows.push(row);
        }
    }

    // Pass 2: throughput.
    println!(
        "\n== pass 2: throughput, {} run(s) per case, loops stop after {:?} ==",
        options.runs, options.budget
    );
    let mut timed_rows: Vec<TimedRow> = Vec::new();
    for &mode in &options.modes {
        let target = bench.target(mode);
        for (size, message) in &messages {
            let count = (size.count / options.scale).max(2);
            let first = timed_rows.len();
            for &kind in &options.clients {
                timed_rows.push(TimedRow {
                    size: *size,
                    mode,
                    kind,
                    runs: Vec::new(),
                    loads: Vec::new(),
                });
            }
            // Interleave the clients within each repetition, so a burst of load from another
            // process hits them alike.
            for _ in 0..options.runs {
                for (offset, &kind) in options.clients.iter().enumerate() {
                    let server_before = bench.server_cpu(mode);
                    let outcome = clients::run(&Job {
                        kind,
                        target: &target,
                        message,
                        count,
                        budget: options.budget,
                        count_writes: false,
                    })
                    .await?;
                    let server = bench.server_cpu(mode).saturating_sub(server_before);
                    let row = &mut timed_rows[first + offset];
                    println!(
                        "{:<8} {:<12} {:<22} {:>5} msgs {:>8.3} s {:>9.1} msg/s   load {}",
                        size.label,
                        mode.label(),
                        kind.label(),
                        outcome.messages,
                        outcome.elapsed.as_secs_f64(),
                        TimedRow::rate(&outcome),
                        loadavg()
                    );
                    row.runs.push((outcome, server));
                    row.loads.push(loadavg());
                }
            }
        }
    }

    print_table(&timed_rows, &flight_rows);
    println!("\nload average at the end: {}", loadavg());

    let pids = (bench.sink.pid, bench.sink_lockstep.pid);
    bench.sink.stop()?;
    bench.sink_lockstep.stop()?;
    println!("stopped smtp-sink pids {} and {}", pids.0, pids.1);
    Ok(())
}

fn print_table(timed: &[TimedRow], flights: &[FlightRow]) {
    println!("\n== results: median run (range of msg/s over runs) ==");
    println!(
        "{:<8} {:<12} {:<22} {:>6} {:>8} {:>9} {:>19} {:>8} {:>8} {:>7} {:>9} {:>9} {:>7} {:>7} {:>7}",
        "size",
        "transport",
        "client",
        "msgs",
        "seconds",
        "msg/s",
        "(min-max)",
        "MiB/s",
        "flt/msg",
        "wr/msg",
        "cli us/m",
        "srv us/m",
        "x conn",
        "x pool",
        "x nodel"
    );
    let rate_of = |size: &str, mode: Mode, kind: Kind| {
        timed
            .iter()
            .find(|r| r.size.label == size && r.mode == mode && r.kind == kind)
            .and_then(TimedRow::median)
            .map(|(run, _, _)| TimedRow::rate(&run.0))
    };
    let mut last_case = None;
    for row in timed {
        let Some(((outcome, server), low, high)) = row.median() else {
            continue;
        };
        let case = (row.size.label, row.mode);
        if last_case.is_some() && last_case != Some(case) {
            println!();
        }
        last_case = Some(case);
        let rate = TimedRow::rate(outcome);
        let mib = rate * row.size.bytes as f64 / (1024.0 * 1024.0);
        let flight = flights.iter().find(|f| {
            f.server == "PIPELINING"
                && f.size.label == row.size.label
                && f.mode == row.mode
                && f.kind == row.kind
        });
        let per = |d: Duration| d.as_secs_f64() * 1e6 / outcome.messages.max(1) as f64;
        let ratio = |against: Kind| {
            if row.kind.is_lettre() {
                return "-".to_owned();
            }
            rate_of(row.size.label, row.mode, against)
                .map_or("-".into(), |lettre| format!("{:.1}", rate / lettre))
        };
        println!(
            "{:<8} {:<12} {:<22} {:>6} {:>8.3} {:>9.1} {:>19} {:>8.1} {:>8} {:>7} {:>9.0} {:>9.0} {:>7} {:>7} {:>7}",
            row.size.label,
            row.mode.label(),
            row.kind.label(),
            outcome.messages,
            outcome.elapsed.as_secs_f64(),
            rate,
            format!("({low:.0}-{high:.0})"),
            mib,
            flight.map_or("-".into(), |f| format!("{:.2}", f.flights_per_message())),
            flight
                .and_then(FlightRow::writes_per_message)
                .map_or("-".into(), |w| format!("{w:.2}")),
            per(outcome.cpu),
            per(*server),
            ratio(Kind::LettreConnection),
            ratio(Kind::LettrePool),
            ratio(Kind::LettreNodelay),
        );
    }
    let loads: Vec<&String> = timed.iter().flat_map(|r| &r.loads).collect();
    if let (Some(first), Some(last)) = (loads.first(), loads.last()) {
        println!("\nload average after the first timed run: {first}; after the last: {last}");
    }
    println!(
        "flt/msg, wr/msg: client flights and socket writes per message in steady state (pass 1); \
         cli/srv us/m: CPU microseconds per message of the client thread and of smtp-sink \
         (+ TLS terminator); x conn, x pool, x nodel: smtpwire msg/s over lettre connection / \
         transport+pool / conn+NODELAY. *conn+NODELAY: lettre on a socket the benchmark set \
         TCP_NODELAY on (lettre sets none), to show what Nagle costs it"
    );
    let lockstep: Vec<&FlightRow> = flights
        .iter()
        .filter(|f| f.server == "no PIPELINING")
        .collect();
    if !lockstep.is_empty() {
        println!("\nserver without PIPELINING (smtp-sink -p), 1 KiB plain, flights per message:");
        for row in lockstep {
            println!(
                "  {:<22} {:.2}",
                row.kind.label(),
                row.flights_per_message()
            );
        }
    }
}
