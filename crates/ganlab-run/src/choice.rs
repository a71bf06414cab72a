//! The config's choices (architecture, game, device, preset, metric) as types that the command
//! line and the config file read the same way: each parses from its name with `FromStr` (the
//! error names the key and lists the valid values) and is written back as that name. The command
//! line (`ganlab-cli`'s `choice::parser`) reads them through [`Choice`], which also lists the
//! valid values for `--help`; this crate knows no command line.

use std::str::FromStr;

/// A choice among named values.
pub trait Choice: FromStr<Err: std::fmt::Display> + Clone + Send + Sync + 'static {
    /// The values `--help` lists (`None` where the set is open, as `cuda:N`).
    fn listed() -> Option<Vec<&'static str>>;
}

impl Choice for ganlab_games::GameName {
    fn listed() -> Option<Vec<&'static str>> {
        Some(ganlab_games::GAME_NAMES.to_vec())
    }
}

impl Choice for ganlab_train::Precision {
    fn listed() -> Option<Vec<&'static str>> {
        Some(ganlab_train::Precision::names())
    }
}

impl Choice for ganlab_metrics::resize::Resize {
    fn listed() -> Option<Vec<&'static str>> {
        Some(
            ganlab_metrics::resize::Resize::ALL
                .map(|r| r.name())
                .to_vec(),
        )
    }
}

impl Choice for ganlab_train::ArchChoice {
    fn listed() -> Option<Vec<&'static str>> {
        Some(ganlab_train::ArchChoice::names())
    }
}

/// The value of `all` whose name is `name`, or the message every choice gives: "unknown WHAT
/// `NAME`; expected one of A, B, ..." (`expected` says "one of" or "any of").
pub fn by_name<T: Copy>(
    all: &[T],
    name: &str,
    name_of: impl Fn(T) -> &'static str,
    what: &str,
    expected: &str,
) -> Result<T, String> {
    all.iter()
        .copied()
        .find(|v| name_of(*v) == name)
        .ok_or_else(|| {
            let names: Vec<&str> = all.iter().map(|v| name_of(*v)).collect();
            format!(
                "unknown {what} `{name}`; expected {expected} {}",
                names.join(", ")
            )
        })
}
