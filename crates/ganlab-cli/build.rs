//! Links libtorch's CUDA library into the binaries even though no symbol of it is referenced:
//! with the default `--as-needed` linking the binary would keep only libtorch_cpu and silently
//! run on the CPU on a GPU machine (RESOURCES.md).
fn main() {
    let libtorch = std::env::var("LIBTORCH").unwrap_or_default();
    let cuda_lib = std::path::Path::new(&libtorch)
        .join("lib")
        .join("libtorch_cuda.so");
    if cuda_lib.exists() {
        println!("cargo:rustc-link-arg=-Wl,--no-as-needed,-ltorch_cuda,--as-needed");
    }
    println!("cargo:rerun-if-env-changed=LIBTORCH");
}
