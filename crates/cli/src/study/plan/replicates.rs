//! The run directories of a study: the main run, its fine-tuning-seed replicates and its
//! `[[arms]]`.

use super::*;

/// What sets a fine-tuning branch apart from the study's own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tag {
    /// Another fine-tuning seed (`seeds/seed-<s>/`, stage ids `seed-<s>/…`).
    Seed(u64),
    /// An `[[arms]]` entry (`arms/<name>/`, stage ids `arm-<name>/…`).
    Arm(String),
    /// Another fine-tuning seed of an arm (`arms/<name>/seeds/seed-<s>/`, stage ids
    /// `arm-<name>/seed-<s>/…`).
    ArmSeed(String, u64),
}

/// One fine-tuning branch: the study itself, a seed replicate (`seeds/seed-<s>/`) or an arm
/// (`arms/<name>/`); all share the pre-trained stages.
pub struct Replicate {
    /// The branch's configuration (its own `finetune` settings).
    pub config: Config,
    /// `None` for the study itself.
    pub tag: Option<Tag>,
    /// Its run directory.
    pub dir: PathBuf,
}

impl Replicate {
    /// Stage id within this branch.
    pub(super) fn id(&self, id: &str) -> String {
        match &self.tag {
            None => id.to_string(),
            Some(Tag::Seed(s)) => format!("seed-{s}/{id}"),
            Some(Tag::Arm(a)) => format!("arm-{a}/{id}"),
            Some(Tag::ArmSeed(a, s)) => format!("arm-{a}/seed-{s}/{id}"),
        }
    }

    /// This branch's run directory relative to the study's: its outputs' paths as the
    /// manifest records them.
    pub(super) fn rel(&self) -> RunDir {
        match &self.tag {
            None => RunDir::relative(),
            Some(Tag::Seed(s)) => RunDir::relative().replicate(*s),
            Some(Tag::Arm(a)) => RunDir::relative().arm(a),
            Some(Tag::ArmSeed(a, s)) => RunDir::relative().arm(a).replicate(*s),
        }
    }
}

/// The replicates of a fine-tuning branch: the study itself (`arm` = `None`) or arm `arm`
/// (whose `config` is [`Config::arm_config`]'s), then one per extra `finetune.seeds`, in
/// `seeds/seed-<s>/` under the branch's directory.
pub fn replicates(config: &Config, arm: Option<&str>) -> Vec<Replicate> {
    (0..config.finetune.seeds)
        .map(|r| match r {
            0 => Replicate {
                config: config.clone(),
                tag: arm.map(|a| Tag::Arm(a.to_string())),
                dir: config.study.out.clone(),
            },
            r => {
                let c = config.replicate_config(r);
                let seed = c.finetune.seed.expect("a replicate has its own seed");
                Replicate {
                    tag: Some(match arm {
                        None => Tag::Seed(seed),
                        Some(a) => Tag::ArmSeed(a.to_string(), seed),
                    }),
                    dir: config.run_dir().replicate(seed).root().to_path_buf(),
                    config: c,
                }
            }
        })
        .collect()
}

/// The study's arms (`[[arms]]`), each as its replicates (the arm in `arms/<name>/`, then its
/// other seeds).
pub fn arms(config: &Config) -> Result<Vec<Vec<Replicate>>> {
    config
        .arms
        .iter()
        .map(|arm| Ok(replicates(&config.arm_config(arm)?, Some(&arm.name))))
        .collect()
}
