//! Rendering progress messages the way docker's `jsonmessage` does.
//!
//! On a terminal each progress ID owns a line that is rewritten in place (cursor up, erase,
//! write, cursor down), with a `[=====>   ]` bar when the terminal is wider than 110
//! columns. Elsewhere messages are plain lines; docker repeats every update there, shoal
//! prints a line only when its text changed, and, like docker, skips bar-only updates.

use std::collections::HashMap;
use std::io::IsTerminal;

const ERASE_LINE: &str = "\x1b[2K";
/// docker draws the bar only on terminals wider than this.
const BAR_MIN_WIDTH: u16 = 110;
/// docker's assumed width when the terminal size is unknown.
const DEFAULT_WIDTH: u16 = 200;

/// One message from an updater: a progress line (`progress` is `Some`, possibly `(0, 0)`)
/// or a status line that ends the current block of progress lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Msg {
    pub id: String,
    pub text: String,
    pub progress: Option<(i64, i64)>,
}

impl Msg {
    pub fn progress(id: &str, text: &str, current: i64, total: i64) -> Self {
        Msg {
            id: id.to_string(),
            text: text.to_string(),
            progress: Some((current, total)),
        }
    }

    pub fn status(id: &str, text: &str) -> Self {
        Msg {
            id: id.to_string(),
            text: text.to_string(),
            progress: None,
        }
    }
}

/// Where and how messages are shown.
#[derive(Debug)]
pub struct Display {
    terminal: bool,
    quiet: bool,
    width: u16,
    /// Line index of each progress ID in the current block (terminal mode).
    ids: HashMap<String, usize>,
    /// Last text printed per ID (plain mode), to skip repeats.
    last: HashMap<String, String>,
}

impl Display {
    /// A display on stdout; `quiet` discards everything.
    pub fn for_stdout(quiet: bool) -> Self {
        let terminal = std::io::stdout().is_terminal();
        let width = if terminal {
            terminal_width().unwrap_or(DEFAULT_WIDTH)
        } else {
            DEFAULT_WIDTH
        };
        Display::new(terminal, width, quiet)
    }

    pub fn new(terminal: bool, width: u16, quiet: bool) -> Self {
        Display {
            terminal,
            quiet,
            width,
            ids: HashMap::new(),
            last: HashMap::new(),
        }
    }

    /// Prints one message.
    pub fn show(&mut self, m: &Msg) {
        if self.quiet {
            return;
        }
        let s = self.render(m);
        if !s.is_empty() {
            crate::cmd::emit(&s);
        }
    }

    /// Nothing to restore today; kept so callers have one place to end the display.
    pub fn finish(&mut self) {}

    /// The bytes for one message (pure, for tests).
    pub fn render(&mut self, m: &Msg) -> String {
        let mut out = String::new();
        let Some((current, total)) = m.progress else {
            self.ids.clear();
            self.last.clear();
            push_id(&mut out, &m.id);
            out.push_str(&m.text);
            out.push('\n');
            return out;
        };
        if !self.terminal {
            if current > 0 || total > 0 {
                return out;
            }
            if self.last.get(&m.id) == Some(&m.text) {
                return out;
            }
            self.last.insert(m.id.clone(), m.text.clone());
            push_id(&mut out, &m.id);
            out.push_str(&m.text);
            out.push('\n');
            return out;
        }
        let mut diff = 0;
        if !m.id.is_empty() {
            let line = match self.ids.get(&m.id) {
                Some(l) => *l,
                None => {
                    let l = self.ids.len();
                    self.ids.insert(m.id.clone(), l);
                    out.push('\n');
                    l
                }
            };
            diff = self.ids.len() - line;
            if diff > 0 {
                out.push_str(&format!("\x1b[{diff}A"));
            }
        }
        out.push_str(ERASE_LINE);
        out.push('\r');
        push_id(&mut out, &m.id);
        out.push_str(&m.text);
        out.push(' ');
        out.push_str(&bar(current, total, self.width));
        out.push('\r');
        if diff > 0 {
            out.push_str(&format!("\x1b[{diff}B"));
        }
        out
    }
}

fn push_id(out: &mut String, id: &str) {
    if !id.is_empty() {
        out.push_str(id);
        out.push_str(": ");
    }
}

/// docker's `RenderTUIProgress` with hidden counts: `[====>    ] ` on wide terminals.
pub fn bar(current: i64, total: i64, width: u16) -> String {
    if total <= 0 || width <= BAR_MIN_WIDTH {
        return String::new();
    }
    let pct = (((current as f64 / total as f64) * 100.0) as i64 / 2).clamp(0, 50) as usize;
    format!("[{}>{}] ", "=".repeat(pct), " ".repeat(50 - pct))
}

/// The terminal's width from `stty size` (no ioctl without unsafe code), else `$COLUMNS`.
fn terminal_width() -> Option<u16> {
    let out = std::process::Command::new("stty")
        .arg("size")
        .stdin(std::process::Stdio::inherit())
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.split_whitespace()
        .nth(1)
        .and_then(|w| w.parse().ok())
        .or_else(|| std::env::var("COLUMNS").ok()?.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_output_prints_changes_only_and_skips_bars() {
        let mut d = Display::new(false, 200, false);
        assert_eq!(
            d.render(&Msg::progress("overall progress", "0 out of 2 tasks", 0, 0)),
            "overall progress: 0 out of 2 tasks\n"
        );
        assert_eq!(
            d.render(&Msg::progress("overall progress", "0 out of 2 tasks", 0, 0)),
            ""
        );
        assert_eq!(d.render(&Msg::progress("1/2", "running  ", 9, 9)), "");
        assert_eq!(d.render(&Msg::progress("1/2", " ", 0, 0)), "1/2:  \n");
        assert_eq!(d.render(&Msg::status("", "job complete")), "job complete\n");
    }

    #[test]
    fn terminal_output_rewrites_lines_in_place() {
        let mut d = Display::new(true, 200, false);
        let first = d.render(&Msg::progress("overall progress", "0 out of 1 tasks", 0, 0));
        assert_eq!(
            first,
            "\n\x1b[1A\x1b[2K\roverall progress: 0 out of 1 tasks \r\x1b[1B"
        );
        let bar_line = d.render(&Msg::progress("1/1", "running  ", 9, 9));
        assert_eq!(
            bar_line,
            "\n\x1b[1A\x1b[2K\r1/1: running   [==================================================>] \r\x1b[1B"
        );
        let again = d.render(&Msg::progress("overall progress", "1 out of 1 tasks", 0, 0));
        assert_eq!(
            again,
            "\x1b[2A\x1b[2K\roverall progress: 1 out of 1 tasks \r\x1b[2B"
        );
    }

    #[test]
    fn bars_need_a_wide_terminal() {
        assert_eq!(bar(5, 9, 80), "");
        assert_eq!(
            bar(5, 9, 120),
            format!("[{}>{}] ", "=".repeat(27), " ".repeat(23))
        );
        assert_eq!(bar(0, 0, 200), "");
    }
}
