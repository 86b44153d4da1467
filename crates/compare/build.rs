include!("../../build-support/rpath.rs");

fn main() {
    emit_libtorch_rpath();
}
