//! libtorch-backed building blocks for GANs.
//!
//! Layers follow tch-rs' own habit: a `Copy` config struct with a hand-written `Default`, a free
//! constructor taking `&nn::Path`, and a plain struct implementing `nn::Module` or
//! `nn::ModuleT`. Parameters are named through the path, so checkpoint keys read like PyTorch
//! state dicts (`block1.conv.weight`).
//!
//! - [`dcgan`]: the DCGAN blocks of Radford et al. 2016 and the DCGAN-32 generator and
//!   discriminator built from them.
//! - [`equalized`]: ProGAN's equalized-learning-rate conv/linear, pixelwise feature
//!   normalization and minibatch standard deviation (Karras et al. 2018).
//! - [`mlp`]: the MLP pair of the 2-D toy experiments (Gulrajani et al. 2017).

pub mod dcgan;
pub mod equalized;
pub mod mlp;

pub use dcgan::{
    dcgan32_discriminator, dcgan32_generator, down_block, leaky_relu, up_block, BlockConfig,
    Dcgan32Config, Dcgan32Discriminator, Dcgan32Generator, DownBlock, UpBlock,
};
pub use equalized::{
    eq_conv2d, eq_linear, minibatch_stddev, pixel_norm, EqConfig, EqConv2d, EqLinear,
};
pub use mlp::{toy_discriminator, toy_generator, Mlp, ToyDiscriminator, ToyMlpConfig};

/// Errors from building layers with invalid arguments.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A layer argument was outside its valid range.
    #[error("invalid {what}: expected {expected}, got {got}")]
    InvalidArgument {
        what: &'static str,
        expected: String,
        got: String,
    },
}

/// Number of trainable scalars under a variable store (the figure PyTorch reports as
/// `sum(p.numel() for p in model.parameters())`).
pub fn count_parameters(vs: &tch::nn::VarStore) -> i64 {
    vs.trainable_variables()
        .iter()
        .map(|t| t.numel() as i64)
        .sum()
}
