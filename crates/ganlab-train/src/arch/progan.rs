//! ProGAN (Karras et al. 2018): networks that grow from 4x4 with a fade-in, G's moving average,
//! and the schedule that sets resolution, α, batch size and learning rate from images shown.

use super::{check, ArchSpec, Architecture, Growth, MovingAverage, Players, SampleKind};
use anyhow::Result;
use ganlab_layers::ConditionalModuleT;
use ganlab_progan::{
    progan_discriminator, progan_generator, ConditionalGenerator, ProganConfig,
    ProjectionDiscriminator, Schedule, StageHandle,
};
use serde::{Deserialize, Serialize};
use tch::nn::VarStore;
use tch::Device;

/// ProGAN's settings beyond the shared ones (Karras et al. 2018; official `config.py`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProganSettings {
    /// nf(stage) = min(fmap_base / 2^stage, fmap_max) (paper: 8192 and 512).
    pub fmap_base: i64,
    pub fmap_max: i64,
    /// Minibatch-stddev group size (paper: 4).
    pub mbstd_group_size: i64,
    /// The schedule (its `final_resolution` is the config's `resolution`).
    pub schedule: Schedule,
    /// β of G's exponential moving average used for samples and metrics (official
    /// `G_smoothing`: 0.999).
    pub ema_beta: f64,
    /// Ramp-up of the moving average for short runs: when set to r, each update's β is at most
    /// 0.5^(batch / (r · images shown so far)), so the average's half-life is at most a fraction
    /// r of the training so far (StyleGAN2-ADA's `ema_rampup`, 0.05 in its `auto` config). Off
    /// (null) by default, as in ProGAN, whose runs are long enough for β = 0.999 not to lag.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ema_rampup: Option<f64>,
    /// Reset both Adam states when the level of detail crosses an integer (official
    /// `reset_opt_for_new_lod`: true).
    pub reset_optimizer: bool,
    /// Under `precision` bf16 or fp16, only the highest N resolutions compute in the reduced
    /// type, the lower ones in float32 (StyleGAN2-ADA's `num_fp16_res`, 4 in its configs); null:
    /// every resolution. See `ganlab_progan::ProganConfig::reduced_precision_resolutions`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reduced_precision_resolutions: Option<i64>,
    /// Clamp every feature-map layer's output to ±X after its activation, in G and D
    /// (StyleGAN2-ADA's `conv_clamp`, 256 with its float16 layers, "to avoid float16
    /// overflow"); null: no clamp. See `ganlab_progan::ProganConfig::conv_clamp`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conv_clamp: Option<f64>,
}

impl Default for ProganSettings {
    fn default() -> Self {
        ProganSettings {
            fmap_base: 8192,
            fmap_max: 512,
            mbstd_group_size: 4,
            schedule: Schedule::default(),
            ema_beta: 0.999,
            ema_rampup: None,
            reset_optimizer: true,
            reduced_precision_resolutions: None,
            conv_clamp: None,
        }
    }
}

impl ProganSettings {
    /// Whether these are the defaults (a config leaves such a section out).
    pub fn is_default(&self) -> bool {
        *self == ProganSettings::default()
    }
}

/// ProGAN's G and D (`ganlab_progan`), with G's moving average and a growing resolution.
#[derive(Debug, Clone, Copy)]
pub struct Progan;

impl Progan {
    fn network_config(&self, spec: &ArchSpec) -> ProganConfig {
        ProganConfig {
            resolution: spec.resolution,
            channels: spec.channels,
            fmap_base: spec.progan.fmap_base,
            fmap_max: spec.progan.fmap_max,
            latent_size: spec.z_dim.unwrap_or_else(|| self.default_z_dim(spec)),
            mbstd_group_size: spec.progan.mbstd_group_size,
            d_spectral_norm: spec.d_spectral_norm,
            classes: spec.classes,
            fp32_image_layers: spec.fp32_image_layers,
            reduced_precision_resolutions: spec.progan.reduced_precision_resolutions,
            conv_clamp: spec.progan.conv_clamp,
        }
    }

    /// The schedule with the spec's resolution as its final resolution.
    pub fn schedule_of(spec: &ArchSpec) -> Schedule {
        Schedule {
            final_resolution: spec.resolution,
            ..spec.progan.schedule.clone()
        }
    }
}

impl Architecture for Progan {
    fn name(&self) -> &'static str {
        "progan"
    }

    fn sample_kind(&self) -> SampleKind {
        SampleKind::Images
    }

    fn default_z_dim(&self, spec: &ArchSpec) -> i64 {
        ProganConfig {
            fmap_base: spec.progan.fmap_base,
            fmap_max: spec.progan.fmap_max,
            ..Default::default()
        }
        .latent()
    }

    fn default_batch_size(&self, spec: &ArchSpec) -> usize {
        Progan::schedule_of(spec).at(0).batch_size
    }

    fn validate(&self, spec: &ArchSpec) -> Result<()> {
        check(
            !spec.class_norm,
            "cond_bn",
            "false for arch progan (its G has pixel norm, no batch norm to condition)",
            "true",
        )?;
        let p = &spec.progan;
        check(
            (8..=1024).contains(&spec.resolution) && spec.resolution.count_ones() == 1,
            "resolution",
            "a power of two from 8 to 1024 for arch progan",
            spec.resolution,
        )?;
        check(
            p.fmap_base >= 1 && p.fmap_max >= 1,
            "progan.fmap_base / fmap_max",
            ">= 1",
            format!("{} / {}", p.fmap_base, p.fmap_max),
        )?;
        check(
            (1..=64).contains(&p.mbstd_group_size),
            "progan.mbstd_group_size",
            "in 1..=64",
            p.mbstd_group_size,
        )?;
        check(
            (0.0..1.0).contains(&p.ema_beta),
            "progan.ema_beta",
            "in [0, 1)",
            p.ema_beta,
        )?;
        if let Some(r) = p.ema_rampup {
            check(
                r > 0.0 && r <= 1.0,
                "progan.ema_rampup",
                "in (0, 1] (StyleGAN2-ADA uses 0.05), or null for none",
                r,
            )?;
        }
        if let Some(n) = p.reduced_precision_resolutions {
            // Resolutions 4, 8, …, R: log2(R) − 1 of them.
            let levels = spec.resolution.trailing_zeros() as i64 - 1;
            check(
                (1..=levels).contains(&n),
                "progan.reduced_precision_resolutions",
                &format!(
                    "in 1..={levels} (the resolutions 4 to {} that the highest N count from), or null for all",
                    spec.resolution
                ),
                n,
            )?;
        }
        if let Some(c) = p.conv_clamp {
            check(
                c.is_finite() && c > 0.0,
                "progan.conv_clamp",
                "a positive number (StyleGAN2-ADA uses 256), or null for none",
                c,
            )?;
        }
        let schedule = Progan::schedule_of(spec);
        schedule
            .validate()
            .map_err(|e| anyhow::anyhow!("config: progan.schedule: {e}"))?;
        for (res, batch) in schedule
            .minibatch
            .iter()
            .map(|(r, b)| (*r, *b))
            .chain([(0, schedule.minibatch_base)])
        {
            let group = p.mbstd_group_size.min(batch as i64);
            check(
                batch as i64 % group == 0,
                "progan.schedule.minibatch",
                "divisible by the minibatch-stddev group size",
                format!("{batch} at resolution {res}"),
            )?;
        }
        Ok(())
    }

    fn schedule(&self, spec: &ArchSpec) -> Option<Schedule> {
        Some(Progan::schedule_of(spec))
    }

    fn keeps_moving_average(&self) -> bool {
        true
    }

    fn build(&self, spec: &ArchSpec, device: Device) -> Result<Players> {
        let cfg = self.network_config(spec);
        let stage = StageHandle::new(2);
        let (g_vs, d_vs, ema_vs) = (
            VarStore::new(device),
            VarStore::new(device),
            VarStore::new(device),
        );
        let g = progan_generator(&g_vs.root(), cfg, stage.clone());
        let g_ema = progan_generator(&ema_vs.root(), cfg, stage.clone());
        let d = progan_discriminator(&d_vs.root(), cfg, stage.clone());
        let (g, d, g_ema): (
            Box<dyn ConditionalModuleT>,
            Box<dyn ConditionalModuleT>,
            Box<dyn ConditionalModuleT>,
        ) = match cfg.classes {
            0 => (Box::new(g), Box::new(d), Box::new(g_ema)),
            _ => (
                Box::new(ConditionalGenerator(g)),
                Box::new(ProjectionDiscriminator(d)),
                Box::new(ConditionalGenerator(g_ema)),
            ),
        };
        let mut players = Players::new(g, d, g_vs, d_vs, cfg.latent(), SampleKind::Images);
        let mut ema_vs = ema_vs;
        ema_vs.copy(&players.g_vs)?;
        players.ema = Some(MovingAverage {
            g: g_ema,
            vs: ema_vs,
            beta: spec.progan.ema_beta,
            rampup: spec.progan.ema_rampup,
        });
        players.growth = Some(Growth {
            stage,
            schedule: Progan::schedule_of(spec),
            reset_optimizer: spec.progan.reset_optimizer,
        });
        Ok(players)
    }
}
