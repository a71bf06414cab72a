//! Class labels through the engine (`cond`): the labels of a folder of class sub-folders, a zip
//! with StyleGAN2-ADA's `dataset.json` and a prepared archive reach D with their own images, in
//! the order of the unconditional stream (the same real batches as a run without `cond`), and
//! the fakes of each step carry the real batch's labels.

use ganlab_data::archive::write_archive;
use ganlab_data::{open_streamed, ArchiveInfo, ImageSource};
use ganlab_games::{game_by_name, GameOptions};
use ganlab_layers::ConditionalModuleT;
use ganlab_optim::AdamConfig;
use ganlab_train::{OptimizerSettings, Players, SampleKind, Trainer, TrainerSettings};
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};
use tch::nn::{self, Module, VarStore};
use tch::{Device, Kind, Tensor};

const IMAGES: i64 = 12;
const CLASSES: i64 = 3;
const SIDE: i64 = 8;

/// Image `i`: every pixel `10·i + 5` (distinct images whose pixels name them), class `i mod 3`.
fn pixel(i: i64) -> u8 {
    (10 * i + 5) as u8
}

fn png(i: i64) -> Vec<u8> {
    let image = image::GrayImage::from_pixel(SIDE as u32, SIDE as u32, image::Luma([pixel(i)]));
    let mut bytes = std::io::Cursor::new(Vec::new());
    image
        .write_to(&mut bytes, image::ImageFormat::Png)
        .expect("png");
    bytes.into_inner()
}

/// The image index a float image in [-1, 1] was made from.
fn index_of(value: f64) -> i64 {
    let byte = ((value + 1.0) * 127.5).round() as i64;
    (byte - 5) / 10
}

fn write_folder(root: &Path) {
    for i in 0..IMAGES {
        let dir = root.join(format!("class{}", i % CLASSES));
        std::fs::create_dir_all(&dir).expect("dir");
        std::fs::write(dir.join(format!("img{i:02}.png")), png(i)).expect("write");
    }
}

fn write_zip(path: &Path) {
    let mut zip = zip::ZipWriter::new(std::fs::File::create(path).expect("zip"));
    let options = zip::write::SimpleFileOptions::default();
    let mut labels = Vec::new();
    for i in 0..IMAGES {
        let name = format!("00000/img{i:08}.png");
        zip.start_file(name.as_str(), options).expect("entry");
        zip.write_all(&png(i)).expect("write");
        labels.push(serde_json::json!([name, i % CLASSES]));
    }
    zip.start_file("dataset.json", options).expect("entry");
    zip.write_all(
        serde_json::json!({ "labels": labels })
            .to_string()
            .as_bytes(),
    )
    .expect("write");
    zip.finish().expect("finish");
}

fn write_test_archive(path: &Path) {
    let info = ArchiveInfo {
        resolution: SIDE,
        channels: 1,
        images: IMAGES,
        source: "test images".into(),
        class_names: (0..CLASSES).map(|k| format!("class{k}")).collect(),
    };
    write_archive(
        path,
        &info,
        |i| Ok((vec![pixel(i); (SIDE * SIDE) as usize], i % CLASSES)),
        |_| {},
    )
    .expect("archive");
}

/// What D was called with: the index of each row's image (from its pixels) and its label.
type Calls = Arc<Mutex<Vec<(Vec<i64>, Option<Vec<i64>>)>>>;

/// G: a linear map of z to an image; conditional on `classes` classes (its class adds a
/// learned offset) or not.
#[derive(Debug)]
struct LinearG {
    fc: nn::Linear,
    offset: nn::Embedding,
    classes: i64,
}

impl ConditionalModuleT for LinearG {
    fn forward_ct(&self, z: &Tensor, labels: Option<&Tensor>, _train: bool) -> Tensor {
        let x = self.fc.forward(z);
        let x = match labels {
            Some(y) => x + ganlab_layers::embed(&self.offset, y),
            None => x,
        };
        x.tanh().view([-1, 1, SIDE, SIDE])
    }
    fn classes(&self) -> i64 {
        self.classes
    }
}

/// D: a linear map of the image that records every call.
#[derive(Debug)]
struct RecordingD {
    fc: nn::Linear,
    classes: i64,
    calls: Calls,
}

impl ConditionalModuleT for RecordingD {
    fn forward_ct(&self, x: &Tensor, labels: Option<&Tensor>, _train: bool) -> Tensor {
        let first = x.detach().flatten(1, -1).select(1, 0).to_kind(Kind::Double);
        let indices = Vec::<f64>::try_from(&first)
            .expect("pixels")
            .into_iter()
            .map(index_of)
            .collect();
        let labels = labels.map(|y| Vec::<i64>::try_from(y).expect("labels"));
        self.calls.lock().expect("calls").push((indices, labels));
        self.fc.forward(&x.flatten(1, -1)).squeeze_dim(1)
    }
    fn classes(&self) -> i64 {
        self.classes
    }
}

/// Five steps of batches of 4 over the 12 images (two epochs' worth), as a run of seed 7 draws
/// them; returns every D call.
fn train_on(source: Box<dyn ImageSource>, classes: i64) -> Vec<(Vec<i64>, Option<Vec<i64>>)> {
    tch::manual_seed(7);
    let calls: Calls = Arc::default();
    let (g_vs, d_vs) = (VarStore::new(Device::Cpu), VarStore::new(Device::Cpu));
    let g = LinearG {
        fc: nn::linear(g_vs.root() / "fc", 4, SIDE * SIDE, Default::default()),
        offset: ganlab_layers::class_embedding(&(g_vs.root() / "offset"), CLASSES, SIDE * SIDE),
        classes,
    };
    let d = RecordingD {
        fc: nn::linear(d_vs.root() / "fc", SIDE * SIDE, 1, Default::default()),
        classes,
        calls: calls.clone(),
    };
    let players = Players::new(Box::new(g), Box::new(d), g_vs, d_vs, 4, SampleKind::Images);
    let adam = OptimizerSettings::Adam(AdamConfig::default());
    let optimizers = (
        adam.build(&players.g_vs).expect("G"),
        adam.build(&players.d_vs).expect("D"),
    );
    let settings = TrainerSettings {
        batch_size: 4,
        seed: 7,
        channels_last: false,
    };
    let game = game_by_name("nonsaturating", GameOptions::default()).expect("game");
    let mut trainer = Trainer::new(players, game, optimizers, source, settings);
    for _ in 0..5 {
        trainer.step().expect("step");
    }
    let calls = calls.lock().expect("calls").clone();
    calls
}

#[test]
fn labels_arrive_with_their_images_in_the_order_of_the_unconditional_stream() {
    let _rng = ganlab_tests::global_rng_lock();
    let tmp = tempfile::tempdir().expect("tmp");
    let folder = tmp.path().join("folder");
    write_folder(&folder);
    let zip = tmp.path().join("images.zip");
    write_zip(&zip);
    let archive = tmp.path().join("images.safetensors");
    write_test_archive(&archive);
    for name in [
        format!("folder:{}", folder.display()),
        format!("zip:{}", zip.display()),
        archive.display().to_string(),
    ] {
        let open = || -> Box<dyn ImageSource> {
            Box::new(open_streamed(&name, SIDE, Some(1)).expect("open"))
        };
        assert_eq!(open().class_names().len() as i64, CLASSES, "{name}");
        let conditional = train_on(open(), CLASSES);
        let plain = train_on(open(), 0);
        // Non-saturating GAN: D on the reals, on the fakes, then on the fakes for G's update.
        assert_eq!(conditional.len(), 15, "{name}");
        let reals = |calls: &[(Vec<i64>, Option<Vec<i64>>)]| -> Vec<Vec<i64>> {
            calls.iter().step_by(3).map(|(i, _)| i.clone()).collect()
        };
        assert_eq!(
            reals(&conditional),
            reals(&plain),
            "{name}: the conditional run reads the unconditional run's batches"
        );
        let mut seen = std::collections::BTreeSet::new();
        for (step, calls) in conditional.chunks(3).enumerate() {
            let (images, labels) = &calls[0];
            let labels = labels.as_ref().expect("labels with the reals");
            let expected: Vec<i64> = images.iter().map(|i| i % CLASSES).collect();
            assert_eq!(
                labels, &expected,
                "{name}, step {step}: each image's own label"
            );
            seen.extend(images.iter().copied());
            for (_, fake_labels) in &calls[1..] {
                assert_eq!(
                    fake_labels.as_ref(),
                    Some(labels),
                    "{name}, step {step}: the fakes take the real batch's labels"
                );
            }
        }
        assert_eq!(seen.len() as i64, IMAGES, "{name}: every image was drawn");
        assert!(plain.iter().all(|(_, labels)| labels.is_none()));
    }
}
