//! clap's reading of the config's choices ([`ganlab_run::choice::Choice`]): the choice's own
//! message on a bad value (the same one a config file gets), the valid values in `--help`.

use clap::builder::{PossibleValue, TypedValueParser};
use clap::error::ErrorKind;
use ganlab_run::choice::Choice;
use std::ffi::OsStr;
use std::marker::PhantomData;

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
