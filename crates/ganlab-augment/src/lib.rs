//! Augmentation of everything D sees (real and fake images, in D's and G's updates), the remedy
//! for a D that memorises a small training set:
//!
//! ```
//! use ganlab_augment::{AdaSettings, AugmentSpec, Augmentation};
//! use ganlab_games::Shard;
//! use tch::{Device, Kind, Tensor};
//! let spec: AugmentSpec = "diffaugment:color,translation,cutout".parse()?;
//! let augment = Augmentation::new(&spec, AdaSettings::default())?.expect("not `none`");
//! let images = Tensor::rand([4, 3, 32, 32], (Kind::Float, Device::Cpu)).set_requires_grad(true);
//! let seen = augment.apply(&images, Shard::default());
//! assert_eq!(seen.size(), [4, 3, 32, 32]);
//! seen.sum(Kind::Float).backward(); // differentiable: G's gradient flows through it
//! assert!(images.grad().defined());
//! // ADA starts at p = 0 (no image augmented) and follows r_t from there.
//! let ada = Augmentation::new(&"ada".parse()?, AdaSettings::default())?.expect("ada");
//! assert!(matches!(ada, Augmentation::Ada(ref a) if a.p == 0.0));
//! # Ok::<(), ganlab_augment::Error>(())
//! ```
//!
//! - [`DiffAugment`] (Zhao et al. 2020): colour, translation and cutout on every image;
//! - [`Ada`] (Karras et al. 2020): the "bgc" pipeline, each transform with a probability p
//!   that follows D's overfitting heuristic r_t.
//!
//! Each is differentiable (G's gradient flows through it) and draws its randomness for the
//! global batch from libtorch's generator ([`ganlab_games::Shard`]), which the trainer reseeds
//! at every snapshot: data-parallel ranks draw what one process draws, and a resumed run
//! continues the same draws.

pub mod ada;
pub mod diffaugment;

pub use ada::{Ada, AdaPipeline, AdaSettings};
pub use diffaugment::{DiffAugment, DiffOp};

use ganlab_games::Shard;
use tch::Tensor;

/// Bad augmentation settings.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("unknown {what} op `{name}`: expected one of {valid}")]
    UnknownOp {
        what: &'static str,
        name: String,
        valid: String,
    },
    #[error("augmentation op `{0}` is given twice")]
    Repeated(String),
    #[error("unknown augmentation `{0}`: `augment` must be none, diffaugment[:POLICY] (POLICY: color,translation,cutout or a subset) or ada[:PIPELINE] (PIPELINE: bgc, bg, bc, gc, b, g or c)")]
    Unknown(String),
    #[error("`{key}` must be {expected}, got {got}")]
    Setting {
        key: &'static str,
        expected: &'static str,
        got: f64,
    },
}

/// What `augment` names: nothing, DiffAugment with a policy, or ADA with a pipeline (config
/// key `augment`, written as its name).
#[derive(
    Debug,
    Clone,
    PartialEq,
    Eq,
    Default,
    serde_with::SerializeDisplay,
    serde_with::DeserializeFromStr,
)]
pub enum AugmentSpec {
    #[default]
    None,
    DiffAugment(DiffAugment),
    Ada(AdaPipeline),
}

impl AugmentSpec {
    /// `none`, `diffaugment` (= `diffaugment:color,translation,cutout`),
    /// `diffaugment:POLICY`, `ada` (= `ada:bgc`), `ada:PIPELINE`.
    pub fn parse(text: &str) -> Result<AugmentSpec, Error> {
        let (kind, rest) = match text.split_once(':') {
            Some((kind, rest)) => (kind.trim(), Some(rest.trim())),
            None => (text.trim(), None),
        };
        match (kind, rest) {
            ("none", None) => Ok(AugmentSpec::None),
            ("diffaugment", None) => Ok(AugmentSpec::DiffAugment(DiffAugment::all())),
            ("diffaugment", Some(policy)) => {
                Ok(AugmentSpec::DiffAugment(DiffAugment::parse(policy)?))
            }
            ("ada", None) => Ok(AugmentSpec::Ada(AdaPipeline::bgc())),
            ("ada", Some(pipeline)) => Ok(AugmentSpec::Ada(AdaPipeline::parse(pipeline)?)),
            _ => Err(Error::Unknown(text.to_string())),
        }
    }

    /// The text `parse` reads back.
    pub fn name(&self) -> String {
        match self {
            AugmentSpec::None => "none".into(),
            AugmentSpec::DiffAugment(d) => format!("diffaugment:{}", d.policy()),
            AugmentSpec::Ada(p) => format!("ada:{}", p.name()),
        }
    }

    pub fn is_none(&self) -> bool {
        *self == AugmentSpec::None
    }
}

impl std::str::FromStr for AugmentSpec {
    type Err = Error;

    fn from_str(text: &str) -> Result<AugmentSpec, Error> {
        AugmentSpec::parse(text)
    }
}

impl std::fmt::Display for AugmentSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name())
    }
}

/// An augmentation in a training run.
#[derive(Debug)]
pub enum Augmentation {
    DiffAugment(DiffAugment),
    Ada(Ada),
}

impl Augmentation {
    /// The augmentation `spec` names (`None` for `none`), ADA with `ada`'s settings.
    pub fn new(spec: &AugmentSpec, ada: AdaSettings) -> Result<Option<Augmentation>, Error> {
        ada.validate()?;
        Ok(match spec {
            AugmentSpec::None => None,
            AugmentSpec::DiffAugment(d) => Some(Augmentation::DiffAugment(d.clone())),
            AugmentSpec::Ada(p) => Some(Augmentation::Ada(Ada::new(*p, ada))),
        })
    }

    /// `x` augmented, with fresh draws (for this shard's rows of the global batch).
    pub fn apply(&self, x: &Tensor, shard: Shard) -> Tensor {
        match self {
            Augmentation::DiffAugment(d) => d.apply(x, shard),
            Augmentation::Ada(a) => a.pipeline.apply(x, a.p, shard),
        }
    }

    /// ADA's state, if adaptive.
    pub fn ada(&mut self) -> Option<&mut Ada> {
        match self {
            Augmentation::Ada(a) => Some(a),
            Augmentation::DiffAugment(_) => None,
        }
    }
}
