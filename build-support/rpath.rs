// Shared by the build scripts of crates that link libtorch (included with `include!`).
// Bakes an rpath to the libtorch and CUDA-runtime directories of the PyPI wheel so the binary
// and the tests run without LD_LIBRARY_PATH.

/// Emit `-rpath` link arguments for libtorch and the CUDA runtime it links.
fn emit_libtorch_rpath() {
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    println!("cargo:rerun-if-env-changed=TUNESCOPE_CUDA_LIB");
    let mut dirs = Vec::new();
    if let Ok(libtorch) = std::env::var("LIBTORCH") {
        dirs.push(std::path::PathBuf::from(libtorch).join("lib"));
    }
    if let Ok(cuda) = std::env::var("TUNESCOPE_CUDA_LIB") {
        dirs.push(std::path::PathBuf::from(cuda));
    }
    for dir in dirs {
        if let Ok(dir) = dir.canonicalize() {
            println!("cargo:rustc-link-arg=-Wl,-rpath,{}", dir.display());
        }
    }
    if std::env::var("CARGO_FEATURE_CUDA").is_ok() {
        // Keep libtorch_cuda linked even though no symbol of it is referenced directly.
        println!("cargo:rustc-link-arg=-Wl,--no-as-needed,-ltorch_cuda,--as-needed");
    }
}
