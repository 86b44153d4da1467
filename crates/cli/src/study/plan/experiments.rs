//! The experiment stages of the main run: dynamics, memorisation, weights and the
//! `[[cross_task]]` entries.

use super::*;

/// Plans one replicate's dynamics and memorisation stages; returns their ids.
pub(super) fn experiments(
    b: &mut Builder<'_>,
    rep: &Replicate,
    finetune_done: bool,
) -> Result<Vec<String>> {
    let config = &rep.config;
    let layers = b.layers.clone();
    let mut ids = Vec::new();
    if config.dynamics.enabled && config.finetune.checkpoint_every > 0 {
        let kind = Kind::Dynamics(dynamics::settings(config, &layers));
        if finetune_done {
            let mut after = vec![rep.id("finetune"), rep.id("extract/finetuned")];
            after.extend(
                b.plan
                    .iter()
                    .filter(|p| {
                        matches!(p.kind, Kind::Extract(ModelRef::Checkpoint(_), _))
                            && p.id.starts_with(&rep.id("extract/"))
                    })
                    .map(|p| p.id.clone()),
            );
            after.extend(
                layers
                    .iter()
                    .map(|k| format!("directprobe/pretrained/train/layer-{k}")),
            );
            b.add_in(
                Stage::new(
                    rep.id("dynamics"),
                    kind,
                    after,
                    vec![output(rep.rel().dynamics())],
                ),
                rep,
            );
            ids.push(rep.id("dynamics"));
        } else {
            b.later(
                rep.id("dynamics"),
                kind,
                "after fine-tuning, on its checkpoints".into(),
                rep,
            );
        }
    }
    if config.memorisation.enabled {
        if let Some(why) = config.finetuning_misses_training_units() {
            bail!(
                "[memorisation] needs fine-tuning to see every training unit (subtest must be seen \
                 by fine-tuning), but {why}; set memorisation.enabled = false or change that setting"
            );
        }
        let s = memorisation::settings(config, &layers);
        if !layers.contains(&s.layer) {
            bail!(
                "[memorisation] layer {} is not among the analysed layers {layers:?}",
                s.layer
            );
        }
        b.add_in(
            Stage::new(
                rep.id("memorisation"),
                Kind::Memorisation(s),
                vec![
                    "data".to_string(),
                    "extract/pretrained".to_string(),
                    rep.id("extract/finetuned"),
                ],
                vec![output(rep.rel().memorisation())],
            ),
            rep,
        );
        ids.push(rep.id("memorisation"));
    }
    Ok(ids)
}

/// Plans the cross-task stages of every `[[cross_task]]` entry; returns the table stages' ids.
pub(super) fn cross_tasks(
    b: &mut Builder<'_>,
    config: &Config,
    cache: &mut HashCache,
    model_hash: &str,
) -> Result<Vec<String>> {
    let last = config.experiment_layer(None, &b.layers);
    let mut ids = Vec::new();
    for entry in &config.cross_task {
        let sub = config.cross_config(entry);
        let dir = config.run_dir().cross(&entry.name).root().to_path_buf();
        let rel = RunDir::relative().cross(&entry.name);
        let base = format!("cross/{}", entry.name);
        let data_id = format!("{base}/data");
        let mut data = Stage::new(
            data_id.clone(),
            Kind::CrossData(entry.name.clone(), data::settings(&sub)),
            vec![],
            vec![output(rel.data())],
        );
        data.external = data_hashes(&sub, cache, &format!("[[cross_task]] {:?}", entry.name))?;
        b.add_at(data, dir.clone(), false);
        let mut after = vec![
            data_id.clone(),
            "data".to_string(),
            "finetune".to_string(),
            "extract/pretrained".to_string(),
            "extract/finetuned".to_string(),
            format!("directprobe/pretrained/train/layer-{last}"),
            format!("directprobe/finetuned/train/layer-{last}"),
        ];
        if config.probe.enabled {
            after.push(format!("probe/pretrained/layer-{last}"));
            after.push(format!("probe/finetuned/layer-{last}"));
        }
        if entry.finetune {
            let id = format!("{base}/finetune");
            b.add_at(
                Stage::new(
                    id.clone(),
                    Kind::CrossFinetune(entry.name.clone(), finetune::settings(&sub)),
                    vec![data_id],
                    finetune_outputs(&rel),
                )
                .external("model", model_hash),
                dir.clone(),
                false,
            );
            after.push(id);
        }
        b.add(
            Stage::new(
                base.clone(),
                Kind::CrossTask(
                    entry.name.clone(),
                    cross::settings(config, entry, &b.layers),
                ),
                after,
                vec![output(RunDir::relative().cross_result(&entry.name))],
            )
            .external("model", model_hash),
        );
        ids.push(base);
    }
    Ok(ids)
}
