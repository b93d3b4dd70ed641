//! Progress of an apply: a bar on stderr when it is a terminal, or one JSON event per line
//! on stdout with `--json`, or nothing.

use std::sync::atomic::{AtomicU64, Ordering};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;

use crate::render;

/// One line of `apply --json` output.
#[derive(Debug, Serialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum Event<'a> {
    Started { kind: &'a str, key: &'a str, bytes: u64 },
    Progress { bytes_done: u64, bytes_total: u64 },
    Finished { kind: &'a str, key: &'a str, etag: &'a str },
    Failed { kind: &'a str, key: &'a str, error: &'a str },
}

/// Where progress goes.
pub struct Progress {
    bar: Option<ProgressBar>,
    json: bool,
    done: AtomicU64,
    total: u64,
}

impl Progress {
    pub fn new(total: u64, json: bool) -> Progress {
        let visible = !json && std::io::IsTerminal::is_terminal(&std::io::stderr());
        let bar = visible.then(|| {
            let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
            let template = "{bytes}/{total_bytes} {wide_bar} {bytes_per_sec} {eta} left";
            if let Ok(style) = ProgressStyle::with_template(template) {
                bar.set_style(style);
            }
            bar
        });
        Progress { bar, json, done: AtomicU64::new(0), total }
    }

    /// A progress that shows nothing.
    pub fn hidden() -> Progress {
        Progress { bar: None, json: false, done: AtomicU64::new(0), total: 0 }
    }

    /// `bytes` more were read and stored (or found already stored).
    pub fn advance(&self, bytes: u64) {
        let done = self.done.fetch_add(bytes, Ordering::Relaxed) + bytes;
        if let Some(bar) = &self.bar {
            bar.set_position(done);
        }
        if self.json {
            self.emit(&Event::Progress { bytes_done: done, bytes_total: self.total });
        }
    }

    pub fn emit(&self, event: &Event<'_>) {
        if self.json
            && let Ok(mut line) = serde_json::to_string(event)
        {
            line.push('\n');
            render::data(&line);
        }
    }

    /// A message above the bar (or on stderr without one).
    pub fn say(&self, text: &str) {
        match &self.bar {
            Some(bar) => bar.println(text),
            None if !self.json => render::status(text),
            None => {}
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
