//! Model configs with Hugging Face's key names (BertConfig, SqueezeBertConfig).

use serde_json::Value;

/// Which architecture to build: the one architecture type of the crate (the CLI's `--arch`, a
/// suite's `arch:` and the prepared models' sources all use it), spelled `bert` / `squeezebert`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Arch {
    #[serde(rename = "bert")]
    Bert,
    #[serde(rename = "squeezebert")]
    SqueezeBert,
}

/// An architecture name that is neither `bert` nor `squeezebert`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown architecture '{0}' (expected bert or squeezebert)")]
pub struct UnknownArch(pub String);

/// A config key, value or combination that no graph can be built for (the message names the key).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

impl std::str::FromStr for Arch {
    type Err = UnknownArch;

    fn from_str(s: &str) -> Result<Arch, UnknownArch> {
        match s {
            "bert" => Ok(Arch::Bert),
            "squeezebert" => Ok(Arch::SqueezeBert),
            _ => Err(UnknownArch(s.to_string())),
        }
    }
}

impl std::fmt::Display for Arch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl Arch {
    /// Every architecture, in the order help texts list them.
    pub const ALL: [Arch; 2] = [Arch::Bert, Arch::SqueezeBert];

    pub fn name(self) -> &'static str {
        match self {
            Arch::Bert => "bert",
            Arch::SqueezeBert => "squeezebert",
        }
    }

    /// The prefix of the base model's tensors in a *ForSequenceClassification checkpoint.
    pub fn prefix(self) -> &'static str {
        match self {
            Arch::Bert => "bert.",
            Arch::SqueezeBert => "transformer.",
        }
    }
}

/// The hyperparameters a graph depends on.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    pub arch: Arch,
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    pub vocab_size: usize,
    pub max_position_embeddings: usize,
    pub type_vocab_size: usize,
    pub layer_norm_eps: f64,
    pub hidden_act: String,
    pub initializer_range: f64,
    pub num_labels: usize,
    /// SqueezeBERT only: must equal `hidden_size` when given (None follows `hidden_size`).
    pub embedding_size: Option<usize>,
    pub q_groups: usize,
    pub k_groups: usize,
    pub v_groups: usize,
    pub post_attention_groups: usize,
    pub intermediate_groups: usize,
    pub output_groups: usize,
}

const COMMON: [&str; 11] = [
    "hidden_size",
    "num_hidden_layers",
    "num_attention_heads",
    "intermediate_size",
    "vocab_size",
    "max_position_embeddings",
    "type_vocab_size",
    "layer_norm_eps",
    "hidden_act",
    "initializer_range",
    "num_labels",
];
const SQUEEZEBERT_ONLY: [&str; 7] =
    ["embedding_size", "q_groups", "k_groups", "v_groups", "post_attention_groups", "intermediate_groups", "output_groups"];

/// Largest model `synth` builds (16 GiB of float32 weights, 12x bert-large): a config past it is
/// a typo or a hostile file, refused before any weight is allocated.
pub(crate) const MAX_PARAMETERS: u128 = 1 << 32;

impl Config {
    /// The weights a graph of this config holds (without grouping, which only lowers the figure),
    /// saturating in 128 bits so that no config overflows it.
    pub(crate) fn parameter_bound(&self) -> u128 {
        let [h, l, i, v, p, t, n] = [
            self.hidden_size,
            self.num_hidden_layers,
            self.intermediate_size,
            self.vocab_size,
            self.max_position_embeddings,
            self.type_vocab_size,
            self.num_labels,
        ]
        .map(|x| x as u128);
        let sum = |xs: &[u128]| xs.iter().fold(0u128, |a, &x| a.saturating_add(x));
        let mul = |xs: &[u128]| xs.iter().fold(1u128, |a, &x| a.saturating_mul(x));
        let embeddings = sum(&[mul(&[sum(&[v, p, t]), h]), mul(&[2, h])]);
        let layer = sum(&[mul(&[4, sum(&[mul(&[h, h]), h])]), mul(&[2, h, i]), i, mul(&[5, h])]);
        let head = sum(&[mul(&[h, h]), h, mul(&[h, n]), n]);
        sum(&[embeddings, mul(&[l, layer]), head])
    }

    /// bert-base-uncased or squeezebert-uncased.
    pub fn defaults(arch: Arch) -> Config {
        let squeeze = arch == Arch::SqueezeBert;
        Config {
            arch,
            hidden_size: 768,
            num_hidden_layers: 12,
            num_attention_heads: 12,
            intermediate_size: 3072,
            vocab_size: if squeeze { 30528 } else { 30522 },
            max_position_embeddings: 512,
            type_vocab_size: 2,
            layer_norm_eps: 1e-12,
            hidden_act: "gelu".into(),
            initializer_range: 0.02,
            num_labels: 2,
            embedding_size: None,
            q_groups: if squeeze { 4 } else { 1 },
            k_groups: if squeeze { 4 } else { 1 },
            v_groups: if squeeze { 4 } else { 1 },
            post_attention_groups: 1,
            intermediate_groups: if squeeze { 4 } else { 1 },
            output_groups: if squeeze { 4 } else { 1 },
        }
    }

    /// The keys [`Config::set`] accepts for this architecture.
    pub fn keys(&self) -> Vec<&'static str> {
        let mut k = COMMON.to_vec();
        if self.arch == Arch::SqueezeBert {
            k.extend(SQUEEZEBERT_ONLY);
        }
        k
    }

    /// Sets one key from its text form. Unknown keys are errors naming the key.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), ConfigError> {
        self.set_text(key, value).map_err(ConfigError)
    }

    fn set_text(&mut self, key: &str, value: &str) -> Result<(), String> {
        if SQUEEZEBERT_ONLY.contains(&key) && self.arch != Arch::SqueezeBert {
            return Err(format!("key '{key}' applies to squeezebert only, not {}", self.arch.name()));
        }
        let int = || value.parse::<usize>().map_err(|_| format!("{key}: '{value}' is not a non-negative integer"));
        let float = || value.parse::<f64>().map_err(|_| format!("{key}: '{value}' is not a number"));
        match key {
            "hidden_size" => self.hidden_size = int()?,
            "num_hidden_layers" => self.num_hidden_layers = int()?,
            "num_attention_heads" => self.num_attention_heads = int()?,
            "intermediate_size" => self.intermediate_size = int()?,
            "vocab_size" => self.vocab_size = int()?,
            "max_position_embeddings" => self.max_position_embeddings = int()?,
            "type_vocab_size" => self.type_vocab_size = int()?,
            "layer_norm_eps" => self.layer_norm_eps = float()?,
            "hidden_act" => self.hidden_act = value.to_string(),
            "initializer_range" => self.initializer_range = float()?,
            "num_labels" => self.num_labels = int()?,
            "embedding_size" => self.embedding_size = Some(int()?),
            "q_groups" => self.q_groups = int()?,
            "k_groups" => self.k_groups = int()?,
            "v_groups" => self.v_groups = int()?,
            "post_attention_groups" => self.post_attention_groups = int()?,
            "intermediate_groups" => self.intermediate_groups = int()?,
            "output_groups" => self.output_groups = int()?,
            _ => return Err(format!("unknown key '{key}' for {} (known: {})", self.arch.name(), self.keys().join(", "))),
        }
        Ok(())
    }

    /// Applies a Hugging Face config.json: known keys are read, others (dropout, label names, ...)
    /// ignored; a `model_type` of the other architecture is an error. `num_labels` falls back to
    /// the size of `id2label`.
    pub(crate) fn apply_json(&mut self, json: &Value) -> Result<(), ConfigError> {
        self.apply_json_text(json).map_err(ConfigError)
    }

    fn apply_json_text(&mut self, json: &Value) -> Result<(), String> {
        let obj = json.as_object().ok_or("expected a JSON object")?;
        if let Some(t) = obj.get("model_type").and_then(Value::as_str) {
            if t != self.arch.name() {
                return Err(format!("model_type is '{t}' but the architecture asked for is {}", self.arch.name()));
            }
        }
        if let Some(labels) = obj.get("id2label").and_then(Value::as_object) {
            self.num_labels = labels.len();
        }
        for key in self.keys() {
            match obj.get(key) {
                None | Some(Value::Null) => {}
                Some(Value::String(s)) => self.set_text(key, s)?,
                Some(v @ Value::Number(_)) => self.set_text(key, &v.to_string())?,
                Some(v) => return Err(format!("{key}: unexpected value {v}")),
            }
        }
        Ok(())
    }

    /// Rejects combinations no graph can be built for.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.check().map_err(ConfigError)
    }

    fn check(&self) -> Result<(), String> {
        for (k, v) in [
            ("hidden_size", self.hidden_size),
            ("num_hidden_layers", self.num_hidden_layers),
            ("num_attention_heads", self.num_attention_heads),
            ("intermediate_size", self.intermediate_size),
            ("vocab_size", self.vocab_size),
            ("max_position_embeddings", self.max_position_embeddings),
            ("type_vocab_size", self.type_vocab_size),
            ("num_labels", self.num_labels),
        ] {
            if v == 0 {
                return Err(format!("{k} must be at least 1"));
            }
        }
        let params = self.parameter_bound();
        if params > MAX_PARAMETERS {
            return Err(format!(
                "the config describes about {params} parameters ({} GiB of float32), past the limit of {MAX_PARAMETERS} \
                 parameters; check hidden_size, intermediate_size, vocab_size, max_position_embeddings and num_hidden_layers",
                params.saturating_mul(4) >> 30
            ));
        }
        if self.hidden_act != "gelu" {
            return Err(format!("hidden_act '{}' is not supported (only gelu)", self.hidden_act));
        }
        if self.layer_norm_eps.is_nan() || self.layer_norm_eps <= 0.0 {
            return Err(format!("layer_norm_eps must be positive, got {}", self.layer_norm_eps));
        }
        if !self.hidden_size.is_multiple_of(self.num_attention_heads) {
            return Err(format!(
                "hidden_size {} is not divisible by num_attention_heads {}",
                self.hidden_size, self.num_attention_heads
            ));
        }
        if self.arch == Arch::SqueezeBert {
            if let Some(e) = self.embedding_size.filter(|&e| e != self.hidden_size) {
                return Err(format!("embedding_size {e} must equal hidden_size {}", self.hidden_size));
            }
            let h = self.hidden_size;
            let i = self.intermediate_size;
            for (k, g, cin, cout) in [
                ("q_groups", self.q_groups, h, h),
                ("k_groups", self.k_groups, h, h),
                ("v_groups", self.v_groups, h, h),
                ("post_attention_groups", self.post_attention_groups, h, h),
                ("intermediate_groups", self.intermediate_groups, h, i),
                ("output_groups", self.output_groups, i, h),
            ] {
                if g == 0 || !cin.is_multiple_of(g) || !cout.is_multiple_of(g) {
                    return Err(format!(
                        "{k} {g} must divide both the input ({cin}) and output ({cout}) channels of its convolution"
                    ));
                }
            }
        }
        Ok(())
    }
}
