//! Compiles `csrc/c10d_shim.cpp` against the libtorch that torch-sys links (its headers sit next
//! to its `lib/`) and the Gloo headers (Debian's `libgloo-dev`, which `cargo xtask setup`
//! installs; libtorch itself contains Gloo's code, so no Gloo library is linked).

#[cfg(feature = "c10d")]
use std::path::{Path, PathBuf};

#[cfg(not(feature = "c10d"))]
fn main() {
    // Without the `c10d` feature there is nothing to compile (src/without_c10d.rs).
}

#[cfg(feature = "c10d")]
fn main() {
    println!("cargo:rerun-if-changed=csrc/c10d_shim.cpp");
    println!("cargo:rerun-if-env-changed=GLOO_INCLUDE_DIR");
    println!("cargo:rerun-if-env-changed=GANLAB_NCCL_INCLUDE_DIRS");
    let lib = std::env::var("DEP_TCH_LIBTORCH_LIB")
        .expect("torch-sys did not report where libtorch is (DEP_TCH_LIBTORCH_LIB)");
    let root = Path::new(&lib)
        .parent()
        .expect("DEP_TCH_LIBTORCH_LIB has a parent")
        .to_path_buf();
    let include = root.join("include");
    let c10d = include.join("torch/csrc/distributed/c10d/ProcessGroupGloo.hpp");
    if !c10d.exists() {
        fail(&format!(
            "libtorch at {} has no c10d headers ({} is missing); use the torch wheel that \
             `cargo xtask setup` installs",
            root.display(),
            c10d.display()
        ));
    }
    let gloo = std::env::var("GLOO_INCLUDE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from("/usr/include"));
    if !gloo.join("gloo/context.h").exists() {
        fail(&format!(
            "the Gloo headers are missing ({} not found): run `cargo xtask setup` (it installs \
             Debian's libgloo-dev), or `apt-get install libgloo-dev`, or set GLOO_INCLUDE_DIR to \
             a folder holding gloo/context.h",
            gloo.join("gloo/context.h").display()
        ));
    }
    let mut build = cc::Build::new();
    build
        .cpp(true)
        .file("csrc/c10d_shim.cpp")
        .include(&include)
        .include(include.join("torch/csrc/api/include"))
        .include(&gloo)
        .flag("-std=c++17")
        // torch reports the new ABI (torch._C._GLIBCXX_USE_CXX11_ABI == True).
        .define("_GLIBCXX_USE_CXX11_ABI", "1")
        // Without it ProcessGroupGloo.hpp preprocesses to nothing.
        .define("USE_C10D_GLOO", None)
        .warnings(false);
    if std::env::var_os("CARGO_FEATURE_NCCL").is_some() {
        let dirs = std::env::var("GANLAB_NCCL_INCLUDE_DIRS").unwrap_or_else(|_| {
            fail("the `nccl` feature needs GANLAB_NCCL_INCLUDE_DIRS (the NCCL and CUDA include \
                  folders of the full setup's venv, separated by ':'; `cargo xtask gpu-pack` sets it)")
        });
        for dir in dirs.split(':').filter(|d| !d.is_empty()) {
            build.include(dir);
        }
        build
            .define("USE_C10D_NCCL", None)
            .define("USE_CUDA", None)
            .define("GANLAB_WITH_NCCL", None);
        println!("cargo:rustc-link-arg=-Wl,--no-as-needed");
        println!("cargo:rustc-link-lib=torch_cuda");
        println!("cargo:rustc-link-lib=c10_cuda");
    }
    build.compile("ganlab_c10d_shim");
    println!("cargo:rustc-link-search=native={lib}");
    println!("cargo:rustc-link-lib=torch_cpu");
    println!("cargo:rustc-link-lib=c10");
}

#[cfg(feature = "c10d")]
fn fail(message: &str) -> ! {
    eprintln!("error: {message}");
    panic!("{message}");
}
