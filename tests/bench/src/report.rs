//! The outputs of a run: the terminal table, the JSON file of every figure, one SVG chart per
//! scenario (hand-written: bars for the median, whiskers for the spread), and the Markdown of
//! the README's "Performance" section.

use std::fmt::Write as _;
use std::path::Path;

use crate::error::{Context, Result};
use crate::scenario::Better;
use crate::suite::{ScenarioResult, Status, SuiteResult};

/// A figure with thousands separators (or one decimal below 100).
pub fn fmt_num(v: f64) -> String {
    if v.abs() < 100.0 {
        return format!("{v:.1}");
    }
    let n = v.round() as i64;
    let s = n.abs().to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(' ');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

fn figure(s: &crate::suite::SideResult) -> String {
    match (s.median, s.min, s.max) {
        (Some(m), Some(lo), Some(hi)) if s.runs.len() > 1 => {
            format!("{} ({}–{})", fmt_num(m), fmt_num(lo), fmt_num(hi))
        }
        (Some(m), _, _) => fmt_num(m),
        _ => match &s.error {
            Some(_) => "failed".to_owned(),
            None => "—".to_owned(),
        },
    }
}

/// switchboard's advantage: > 1 means switchboard is better in this scenario's direction.
pub fn ratio(better: Better, sb: Option<f64>, peer: Option<f64>) -> Option<f64> {
    let (a, b) = (sb?, peer?);
    match better {
        Better::Higher if b > 0.0 => Some(a / b),
        Better::Lower if a > 0.0 => Some(b / a),
        _ => None,
    }
}

/// One row of the table.
#[derive(Debug, Clone)]
pub struct Row {
    /// Scenario id.
    pub id: String,
    /// Unit.
    pub unit: String,
    /// switchboard's figure.
    pub sb: String,
    /// Peer name.
    pub peer: String,
    /// Peer figure.
    pub peer_fig: String,
    /// Ratio text.
    pub ratio: String,
    /// Target.
    pub target: String,
}

/// The rows of the table: one per (scenario, peer).
pub fn rows(s: &SuiteResult) -> Vec<Row> {
    let mut out = Vec::new();
    for r in &s.scenarios {
        match &r.status {
            Status::Waiting(why) => out.push(Row {
                id: r.id.clone(),
                unit: r.unit.clone(),
                sb: "waiting".to_owned(),
                peer: why.clone(),
                peer_fig: String::new(),
                ratio: String::new(),
                target: r.target.clone(),
            }),
            Status::Failed(why) if r.sides.is_empty() => out.push(Row {
                id: r.id.clone(),
                unit: r.unit.clone(),
                sb: "FAILED".to_owned(),
                peer: why.chars().take(100).collect(),
                peer_fig: String::new(),
                ratio: String::new(),
                target: r.target.clone(),
            }),
            _ if r.ceiling_of.is_some() => {
                let c = r.sides.first();
                out.push(Row {
                    id: r.id.clone(),
                    unit: r.unit.clone(),
                    sb: "—".to_owned(),
                    peer: c.map(|c| c.server.clone()).unwrap_or_default(),
                    peer_fig: c.map(figure).unwrap_or_default(),
                    ratio: r
                        .headroom
                        .map(|h| format!("headroom {h:.2}×"))
                        .unwrap_or_default(),
                    target: r.target.clone(),
                });
            }
            _ => {
                let Some(sb) = r.sides.first() else { continue };
                if r.sides.len() == 1 {
                    out.push(Row {
                        id: r.id.clone(),
                        unit: r.unit.clone(),
                        sb: figure(sb),
                        peer: "(no peer)".to_owned(),
                        peer_fig: String::new(),
                        ratio: String::new(),
                        target: r.target.clone(),
                    });
                }
                for p in r.sides.iter().skip(1) {
                    out.push(Row {
                        id: r.id.clone(),
                        unit: r.unit.clone(),
                        sb: figure(sb),
                        peer: p.server.clone(),
                        peer_fig: figure(p),
                        ratio: ratio(r.better, sb.median, p.median)
                            .map(|x| format!("{x:.2}×"))
                            .unwrap_or_default(),
                        target: r.target.clone(),
                    });
                }
            }
        }
    }
    out
}

/// Median and maximum CPU (in cores) that processes outside the suite used during the runs.
pub fn background(s: &SuiteResult) -> Option<(f64, f64)> {
    let mut v: Vec<f64> = s
        .scenarios
        .iter()
        .flat_map(|r| r.sides.iter())
        .flat_map(|x| x.background_cpu.iter().copied())
        .collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    Some((v[v.len() / 2], v[v.len() - 1]))
}

/// The terminal table.
pub fn table(s: &SuiteResult) -> String {
    let rows = rows(s);
    let head = [
        "scenario",
        "unit",
        "switchboard",
        "peer",
        "peer figure",
        "ratio",
        "target",
    ];
    let cells: Vec<[String; 7]> = rows
        .iter()
        .map(|r| {
            [
                r.id.clone(),
                r.unit.clone(),
                r.sb.clone(),
                r.peer.clone(),
                r.peer_fig.clone(),
                r.ratio.clone(),
                r.target.clone(),
            ]
        })
        .collect();
    let mut w = head.map(|h| h.chars().count());
    for c in &cells {
        for (i, x) in c.iter().enumerate() {
            w[i] = w[i].max(x.chars().count().min(60));
        }
    }
    let mut out = String::new();
    let line = |out: &mut String, c: &[String]| {
        for (i, x) in c.iter().enumerate() {
            let x: String = x.chars().take(60).collect();
            let pad = w[i].saturating_sub(x.chars().count());
            if i == 2 || i == 4 || i == 5 {
                let _ = write!(out, "{}{x}  ", " ".repeat(pad));
            } else {
                let _ = write!(out, "{x}{}  ", " ".repeat(pad));
            }
        }
        out.push('\n');
    };
    line(&mut out, &head.map(str::to_owned));
    line(&mut out, &w.map(|n| "-".repeat(n)));
    for c in &cells {
        line(&mut out, c);
    }
    let _ = writeln!(
        out,
        "\nratio = switchboard's advantage (> 1: switchboard better; for latency and memory the peer's figure ÷ switchboard's).\n\
         Figures are medians of {} run(s); the range in parentheses is min–max.",
        s.profile.reps
    );
    if let Some((med, max)) = background(s) {
        let _ = writeln!(
            out,
            "Other processes on this machine used {med:.2} cores (median; max {max:.2}) during the runs{}",
            if max > 0.25 {
                ": figures measured next to that load are disturbed (see background_cpu in results.json)."
            } else {
                "."
            }
        );
    }
    out
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// An SVG bar chart of one scenario: median bars, min–max whiskers, labels.
pub fn svg(r: &ScenarioResult) -> String {
    let bars: Vec<&crate::suite::SideResult> = r.sides.iter().collect();
    let n = bars.len().max(1);
    let (wd, bar_h, gap, left, top) = (960.0, 34.0, 16.0, 270.0, 64.0);
    let ht = top + n as f64 * (bar_h + gap) + 40.0;
    let maxv = bars
        .iter()
        .filter_map(|b| b.max.or(b.median))
        .fold(0.0f64, f64::max)
        .max(1e-9);
    let scale = (wd - left - 150.0) / maxv;
    let mut s = String::new();
    let _ = write!(
        s,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{wd}" height="{ht}" viewBox="0 0 {wd} {ht}" font-family="sans-serif" font-size="13">
<rect width="100%" height="100%" fill="#fff"/>
<text x="12" y="22" font-size="15" font-weight="bold">{}</text>
<text x="12" y="42" fill="#555">{} — {} ({} is better){}</text>
"##,
        esc(r.id.as_str()),
        esc(&r.title),
        esc(&r.unit),
        if r.better == Better::Higher {
            "higher"
        } else {
            "lower"
        },
        r.headroom
            .map(|h| format!(" — generator headroom {h:.2}×"))
            .unwrap_or_default()
    );
    for (i, b) in bars.iter().enumerate() {
        let y = top + i as f64 * (bar_h + gap);
        let color = if i == 0 && r.ceiling_of.is_none() {
            "#2b6cb0"
        } else {
            "#a0aec0"
        };
        let _ = writeln!(
            s,
            r#"<text x="{}" y="{}" text-anchor="end">{}</text>"#,
            left - 8.0,
            y + bar_h / 2.0 + 4.0,
            esc(&b.server)
        );
        match b.median {
            Some(m) => {
                let w = (m * scale).max(1.0);
                let _ = writeln!(
                    s,
                    r#"<rect x="{left}" y="{y}" width="{w:.1}" height="{bar_h}" fill="{color}"/>"#
                );
                if let (Some(lo), Some(hi)) = (b.min, b.max)
                    && b.runs.len() > 1
                {
                    let (x1, x2, yc) = (left + lo * scale, left + hi * scale, y + bar_h / 2.0);
                    let _ = writeln!(
                        s,
                        r##"<line x1="{x1:.1}" y1="{yc}" x2="{x2:.1}" y2="{yc}" stroke="#1a202c" stroke-width="2"/><line x1="{x1:.1}" y1="{}" x2="{x1:.1}" y2="{}" stroke="#1a202c"/><line x1="{x2:.1}" y1="{}" x2="{x2:.1}" y2="{}" stroke="#1a202c"/>"##,
                        yc - 6.0,
                        yc + 6.0,
                        yc - 6.0,
                        yc + 6.0
                    );
                }
                let _ = writeln!(
                    s,
                    r#"<text x="{:.1}" y="{}">{}</text>"#,
                    left + b.max.unwrap_or(m).max(m) * scale + 8.0,
                    y + bar_h / 2.0 + 4.0,
                    esc(&fmt_num(m))
                );
            }
            None => {
                let _ = writeln!(
                    s,
                    r##"<text x="{left}" y="{}" fill="#c53030">{}</text>"##,
                    y + bar_h / 2.0 + 4.0,
                    esc(if b.error.is_some() {
                        "failed"
                    } else {
                        "not measured"
                    })
                );
            }
        }
    }
    let _ = writeln!(
        s,
        r##"<text x="12" y="{}" fill="#777" font-size="11">median of {} run(s), whiskers min–max · target: {}</text>
</svg>"##,
        ht - 14.0,
        r.sides.first().map_or(0, |b| b.runs.len()),
        esc(&r.target)
    );
    s
}

/// The README "Performance" section.
pub fn markdown(s: &SuiteResult, charts: &str) -> String {
    let m = &s.machine;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Measured with `make bench` ({} profile: {} warm-up excluded, {} windows, {} run(s) per server alternating) on {} UTC.\n",
        s.profile.name,
        fmt_dur(s.profile.warmup),
        fmt_dur(s.profile.measure),
        s.profile.reps,
        s.date
    );
    let _ = writeln!(
        out,
        "Machine: {}, {} logical CPUs, {} GiB, {} (kernel {}); {}. Every server runs on the same CPU, one at a time; the load generator (`switchboard-bench`) runs on the other.\n",
        m.cpu, m.cores, m.memory_gib, m.os, m.kernel, m.pinning
    );
    if let Some((med, max)) = background(s) {
        let _ = writeln!(
            out,
            "Other processes on the machine used {med:.2} cores (median over the runs; max {max:.2}) while the suite measured.\n"
        );
    }
    let _ = writeln!(
        out,
        "Versions: {}.\n",
        m.versions
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let _ = writeln!(
        out,
        "| scenario | unit | switchboard | peer | peer figure | ratio | target |\n|---|---|--:|---|--:|--:|---|"
    );
    for r in rows(s) {
        let has_chart = s
            .scenarios
            .iter()
            .any(|x| x.id == r.id && !x.sides.is_empty());
        let id = if has_chart {
            format!("[`{}`]({charts}/{}.svg)", r.id, r.id)
        } else {
            format!("`{}`", r.id)
        };
        let _ = writeln!(
            out,
            "| {id} | {} | {} | {} | {} | {} | {} |",
            r.unit,
            r.sb,
            r.peer.replace('|', "/"),
            r.peer_fig,
            r.ratio,
            r.target
        );
    }
    let _ = writeln!(
        out,
        "\nRatio: switchboard's advantage (> 1 means switchboard is better; for latency and memory it is the peer's figure divided by switchboard's). \
         Ranges are min–max over the runs. Every figure is in `{charts}/results.json` with its counts, latency percentiles, server CPU and memory."
    );
    out
}

fn fmt_dur(d: std::time::Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

/// Writes `results.json`, one SVG per measured scenario and `performance.md` into `dir`.
pub fn write_all(s: &SuiteResult, dir: &Path, charts_link: &str) -> Result<()> {
    std::fs::create_dir_all(dir).context(|| format!("create {}", dir.display()))?;
    let json = serde_json::to_string_pretty(s).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"));
    let p = dir.join("results.json");
    std::fs::write(&p, json).context(|| format!("write {}", p.display()))?;
    for r in &s.scenarios {
        if r.sides.is_empty() {
            continue;
        }
        let p = dir.join(format!("{}.svg", r.id));
        std::fs::write(&p, svg(r)).context(|| format!("write {}", p.display()))?;
    }
    let p = dir.join("performance.md");
    std::fs::write(&p, markdown(s, charts_link)).context(|| format!("write {}", p.display()))?;
    Ok(())
}

/// Replaces the text between `<!-- bench:start -->` and `<!-- bench:end -->` in `readme`.
pub fn update_readme(readme: &Path, section: &str) -> Result<bool> {
    let text = std::fs::read_to_string(readme).context(|| format!("read {}", readme.display()))?;
    let (a, b) = ("<!-- bench:start -->", "<!-- bench:end -->");
    let (Some(i), Some(j)) = (text.find(a), text.find(b)) else {
        return Ok(false);
    };
    if j < i {
        return Ok(false);
    }
    let new = format!("{}{a}\n{section}{}", &text[..i], &text[j..]);
    std::fs::write(readme, new).context(|| format!("write {}", readme.display()))?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_ratios() {
        assert_eq!(fmt_num(1234567.4), "1 234 567");
        assert_eq!(fmt_num(12.34), "12.3");
        assert_eq!(ratio(Better::Higher, Some(300.0), Some(100.0)), Some(3.0));
        assert_eq!(ratio(Better::Lower, Some(100.0), Some(300.0)), Some(3.0));
        assert_eq!(ratio(Better::Lower, None, Some(1.0)), None);
    }
}
