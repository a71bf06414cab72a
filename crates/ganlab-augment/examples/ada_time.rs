use ganlab_augment::{AdaPipeline, DiffAugment};
use ganlab_games::Shard;
use tch::{Device, Kind, Tensor};
fn main() {
    for size in [32i64, 128] {
        let x =
            Tensor::rand([32, 3, size, size], (Kind::Float, Device::Cpu)).set_requires_grad(true);
        for (name, f) in [("ada", 0), ("diff", 1)] {
            let t = std::time::Instant::now();
            for _ in 0..5 {
                let y = if f == 0 {
                    AdaPipeline::bgc().apply(&x, 0.5, Shard::default())
                } else {
                    DiffAugment::all().apply(&x, Shard::default())
                };
                y.sum(Kind::Float).backward();
            }
            println!("{name} {size}: {:.1} ms", t.elapsed().as_secs_f64() * 200.0);
        }
    }
}
