//! `recnet eval`: the AgentCF evaluation, offline or with a model for a subset of users.

use super::*;

#[allow(clippy::too_many_arguments)]
pub(super) fn eval(dataset: &Path, format: EvalFormat, seed: u64, seeds: u64, rounds: u32, split: Split, models: &[String], sets: &[String]) -> Result<()> {
    let config = Config::from_layers(&[], sets)?;
    let opts = recnet::analysis::eval::EvalOptions {
        split: split.name().to_string(),
        rounds,
        seeds: (seed..seed.saturating_add(seeds)).collect(),
        models: models.to_vec(),
    };
    let jobs_per_seed = recnet::analysis::eval::jobs_per_seed(&opts.models)?;
    let bar = std::io::stderr().is_terminal().then(|| {
        let b = indicatif::ProgressBar::new(seeds * jobs_per_seed as u64);
        b.set_style(indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} {msg}").unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()));
        b
    });
    let started = std::time::Instant::now();
    // What looks wrong in the dataset, said once (every seed reads the same files).
    let warned = std::sync::atomic::AtomicBool::new(false);
    let report = recnet::analysis::eval::run_eval(
        |s| {
            let ds = recnet::inputs::dataset::load_dataset(dataset, s)?;
            if !warned.swap(true, std::sync::atomic::Ordering::SeqCst) {
                for w in &ds.warnings {
                    eprintln!("warning: {}", recnet::util::text::sanitize(w, 400));
                }
            }
            Ok(ds)
        },
        &config,
        &opts,
        |name| {
            if let Some(b) = &bar {
                b.set_message(name.to_string());
                b.inc(1);
            }
        },
    )?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let text = if format == EvalFormat::Json {
        serde_json::to_string_pretty(&report)? + "\n"
    } else {
        format!("{}({:.1}s)\n", recnet::analysis::eval::render_table(&report), started.elapsed().as_secs_f64())
    };
    write_out(None, &text)
}

pub(super) struct LlmEval<'a> {
    pub(super) seed: u64,
    pub(super) rounds: u32,
    pub(super) split: Split,
    pub(super) users: usize,
    pub(super) out: Option<&'a Path>,
    /// No --seeds or --models was given (they belong to the offline evaluation).
    pub(super) single: bool,
}

/// RecNet with the model reasoning for a seeded subset of users, against the offline reasoner on
/// the same users: both runs here (the I/O edge), the scoring and the report in analysis::eval::llm.
pub(super) fn eval_llm(dataset: &Path, format: EvalFormat, sets: &[String], o: &LlmEval, llm: &LlmArgs) -> Result<()> {
    use recnet::analysis::eval::{self, llm as ev};
    use recnet::inputs::dataset::{load_dataset, Dataset};
    if !o.single {
        anyhow::bail!("--llm-url compares one seed of recnet with itself offline: drop --seeds and --models");
    }
    let Some(mut model) = llm.reasoner()? else {
        anyhow::bail!("--users and --out evaluate a model: give --llm-url URL (or RECNET_LLM_URL)");
    };
    if let Some(out) = o.out {
        refuse_overwriting_inputs(out, &[dataset])?;
    }
    let config = Config::from_layers(&[], sets)?;
    let ds = load_dataset(dataset, o.seed)?;
    let all = eval::cases(&ds, o.split.name())?;
    if all.is_empty() {
        anyhow::bail!("{}: no {} users to evaluate", recnet::util::text::sanitize(&ds.name, 100), o.split.name());
    }
    let chosen = ev::pick_users(&all, o.users, o.seed);
    let tested = ds.for_split(o.split.name());
    // An earlier run's replies answer the same requests again: a re-run calls only for new ones.
    let reused = match o.out.filter(|p| p.exists()) {
        Some(p) => {
            let file = std::fs::File::open(p).with_context(|| format!("{}: cannot read", shown(p)))?;
            let (_, events) = recnet::store::session::EventReader::new(&shown(p), std::io::BufReader::new(file))?;
            let bodies: Vec<_> = events.map(|e| e.map(|e| e.body)).collect::<Result<_, _>>()?;
            model.reuse(&bodies)
        }
        None => 0,
    };
    let (offline, _) = eval::train_recnet(&tested, &config, &[], o.rounds, o.seed, "recnet")?;
    // The model's run starts from exactly the world the offline one trained on.
    let cfg = eval::variant_config(&config, &[])?;
    let mut src = recnet::run::driver::Source {
        spec: tested.world_spec(o.seed),
        source: recnet::store::session::SourceRef {
            kind: "dataset".into(),
            name: ds.name.clone(),
            path: dataset.display().to_string(),
            digest: recnet::inputs::dataset::digest(dataset)?,
        },
        config_tables: Vec::new(),
        dataset: None,
    };
    let bar = std::io::stderr().is_terminal().then(|| {
        let b = indicatif::ProgressBar::new(src.spec.schedule.len() as u64 * o.rounds as u64);
        b.set_style(
            indicatif::ProgressStyle::with_template("{spinner} {bar:40} {pos}/{len} interactions  {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        b
    });
    let progress = |engine: &recnet::engine::Engine, _: &[recnet::world::event::Event]| {
        if let Some(b) = &bar {
            b.set_position(engine.world().counters().interactions);
        }
    };
    let hooks = RecordHooks { progress: Some(Box::new(progress)), round_metrics: None };
    let agents = chosen.iter().map(|c| Dataset::user_agent(&c.user)).collect();
    let started = std::time::Instant::now();
    let mut routed = recnet::reasoner::subset::Subset::new(&mut model, agents);
    // The run takes the agents and schedule (not held twice).
    let spec = std::mem::take(&mut src.spec);
    let result = match o.out {
        Some(out) => record(&src, spec, cfg, o.seed, o.rounds, out, &mut routed, hooks),
        None => {
            // Nowhere to keep the session: it is written to nothing.
            let header = recnet::run::driver::header_for(&src, o.seed, o.rounds, &cfg);
            let writer = recnet::store::session::SessionWriter::to_writer(Path::new("-"), Box::new(std::io::sink()), &header)?;
            recnet::run::driver::record_to(spec, cfg, o.seed, o.rounds, writer, &mut routed, hooks)
        }
    };
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let (engine, _) = result?;
    let model_seconds = started.elapsed().as_secs_f64();
    let report = ev::report(ev::LlmRun {
        dataset: &ds.name,
        split: o.split.name(),
        seed: o.seed,
        rounds: o.rounds,
        model: model.model(),
        split_users: all.len(),
        cases: &chosen,
        offline: &offline,
        with_model: engine.world(),
        accounting: &model.accounting,
        reused,
        model_seconds,
        session: o.out.map(shown),
    });
    let text = if format == EvalFormat::Json { serde_json::to_string_pretty(&report)? + "\n" } else { ev::render(&report) };
    write_out(None, &text)
}
