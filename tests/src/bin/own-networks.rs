//! Research code's own networks through the whole run: a generator and a discriminator written
//! here (not in the toolkit's registry) are registered at start-up, and the toolkit's command
//! line ([`ganlab_cli::main`]) does the rest: `own-networks train --arch own-mlp ...`, `--resume`,
//! `eval`, `generate`, `report`. `tests/tests/own_networks.rs` trains them, kills the process
//! with SIGKILL and resumes it.

use ganlab_train::arch::{register, Networks};
use ganlab_train::{Players, SampleKind};
use tch::nn::{self, Module};

/// A two-layer MLP with a residual shortcut, as research code might write it: a plain
/// `nn::Module`, its parameters named through the path.
#[derive(Debug)]
struct ResidualMlp {
    fc1: nn::Linear,
    fc2: nn::Linear,
    skip: nn::Linear,
}

impl ResidualMlp {
    fn new(p: &nn::Path, inputs: i64, hidden: i64, outputs: i64) -> ResidualMlp {
        ResidualMlp {
            fc1: nn::linear(p / "fc1", inputs, hidden, Default::default()),
            fc2: nn::linear(p / "fc2", hidden, outputs, Default::default()),
            skip: nn::linear(p / "skip", inputs, outputs, Default::default()),
        }
    }
}

impl Module for ResidualMlp {
    fn forward(&self, x: &tch::Tensor) -> tch::Tensor {
        self.fc2.forward(&self.fc1.forward(x).leaky_relu()) + self.skip.forward(x)
    }
}

fn main() {
    let networks = Networks::new("own-mlp", SampleKind::Points, 4, 128, |spec, device| {
        let z_dim = spec.z_dim.unwrap_or(4);
        Ok(Players::pair(
            device,
            z_dim,
            SampleKind::Points,
            |g| ResidualMlp::new(g, z_dim, 64, 2),
            |d| ResidualMlp::new(d, 2, 64, 1),
        ))
    });
    if let Err(err) = register(networks) {
        eprintln!("own-networks: {err:#}");
        std::process::exit(1);
    }
    ganlab_cli::main();
}
