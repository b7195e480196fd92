//! The report of `check`: one line per step with a mark, what was seen, and on trouble why
//! and what to do; or the same as JSON.

use crate::exit::Exit;
use serde::Serialize;
use smtpwire::mime::Date;
use std::io::Write;
use std::time::Duration;

/// How a step went.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Status {
    /// It worked.
    Pass,
    /// It worked, but something deserves attention.
    Warn,
    /// It did not work; the check stops here.
    Fail,
    /// It was not run (nothing to test, or a flag is missing).
    Skip,
}

/// One step of the diagnosis.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Step {
    /// A stable identifier for scripts: `dns`, `connect`, `greeting`, `ehlo`, `starttls`,
    /// `tls`, `ehlo_tls`, `auth`, `mail_from`, `quit`.
    pub id: &'static str,
    /// The name shown.
    pub title: &'static str,
    pub status: Status,
    /// Milliseconds the step took.
    pub duration_ms: f64,
    /// What was seen, in one line.
    pub summary: String,
    /// Further lines: addresses, extensions, certificate fields.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<String>,
    /// Why it failed (or what the warning means), in plain words.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
    /// What to do about it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
    /// The exit status this failure maps to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<u8>,
    /// Machine-readable facts (addresses, capabilities, certificate fields).
    #[serde(skip_serializing_if = "serde_json::Value::is_null")]
    pub data: serde_json::Value,
    #[serde(skip)]
    pub exit: Option<Exit>,
}

impl Step {
    pub(crate) fn new(
        id: &'static str,
        title: &'static str,
        status: Status,
        took: Duration,
    ) -> Self {
        Self {
            id,
            title,
            status,
            duration_ms: (took.as_secs_f64() * 1e4).round() / 10.0,
            summary: String::new(),
            details: Vec::new(),
            why: None,
            fix: None,
            exit_code: None,
            data: serde_json::Value::Null,
            exit: None,
        }
    }

    pub(crate) fn pass(id: &'static str, title: &'static str, took: Duration) -> Self {
        Self::new(id, title, Status::Pass, took)
    }

    pub(crate) fn fail(id: &'static str, title: &'static str, took: Duration, exit: Exit) -> Self {
        let mut step = Self::new(id, title, Status::Fail, took);
        step.exit = Some(exit);
        step.exit_code = Some(exit as u8);
        step
    }

    pub(crate) fn summary(mut self, text: impl Into<String>) -> Self {
        self.summary = text.into();
        self
    }

    pub(crate) fn detail(mut self, line: impl Into<String>) -> Self {
        self.details.push(line.into());
        self
    }

    pub(crate) fn details(mut self, lines: impl IntoIterator<Item = String>) -> Self {
        self.details.extend(lines);
        self
    }

    pub(crate) fn why(mut self, text: impl Into<String>) -> Self {
        self.why = Some(text.into());
        self
    }

    pub(crate) fn fix(mut self, text: impl Into<String>) -> Self {
        self.fix = Some(text.into());
        self
    }

    pub(crate) fn data(mut self, data: serde_json::Value) -> Self {
        self.data = data;
        self
    }

    /// Turns a passing step into a warning with an explanation.
    pub(crate) fn warn(mut self, why: impl Into<String>, fix: Option<String>) -> Self {
        if self.status == Status::Pass {
            self.status = Status::Warn;
        }
        let why = why.into();
        self.why = Some(match self.why.take() {
            Some(before) => format!("{before} {why}"),
            None => why,
        });
        if let Some(fix) = fix {
            self.fix = Some(match self.fix.take() {
                Some(before) => format!("{before} {fix}"),
                None => fix,
            });
        }
        self
    }
}

/// Marks: the check mark and cross on a terminal, ASCII words elsewhere.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Style {
    pub unicode: bool,
    pub color: bool,
}

impl Style {
    pub(crate) fn mark(self, status: Status) -> &'static str {
        match (self.unicode, status) {
            (true, Status::Pass) => "✓",
            (true, Status::Warn) => "!",
            (true, Status::Fail) => "✗",
            (true, Status::Skip) => "–",
            (false, Status::Pass) => "[ok]",
            (false, Status::Warn) => "[warn]",
            (false, Status::Fail) => "[FAIL]",
            (false, Status::Skip) => "[skip]",
        }
    }

    /// A small mark for the lines inside a step (certificate checks).
    pub(crate) fn sub(self, good: bool) -> &'static str {
        match (self.unicode, good) {
            (true, true) => "✓",
            (true, false) => "✗",
            (false, true) => "[ok]",
            (false, false) => "[FAIL]",
        }
    }

    fn paint(self, status: Status, text: &str) -> String {
        if !self.color {
            return text.to_owned();
        }
        let code = match status {
            Status::Pass => "32",
            Status::Warn => "33",
            Status::Fail => "31",
            Status::Skip => "2",
        };
        format!("\x1b[{code}m{text}\x1b[0m")
    }
}

/// Collects the steps, printing each as it ends (text mode) or all at the end (JSON).
pub(crate) struct Report {
    pub steps: Vec<Step>,
    style: Style,
    json: bool,
}

impl Report {
    pub(crate) fn new(style: Style, json: bool) -> Self {
        Self {
            steps: Vec::new(),
            style,
            json,
        }
    }

    pub(crate) fn style(&self) -> Style {
        self.style
    }

    /// A line before the steps (text mode only).
    pub(crate) fn say(&self, line: &str) {
        if !self.json {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{line}");
            let _ = out.flush();
        }
    }

    /// Adds a step; returns whether the check may go on (it did not fail).
    pub(crate) fn push(&mut self, step: Step) -> bool {
        let go_on = step.status != Status::Fail;
        if !self.json {
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(self.render(&step).as_bytes());
            let _ = out.flush();
        }
        self.steps.push(step);
        go_on
    }

    pub(crate) fn failed(&self) -> Option<&Step> {
        self.steps.iter().find(|s| s.status == Status::Fail)
    }

    /// The exit status: that of the first failing step, else 0.
    pub(crate) fn exit(&self) -> Exit {
        self.failed().and_then(|s| s.exit).unwrap_or(Exit::Ok)
    }

    fn render(&self, step: &Step) -> String {
        let style = self.style;
        let mark = style.paint(step.status, style.mark(step.status));
        let pad: usize = if style.unicode { 1 } else { 6 };
        let mark_width = style.mark(step.status).chars().count();
        let mut out = format!(
            "{mark}{:width$} {:<15} {}  ({})\n",
            "",
            step.title,
            step.summary,
            millis(step.duration_ms),
            width = pad.saturating_sub(mark_width),
        );
        let indent = " ".repeat(pad + 2 + 2);
        for line in &step.details {
            out.push_str(&format!("{indent}{line}\n"));
        }
        if let Some(why) = &step.why {
            out.push_str(&wrap(&format!("{indent}why: "), why));
        }
        if let Some(fix) = &step.fix {
            out.push_str(&wrap(&format!("{indent}fix: "), fix));
        }
        out
    }
}

fn millis(ms: f64) -> String {
    if ms >= 1000.0 {
        format!("{:.1} s", ms / 1000.0)
    } else {
        format!("{ms:.0} ms")
    }
}

/// Wraps `text` at about 100 columns, the first line after `lead`, the rest under it.
fn wrap(lead: &str, text: &str) -> String {
    const WIDTH: usize = 100;
    let hang = " ".repeat(lead.chars().count());
    let mut out = String::new();
    let mut line = lead.to_owned();
    let mut empty = true;
    for word in text.split(' ') {
        let len = line.chars().count() + word.chars().count() + 1;
        if !empty && len > WIDTH {
            out.push_str(line.trim_end());
            out.push('\n');
            line = hang.clone();
            empty = true;
        }
        if !empty {
            line.push(' ');
        }
        line.push_str(word);
        empty = false;
    }
    out.push_str(line.trim_end());
    out.push('\n');
    out
}

/// `2026-11-29 03:28:05 UTC` for a Unix time (one outside the years 1900–9999 as the
/// number itself).
pub(crate) fn date_time(unix: i64) -> String {
    Date::from_unix(unix, 0).map_or_else(
        |_| format!("Unix time {unix}"),
        |date| date.to_plain_string(),
    )
}

/// Days from 1970-01-01 to a civil date (the inverse of what [`date_time`] shows).
pub(crate) fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let yoe = year.rem_euclid(400);
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// A length of time in words: `3 days`, `5 hours`, `2 years 10 days`.
pub(crate) fn span(seconds: i64) -> String {
    let seconds = seconds.abs();
    let plural = |n: i64, unit: &str| format!("{n} {unit}{}", if n == 1 { "" } else { "s" });
    let days = seconds / 86_400;
    if days >= 365 {
        let years = days / 365;
        let rest = days % 365;
        if rest == 0 {
            plural(years, "year")
        } else {
            format!("{} {}", plural(years, "year"), plural(rest, "day"))
        }
    } else if days >= 1 {
        plural(days, "day")
    } else if seconds >= 3600 {
        plural(seconds / 3600, "hour")
    } else if seconds >= 60 {
        plural(seconds / 60, "minute")
    } else {
        plural(seconds, "second")
    }
}

/// The current Unix time by this machine's clock.
pub(crate) fn now_unix() -> i64 {
    match std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip() {
        assert_eq!(date_time(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(date_time(1_577_923_200), "2020-01-02 00:00:00 UTC");
        assert_eq!(date_time(951_782_400), "2000-02-29 00:00:00 UTC");
        for days in [-1000, 0, 10_957, 20_000, 30_000] {
            let shown = date_time(days * 86_400);
            let ymd: Vec<i64> = shown
                .split(['-', ' '])
                .take(3)
                .flat_map(str::parse)
                .collect();
            assert!(
                matches!(ymd.as_slice(), &[y, m, d] if days_from_civil(y, m, d) == days),
                "{shown}"
            );
        }
    }

    #[test]
    fn spans_read_naturally() {
        assert_eq!(span(1), "1 second");
        assert_eq!(span(7200), "2 hours");
        assert_eq!(span(86_400 * 3), "3 days");
        assert_eq!(span(86_400 * 400), "1 year 35 days");
    }

    #[test]
    fn long_explanations_wrap_under_their_label() {
        let text = "word ".repeat(40);
        let wrapped = wrap("    why: ", text.trim());
        let lines: Vec<&str> = wrapped.lines().collect();
        assert!(lines.len() > 1);
        assert!(lines.iter().all(|l| l.chars().count() <= 100));
        assert!(lines[1].starts_with("         word"));
    }
}
