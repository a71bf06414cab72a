//! libtorch-backed building blocks for GANs.
//!
//! ```
//! use ganlab_layers::{dcgan32_discriminator, dcgan32_generator, Dcgan32Config};
//! use tch::nn::{ModuleT, VarStore};
//! use tch::{Device, Kind, Tensor};
//! let (g_vs, d_vs) = (VarStore::new(Device::Cpu), VarStore::new(Device::Cpu));
//! let cfg = Dcgan32Config::default(); // z ∈ R^100, 1 channel, width 64 (Radford et al. 2016)
//! let g = dcgan32_generator(&g_vs.root(), cfg);
//! let d = dcgan32_discriminator(&d_vs.root(), cfg);
//! let z = Tensor::randn([4, cfg.z_dim], (Kind::Float, Device::Cpu));
//! let images = g.forward_t(&z, false);
//! assert_eq!(images.size(), [4, 1, 32, 32]);
//! assert_eq!(d.forward_t(&images, false).size(), [4]); // one logit per image
//! // Parameter names read like a PyTorch state dict.
//! assert!(g_vs.variables().keys().any(|name| name.ends_with(".weight")));
//! ```
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
//! - [`sngan`]: SNGAN's "standard CNN" generator and discriminator at 32x32 (Miyato et al.
//!   2018), the networks spectral normalisation ([`spectral`]) was made for.

pub mod conditional;
pub mod dcgan;
pub mod equalized;
pub mod mlp;
pub mod sngan;
pub mod spectral;

pub use conditional::{
    class_embedding, embed, embed_between, projection, ConditionalModuleT, ProjectionTable,
    Unconditional,
};
pub use dcgan::{
    dcgan32_conditional_discriminator, dcgan32_conditional_generator, dcgan32_discriminator,
    dcgan32_generator, down_block, leaky_relu, up_block, BlockConfig, Dcgan32ConditionalGenerator,
    Dcgan32Config, Dcgan32Discriminator, Dcgan32Generator, Dcgan32ProjectionDiscriminator,
    DownBlock, DownConv, Norm, NormLayer, UpBlock,
};
pub use equalized::{
    eq_conv2d, eq_linear, minibatch_stddev, pixel_norm, EqConfig, EqConv2d, EqLinear,
};
pub use mlp::{toy_discriminator, toy_generator, Mlp, ToyDiscriminator, ToyMlpConfig};
pub use sngan::{
    sngan32_discriminator, sngan32_generator, Sngan32Config, Sngan32Discriminator, Sngan32Generator,
};
pub use spectral::{SnConv2d, SnLinear, SpectralNorm};

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

/// `f(xs)` in float32 when `on`: `xs` cast to float32 and libtorch's autocast off on its device
/// for the call (`with torch.autocast(device, enabled=False): f(xs.float())`); plain `f(xs)`
/// otherwise, and a no-op outside an autocast region. The networks run the layers that touch
/// the image (G's last, D's first) through it under `fp32_image_layers`, as StyleGAN2-ADA keeps
/// chosen layers out of reduced precision (`num_fp16_res`): the image's fine detail is then not
/// rounded to bfloat16's 8 bits of mantissa.
pub fn float32_if(
    on: bool,
    xs: &tch::Tensor,
    f: impl FnOnce(&tch::Tensor) -> tch::Tensor,
) -> tch::Tensor {
    if !on {
        return f(xs);
    }
    ganlab_amp::without_autocast(xs.device(), || f(&xs.to_kind(tch::Kind::Float)))
}

/// The same 4-D tensor with exactly the channels-last strides [H·W·C, 1, W·C, C] (NHWC in
/// memory, still indexed NCHW); other tensors are returned as they are. oneDNN's CPU
/// convolutions skip a layout conversion on such tensors.
///
/// Exact strides matter for one channel: PyTorch's `x.contiguous(memory_format=channels_last)`
/// leaves a [N, 1, H, W] tensor with NCHW strides (both layouts hold the same bytes), so the
/// first convolution of a grayscale discriminator ran NCHW while the rest ran channels-last, and
/// the backward of its activation met a channels-last gradient against an NCHW input: a strided
/// loop 30x slower than the vectorised one (3 ms instead of 0.1 ms for [64, 64, 16, 16]).
pub fn channels_last(x: &tch::Tensor) -> tch::Tensor {
    let s = x.size();
    if s.len() != 4 {
        return x.shallow_clone();
    }
    let (c, h, w) = (s[1], s[2], s[3]);
    let strides = [h * w * c, 1, w * c, c];
    if x.stride() == strides {
        return x.shallow_clone();
    }
    let mut out = tch::Tensor::empty_strided(&s, strides, (x.kind(), x.device()));
    out.copy_(x);
    out
}

/// Stores every 4-D variable (convolution weights) of `vs` channels-last, in place: the
/// variables keep their identity (optimisers and EMA pairs built afterwards see the same
/// tensors), and copying values into them (loading a snapshot) keeps the layout. PyTorch's
/// `model.to(memory_format=torch.channels_last)`.
pub fn to_channels_last(vs: &tch::nn::VarStore) {
    for (_, mut v) in vs.variables() {
        if v.dim() == 4 {
            let nhwc = channels_last(&v);
            tch::no_grad(|| v.set_data(&nhwc));
        }
    }
}

#[cfg(test)]
mod memory_format_tests {
    use super::*;
    use tch::{nn::VarStore, Device, Kind, Tensor};

    #[test]
    fn channels_last_keeps_values_and_changes_strides() {
        let x = Tensor::randn([2, 3, 4, 5], (Kind::Float, Device::Cpu));
        let y = channels_last(&x);
        assert!(y.equal(&x));
        assert_eq!(y.stride(), [60, 1, 15, 3]);
        // One channel too (where PyTorch's own conversion keeps NCHW strides).
        let g = Tensor::randn([2, 1, 4, 5], (Kind::Float, Device::Cpu));
        let g2 = channels_last(&g);
        assert!(g2.equal(&g));
        assert_eq!(g2.stride(), [20, 1, 5, 1]);
        let vs = VarStore::new(Device::Cpu);
        let w = vs.root().var(
            "w",
            &[8, 3, 3, 3],
            tch::nn::Init::Randn {
                mean: 0.0,
                stdev: 1.0,
            },
        );
        let before = w.copy();
        to_channels_last(&vs);
        let w2 = &vs.variables()["w"];
        assert_eq!(w2.stride(), [27, 1, 9, 3]);
        assert!(
            w2.equal(&before) && w.equal(&before),
            "same values, same variable"
        );
        // Copying NCHW values in (loading a snapshot) keeps the channels-last layout.
        tch::no_grad(|| {
            w.shallow_clone()
                .copy_(&Tensor::zeros([8, 3, 3, 3], (Kind::Float, Device::Cpu)))
        });
        assert_eq!(vs.variables()["w"].stride(), [27, 1, 9, 3]);
    }
}
