//! `gan train`'s options that set config keys, built from the run library's one table
//! ([`ganlab_run::flags::CONFIG_FLAGS`]) rather than declared again here: each becomes a clap
//! argument with its help and listed values, and what the user gave is applied to the config in
//! the order it was given, through the same route as `--set`.

use clap::builder::{PossibleValue, TypedValueParser};
use clap::{Arg, ArgAction, ArgMatches, Command, FromArgMatches};
use ganlab_run::flags::{ConfigFlag, FlagValue, CONFIG_FLAGS};
use ganlab_run::TrainConfig;

/// The config options given on a command line, as (flag, text) in the order they were given.
#[derive(Debug, Clone, Default)]
pub struct ConfigOverrides {
    given: Vec<(&'static ConfigFlag, String)>,
}

impl ConfigOverrides {
    /// Applies every given option to `config`; the first bad one is the error (naming it).
    pub fn apply(&self, config: &mut TrainConfig) -> anyhow::Result<()> {
        for (flag, text) in &self.given {
            flag.apply(config, text)?;
        }
        Ok(())
    }

    /// The text given for `--flag`, if any (the last one when it was given twice).
    pub fn text_of(&self, flag: &str) -> Option<&str> {
        self.given
            .iter()
            .rev()
            .find(|(f, _)| f.flag == flag)
            .map(|(_, t)| t.as_str())
    }
}

/// A parser that takes any text and lists a choice's values in `--help` (the value is checked
/// where the config checks it, with the config's message).
#[derive(Clone)]
struct Listed(Option<fn() -> Vec<&'static str>>);

impl TypedValueParser for Listed {
    type Value = String;

    fn parse_ref(
        &self,
        cmd: &Command,
        arg: Option<&Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<String, clap::Error> {
        clap::builder::StringValueParser::new().parse_ref(cmd, arg, value)
    }

    fn possible_values(&self) -> Option<Box<dyn Iterator<Item = PossibleValue> + '_>> {
        self.0.map(|listed| {
            Box::new(listed().into_iter().map(PossibleValue::new))
                as Box<dyn Iterator<Item = PossibleValue>>
        })
    }
}

fn argument(flag: &'static ConfigFlag) -> Arg {
    let arg = Arg::new(flag.flag).long(flag.flag).help(flag.help);
    match flag.value {
        FlagValue::Switch(_) => arg.action(ArgAction::SetTrue),
        _ => arg
            .value_name(flag.value_name)
            .action(ArgAction::Append)
            .value_parser(Listed(flag.listed)),
    }
}

impl clap::Args for ConfigOverrides {
    fn augment_args(cmd: Command) -> Command {
        cmd.args(CONFIG_FLAGS.iter().map(argument))
    }

    fn augment_args_for_update(cmd: Command) -> Command {
        Self::augment_args(cmd)
    }
}

impl FromArgMatches for ConfigOverrides {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        let mut given: Vec<(usize, &'static ConfigFlag, String)> = Vec::new();
        for flag in CONFIG_FLAGS {
            match flag.value {
                FlagValue::Switch(_) => {
                    if matches.get_flag(flag.flag) {
                        let at = matches.index_of(flag.flag).unwrap_or(0);
                        given.push((at, flag, String::new()));
                    }
                }
                _ => {
                    let (Some(values), Some(at)) = (
                        matches.get_many::<String>(flag.flag),
                        matches.indices_of(flag.flag),
                    ) else {
                        continue;
                    };
                    for (text, at) in values.zip(at) {
                        given.push((at, flag, text.clone()));
                    }
                }
            }
        }
        // In the order given, so that a later option wins over an earlier one of the same key.
        given.sort_by_key(|(at, _, _)| *at);
        Ok(ConfigOverrides {
            given: given.into_iter().map(|(_, f, t)| (f, t)).collect(),
        })
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(matches)?;
        Ok(())
    }
}
