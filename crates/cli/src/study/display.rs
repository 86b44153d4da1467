//! The study's progress display: `[elapsed] stage i/n <id> <stage message>`, and the stop flag
//! Ctrl-C/SIGTERM set.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

/// One progress display for the whole study: `[elapsed] stage i/n <id> <stage message>`.
#[derive(Clone)]
pub struct Display {
    pub(super) bar: ProgressBar,
    stop: Arc<AtomicBool>,
}

impl Display {
    /// Whether Ctrl-C/SIGTERM asked the study to stop.
    pub fn stop_requested(&self) -> bool {
        crate::signals::requested(&self.stop)
    }

    pub(super) fn new(quiet: bool, stop: Arc<AtomicBool>) -> Self {
        let bar = if quiet {
            ProgressBar::hidden()
        } else {
            ProgressBar::new(0)
        };
        bar.set_style(
            ProgressStyle::with_template("[{elapsed_precise}] stage {pos}/{len} {prefix} {msg}")
                .expect("static template"),
        );
        bar.enable_steady_tick(Duration::from_millis(250));
        Display { bar, stop }
    }

    /// Sets the current stage's detail message.
    pub fn message(&self, msg: impl Into<String>) {
        self.bar.set_message(msg.into());
    }

    /// Prints a line above the bar (also when stderr is not a terminal).
    pub fn line(&self, msg: &str) {
        self.bar.suspend(|| eprintln!("{msg}"));
    }
}
