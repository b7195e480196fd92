//! Send throughput of smtpwire beside what the wire allows and beside its peers (lettre 0.11,
//! mail-send 0.7, Go's net/smtp), on loopback to Postfix's `smtp-sink`, plaintext and
//! implicit TLS.
//!
//! ```sh
//! cargo run --release --example throughput                  # everything, 3 runs per case
//! cargo run --release --example throughput -- --quick       # a tenth of the messages, 1 run
//! cargo run --release --example throughput -- --cases 1k,conn --modes plain --runs 5
//! ```
//!
//! Options:
//!
//! * `--runs K`: repetitions of each timed case (default 3); the table shows the median run
//!   and the range of msg/s;
//! * `--cases 1k,100k,5m,conn,builder`, `--modes plain,tls`, `--clients raw-lockstep,
//!   raw-pipelined,raw-full,send,batch,send-message,lettre,lettre-nodelay,lettre-pool,
//!   mail-send,mail-send-nodelay,go`: what to run;
//! * `--budget SECONDS`: a send loop stops early once this has passed (default 5; lettre
//!   manages about 23 messages/s in some cases);
//! * `--no-flights`: skip the counting pass;
//! * `--dot-every N`: every Nth body line starts with a dot, to be stuffed (default 50, 0 for
//!   none);
//! * `--quick`: a tenth of the messages, one run, a 3 s budget.
//!
//! `SMTP_SINK` overrides the path of `smtp-sink` (default `/usr/sbin/smtp-sink`, from
//! Debian's `postfix` package). The Go client needs `go` on the `PATH` (Debian: `golang-go`);
//! without it its rows are skipped with a line that says so.
//!
//! The cases: 1 KiB, 100 KiB and 5 MiB of pre-built message bytes (72-character CRLF lines,
//! every 50th starting with a dot) on one reused connection; 1 KiB with a new connection per
//! message (connect, greeting, EHLO and QUIT timed); and a message with a 5 MiB file
//! attachment built and encoded per send (smtpwire `send_message` against lettre's and
//! mail-send's builders and Go's `mime/multipart`).
//!
//! What runs, all on 127.0.0.1:
//!
//! * two `smtp-sink` processes started here (one announcing PIPELINING, one with `-p`, which
//!   does not) and killed by their PIDs at the end;
//! * for implicit TLS, a TLS terminator on its own thread (tokio-rustls, ring, a certificate
//!   made for this run) in front of the first smtp-sink, which has no TLS; every client
//!   trusts the same CA and goes through the same terminator;
//! * the clients ([`clients`]), one at a time, on this thread (a single-threaded runtime):
//!   the raw reference client ([`raw`]: blocking std, TCP_NODELAY, the message stuffed
//!   before the clock starts) in three modes (lockstep; MAIL+RCPT+DATA pipelined; and
//!   "full", the next envelope behind the dot), smtpwire (`send`, `send_batch`,
//!   `send_message`), lettre (`AsyncSmtpConnection`, the same on a TCP_NODELAY socket, and
//!   its pooled transport), mail-send (its own connect, and the same on a TCP_NODELAY
//!   socket), and Go's net/smtp (`throughput/go/netsmtp.go`, built once per run into a
//!   temporary directory, removed at the end, and run as a child process that times its own
//!   messages and reports its process's CPU time).
//!
//! Two passes:
//!
//! 1. **Flights and writes.** Each client runs through a counting proxy that counts client
//!    flights (bursts with no server byte in between), once with 1 message and once with
//!    more; the difference divided by the extra messages is the steady cost per message,
//!    free of the setup and QUIT. Socket writes are counted the same way by a layer under the
//!    client (smtpwire via `Client::connect_with`, lettre via `connect_with_transport`,
//!    mail-send on the socket of its NODELAY variant; not for lettre's pool, mail-send's own
//!    connect or Go).
//! 2. **Throughput.** No proxy except the TLS terminator; within each repetition the clients
//!    take turns (round robin), so a burst of load from elsewhere hits them alike: messages/s,
//!    MiB/s of message bytes, CPU time of the client thread (TLS included) per message and per
//!    MiB, CPU of the server side (smtp-sink, plus the terminator under TLS), and the ratio of
//!    each smtpwire row to the best raw mode and to the best peer row of its case (named in
//!    a list after the table).
//!
//! Compare clients within one run, not runs across machines.

#![allow(clippy::indexing_slicing, reason = "a table printer, not library code")]

#[path = "throughput/clients.rs"]
mod clients;
#[path = "throughput/proxy.rs"]
mod proxy;
#[path = "throughput/raw.rs"]
mod raw;
#[path = "support/run_ca.rs"]
mod run_ca;
#[path = "throughput/sink.rs"]
mod sink;

use clients::{Job, Kind, Outcome, Shape, Target};
use sink::{loadavg, schedstat, Sink};
use std::error::Error;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// One case: a message size and how the messages go out, with its default counts.
#[derive(Clone, Copy, Debug)]
struct Case {
    label: &'static str,
    /// The name `--cases` takes.
    short: &'static str,
    bytes: usize,
    shape: Shape,
    /// Messages per timed run: enough that a run lasts about a second or more, so a burst of
    /// load from elsewhere on a shared machine averages out.
    count: usize,
    /// Messages in the larger run of the flight pass.
    flight_count: usize,
}

const CASES: [Case; 5] = [
    Case {
        label: "1 KiB",
        short: "1k",
        bytes: 1024,
        shape: Shape::Reused,
        count: 10_000,
        flight_count: 40,
    },
    Case {
        label: "100 KiB",
        short: "100k",
        bytes: 100 * 1024,
        shape: Shape::Reused,
        count: 2000,
        flight_count: 20,
    },
    Case {
        label: "5 MiB",
        short: "5m",
        bytes: 5 * 1024 * 1024,
        shape: Shape::Reused,
        count: 60,
        flight_count: 4,
    },
    Case {
        label: "1 KiB conn/msg",
        short: "conn",
        bytes: 1024,
        shape: Shape::ConnectionPerMessage,
        count: 5000,
        flight_count: 20,
    },
    Case {
        label: "5 MiB att build",
        short: "builder",
        bytes: 5 * 1024 * 1024,
        shape: Shape::BuilderPerMessage,
        count: 40,
        flight_count: 3,
    },
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Plain,
    Tls,
}

impl Mode {
    /// The name `--modes` takes.
    fn short(self) -> &'static str {
        match self {
            Self::Plain => "plain",
            Self::Tls => "tls",
        }
    }

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
    cases: Vec<Case>,
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
            cases: CASES.to_vec(),
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
                "--cases" => {
                    let wanted = value()?;
                    options.cases = CASES
                        .into_iter()
                        .filter(|c| wanted.split(',').any(|w| w == c.short))
                        .collect();
                }
                "--modes" => {
                    let wanted = value()?;
                    options.modes = [Mode::Plain, Mode::Tls]
                        .into_iter()
                        .filter(|m| wanted.split(',').any(|w| w == m.short()))
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
        if options.clients.contains(&Kind::Go) {
            if let Err(why) = clients::go_program() {
                println!("go net/smtp skipped: {why}");
                options.clients.retain(|kind| *kind != Kind::Go);
            }
        }
        if options.cases.is_empty() || options.modes.is_empty() || options.clients.is_empty() {
            return Err("nothing selected (see the doc comment for the names)".into());
        }
        Ok(options)
    }
}

/// `bytes` of message: a few headers, then 72-character lines, every `dot_every`th starting
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
        let length = 72.min(room.saturating_sub(2));
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

/// `bytes` of file content for an attachment: not text, so it is base64-encoded.
fn file(bytes: usize) -> Vec<u8> {
    (0..bytes as u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect()
}

/// The steady cost per message of a counter, from a run with 1 message and one with `n`.
fn per_message(one: u64, many: u64, n: usize) -> f64 {
    (many as f64 - one as f64) / (n as f64 - 1.0)
}

struct FlightRow {
    server: &'static str,
    case: Case,
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
    case: Case,
    mode: Mode,
    kind: Kind,
    /// Each run, with the server side's CPU time.
    runs: Vec<(Outcome, Duration)>,
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

    fn median_rate(&self) -> Option<f64> {
        self.median().map(|(run, _, _)| Self::rate(&run.0))
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
        job: Job<'_>,
    ) -> Result<(u64, Option<u64>, usize), Box<dyn Error>> {
        let before = proxy.connections.lock().map(|c| c.len()).unwrap_or(0);
        let outcome = clients::run(&job).await?;
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
    // Dropped last: removes the Go build (and the files the Go client read) at the end.
    let _go_build = clients::GoBuildDir;
    let options = Options::parse()?;
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    println!(
        "smtpwire send throughput beside a raw client, lettre 0.11, mail-send 0.7 and Go \
         net/smtp; {cores} cores; load average {}",
        loadavg()
    );

    let sink = Sink::start(true)?;
    let sink_lockstep = Sink::start(false)?;
    let (acceptor, ca_der) = run_ca::make_tls("smtpwire throughput CA")?;
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

    let inputs: Vec<(Case, Vec<u8>)> = options
        .cases
        .iter()
        .map(|&case| {
            let input = match case.shape {
                Shape::BuilderPerMessage => file(case.bytes),
                _ => message(case.bytes, options.dot_every),
            };
            (case, input)
        })
        .collect();
    let runs_in = |case: &Case| -> Vec<Kind> {
        options
            .clients
            .iter()
            .copied()
            .filter(|kind| kind.runs(case.shape))
            .collect()
    };

    // Pass 1: flights and writes.
    println!("\n== pass 1: flights and writes per message (through the counting proxy) ==");
    let mut flight_rows = Vec::new();
    let mut plans: Vec<(&'static str, &proxy::CountingProxy, Mode, &Case, &[u8])> = Vec::new();
    if options.flights {
        for &mode in &options.modes {
            for (case, input) in &inputs {
                let proxy = match mode {
                    Mode::Plain => &bench.counting_plain,
                    Mode::Tls => &bench.counting_tls,
                };
                plans.push(("PIPELINING", proxy, mode, case, input));
            }
        }
        let first_reused = inputs.iter().find(|(c, _)| c.shape == Shape::Reused);
        if let Some((case, input)) = first_reused.filter(|_| options.modes.contains(&Mode::Plain)) {
            plans.push((
                "no PIPELINING",
                &bench.counting_lockstep,
                Mode::Plain,
                case,
                input,
            ));
        }
    } else {
        println!("(skipped: --no-flights)");
    }
    for (server, proxy, mode, case, input) in plans {
        let ca = (mode == Mode::Tls).then(|| bench.ca_der.clone());
        let target = Target {
            addr: proxy.addr,
            ca_der: ca,
        };
        for kind in runs_in(case) {
            let job = |count| Job {
                kind,
                shape: case.shape,
                target: &target,
                message: input,
                count,
                budget: Duration::from_secs(3600),
                count_writes: true,
            };
            let n = case.flight_count;
            let one = bench.count(proxy, job(1)).await?;
            let many = bench.count(proxy, job(n)).await?;
            let row = FlightRow {
                server,
                case: *case,
                mode,
                kind,
                n,
                flights: (one.0, many.0),
                writes: one.1.zip(many.1),
                connections: one.2.max(many.2),
            };
            println!(
                "{:<13} {:<15} {:<12} {:<22} flights {:>4} (1 msg) {:>5} ({:>2} msgs) -> {:>5.2}/msg   \
                 writes/msg {:>7}   connections {}",
                row.server,
                row.case.label,
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
        for (case, input) in &inputs {
            let count = (case.count / options.scale).max(2);
            let first = timed_rows.len();
            let kinds = runs_in(case);
            for &kind in &kinds {
                timed_rows.push(TimedRow {
                    case: *case,
                    mode,
                    kind,
                    runs: Vec::new(),
                });
            }
            // Round robin within each repetition, so a burst of load from another process
            // hits every client alike.
            for _ in 0..options.runs {
                for (offset, &kind) in kinds.iter().enumerate() {
                    let server_before = bench.server_cpu(mode);
                    let outcome = clients::run(&Job {
                        kind,
                        shape: case.shape,
                        target: &target,
                        message: input,
                        count,
                        budget: options.budget,
                        count_writes: false,
                    })
                    .await?;
                    let server = bench.server_cpu(mode).saturating_sub(server_before);
                    println!(
                        "{:<15} {:<12} {:<22} {:>5} msgs {:>8.3} s {:>9.1} msg/s   load {}",
                        case.label,
                        mode.label(),
                        kind.label(),
                        outcome.messages,
                        outcome.elapsed.as_secs_f64(),
                        TimedRow::rate(&outcome),
                        loadavg()
                    );
                    if let Some(row) = timed_rows.get_mut(first + offset) {
                        row.runs.push((outcome, server));
                    }
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

/// The fastest row (by median msg/s) of a case and transport among the clients `of` picks.
fn fastest<'a>(
    timed: &'a [TimedRow],
    case: &str,
    mode: Mode,
    of: fn(Kind) -> bool,
) -> Option<(&'a TimedRow, f64)> {
    timed
        .iter()
        .filter(|r| r.case.label == case && r.mode == mode && of(r.kind))
        .filter_map(|r| Some((r, r.median_rate()?)))
        .max_by(|a, b| a.1.total_cmp(&b.1))
}

fn print_table(timed: &[TimedRow], flights: &[FlightRow]) {
    println!("\n== results: median run (range of msg/s over runs) ==");
    println!(
        "{:<15} {:<12} {:<22} {:>6} {:>9} {:>17} {:>8} {:>8} {:>8} {:>9} {:>9} {:>9} {:>6} {:>7}",
        "case",
        "transport",
        "client",
        "msgs",
        "msg/s",
        "(min-max)",
        "MiB/s",
        "flt/msg",
        "wr/msg",
        "cli us/m",
        "cli ms/MiB",
        "srv us/m",
        "x raw",
        "x peer"
    );
    // The best median of the raw modes and of the peers' rows, per case and transport.
    let best = |row: &TimedRow, of: fn(Kind) -> bool| {
        fastest(timed, row.case.label, row.mode, of).map(|(_, rate)| rate)
    };
    let mut last_case = None;
    for row in timed {
        let Some(((outcome, server), low, high)) = row.median() else {
            continue;
        };
        let case = (row.case.label, row.mode);
        if last_case.is_some() && last_case != Some(case) {
            println!();
        }
        last_case = Some(case);
        let rate = TimedRow::rate(outcome);
        let mib = |messages: f64| messages * row.case.bytes as f64 / (1024.0 * 1024.0);
        let flight = flights.iter().find(|f| {
            f.server == "PIPELINING"
                && f.case.label == row.case.label
                && f.mode == row.mode
                && f.kind == row.kind
        });
        let per = |d: Duration| d.as_secs_f64() * 1e6 / outcome.messages.max(1) as f64;
        let ratio = |of: fn(Kind) -> bool| {
            let mine = row.kind.is_raw() || row.kind.is_peer();
            match best(row, of) {
                Some(other) if !mine => format!("{:.2}", rate / other),
                _ => "-".to_owned(),
            }
        };
        println!(
            "{:<15} {:<12} {:<22} {:>6} {:>9.1} {:>17} {:>8.1} {:>8} {:>8} {:>9.0} {:>10.2} {:>9.0} {:>6} {:>7}",
            row.case.label,
            row.mode.label(),
            row.kind.label(),
            outcome.messages,
            rate,
            format!("({low:.0}-{high:.0})"),
            mib(rate),
            flight.map_or("-".into(), |f| format!("{:.2}", f.flights_per_message())),
            flight
                .and_then(FlightRow::writes_per_message)
                .map_or("-".into(), |w| format!("{w:.2}")),
            per(outcome.cpu),
            outcome.cpu.as_secs_f64() * 1e3 / mib(outcome.messages as f64).max(1e-9),
            per(*server),
            ratio(Kind::is_raw),
            ratio(Kind::is_peer),
        );
    }
    println!(
        "\nflt/msg, wr/msg: client flights and socket writes per message in steady state (pass \
         1); cli us/m, cli ms/MiB: CPU of the client thread per message and per MiB of message \
         (or attachment) bytes; srv us/m: CPU of smtp-sink (+ TLS terminator) per message; x raw, \
         x peer: smtpwire msg/s over the best raw mode and the best peer row (lettre, mail-send, \
         Go) of the case. *NODELAY: lettre or mail-send on a socket the benchmark set TCP_NODELAY \
         on (neither sets it); go net/smtp CPU is its whole process's"
    );
    println!("\nthe best peer of each case (what x peer divides by):");
    let mut cases: Vec<(&str, Mode)> = Vec::new();
    for row in timed {
        if !cases.contains(&(row.case.label, row.mode)) {
            cases.push((row.case.label, row.mode));
        }
    }
    for (case, mode) in cases {
        if let Some((row, rate)) = fastest(timed, case, mode, Kind::is_peer) {
            println!(
                "  {case:<15} {:<12} {:<22} {rate:.1} msg/s",
                mode.label(),
                row.kind.label()
            );
        }
    }
    let lockstep: Vec<&FlightRow> = flights
        .iter()
        .filter(|f| f.server == "no PIPELINING")
        .collect();
    if !lockstep.is_empty() {
        println!("\nserver without PIPELINING (smtp-sink -p), flights per message:");
        for row in lockstep {
            println!(
                "  {:<15} {:<22} {:.2}",
                row.case.label,
                row.kind.label(),
                row.flights_per_message()
            );
        }
    }
}
