//! BERT on libtorch.

/// libtorch's version string, as a smoke test of the link.
pub fn libtorch_ok() -> bool {
    let t = tch::Tensor::from_slice(&[1.0f32, 2.0]);
    t.sum(tch::Kind::Float).double_value(&[]) == 3.0
}

#[cfg(test)]
mod tests {
    #[test]
    fn links() {
        assert!(super::libtorch_ok());
    }
}
