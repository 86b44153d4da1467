//! The stages of one branch (a replicate's run directory): the seeds summary over replicates,
//! fine-tuning, extraction and the analyses of each encoder version.

use super::*;

/// The seeds stage over one branch's replicates (`seeds` for the study's, `arm-<name>/seeds`
/// for an arm's, into the branch's `seeds/summary/`); nothing for a single seed. Returns its id.
pub(super) fn seeds_stage(b: &mut Builder<'_>, reps: &[Replicate]) -> Option<String> {
    let first = reps.first().filter(|_| reps.len() > 1)?;
    let ids: Vec<String> = reps
        .iter()
        .flat_map(|r| {
            let mut ids: Vec<String> = ["finetune", "compare", "memorisation", "dynamics"]
                .into_iter()
                .map(|s| r.id(s))
                .collect();
            // The measures' per-layer similarity stages (the seeds summary reads them).
            ids.extend(
                b.layers
                    .iter()
                    .map(|l| r.id(&format!("similarity/layer-{l}"))),
            );
            ids.retain(|id| b.has(id));
            ids
        })
        .collect();
    let id = first.id("seeds");
    b.add_in(
        Stage::new(
            id.clone(),
            Kind::Seeds(seeds::settings(&first.config)),
            ids,
            vec![output(first.rel().seeds_summary())],
        ),
        first,
    );
    Some(id)
}

/// Probes and DirectProbe on every layer of `model`'s representations; returns the stage ids.
pub(super) fn analyses(b: &mut Builder<'_>, rep: &Replicate, model: &ModelRef) -> Vec<String> {
    let config = &rep.config;
    let ex = rep.id(&format!("extract/{}", model.name()));
    let mut ids = Vec::new();
    for layer in b.layers.clone() {
        if config.probe.enabled {
            let id = rep.id(&format!("probe/{}/layer-{layer}", model.name()));
            b.add_in(
                Stage::new(
                    id.clone(),
                    Kind::Probe(model.clone(), probe::settings(config, layer)),
                    vec![ex.clone()],
                    vec![output(rep.rel().probe_file(&model.name(), layer))],
                ),
                rep,
            );
            if config.mdl.enabled {
                let mdl_id = rep.id(&format!("mdl/{}/layer-{layer}", model.name()));
                b.add_in(
                    Stage::new(
                        mdl_id.clone(),
                        Kind::Mdl(model.clone(), mdl::settings(config, layer)),
                        if config.mdl.mlp {
                            vec![ex.clone(), id.clone()]
                        } else {
                            vec![ex.clone()]
                        },
                        vec![output(rep.rel().mdl_file(&model.name(), layer))],
                    ),
                    rep,
                );
                ids.push(mdl_id);
            }
            ids.push(id);
        }
        if config.directprobe.enabled {
            for split in directprobe::SPLITS {
                let id = rep.id(&format!(
                    "directprobe/{}/{split}/layer-{layer}",
                    model.name()
                ));
                let mut reads = vec![ex.clone()];
                // A layer fine-tuning may leave as it was: the pre-trained result, reused when
                // the vectors are the same.
                if *model != ModelRef::Pretrained
                    && directprobe::may_equal_pretrained(config, layer)
                {
                    reads.push(directprobe::pretrained_id(split, layer));
                }
                b.add_in(
                    Stage::new(
                        id.clone(),
                        Kind::DirectProbe(
                            model.clone(),
                            directprobe::settings(config, split, layer),
                        ),
                        reads,
                        vec![output(rep.rel().directprobe_dir(
                            &model.name(),
                            split,
                            layer,
                        ))],
                    ),
                    rep,
                );
                ids.push(id);
            }
        }
    }
    ids
}

/// One replicate's fine-tuning, its representations and analyses, the comparisons and the
/// experiments; returns the ids the report waits for.
pub(super) fn branch(
    b: &mut Builder<'_>,
    rep: &Replicate,
    model_hash: &str,
    pretrained_ids: &[String],
) -> Result<Vec<String>> {
    let config = &rep.config;
    let kind = config.data.task.unit_kind();
    let ft_id = rep.id("finetune");
    b.add_in(
        Stage::new(
            ft_id.clone(),
            Kind::Finetune(finetune::settings(config)),
            vec!["data".into()],
            finetune_outputs(&rep.rel()),
        )
        .external("model", model_hash),
        rep,
    );
    let finetune_done = matches!(b.action_of(&ft_id), Action::Skip(_));
    let mut models = vec![ModelRef::Finetuned];
    if finetune_done {
        models.extend(
            RunDir::new(&rep.dir)
                .checkpoints()?
                .into_iter()
                .map(ModelRef::Checkpoint),
        );
    }
    for m in &models {
        let all_splits = !matches!(m, ModelRef::Checkpoint(_));
        b.add_in(
            Stage::new(
                rep.id(&format!("extract/{}", m.name())),
                Kind::Extract(
                    m.clone(),
                    extract::settings(config, kind, &b.layers, all_splits),
                ),
                vec!["data".into(), ft_id.clone()],
                vec![output(rep.rel().reps(&m.name()))],
            ),
            rep,
        );
    }
    if !finetune_done && config.finetune.checkpoint_every > 0 {
        b.later(
            rep.id("extract/ckpt-*"),
            Kind::Extract(
                ModelRef::Checkpoint(0),
                extract::settings(config, kind, &b.layers, false),
            ),
            format!(
                "one per checkpoint (every {} updates), after fine-tuning",
                config.finetune.checkpoint_every
            ),
            rep,
        );
    }
    let ft_ids = analyses(b, rep, &ModelRef::Finetuned);
    let mut out = Vec::new();
    if config.similarity.enabled {
        for layer in b.layers.clone() {
            let id = rep.id(&format!("similarity/layer-{layer}"));
            b.add_in(
                Stage::new(
                    id.clone(),
                    Kind::Similarity(similarity::settings(config, layer)),
                    vec!["extract/pretrained".into(), rep.id("extract/finetuned")],
                    vec![output(rep.rel().similarity_file(layer))],
                ),
                rep,
            );
            out.push(id);
        }
    }
    if config.directprobe.enabled {
        let mut after = vec![
            "extract/pretrained".to_string(),
            rep.id("extract/finetuned"),
        ];
        after.extend(pretrained_ids.iter().cloned());
        after.extend(ft_ids);
        b.add_in(
            Stage::new(
                rep.id("compare"),
                Kind::Compare(compare::settings(config, &b.layers)),
                after,
                vec![output(rep.rel().compare())],
            ),
            rep,
        );
        out.push(rep.id("compare"));
        b.add_in(
            Stage::new(
                rep.id("weights"),
                Kind::Weights(weights::settings()),
                vec![ft_id.clone(), rep.id("compare")],
                vec![output(rep.rel().weights())],
            )
            .external("model", model_hash),
            rep,
        );
        out.push(rep.id("weights"));
        if config.examples.enabled {
            let mut after = vec![
                "data".to_string(),
                "extract/pretrained".to_string(),
                rep.id("extract/finetuned"),
                rep.id("compare"),
            ];
            for layer in b.layers.clone() {
                after.push(format!("directprobe/pretrained/train/layer-{layer}"));
                after.push(rep.id(&format!("directprobe/finetuned/train/layer-{layer}")));
            }
            let kind = Kind::Examples(examples::settings(config, &b.layers));
            // Another branch takes the pre-trained predictions of the study's own view when
            // it has the same settings.
            if rep.tag.is_some()
                && b.plan
                    .iter()
                    .any(|p| p.id == examples::STUDY_ID && p.kind == kind)
            {
                after.push(examples::STUDY_ID.to_string());
            }
            b.add_in(
                Stage::new(
                    rep.id(examples::STUDY_ID),
                    kind,
                    after,
                    vec![
                        output(rep.rel().examples_csv()),
                        output(rep.rel().examples_json()),
                    ],
                ),
                rep,
            );
            out.push(rep.id("examples"));
        }
        out.extend(experiments(b, rep, finetune_done)?);
    }
    Ok(out)
}
