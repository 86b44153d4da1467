//! The BERT encoder: embeddings, `encoder.layer.*` and the pooler, returning every hidden state.

use tch::{nn, nn::Module, Kind, Tensor};

use super::attention::linear;
use super::config::BertConfig;
use super::embeddings::BertEmbeddings;
use super::layer::BertLayer;

/// `pooler.dense` + tanh on `[CLS]`, kept so checkpoints round-trip 1:1 (unused by the studies).
#[derive(Debug)]
pub struct BertPooler {
    pub(crate) dense: nn::Linear,
}

impl BertPooler {
    /// `tanh(dense(hidden[:, 0]))` of a last hidden state `[batch, seq, hidden]`.
    pub fn forward(&self, last_hidden: &Tensor) -> Tensor {
        self.dense.forward(&last_hidden.select(1, 0)).tanh()
    }
}

/// A BERT encoder (transformers' `BertModel`) whose parameter names mirror the checkpoint's.
///
/// Built on a [`nn::Path`], so it can live in a `VarStore` next to a task head and be trained.
#[derive(Debug)]
pub struct Bert {
    pub(crate) embeddings: BertEmbeddings,
    pub(crate) layers: Vec<BertLayer>,
    pub(crate) pooler: BertPooler,
    config: BertConfig,
}

impl Bert {
    /// Creates a randomly initialised encoder (N(0, 0.02) weights, zero biases, unit LayerNorm)
    /// under `p`; load weights with [`crate::encoder::load_weights`].
    pub fn new(p: &nn::Path, cfg: &BertConfig) -> Self {
        let enc = p / "encoder" / "layer";
        Self {
            embeddings: BertEmbeddings::new(p / "embeddings", cfg),
            layers: (0..cfg.num_hidden_layers)
                .map(|i| BertLayer::new(&enc / i, cfg))
                .collect(),
            pooler: BertPooler {
                dense: linear(p / "pooler" / "dense", cfg.hidden_size, cfg.hidden_size),
            },
            config: cfg.clone(),
        }
    }

    /// The architecture this encoder was built with.
    pub fn config(&self) -> &BertConfig {
        &self.config
    }

    /// All L + 1 hidden states `[batch, seq, hidden]` (index 0 = embedding output) for
    /// `input_ids` (int64 `[batch, seq]`) and `attention_mask` (`[batch, seq]`, nonzero = real
    /// token). Token types are all 0. Dropout is active only when `train` is true.
    pub fn forward_t(
        &self,
        input_ids: &Tensor,
        attention_mask: &Tensor,
        train: bool,
    ) -> Vec<Tensor> {
        let types = input_ids.zeros_like();
        self.forward_with_types_t(input_ids, &types, attention_mask, train)
    }

    /// [`Bert::forward_t`] with explicit `token_type_ids` (`[batch, seq]` int64).
    pub fn forward_with_types_t(
        &self,
        input_ids: &Tensor,
        token_type_ids: &Tensor,
        attention_mask: &Tensor,
        train: bool,
    ) -> Vec<Tensor> {
        let keep = attention_mask.to_kind(Kind::Bool);
        // A batch without padding needs no mask, which lets attention take its fused kernel.
        let mask =
            (!bool::try_from(keep.all()).unwrap_or(false)).then(|| keep.unsqueeze(1).unsqueeze(1));
        let mut states = Vec::with_capacity(self.layers.len() + 1);
        let mut xs = self.embeddings.forward_t(input_ids, token_type_ids, train);
        for layer in &self.layers {
            let next = layer.forward_t(&xs, mask.as_ref(), train);
            states.push(xs);
            xs = next;
        }
        states.push(xs);
        states
    }

    /// The pooler output for a last hidden state (transformers' `pooler_output`).
    pub fn pool(&self, last_hidden: &Tensor) -> Tensor {
        self.pooler.forward(last_hidden)
    }

    /// Every parameter with its checkpoint name (no `bert.` prefix), in a stable order.
    pub fn named_parameters(&self) -> Vec<(String, Tensor)> {
        let e = &self.embeddings;
        let mut out: Vec<(String, Tensor)> = vec![
            (
                "embeddings.word_embeddings.weight".into(),
                e.word_embeddings.ws.shallow_clone(),
            ),
            (
                "embeddings.position_embeddings.weight".into(),
                e.position_embeddings.ws.shallow_clone(),
            ),
            (
                "embeddings.token_type_embeddings.weight".into(),
                e.token_type_embeddings.ws.shallow_clone(),
            ),
        ];
        out.extend(layer_norm_params("embeddings.LayerNorm", &e.layer_norm));
        for (i, l) in self.layers.iter().enumerate() {
            let p = format!("encoder.layer.{i}");
            let a = &l.attention;
            out.extend(linear_params(
                &format!("{p}.attention.self.query"),
                &a.self_attention.query,
            ));
            out.extend(linear_params(
                &format!("{p}.attention.self.key"),
                &a.self_attention.key,
            ));
            out.extend(linear_params(
                &format!("{p}.attention.self.value"),
                &a.self_attention.value,
            ));
            out.extend(linear_params(
                &format!("{p}.attention.output.dense"),
                &a.output.dense,
            ));
            out.extend(layer_norm_params(
                &format!("{p}.attention.output.LayerNorm"),
                &a.output.layer_norm,
            ));
            out.extend(linear_params(
                &format!("{p}.intermediate.dense"),
                &l.intermediate.dense,
            ));
            out.extend(linear_params(&format!("{p}.output.dense"), &l.output.dense));
            out.extend(layer_norm_params(
                &format!("{p}.output.LayerNorm"),
                &l.output.layer_norm,
            ));
        }
        out.extend(linear_params("pooler.dense", &self.pooler.dense));
        out
    }
}

fn linear_params(name: &str, l: &nn::Linear) -> Vec<(String, Tensor)> {
    let mut v = vec![(format!("{name}.weight"), l.ws.shallow_clone())];
    if let Some(b) = &l.bs {
        v.push((format!("{name}.bias"), b.shallow_clone()));
    }
    v
}

fn layer_norm_params(name: &str, ln: &nn::LayerNorm) -> Vec<(String, Tensor)> {
    let mut v = Vec::new();
    if let Some(w) = &ln.ws {
        v.push((format!("{name}.weight"), w.shallow_clone()));
    }
    if let Some(b) = &ln.bs {
        v.push((format!("{name}.bias"), b.shallow_clone()));
    }
    v
}
