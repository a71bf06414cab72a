//! Compiles `csrc/autocast_shim.cpp` against the libtorch that torch-sys links (its headers sit
//! next to its `lib/`).

use std::path::Path;

fn main() {
    println!("cargo:rerun-if-changed=csrc/autocast_shim.cpp");
    let Ok(lib) = std::env::var("DEP_TCH_LIBTORCH_LIB") else {
        println!("cargo:warning=torch-sys did not report where libtorch is (DEP_TCH_LIBTORCH_LIB)");
        std::process::exit(1);
    };
    let Some(root) = Path::new(&lib).parent() else {
        println!("cargo:warning=DEP_TCH_LIBTORCH_LIB has no parent: {lib}");
        std::process::exit(1);
    };
    let include = root.join("include");
    if !include.join("ATen/autocast_mode.h").exists() {
        println!(
            "cargo:warning=libtorch at {} has no ATen/autocast_mode.h; use the torch wheel that \
             `cargo xtask setup` installs",
            root.display()
        );
        std::process::exit(1);
    }
    cc::Build::new()
        .cpp(true)
        .file("csrc/autocast_shim.cpp")
        .include(&include)
        .include(include.join("torch/csrc/api/include"))
        .flag("-std=c++17")
        // torch reports the new ABI (torch._C._GLIBCXX_USE_CXX11_ABI == True).
        .define("_GLIBCXX_USE_CXX11_ABI", "1")
        .warnings(false)
        .compile("ganlab_autocast_shim");
}
