//! What users do with a trained generator: `gan generate` (one PNG per seed, a grid, or N images
//! for other tools) and `gan interpolate` (a latent walk between seeds as a strip and a GIF).
//! A seed's latent is drawn from libtorch's generator seeded with it, so the same seed gives
//! the same image every time on the same device.

use crate::device::DeviceChoice;
use crate::generator::{snapshot_of, TrainedGenerator};
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use tch::{Device, Kind, Tensor};

/// Parses a seed list: comma-separated numbers and inclusive ranges (`0-63,100`).
pub fn parse_seeds(text: &str) -> Result<Vec<u64>> {
    let mut seeds = Vec::new();
    for part in text.split(',').map(str::trim) {
        let number = |s: &str| {
            s.trim().parse::<u64>().with_context(|| {
                format!("--seeds {text}: `{s}` is not a seed (expected numbers and ranges like 0-63,100)")
            })
        };
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (number(a)?, number(b)?);
                if a > b {
                    bail!("--seeds {text}: the range {part} goes down; write it as {b}-{a}");
                }
                seeds.extend(a..=b);
            }
            None => seeds.push(number(part)?),
        }
    }
    if seeds.is_empty() {
        bail!("--seeds: no seed given");
    }
    Ok(seeds)
}

/// Checks a truncation ψ: in (0, 1].
pub fn check_truncation(psi: f64) -> Result<()> {
    if !(psi > 0.0 && psi <= 1.0) {
        bail!("--truncation must be in (0, 1] (1: plain sampling), got {psi}");
    }
    Ok(())
}

/// The latent of `seed`, [1, z_dim]: N(0, 1), or with ψ < 1 the truncation trick of BigGAN
/// (Brock et al. 2019, §3.1, as in its TF Hub notebook: `ψ · truncnorm(−2, 2)`: components
/// outside [−2, 2] are redrawn, then all are scaled by ψ).
pub fn seed_latent(seed: u64, z_dim: i64, psi: f64, device: Device) -> Tensor {
    tch::manual_seed(seed as i64);
    let mut z = Tensor::randn([1, z_dim], (Kind::Float, Device::Cpu));
    if psi < 1.0 {
        loop {
            let outside = z.abs().gt(2.0);
            if !bool::try_from(outside.any()).unwrap_or(false) {
                break;
            }
            let redrawn = Tensor::randn([1, z_dim], (Kind::Float, Device::Cpu));
            z = z.where_self(&outside.logical_not(), &redrawn);
        }
        z *= psi;
    }
    z.to_device(device)
}

/// Spherical interpolation between latents `a` and `b` at `t` ∈ [0, 1] (Shoemake 1985; White
/// 2016 for GAN latents): the walk keeps the norm a Gaussian latent typically has.
pub fn slerp(a: &Tensor, b: &Tensor, t: f64) -> Tensor {
    let cos = (a * b).sum(Kind::Float) / (a.norm() * b.norm());
    let omega = cos.clamp(-1.0, 1.0).double_value(&[]).acos();
    if omega.abs() < 1e-6 {
        return a * (1.0 - t) + b * t;
    }
    let s = omega.sin();
    a * (((1.0 - t) * omega).sin() / s) + b * ((t * omega).sin() / s)
}

/// The class a conditional generator is asked for (`--class`): one class by index (as
/// StyleGAN2-ADA's `--class`) or by the name the run recorded (a folder's class sub-folder,
/// Fashion-MNIST's `Sneaker`), or every class (a grid with one column per class).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClassChoice {
    One(i64),
    Named(String),
    All,
}

impl std::str::FromStr for ClassChoice {
    type Err = String;

    fn from_str(text: &str) -> Result<ClassChoice, String> {
        match text {
            "all" => Ok(ClassChoice::All),
            "" => Err("expected a class index (0, 1, ...), a class name or `all`".into()),
            _ => Ok(text
                .parse::<i64>()
                .map_or_else(|_| ClassChoice::Named(text.to_string()), ClassChoice::One)),
        }
    }
}

impl std::fmt::Display for ClassChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClassChoice::One(c) => write!(f, "{c}"),
            ClassChoice::Named(name) => write!(f, "{name}"),
            ClassChoice::All => write!(f, "all"),
        }
    }
}

/// The classes of a generator conditioned on `count` classes, for messages: `0 blue, 1 red`,
/// or `0 to K-1` when the run recorded no names or its names are the indices (MNIST's digits).
fn class_list(count: i64, names: &[String]) -> String {
    let numbered = names.iter().enumerate().all(|(i, n)| *n == i.to_string());
    match names.len() as i64 == count && !numbered {
        true => names
            .iter()
            .enumerate()
            .map(|(i, name)| format!("{i} {name}"))
            .collect::<Vec<_>>()
            .join(", "),
        false => format!("0 to {}", count - 1),
    }
}

/// The index of one class (`One` or `Named`) of a generator conditioned on `classes` classes
/// whose names (as the run recorded them; empty for runs before names were recorded) are
/// `names`; `flag` names the option in errors.
fn class_index(choice: &ClassChoice, classes: i64, names: &[String], flag: &str) -> Result<i64> {
    let list = class_list(classes, names);
    match choice {
        ClassChoice::One(c) if (0..classes).contains(c) => Ok(*c),
        ClassChoice::One(c) => {
            let named = names.iter().position(|n| n == &c.to_string());
            match named {
                Some(i) => bail!(
                    "{flag} {c}: a number is a class index, and this generator has {classes} classes ({list}); class `{c}` is index {i}"
                ),
                None => bail!(
                    "{flag} {c}: this generator is conditioned on {classes} classes ({list})"
                ),
            }
        }
        ClassChoice::Named(name) => match names.iter().position(|n| n == name) {
            Some(i) => Ok(i as i64),
            None if names.is_empty() => bail!(
                "{flag} {name}: this run recorded no class names (it predates them): pass a class index, {list}"
            ),
            None => bail!("{flag} {name}: no such class; this generator's classes are {list}"),
        },
        ClassChoice::All => bail!("{flag} all: expected one class here"),
    }
}

/// The classes to draw for `choice` from a generator conditioned on `classes` classes (0:
/// unconditional, which takes no class) named `names`: `[None]` for an unconditional one,
/// else the class indices. A class outside the generator's, a conditional generator asked for
/// no class, and a class asked of an unconditional one are named.
pub fn classes_for(
    choice: Option<&ClassChoice>,
    classes: i64,
    names: &[String],
) -> Result<Vec<Option<i64>>> {
    match (choice, classes) {
        (None, 0) => Ok(vec![None]),
        (Some(_), 0) => bail!(
            "--class: this generator is unconditional (trained without --cond); leave --class out"
        ),
        (None, k) => bail!(
            "this generator is conditioned on {k} classes ({}): pass --class with one of them \
             (or --class all for a grid of every class)",
            class_list(k, names)
        ),
        (Some(ClassChoice::All), k) => Ok((0..k).map(Some).collect()),
        (Some(one), k) => Ok(vec![Some(class_index(one, k, names, "--class")?)]),
    }
}

/// Where the outputs go: `--out`, else `generated/` beside the snapshot. A path that is a file
/// is refused before anything is computed.
fn output_dir(out: Option<&Path>, snapshot: &Path) -> Result<PathBuf> {
    let dir = match out {
        Some(dir) => dir.to_path_buf(),
        None => snapshot
            .parent()
            .unwrap_or(Path::new("."))
            .join("generated"),
    };
    if dir.exists() && !dir.is_dir() {
        bail!(
            "--out {}: this is a file; expected a folder for the images",
            dir.display()
        );
    }
    Ok(dir)
}

/// What `gan generate` draws.
#[derive(Debug, Clone)]
pub struct GenerateRequest {
    /// A run directory (its newest snapshot) or a snapshot file.
    pub source: PathBuf,
    pub seeds: Vec<u64>,
    /// One `grid.png` instead of a file per seed.
    pub grid: bool,
    pub truncation: f64,
    pub out: Option<PathBuf>,
    pub device: DeviceChoice,
    /// A conditional generator's class (`--class`); `all` draws a grid of every class, one
    /// column per class and one row per seed.
    pub class: Option<ClassChoice>,
}

/// A loaded generator whose samples are images, and where they go.
fn open(
    source: &Path,
    out: Option<&Path>,
    device: DeviceChoice,
) -> Result<(TrainedGenerator, PathBuf)> {
    let snapshot = snapshot_of(source)?;
    let dir = output_dir(out, &snapshot)?;
    let device = device.resolve()?;
    let generator = TrainedGenerator::load(&snapshot, device)?;
    if !generator.makes_images() {
        bail!(
            "{}: a 2-D toy run draws points, not images (its scatter plots are in the run directory)",
            snapshot.display()
        );
    }
    Ok((generator, dir))
}

/// The image of one latent (of `class`, for a conditional generator) at the run's final
/// resolution, [C, H, W] in [-1, 1].
fn image_of(generator: &TrainedGenerator, z: &Tensor, class: Option<i64>) -> Tensor {
    let resolution = generator.config.resolution;
    let labels = class.map(|c| Tensor::from_slice(&[c]).to_device(z.device()));
    let image = tch::no_grad(|| generator.sampler().forward_ct(z, labels.as_ref(), false));
    first_at(&image, resolution)
}

/// The first image of a batch, [C, H, W] on the CPU, at `resolution` (a progressive run's
/// snapshot before its last stage is shown at the final size, by nearest neighbour).
fn first_at(images: &Tensor, resolution: i64) -> Tensor {
    let image = match images.size()[2] < resolution {
        true => images.upsample_nearest2d([resolution, resolution], None, None),
        false => images.shallow_clone(),
    };
    image.get(0).to_device(Device::Cpu)
}

/// Writes `seedNNNN.png` per seed (or `grid.png` with `grid`); returns the files written.
pub fn generate(request: &GenerateRequest) -> Result<Vec<PathBuf>> {
    check_truncation(request.truncation)?;
    let (generator, dir) = open(&request.source, request.out.as_deref(), request.device)?;
    let classes = classes_for(
        request.class.as_ref(),
        generator.classes(),
        &generator.class_names,
    )?;
    // Every class: a grid, one row per seed.
    let grid = request.grid || classes.len() > 1;
    let device = generator.sampler_device();
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let bar = crate::logging::bar((request.seeds.len() * classes.len()) as u64, "generating");
    let mut images = Vec::new();
    let mut written = Vec::new();
    for &seed in &request.seeds {
        let z = seed_latent(seed, generator.z_dim(), request.truncation, device);
        for &class in &classes {
            let image = image_of(&generator, &z, class);
            if grid {
                images.push(image);
            } else {
                let name = match class {
                    Some(c) => format!("seed{seed:04}-class{c}.png"),
                    None => format!("seed{seed:04}.png"),
                };
                let path = dir.join(name);
                crate::grid::save_image(&image, &path)?;
                written.push(path);
            }
            bar.inc(1);
        }
    }
    bar.finish_and_clear();
    if grid {
        let path = dir.join("grid.png");
        let n = images.len() as i64;
        let columns = match classes.len() {
            1 => crate::grid::square_columns(n),
            k => k as i64,
        };
        crate::grid::save_grid(&Tensor::stack(&images, 0), columns, &path)?;
        written.push(path);
    } else {
        warn_of_other_images(&dir, &written);
    }
    Ok(written)
}

/// Warns when `dir` holds `seedNNNN.png` files that this call did not write (from an earlier
/// call with other seeds): a tool that reads the whole folder (clean-fid, torch-fidelity,
/// `gan eval --fake folder:DIR`) would count them too.
fn warn_of_other_images(dir: &Path, written: &[PathBuf]) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let ours: std::collections::HashSet<&Path> = written.iter().map(|p| p.as_path()).collect();
    let others = entries
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            let name = p.file_name().map(|n| n.to_string_lossy().into_owned());
            name.is_some_and(|n| n.starts_with("seed") && n.ends_with(".png"))
                && !ours.contains(p.as_path())
        })
        .count();
    if others > 0 {
        tracing::warn!(
            "{} also holds {others} seedNNNN.png file(s) that this call did not write (earlier \
             seeds); tools that read the whole folder count them too: use an empty --out",
            dir.display()
        );
    }
}

/// What `gan interpolate` draws.
#[derive(Debug, Clone)]
pub struct InterpolateRequest {
    pub source: PathBuf,
    /// The seeds visited in order (at least two).
    pub seeds: Vec<u64>,
    /// Frames from one seed to the next.
    pub steps: usize,
    pub truncation: f64,
    pub out: Option<PathBuf>,
    pub device: DeviceChoice,
    /// A conditional generator's class, held through the walk (`--class`; one class).
    pub class: Option<ClassChoice>,
    /// A walk through these classes at the first seed's latent instead (`--across-classes`):
    /// the class embedding interpolated linearly from one class to the next.
    pub across_classes: Option<Vec<ClassChoice>>,
}

/// A spherical walk in z through the seeds: `interpolation.png` (the frames in one row) and
/// `interpolation.gif` (the frames as an animation, 10 per second); returns both paths.
pub fn interpolate(request: &InterpolateRequest) -> Result<Vec<PathBuf>> {
    check_truncation(request.truncation)?;
    if let Some(classes) = &request.across_classes {
        return interpolate_classes(request, classes);
    }
    if request.seeds.len() < 2 {
        bail!(
            "--seeds: an interpolation needs at least two seeds, got {:?}",
            request.seeds
        );
    }
    if request.steps == 0 {
        bail!("--steps must be at least 1");
    }
    let (generator, dir) = open(&request.source, request.out.as_deref(), request.device)?;
    let class = match classes_for(
        request.class.as_ref(),
        generator.classes(),
        &generator.class_names,
    )?
    .as_slice()
    {
        [one] => *one,
        _ => bail!("--class all: an interpolation walks at one class; pass --class N"),
    };
    let device = generator.sampler_device();
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let latents: Vec<Tensor> = request
        .seeds
        .iter()
        .map(|&s| seed_latent(s, generator.z_dim(), request.truncation, device))
        .collect();
    let mut frames = Vec::new();
    for pair in latents.windows(2) {
        for k in 0..request.steps {
            let t = k as f64 / request.steps as f64;
            frames.push(image_of(&generator, &slerp(&pair[0], &pair[1], t), class));
        }
    }
    if let Some(last) = latents.last() {
        frames.push(image_of(&generator, last, class));
    }
    write_walk(&dir, &frames)
}

/// A walk through `classes` at the latent of the request's (one) seed: the class embedding
/// interpolated from each class to the next in `steps` frames; the strip and the GIF as
/// [`interpolate`] writes them.
fn interpolate_classes(
    request: &InterpolateRequest,
    choices: &[ClassChoice],
) -> Result<Vec<PathBuf>> {
    if request.steps == 0 {
        bail!("--steps must be at least 1");
    }
    if choices.len() < 2 {
        let got: Vec<String> = choices.iter().map(ToString::to_string).collect();
        bail!(
            "--across-classes: a walk needs at least two classes, got [{}]",
            got.join(", ")
        );
    }
    if request.class.is_some() {
        bail!("--across-classes walks through classes: leave --class out");
    }
    let [seed] = request.seeds.as_slice() else {
        bail!(
            "--across-classes walks at one latent: pass one seed (--seeds N), got {:?}",
            request.seeds
        );
    };
    let (generator, dir) = open(&request.source, request.out.as_deref(), request.device)?;
    let k = generator.classes();
    if k == 0 {
        bail!("--across-classes: this generator is unconditional (trained without --cond)");
    }
    let classes = choices
        .iter()
        .map(|c| class_index(c, k, &generator.class_names, "--across-classes"))
        .collect::<Result<Vec<i64>>>()?;
    let device = generator.sampler_device();
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let z = seed_latent(*seed, generator.z_dim(), request.truncation, device);
    let resolution = generator.config.resolution;
    let label = |c: i64| Tensor::from_slice(&[c]).to_device(device);
    let frame = |from: i64, to: i64, t: f64| -> Result<Tensor> {
        let image = tch::no_grad(|| {
            generator
                .sampler()
                .forward_between(&z, &label(from), &label(to), t, false)
        })
        .context(
            "--across-classes: this generator cannot be interpolated between classes (its class \
             enters through more than one embedding: class-conditional batch norm, cond_bn)",
        )?;
        Ok(first_at(&image, resolution))
    };
    let mut frames = Vec::new();
    for pair in classes.windows(2) {
        for k in 0..request.steps {
            frames.push(frame(pair[0], pair[1], k as f64 / request.steps as f64)?);
        }
    }
    let last = classes[classes.len() - 1];
    frames.push(frame(last, last, 0.0)?);
    write_walk(&dir, &frames)
}

/// A walk's frames as `interpolation.png` (one row) and `interpolation.gif` in `dir`; returns
/// both paths.
fn write_walk(dir: &Path, frames: &[Tensor]) -> Result<Vec<PathBuf>> {
    let strip = dir.join("interpolation.png");
    let n = frames.len() as i64;
    crate::grid::save_grid(&Tensor::stack(frames, 0), n, &strip)?;
    let gif = dir.join("interpolation.gif");
    write_gif(frames, &gif)?;
    Ok(vec![strip, gif])
}

/// Frames [C, H, W] in [-1, 1] as an endlessly looping GIF, written atomically.
fn write_gif(frames: &[Tensor], path: &Path) -> Result<()> {
    let mut rgba = Vec::new();
    for frame in frames {
        let rgb = match frame.size()[0] {
            1 => frame.repeat([3, 1, 1]),
            _ => frame.shallow_clone(),
        };
        let (h, w) = (rgb.size()[1] as u32, rgb.size()[2] as u32);
        let bytes = crate::grid::to_bytes(&rgb).permute([1, 2, 0]).contiguous();
        let bytes = Vec::<u8>::try_from(bytes.view([-1])).context("frame to bytes")?;
        let pixels: Vec<u8> = bytes
            .chunks(3)
            .flat_map(|p| [p[0], p[1], p[2], 255])
            .collect();
        let image = image::RgbaImage::from_raw(w, h, pixels).context("frame size")?;
        rgba.push(image::Frame::from_parts(
            image,
            0,
            0,
            image::Delay::from_numer_denom_ms(100, 1),
        ));
    }
    crate::files::write_atomically(path, |tmp| {
        let file = std::fs::File::create(tmp)
            .with_context(|| format!("cannot create {}", tmp.display()))?;
        let mut encoder = image::codecs::gif::GifEncoder::new(std::io::BufWriter::new(file));
        encoder
            .set_repeat(image::codecs::gif::Repeat::Infinite)
            .and_then(|()| encoder.encode_frames(rgba))
            .with_context(|| format!("cannot write GIF {}", tmp.display()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A class is an index or a recorded name; a number is always an index, and where it is
    /// also a class's name the error says which index that class has.
    #[test]
    fn classes_are_chosen_by_index_or_recorded_name() {
        let choose = |text: &str, names: &[&str]| {
            let names: Vec<String> = names.iter().map(ToString::to_string).collect();
            let choice: ClassChoice = text.parse().expect("parses");
            classes_for(Some(&choice), names.len().max(2) as i64, &names).map_err(|e| e.to_string())
        };
        assert_eq!(choose("dogs", &["cats", "dogs"]), Ok(vec![Some(1)]));
        assert_eq!(choose("0", &["cats", "dogs"]), Ok(vec![Some(0)]));
        assert_eq!(choose("all", &["cats", "dogs"]), Ok(vec![Some(0), Some(1)]));
        assert_eq!(
            choose("5", &["1", "5"]),
            Err("--class 5: a number is a class index, and this generator has 2 classes (0 1, 1 5); class `5` is index 1".into())
        );
        assert_eq!(
            choose("7", &["0", "1"]),
            Err("--class 7: this generator is conditioned on 2 classes (0 to 1)".into())
        );
        assert_eq!(
            choose("dogs", &[]),
            Err("--class dogs: this run recorded no class names (it predates them): pass a class index, 0 to 1".into())
        );
        assert!("".parse::<ClassChoice>().is_err());
    }

    #[test]
    fn seed_lists_parse_and_bad_ones_are_named() {
        assert_eq!(parse_seeds("0-3,10").expect("seeds"), vec![0, 1, 2, 3, 10]);
        let err = parse_seeds("5-2").unwrap_err().to_string();
        assert!(
            err.contains("the range 5-2 goes down; write it as 2-5"),
            "{err}"
        );
        let err = parse_seeds("x").unwrap_err().to_string();
        assert!(err.contains("`x` is not a seed"), "{err}");
        for psi in [0.0, -0.5, 1.5, f64::NAN] {
            assert!(check_truncation(psi).is_err(), "{psi}");
        }
        check_truncation(1.0).expect("1 is plain sampling");
    }

    #[test]
    fn latents_are_a_function_of_the_seed_and_truncation_bounds_them() {
        let a = seed_latent(7, 512, 1.0, Device::Cpu);
        let b = seed_latent(7, 512, 1.0, Device::Cpu);
        assert!(a.equal(&b));
        let t = seed_latent(7, 4096, 0.5, Device::Cpu);
        let largest = t.abs().max().double_value(&[]);
        assert!(
            largest <= 1.0 + 1e-6,
            "ψ 0.5 · truncnorm(−2, 2) stays in [−1, 1]: {largest}"
        );
        // Slerp ends at its endpoints and keeps a unit-norm path on the sphere.
        let (x, y) = (
            seed_latent(1, 64, 1.0, Device::Cpu),
            seed_latent(2, 64, 1.0, Device::Cpu),
        );
        assert!((slerp(&x, &y, 0.0) - &x).abs().max().double_value(&[]) < 1e-5);
        assert!((slerp(&x, &y, 1.0) - &y).abs().max().double_value(&[]) < 1e-5);
        let (u, v) = (&x / x.norm(), &y / y.norm());
        let mid = slerp(&u, &v, 0.5).norm().double_value(&[]);
        assert!((mid - 1.0).abs() < 1e-5, "{mid}");
    }
}
