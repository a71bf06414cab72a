//! The config's choices (architecture, game, device, preset, metric) as types that the command
//! line and the config file read the same way: each parses from its name with `FromStr` (the
//! error names the key and lists the valid values) and is written back as that name. clap reads
//! them through [`parser`], which also lists the valid values in `--help`.

use clap::builder::{PossibleValue, TypedValueParser};
use clap::error::ErrorKind;
use std::ffi::OsStr;
use std::marker::PhantomData;
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

impl Choice for ganlab_train::ArchChoice {
    fn listed() -> Option<Vec<&'static str>> {
        Some(ganlab_train::ArchChoice::names())
    }
}

/// clap's parser for a [`Choice`]: the choice's own message on a bad value (the same one a
/// config file gets), the valid values in `--help`.
pub fn parser<T: Choice>() -> ChoiceParser<T> {
    ChoiceParser(PhantomData)
}

/// See [`parser`].
#[derive(Clone)]
pub struct ChoiceParser<T>(PhantomData<fn() -> T>);

impl<T: Choice> TypedValueParser for ChoiceParser<T> {
    type Value = T;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &OsStr,
    ) -> Result<T, clap::Error> {
        let arg = arg.map_or_else(|| "...".to_string(), ToString::to_string);
        let Some(text) = value.to_str() else {
            return Err(clap::Error::raw(
                ErrorKind::InvalidUtf8,
                format!("invalid value for '{arg}': not UTF-8\n"),
            )
            .with_cmd(cmd));
        };
        text.parse().map_err(|e| {
            clap::Error::raw(
                ErrorKind::InvalidValue,
                format!("invalid value '{text}' for '{arg}': {e}\n"),
            )
            .with_cmd(cmd)
        })
    }

    fn possible_values(&self) -> Option<Box<dyn Iterator<Item = PossibleValue> + '_>> {
        T::listed().map(|names| {
            Box::new(names.into_iter().map(PossibleValue::new))
                as Box<dyn Iterator<Item = PossibleValue>>
        })
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
