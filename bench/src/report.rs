//! The one table the bench prints: rows of label, value, detail, target and verdict, with
//! section headings and notes.

use std::fmt::Write as _;
use std::time::Duration;

use crate::throughput::{self, Mode, Sample};
use crate::{accounts, pace, targets};

/// A contender's name, its median (rate, CPU per request), and its block size.
type Medians<'a> = (&'a str, Option<(f64, Duration)>, usize);

fn verdict(pass: bool) -> &'static str {
    if pass { "PASS" } else { "MISS" }
}

/// The one table: rows of label, value, detail, target and verdict, with section headings.
#[derive(Default)]
pub(crate) struct Table {
    notes: Vec<String>,
    rows: Vec<Row>,
}

enum Row {
    Heading(String),
    Line {
        label: String,
        value: String,
        detail: String,
        target: String,
        verdict: String,
    },
}

impl Table {
    pub(crate) fn note(&mut self, note: String) {
        self.notes.push(note);
    }

    pub(crate) fn heading(&mut self, text: String) {
        self.rows.push(Row::Heading(text));
    }

    pub(crate) fn line(
        &mut self,
        label: &str,
        value: String,
        detail: String,
        target: &str,
        verdict: Option<bool>,
    ) {
        self.rows.push(Row::Line {
            label: label.to_owned(),
            value,
            detail,
            target: target.to_owned(),
            verdict: verdict.map_or_else(String::new, |v| self::verdict(v).to_owned()),
        });
    }

    pub(crate) fn throughput(
        &mut self,
        transport: &str,
        mode: Mode,
        requests: usize,
        results: &[(&'static str, Vec<Sample>)],
        primary: bool,
    ) {
        self.heading(format!(
            "{transport}, {mode}, {requests} requests per block"
        ));
        let medians: Vec<Medians<'_>> = results
            .iter()
            .map(|(name, s)| {
                (
                    *name,
                    throughput::medians(s),
                    s.first().map_or(0, |x| x.requests),
                )
            })
            .collect();
        let samples = |prefix: &str| {
            results
                .iter()
                .find(|(n, _)| n.starts_with(prefix))
                .map(|(_, s)| s.as_slice())
        };
        for (name, m, block) in &medians {
            let Some((rate, cpu)) = m else { continue };
            let value = format!("{rate:>9.0} req/s");
            let mut detail = format!("{:>7.1} µs CPU/req", micros(*cpu));
            if name.starts_with("(d)") {
                let _ = write!(detail, " ({block}/block, incl. interpreter)");
            }
            self.line(name, value, detail, "", None);
        }
        if let (Some(a), Some(b)) = (samples("(a)"), samples("(b)")) {
            let suffix = if primary { "" } else { " (HTTP)" };
            if let Some(rate) = throughput::paired(b, a, Sample::rate) {
                self.line(
                    &format!("    b/a rate{suffix}"),
                    format!("{:>9.3}", rate.median),
                    middle_half(rate),
                    &format!("≥ {}", targets::RATE_VS_BARE),
                    Some(rate.median >= targets::RATE_VS_BARE),
                );
            }
            if let Some(cpu) = throughput::paired(b, a, Sample::cpu_seconds) {
                self.line(
                    &format!("    b/a CPU per request{suffix}"),
                    format!("{:>9.3}", cpu.median),
                    middle_half(cpu),
                    &format!("≤ {}", targets::CPU_VS_BARE),
                    Some(cpu.median <= targets::CPU_VS_BARE),
                );
            }
        }
        if let (Some(b), Some(parsed)) = (samples("(b)"), samples("(a′)"))
            && let Some(cpu) = throughput::paired(b, parsed, Sample::cpu_seconds)
        {
            let suffix = if primary { "" } else { " (HTTP)" };
            self.line(
                &format!("    b/a′ CPU per request{suffix}"),
                format!("{:>9.3}", cpu.median),
                middle_half(cpu),
                &format!("≤ {}", targets::CPU_VS_PARSED),
                Some(cpu.median <= targets::CPU_VS_PARSED),
            );
        }
        if let (Some(b), Some(c)) = (samples("(b)"), samples("(c)"))
            && let (Some(rate), Some(cpu)) = (
                throughput::paired(b, c, Sample::rate),
                throughput::paired(b, c, Sample::cpu_seconds),
            )
        {
            self.line(
                "    b/c rate",
                format!("{:>9.3}", rate.median),
                format!("CPU/req b/c {:.3}", cpu.median),
                "",
                None,
            );
        }
        if let (Some(b), Some(d)) = (samples("(b)"), samples("(d)"))
            && let Some(rate) = throughput::paired(b, d, Sample::rate)
        {
            self.line(
                "    b/d rate (vs Mastodon.py)",
                format!("{:>9.1}", rate.median),
                String::new(),
                &format!("≥ {}", targets::RATE_VS_PYTHON),
                Some(rate.median >= targets::RATE_VS_PYTHON),
            );
        }
    }

    pub(crate) fn pace(&mut self, r: &pace::PaceResult, info_only: bool) {
        if !info_only {
            self.heading(format!(
                "pace (factor 1.1, no client quota), {} windows of {} requests",
                pace::WINDOWS,
                pace::LIMIT,
            ));
        }
        let mut detail = format!(
            "{} ok, {} × 429, {} errors in {:.1} s",
            r.ok,
            r.too_many,
            r.errors,
            r.elapsed.as_secs_f64()
        );
        if let Some(e) = &r.first_error {
            let _ = write!(detail, "; first error: {e}");
        }
        let fraction = r.fraction();
        let label = format!(
            "  {:?} windows, {}",
            r.run.window,
            if r.run.keep_date {
                "headers as sent"
            } else {
                "Date removed"
            }
        );
        let clean = r.too_many == 0 && r.errors == 0;
        if info_only {
            // Not a target: 1-second header resolution is a third of a 3-second window.
            self.line(&label, format!("{fraction:>9.3}"), detail, "info", None);
        } else {
            self.line(
                &label,
                format!("{fraction:>9.3}"),
                detail,
                &format!("≥ {}, no 429", targets::PACE_FRACTION),
                Some(fraction >= targets::PACE_FRACTION && clean),
            );
        }
    }

    pub(crate) fn cold_start(&mut self, starts: &[(Duration, u64)]) {
        self.heading(format!(
            "cold start: spawn → HTTPS client → verify_credentials → exit, median of {}",
            starts.len()
        ));
        let mut walls: Vec<Duration> = starts.iter().map(|s| s.0).collect();
        walls.sort();
        let peak = starts.iter().map(|s| s.1).max().unwrap_or(0);
        let (Some(min), Some(max), Some(median)) =
            (walls.first(), walls.last(), walls.get(walls.len() / 2))
        else {
            return;
        };
        let ms = |d: &Duration| d.as_secs_f64() * 1000.0;
        self.line(
            "  wall time",
            format!("{:>9.1} ms", ms(median)),
            format!("min {:.1} ms, max {:.1} ms", ms(min), ms(max)),
            &format!("< {} ms", targets::COLD_START_MS),
            Some(ms(median) < targets::COLD_START_MS),
        );
        self.line(
            "  peak RSS (VmHWM)",
            format!("{:>9.1} MiB", kib_to_mib(peak)),
            String::new(),
            "",
            None,
        );
    }

    pub(crate) fn accounts(&mut self, r: &accounts::Report) {
        self.heading(format!("{} accounts", accounts::ACCOUNTS));
        for file in std::iter::once(&r.file).chain(r.file_fit.as_ref()) {
            let label = format!("  AccountsFile, {} accounts", file.accounts);
            let size = format!("file {:.2} MiB", kib_to_mib(file.file_bytes / 1024));
            for (name, result) in [("load_user", &file.load), ("save_user", &file.save)] {
                let (value, detail) = match result {
                    Ok(d) => (
                        format!("{:>9.2} ms", d.as_secs_f64() * 1000.0),
                        size.clone(),
                    ),
                    Err(e) => ("  refused".to_owned(), e.clone()),
                };
                self.line(&format!("{label}: {name}"), value, detail, "", None);
            }
        }
        self.line(
            "  MemoryStore heap per account",
            format!("{:>9.0} B", r.memory_store_bytes),
            format!(
                "save {:.2} µs, load {:.2} µs",
                micros(r.memory_store_save),
                micros(r.memory_store_load)
            ),
            "",
            None,
        );
        self.line(
            "  Pacer heap per key (default quota)",
            format!("{:>9.0} B", r.pacer_bytes),
            String::new(),
            "",
            None,
        );
        let idle = r.memory_store_bytes + r.pacer_bytes;
        self.line(
            "  idle account: MemoryStore + Pacer",
            format!("{idle:>9.0} B"),
            String::new(),
            "< 1 KiB",
            Some(idle < targets::BYTES_PER_IDLE_ACCOUNT),
        );
    }

    pub(crate) fn render(&self) -> String {
        let width = |f: fn(&Row) -> usize| self.rows.iter().map(f).max().unwrap_or(0);
        let lw = width(|r| match r {
            Row::Line { label, .. } => label.chars().count(),
            Row::Heading(_) => 0,
        });
        let vw = width(|r| match r {
            Row::Line { value, .. } => value.chars().count(),
            Row::Heading(_) => 0,
        });
        let dw = width(|r| match r {
            Row::Line { detail, .. } => detail.chars().count(),
            Row::Heading(_) => 0,
        });
        let tw = width(|r| match r {
            Row::Line { target, .. } => target.chars().count(),
            Row::Heading(_) => 0,
        });
        let pad = |s: &str, w: usize| {
            let n = w.saturating_sub(s.chars().count());
            format!("{s}{}", " ".repeat(n))
        };
        let total = lw + vw + dw + tw + 4 * 2 + 6;
        let mut out = String::new();
        let _ = writeln!(out);
        for n in &self.notes {
            let _ = writeln!(out, "{n}");
        }
        let _ = writeln!(out, "{}", "─".repeat(total));
        let _ = writeln!(
            out,
            "{}  {}  {}  {}  result",
            pad("", lw),
            pad("value", vw),
            pad("detail", dw),
            pad("target", tw)
        );
        for row in &self.rows {
            match row {
                Row::Heading(h) => {
                    let _ = writeln!(out, "{}\n{h}", "─".repeat(total));
                }
                Row::Line {
                    label,
                    value,
                    detail,
                    target,
                    verdict,
                } => {
                    let _ = writeln!(
                        out,
                        "{}  {}  {}  {}  {verdict}",
                        pad(label, lw),
                        pad(value, vw),
                        pad(detail, dw),
                        pad(target, tw)
                    );
                }
            }
        }
        let _ = writeln!(out, "{}", "─".repeat(total));
        out
    }
}

/// The detail beside a paired ratio.
fn middle_half(spread: throughput::Spread) -> String {
    format!(
        "middle half of the rounds {:.3}–{:.3}",
        spread.low, spread.high
    )
}

pub(crate) fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

#[allow(clippy::cast_precision_loss)] // sizes far below 2^52
fn kib_to_mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}
