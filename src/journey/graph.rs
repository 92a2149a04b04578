//! Mermaid `flowchart TD` of a compiled journey, for docs and reviews: an entry node,
//! one node per step labelled with its type and key facts, and labelled edges (performed
//! / timed out, branch cases, split variants with their share, holdout). Text that
//! reaches a label is escaped, so any content key or condition renders safely.

use std::fmt::Write as _;

use crate::journey::compiled::{Channel, Entry, Journey, Reentry, StepKind, WaitTrigger};
use crate::journey::model::{JourneySource, StepSource};

/// Longest condition text shown on an edge before it is cut with "…".
const MAX_CONDITION_CHARS: usize = 48;

/// The Mermaid flowchart of a journey. `source` (the journey as written, steps in the
/// same order) supplies the text of branch conditions; without it cases are numbered.
pub fn mermaid(journey: &Journey, source: Option<&JourneySource>) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "flowchart TD");
    let title = if journey.name.is_empty() { journey.id.as_str() } else { journey.name.as_str() };
    let _ = writeln!(out, "    %% journey {}", journey.id.replace('\n', " "));
    let mut entry = match &journey.entry {
        Entry::Event(m) => format!("entry: {}", m.event),
        Entry::Audience(_) => "entry: audience".to_owned(),
    };
    entry.push_str(&format!("\n{title}"));
    if let Reentry::Multiple { lock, cap, window } = journey.reentry {
        entry.push_str(&format!("\nre-entry after {lock}"));
        if let (Some(cap), Some(window)) = (cap, window) {
            entry.push_str(&format!(", ≤ {cap} per {window}"));
        }
    }
    if let Some(conversion) = &journey.conversion {
        entry.push_str(&format!("\nconversion: {}", conversion.matcher.event));
        if let Some(within) = conversion.within {
            entry.push_str(&format!(" within {within}"));
        }
    }
    let _ = writeln!(out, "    entry([\"{}\"])", escape(&entry));
    for (i, step) in journey.steps.iter().enumerate() {
        let source_step = source.and_then(|s| s.steps.get(i));
        let label = escape(&format!("{}\n{}", step.id, step_label(&step.kind, source_step)));
        let _ = match step.kind {
            StepKind::Exit => writeln!(out, "    s{i}([\"{label}\"])"),
            StepKind::Branch { .. } | StepKind::Split { .. } => {
                writeln!(out, "    s{i}{{\"{label}\"}}")
            }
            StepKind::WaitFor { .. } | StepKind::Delay { .. } => {
                writeln!(out, "    s{i}[/\"{label}\"/]")
            }
            StepKind::Send(_) => writeln!(out, "    s{i}[\"{label}\"]"),
        };
    }
    let _ = writeln!(out, "    entry --> s{}", journey.start);
    for (i, step) in journey.steps.iter().enumerate() {
        for (label, target) in edges(&step.kind, source.and_then(|s| s.steps.get(i))) {
            match label {
                Some(label) => {
                    let _ = writeln!(out, "    s{i} -->|\"{}\"| s{target}", escape(&label));
                }
                None => {
                    let _ = writeln!(out, "    s{i} --> s{target}");
                }
            }
        }
        if let StepKind::Split { holdout_bp, .. } = step.kind {
            if holdout_bp > 0 {
                let _ = writeln!(out, "    h{i}([\"holdout exit\"])");
                let _ = writeln!(out, "    s{i} -.->|\"holdout {}\"| h{i}", percent(holdout_bp));
            }
        }
    }
    out
}

/// The second line of a step's node.
fn step_label(kind: &StepKind, source: Option<&StepSource>) -> String {
    match kind {
        StepKind::WaitFor { trigger, timeout, .. } => match trigger {
            WaitTrigger::Event(m) => format!("wait_for {} ≤ {timeout}", m.event),
            WaitTrigger::State(_) => {
                let until = source.and_then(|s| s.until.as_ref()).map(|u| shorten(&u.to_json()));
                format!("wait_for {} ≤ {timeout}", until.as_deref().unwrap_or("state"))
            }
        },
        StepKind::Delay { duration, until_minute, .. } => {
            let mut label = "delay".to_owned();
            if duration.millis() > 0 {
                label.push_str(&format!(" {duration}"));
            }
            if let Some(m) = until_minute {
                label.push_str(&format!(" until {:02}:{:02}", m / 60, m % 60));
            }
            label
        }
        StepKind::Branch { cases, .. } if cases.len() == 1 => "branch (1 case)".to_owned(),
        StepKind::Branch { cases, .. } => format!("branch ({} cases)", cases.len()),
        StepKind::Send(send) => {
            let mut label = format!("send {}: {}", send.channel.as_str(), send.content);
            if let Some(incentive) = &send.incentive {
                label.push_str(&format!(" 🎁 {}", incentive.id));
            }
            if !send.fallback.is_empty() {
                let names: Vec<&str> = send.fallback.iter().map(|c| c.as_str()).collect();
                label.push_str(&format!("\nfallback {}", names.join(" → ")));
            }
            if send.critical {
                label.push_str("\ncritical");
            }
            if send.channel == Channel::Ads {
                label.push_str(if send.audience_add { " (add)" } else { " (remove)" });
            }
            label
        }
        StepKind::Split { holdout_bp, adaptive, .. } => {
            let mut label = "split".to_owned();
            if *holdout_bp > 0 {
                label.push_str(", holdout ");
                label.push_str(&percent(*holdout_bp));
            }
            if *adaptive {
                label.push_str(", adaptive");
            }
            label
        }
        StepKind::Exit => "exit".to_owned(),
    }
}

/// Outgoing edges: (label, target step index).
fn edges(kind: &StepKind, source: Option<&StepSource>) -> Vec<(Option<String>, usize)> {
    match kind {
        StepKind::WaitFor { on_performed, on_timed_out, .. } => {
            vec![(Some("performed".into()), *on_performed), (Some("timed out".into()), *on_timed_out)]
        }
        StepKind::Delay { next, .. } => vec![(None, *next)],
        StepKind::Send(send) => vec![(None, send.next)],
        StepKind::Branch { cases, default } => {
            let mut out: Vec<(Option<String>, usize)> = cases
                .iter()
                .enumerate()
                .map(|(k, (_, next))| {
                    let text = source.and_then(|s| s.cases.get(k)).map(|c| shorten(&c.when.to_json()));
                    (Some(text.unwrap_or_else(|| format!("case {}", k + 1))), *next)
                })
                .collect();
            out.push((Some("otherwise".into()), *default));
            out
        }
        StepKind::Split { variants, .. } => {
            variants.iter().map(|(name, bp, next)| (Some(format!("{name} {}", percent(*bp))), *next)).collect()
        }
        StepKind::Exit => Vec::new(),
    }
}

fn percent(bp: u32) -> String {
    if bp % 100 == 0 {
        format!("{}%", bp / 100)
    } else {
        format!("{}.{}%", bp / 100, format!("{:02}", bp % 100).trim_end_matches('0'))
    }
}

fn shorten(text: &str) -> String {
    if text.chars().count() <= MAX_CONDITION_CHARS {
        text.to_owned()
    } else {
        let mut cut: String = text.chars().take(MAX_CONDITION_CHARS - 1).collect();
        cut.push('…');
        cut
    }
}

/// Escapes text for a quoted Mermaid label: entity codes for characters Mermaid or
/// its HTML rendering treat specially, `<br/>` for line breaks.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '"' => out.push_str("#quot;"),
            '#' => out.push_str("#35;"),
            '<' => out.push_str("#lt;"),
            '>' => out.push_str("#gt;"),
            '&' => out.push_str("#amp;"),
            '|' => out.push_str("#124;"),
            '`' => out.push_str("#96;"),
            '\n' => out.push_str("<br/>"),
            '\r' => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_label_text() {
        assert_eq!(escape("a \"b\" <c> #1 | x\ny"), "a #quot;b#quot; #lt;c#gt; #35;1 #124; x<br/>y");
        assert_eq!(percent(2500), "25%");
        assert_eq!(percent(3333), "33.33%");
        assert_eq!(percent(1050), "10.5%");
    }
}
