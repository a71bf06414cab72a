//! Class-conditional networks: the seam through which class labels reach G and D, and the two
//! pieces the conditional architectures are built from: a learned class embedding for G and the
//! projection discriminator's inner product (Miyato & Koyama 2018).
//!
//! Every [`ModuleT`] is a [`ConditionalModuleT`] that ignores labels, so unconditional networks
//! (research code's own included) need nothing new; a conditional network implements
//! [`ConditionalModuleT`] itself and says how many classes it takes.
//!
//! ```
//! use ganlab_layers::{dcgan32_conditional_discriminator, dcgan32_conditional_generator};
//! use ganlab_layers::{ConditionalModuleT, Dcgan32Config};
//! use tch::nn::VarStore;
//! use tch::{Device, Kind, Tensor};
//! let cfg = Dcgan32Config { classes: 10, ..Default::default() };
//! let (g_vs, d_vs) = (VarStore::new(Device::Cpu), VarStore::new(Device::Cpu));
//! let g = dcgan32_conditional_generator(&g_vs.root(), cfg);
//! let d = dcgan32_conditional_discriminator(&d_vs.root(), cfg);
//! let z = Tensor::randn([4, cfg.z_dim], (Kind::Float, Device::Cpu));
//! let eights = Tensor::from_slice(&[8i64, 8, 8, 8]);
//! let images = g.forward_ct(&z, Some(&eights), false);
//! assert_eq!(images.size(), [4, 1, 32, 32]);
//! assert_eq!(d.forward_ct(&images, Some(&eights), false).size(), [4]);
//! assert_eq!((g.classes(), d.classes()), (10, 10));
//! ```

use crate::spectral::SpectralNorm;
use tch::nn::{self, ModuleT};
use tch::Tensor;

/// A network that takes class labels with its input: a conditional G (latents and labels →
/// samples) or D (samples and labels → logits). An unconditional network ignores the labels.
pub trait ConditionalModuleT: std::fmt::Debug + Send {
    /// The output for input `xs` and class `labels` (int64 `[N]`, one per row of `xs`). A
    /// conditional network needs `labels`: the engine passes them whenever
    /// [`ConditionalModuleT::classes`] is above 0.
    fn forward_ct(&self, xs: &Tensor, labels: Option<&Tensor>, train: bool) -> Tensor;
    /// The number of classes the network is conditioned on; 0 for an unconditional one.
    fn classes(&self) -> i64 {
        0
    }
    /// A conditional generator's output between two classes: its class embedding interpolated
    /// linearly from the rows of `from` to those of `to` at `t` ∈ [0, 1] (`gan interpolate
    /// --across-classes`). `None`: the network has no class embedding to interpolate.
    fn forward_between(
        &self,
        _xs: &Tensor,
        _from: &Tensor,
        _to: &Tensor,
        _t: f64,
        _train: bool,
    ) -> Option<Tensor> {
        None
    }
}

/// Every module is an unconditional network.
impl<M: ModuleT> ConditionalModuleT for M {
    fn forward_ct(&self, xs: &Tensor, _labels: Option<&Tensor>, train: bool) -> Tensor {
        self.forward_t(xs, train)
    }
}

/// A boxed module (what research code hands the engine) as an unconditional network.
#[derive(Debug)]
pub struct Unconditional(pub Box<dyn ModuleT>);

impl ConditionalModuleT for Unconditional {
    fn forward_ct(&self, xs: &Tensor, _labels: Option<&Tensor>, train: bool) -> Tensor {
        self.0.forward_t(xs, train)
    }
}

/// The labels a conditional network was called with; the message names the network.
pub(crate) fn required<'a>(labels: Option<&'a Tensor>, network: &str) -> &'a Tensor {
    labels.unwrap_or_else(|| {
        panic!("{network} is class-conditional: it must be called with labels (forward_ct)")
    })
}

/// A learned class embedding: a `[classes, dim]` table under `p / "weight"`, drawn N(0, 1/dim)
/// so that each class's code has about unit norm, as the one-hot code of a conditional GAN has
/// (Mirza & Osindero 2014; the official ProGAN concatenates one-hot labels to z). G concatenates
/// `embed(y)` to z. Drawn N(0, 1) (`nn.Embedding`'s default), each code is as long as z itself
/// and G learns to ignore z: measured on the main job's conditional DCGAN-32, one image per class
/// from 20 kimg on (intra-class diversity 0.1 against 0.6–0.9 with N(0, 1/dim) at 40 kimg).
pub fn class_embedding(p: &nn::Path, classes: i64, dim: i64) -> nn::Embedding {
    let cfg = nn::EmbeddingConfig {
        ws_init: nn::Init::Randn {
            mean: 0.0,
            stdev: 1.0 / (dim as f64).sqrt(),
        },
        ..Default::default()
    };
    nn::embedding(p, classes, dim, cfg)
}

/// The projection discriminator's class table `[classes, features]`: plain (`weight`), or spectrally normalised (`weight_orig`, `weight_u`,
/// `weight_v`) when D's other layers are, as SNGAN's projection discriminator normalises its
/// `SNEmbedID` table (Miyato & Koyama 2018, code of `sn_projection_discriminator`; StudioGAN's
/// `sn_embedding`): without it the class term is the one part of a spectrally normalised D
/// with no Lipschitz bound and grows until D's logit is all class term.
///
/// Drawn as the reference implementations draw it: Glorot (Xavier) uniform,
/// U(±√(6 / (features + classes))) (the Chainer code's `GlorotUniform`; PyTorch's
/// `xavier_uniform_` as StudioGAN does). N(0, 1), the embedding's own default, would make the
/// class term about √features times larger than D's unconditional logit.
#[derive(Debug)]
pub enum ProjectionTable {
    Plain(nn::Embedding),
    Spectral(SpectralNorm),
}

impl ProjectionTable {
    /// A table for `classes` classes and `features` features under `p`, spectrally normalised
    /// (one power iteration per training forward, PyTorch's semantics) when `spectral`.
    pub fn new(p: &nn::Path, classes: i64, features: i64, spectral: bool) -> ProjectionTable {
        let bound = (6.0 / (features + classes) as f64).sqrt();
        let init = nn::Init::Uniform {
            lo: -bound,
            up: bound,
        };
        match spectral {
            true => ProjectionTable::Spectral(SpectralNorm::new(p, &[classes, features], init)),
            false => ProjectionTable::Plain(nn::embedding(
                p,
                classes,
                features,
                nn::EmbeddingConfig {
                    ws_init: init,
                    ..Default::default()
                },
            )),
        }
    }

    /// The class term (Miyato & Koyama 2018, eq. 3): `⟨embed(y), φ(x)⟩` for every row, with
    /// `phi` the features `[N, F]` that D's unconditional output is a linear function of. D's
    /// logit is its unconditional logit plus this.
    pub fn project(&self, phi: &Tensor, labels: &Tensor, train: bool) -> Tensor {
        let table = match self {
            ProjectionTable::Plain(e) => e.ws.shallow_clone(),
            ProjectionTable::Spectral(sn) => sn.weight(train),
        };
        let rows = table.index_select(0, &labels.to_device(table.device()));
        projection(&rows, phi)
    }
}

/// The rows of `table` at `labels`: `embed(y)`, `[N, dim]`.
pub fn embed(table: &nn::Embedding, labels: &Tensor) -> Tensor {
    table
        .ws
        .index_select(0, &labels.to_device(table.ws.device()))
}

/// `(1 − t)·embed(from) + t·embed(to)`: a point between two classes' embeddings.
pub fn embed_between(table: &nn::Embedding, from: &Tensor, to: &Tensor, t: f64) -> Tensor {
    embed(table, from) * (1.0 - t) + embed(table, to) * t
}

/// `⟨rows, φ⟩` row by row: the projection's inner product of each sample's class row
/// `[N, F]` with its features `[N, F]`.
pub fn projection(rows: &Tensor, phi: &Tensor) -> Tensor {
    (rows.to_kind(phi.kind()) * phi).sum_dim_intlist([1i64].as_slice(), false, phi.kind())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{nn::VarStore, Device, Kind};

    #[test]
    fn the_projection_is_the_row_wise_inner_product_with_the_class_row() {
        let vs = VarStore::new(Device::Cpu);
        let table = ProjectionTable::new(&(vs.root() / "e"), 3, 4, false);
        let ProjectionTable::Plain(embedding) = &table else {
            panic!("a plain table")
        };
        let phi = Tensor::randn([5, 4], (Kind::Float, Device::Cpu));
        let labels = Tensor::from_slice(&[2i64, 0, 1, 2, 0]);
        let got = table.project(&phi, &labels, true);
        for (row, &y) in [2i64, 0, 1, 2, 0].iter().enumerate() {
            let expected = (embedding.ws.get(y) * phi.get(row as i64)).sum(Kind::Float);
            assert!(
                (got.double_value(&[row as i64]) - expected.double_value(&[])).abs() < 1e-6,
                "row {row}"
            );
        }
        assert_eq!(
            vs.variables().keys().next().map(String::as_str),
            Some("e.weight")
        );
    }

    #[test]
    fn class_codes_start_with_about_unit_norm_like_one_hot_codes() {
        // Codes as long as z (N(0, 1)) made the conditional G ignore z (README, "Conditional
        // GANs"): each row is drawn N(0, 1/dim).
        tch::manual_seed(2);
        let vs = VarStore::new(Device::Cpu);
        let table = class_embedding(&(vs.root() / "e"), 10, 400);
        let norms = table
            .ws
            .square()
            .sum_dim_intlist([1i64].as_slice(), false, Kind::Float)
            .sqrt();
        let (lo, hi) = (norms.min().double_value(&[]), norms.max().double_value(&[]));
        assert!(lo > 0.85 && hi < 1.15, "row norms {lo}..{hi}");
    }

    #[test]
    fn a_spectral_table_projects_with_its_rows_over_sigma() {
        tch::manual_seed(1);
        let vs = VarStore::new(Device::Cpu);
        let table = ProjectionTable::new(&(vs.root() / "e"), 3, 4, true);
        let ProjectionTable::Spectral(sn) = &table else {
            panic!("a spectral table")
        };
        let mut names: Vec<String> = vs.variables().into_keys().collect();
        names.sort();
        assert_eq!(names, ["e.weight_orig", "e.weight_u", "e.weight_v"]);
        let phi = Tensor::randn([5, 4], (Kind::Float, Device::Cpu));
        let labels = Tensor::from_slice(&[2i64, 0, 1, 2, 0]);
        // In evaluation u and v stay: the term is the plain projection with W / σ(W).
        let u = sn.u.copy();
        let got = table.project(&phi, &labels, false);
        assert!(sn.u.equal(&u), "evaluation leaves u alone");
        let w = &sn.weight_orig / sn.sigma();
        let expected = (w.index_select(0, &labels) * &phi).sum_dim_intlist(
            [1i64].as_slice(),
            false,
            Kind::Float,
        );
        assert!(got.allclose(&expected, 1e-6, 1e-6, false));
        // W / σ has spectral norm 1 (σ from 15 power iterations at creation).
        let w = w.detach().to_kind(Kind::Double);
        let gram = w.mm(&w.transpose(0, 1));
        let top = gram.linalg_eigvalsh("L").max().double_value(&[]).sqrt();
        assert!((top - 1.0).abs() < 1e-3, "largest singular value {top}");
        // A training forward runs a power iteration: from a u that is not W's top left
        // singular vector it moves u. (Not from the converged u: after 15 iterations a 3x4 W's u
        // can be a float32 fixed point, for some draws of W.)
        let first = Tensor::from_slice(&[1.0f32, 0.0, 0.0]);
        tch::no_grad(|| sn.u.shallow_clone().copy_(&first));
        let _ = table.project(&phi, &labels, true);
        assert!(!sn.u.equal(&first), "training runs the power iteration");
    }
}
