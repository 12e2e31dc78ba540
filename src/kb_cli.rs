//! `baithak kb …`: search the knowledge base from the terminal, measure its accuracy on the
//! labelled questions (and how well similar questions are clustered) and its speed over a
//! large synthetic corpus, measure the speed of clustering logged questions, and draft a new
//! article from an answered ticket.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use clap::Subcommand;
use serde_json::json;

use crate::config::Settings;
use crate::content::{self, Content};
use crate::insights::{self, Item, Signature};
use crate::knowledge::eval::{self, ADMIN_TOPIC};
use crate::knowledge::{Article, KnowledgeBase, Written, draft, search::Index};
use crate::language::Lang;
use crate::store::{Store, StoreError};

/// What `baithak kb` does.
#[derive(Debug, Subcommand)]
pub enum KbAction {
    /// Rank the articles for a question, with the detected topic.
    Search {
        /// The question, as a teacher would type it.
        question: String,
        /// Print JSON: {"topic", "confidence", "results": [{"id", "title", "score"}]}.
        #[arg(long)]
        json: bool,
        /// Results to show.
        #[arg(long, default_value_t = 5)]
        limit: usize,
    },
    /// Top-1 topic accuracy and answer hit rate per language on knowledge-base/eval/questions.yaml,
    /// and the pairwise precision and recall of the clusters of similar questions.
    Eval {
        /// Also list every question that went wrong, and every cluster that mixes or splits
        /// labelled problems.
        #[arg(long)]
        misses: bool,
    },
    /// Write a draft article from an answered ticket (its question as the example, the
    /// expert's answer as the body, `draft: true` so it is not served until a person edits it).
    Draft {
        /// The ticket's number, e.g. HD-7KQ2MX.
        #[arg(long = "from-ticket", value_name = "TICKET")]
        from_ticket: String,
        /// Replace a draft of the same ticket written before.
        #[arg(long)]
        force: bool,
    },
    /// Search speed over the shipped articles plus synthetic ones; prints a table.
    Bench {
        /// Articles in the index (the shipped ones, then synthetic ones made from them).
        #[arg(long, default_value_t = 2_000)]
        articles: usize,
        /// Passes over the labelled questions.
        #[arg(long, default_value_t = 20)]
        rounds: usize,
    },
    /// Clustering speed: signs and clusters synthetic logged questions (perturbed copies of the
    /// labelled ones); prints a table.
    BenchClusters {
        /// Logged questions to synthesise.
        #[arg(long, default_value_t = 100_000)]
        questions: usize,
    },
}

/// Runs a `kb` action.
///
/// # Errors
///
/// When the content cannot be loaded.
pub async fn run(settings: &Settings, action: KbAction) -> anyhow::Result<ExitCode> {
    let root = &settings.content_dir;
    let content = match content::load(root) {
        Ok(content) => content,
        Err(diagnostics) => {
            for d in &diagnostics {
                eprintln!("{d}");
            }
            anyhow::bail!("the content has errors (see `baithak check`)");
        }
    };
    match action {
        KbAction::Search {
            question,
            json,
            limit,
        } => {
            search(&content.knowledge, &question, json, limit);
            Ok(ExitCode::SUCCESS)
        }
        KbAction::Eval { misses } => evaluate(root, &content, misses),
        KbAction::Draft { from_ticket, force } => draft(settings, &from_ticket, force).await,
        KbAction::Bench { articles, rounds } => bench(root, &content, articles, rounds),
        KbAction::BenchClusters { questions } => bench_clusters(root, &content, questions),
    }
}

async fn draft(settings: &Settings, ticket: &str, force: bool) -> anyhow::Result<ExitCode> {
    use anyhow::Context as _;

    let code = ticket.trim().to_uppercase();
    let code = if code.starts_with("HD-") {
        code
    } else {
        format!("HD-{code}")
    };
    let store = Store::open(&settings.database_url, 1)
        .await
        .context("cannot open the database")?;
    let drafted = ticket_draft(&store, &code).await;
    store.close().await;
    let drafted = match drafted {
        Ok(drafted) => drafted,
        Err(StoreError::NotFound) => {
            eprintln!("no ticket {code} in the database");
            return Ok(ExitCode::FAILURE);
        }
        Err(err) => return Err(err.into()),
    };
    if !drafted.answered {
        eprintln!("{code} has no expert answer yet; the draft has a place for one");
    }
    match write_draft(&settings.content_dir, &drafted, force) {
        Ok(path) => {
            println!(
                "wrote {}: a draft, not served until a person rewrites it and removes `draft: true` (`baithak check` checks it)",
                path.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(DraftError::Exists(path)) => {
            eprintln!("{} exists already (--force replaces it)", path.display());
            Ok(ExitCode::FAILURE)
        }
        Err(DraftError::Write(path, err)) => {
            Err(err).with_context(|| format!("cannot write {}", path.display()))
        }
    }
}

/// A knowledge-base draft made from a ticket, not yet written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TicketDraft {
    /// Where it goes, relative to the content root
    /// (`knowledge-base/articles/draft-hd-….md`).
    pub file: PathBuf,
    /// The Markdown.
    pub text: String,
    /// Whether the ticket had an expert answer (else the draft has a place for one).
    pub answered: bool,
}

/// Why a draft was not written.
#[derive(Debug, thiserror::Error)]
pub enum DraftError {
    /// A draft of this ticket exists already; nothing was replaced.
    #[error("{} exists already", .0.display())]
    Exists(PathBuf),
    /// The file could not be written.
    #[error("cannot write {path}: {source}", path = .0.display(), source = .1)]
    Write(PathBuf, #[source] std::io::Error),
}

/// Reads ticket `code` (its question, how it was written, the expert's answers, the rating)
/// and renders the draft that `baithak kb draft --from-ticket` and the console's button write.
///
/// # Errors
///
/// [`StoreError::NotFound`] for an unknown ticket, or the store's failure.
pub async fn ticket_draft(store: &Store, code: &str) -> Result<TicketDraft, StoreError> {
    let ticket = store.ticket(code).await?;
    let messages = store.ticket_messages(code).await?;
    let questions = store.questions_of(ticket.teacher_id).await?;
    let written = questions
        .iter()
        .find(|q| q.ticket.as_deref() == Some(code))
        .and_then(|q| Written::parse(&q.written))
        .unwrap_or(Written::En);
    let answers: Vec<&str> = messages
        .iter()
        .filter(|m| m.author == "expert")
        .map(|m| m.body.as_str())
        .collect();
    let answered = !answers.is_empty();
    let source = draft::Source {
        ticket: code,
        topic: ticket.topic.as_deref(),
        lang: Lang::parse(&ticket.language).unwrap_or(Lang::En),
        question: &ticket.body,
        written,
        answers,
        expert: messages
            .iter()
            .find(|m| m.author == "expert")
            .and_then(|m| m.expert.as_deref()),
        rating: ticket.rating,
    };
    Ok(TicketDraft {
        file: Path::new("knowledge-base/articles").join(format!("{}.md", draft::id_for(code))),
        text: draft::render(&source),
        answered,
    })
}

/// Writes a draft under the content root `root`; returns its full path. Without `force` an
/// existing file is never replaced, even by a draft written at the same moment (the file is
/// created only if absent).
///
/// # Errors
///
/// [`DraftError::Exists`] (without `force`), [`DraftError::Write`].
pub fn write_draft(root: &Path, draft: &TicketDraft, force: bool) -> Result<PathBuf, DraftError> {
    use std::io::Write as _;

    let path = root.join(&draft.file);
    let written = if force {
        std::fs::write(&path, &draft.text)
    } else {
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(mut file) => file.write_all(draft.text.as_bytes()).inspect_err(|_| {
                let _ = std::fs::remove_file(&path);
            }),
            Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(DraftError::Exists(path));
            }
            Err(err) => Err(err),
        }
    };
    written.map_err(|err| DraftError::Write(path.clone(), err))?;
    Ok(path)
}

fn search(kb: &KnowledgeBase, question: &str, as_json: bool, limit: usize) {
    let found = kb.search(question, limit);
    let answer = kb.answer(&found).map(|a| a.id.clone());
    let results: Vec<_> = found
        .hits
        .iter()
        .map(|hit| {
            let article = &kb.index.articles[hit.article];
            (article, hit.score)
        })
        .collect();
    if as_json {
        let value = json!({
            "topic": found.topic,
            "confidence": round(found.confidence),
            "written": found.written.code(),
            "answer": answer,
            "results": results.iter().map(|(a, score)| json!({
                "id": a.id,
                "title": a.title.get(found.written.lang()),
                "score": round(*score),
            })).collect::<Vec<_>>(),
        });
        println!(
            "{}",
            serde_json::to_string_pretty(&value).unwrap_or_default()
        );
        return;
    }
    println!(
        "topic: {} (confidence {:.2}) · written: {} · {}",
        found.topic.as_deref().unwrap_or("none"),
        found.confidence,
        found.written.code(),
        match &answer {
            Some(id) => format!("answers with `{id}`"),
            None => "not sure: would ask an expert".to_string(),
        }
    );
    for (i, (article, score)) in results.iter().enumerate() {
        println!(
            "{:>2}. {:<34} {:>6.2}  {}  [{}]",
            i + 1,
            article.id,
            score,
            article.title.get(found.written.lang()),
            article.topics.join(", ")
        );
    }
}

fn round(x: f32) -> f64 {
    (f64::from(x) * 1000.0).round() / 1000.0
}

fn evaluate(root: &std::path::Path, content: &Content, misses: bool) -> anyhow::Result<ExitCode> {
    let questions = match content::eval_questions(root, content) {
        Ok(q) => q,
        Err(diagnostics) => {
            for d in &diagnostics {
                eprintln!("{d}");
            }
            anyhow::bail!("cannot read knowledge-base/eval/questions.yaml");
        }
    };
    let report = eval::evaluate(&content.knowledge, &questions);
    println!(
        "Knowledge-base evaluation · {} questions · {} articles\n",
        questions.len(),
        content.knowledge.index.articles.len()
    );
    println!(
        "| language | questions | topic accuracy | with article | answer hit rate | ranked first | in top 3 | answered wrongly | escalated |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    let row = |name: &str, f: &eval::Figures| {
        println!(
            "| {name} | {} | {:.1} % | {} | {:.1} % | {:.1} % | {:.1} % | {} | {} |",
            f.questions,
            f.topic_accuracy() * 100.0,
            f.with_article,
            f.hit_rate() * 100.0,
            pct(f.top1, f.with_article),
            pct(f.in_top3, f.with_article),
            f.answered_wrong,
            f.escalated
        );
    };
    for written in Written::ALL {
        if let Some(f) = report.by_language.get(&written) {
            row(written.code(), f);
        }
    }
    let total = report.total();
    row("all", &total);
    println!(
        "\n{} {ADMIN_TOPIC} questions answered as pedagogy",
        report.admin_as_pedagogy.len()
    );
    for q in &report.admin_as_pedagogy {
        println!("  - {:?}", q.question);
    }
    if misses {
        println!("\nMisses ({}):", report.misses.len());
        for m in &report.misses {
            println!(
                "  [{}] {:?}\n      expected {} / {} · found {} · answered {} · best {}",
                m.question.written.code(),
                m.question.question,
                m.question.topic,
                m.question.article.as_deref().unwrap_or("-"),
                m.topic.as_deref().unwrap_or("-"),
                m.answered.as_deref().unwrap_or("-"),
                m.best.as_deref().unwrap_or("-"),
            );
        }
    }
    let grouping = insights::eval::evaluate(&content.knowledge, &questions);
    print_grouping(&grouping);
    if misses {
        print_grouping_misses(&questions, &grouping);
    }
    let passed = report
        .by_language
        .values()
        .all(|f| f.topic_accuracy() >= 0.90)
        && total.hit_rate() >= 0.85
        && report.admin_as_pedagogy.is_empty()
        && grouping.meets_target();
    println!(
        "\ntargets (topic ≥ 90 % in every language, hit rate ≥ 85 %, no admin question answered as pedagogy, clusters' pairwise precision and recall ≥ 80 %): {}",
        if passed { "met" } else { "NOT met" }
    );
    Ok(if passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The pairwise precision and recall of the clusters, overall and per pair of languages.
fn print_grouping(grouping: &insights::eval::Report) {
    let grouped = grouping.clusters.iter().filter(|c| c.size >= 2).count();
    println!(
        "\nClusters of similar questions · {} clusters ({grouped} of two or more) · pairs of questions: same label vs same cluster\n",
        grouping.clusters.len()
    );
    println!(
        "| languages | pairs with one label | pairs in one cluster | both | precision | recall |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    let row = |name: &str, p: &insights::eval::Pairs| {
        let percent =
            |x: Option<f64>| x.map_or("–".to_string(), |x| format!("{:.1} %", x * 100.0));
        println!(
            "| {name} | {} | {} | {} | {} | {} |",
            p.labelled,
            p.clustered,
            p.both,
            percent(p.precision()),
            percent(p.recall())
        );
    };
    for ((a, b), pairs) in &grouping.by_languages {
        row(&format!("{}–{}", a.code(), b.code()), pairs);
    }
    for written in Written::ALL {
        row(
            &format!("{}–any", written.code()),
            &grouping.involving(written),
        );
    }
    row("all", &grouping.overall);
}

/// Clusters that mix labelled problems, and problems split over several clusters.
fn print_grouping_misses(questions: &[eval::Labelled], grouping: &insights::eval::Report) {
    let question = |id: i64| usize::try_from(id).ok().and_then(|i| questions.get(i));
    let line = |id: i64, cluster: usize| {
        if let Some(q) = question(id) {
            println!(
                "      #{cluster:<3} [{}] {} · “{}”",
                q.written.code(),
                q.cluster,
                q.question
            );
        }
    };
    println!("\nClusters that mix problems:");
    for (index, cluster) in grouping.clusters.iter().enumerate() {
        let mut labels: Vec<&str> = cluster
            .ids
            .iter()
            .filter_map(|id| question(*id).map(|q| q.cluster.as_str()))
            .collect();
        labels.sort_unstable();
        labels.dedup();
        if labels.len() < 2 {
            continue;
        }
        println!(
            "  #{index} · {} questions · article {} · {}",
            cluster.size,
            cluster.article.as_ref().map_or("-", |a| a.id.as_str()),
            labels.join(", ")
        );
        for id in &cluster.ids {
            line(*id, index);
        }
    }
    println!("\nProblems split over several clusters:");
    let of = insights::eval::cluster_of(&grouping.clusters, questions.len());
    let mut labels: Vec<&str> = questions.iter().map(|q| q.cluster.as_str()).collect();
    labels.sort_unstable();
    labels.dedup();
    for label in labels {
        let mut members: Vec<(usize, i64)> = questions
            .iter()
            .enumerate()
            .filter(|(_, q)| q.cluster == label)
            .map(|(i, _)| (of[i], i64::try_from(i).unwrap_or_default()))
            .collect();
        members.sort_unstable();
        if members.windows(2).all(|w| w[0].0 == w[1].0) {
            continue;
        }
        println!("  {label}");
        for (cluster, id) in members {
            line(id, cluster);
        }
    }
}

fn pct(a: usize, b: usize) -> f64 {
    if b == 0 {
        return 0.0;
    }
    #[allow(clippy::cast_precision_loss)] // counts are small
    let r = a as f64 * 100.0 / b as f64;
    r
}

fn bench(
    root: &std::path::Path,
    content: &Content,
    articles: usize,
    rounds: usize,
) -> anyhow::Result<ExitCode> {
    let questions = content::eval_questions(root, content)
        .map_err(|_| anyhow::anyhow!("cannot read knowledge-base/eval/questions.yaml"))?;
    anyhow::ensure!(
        !questions.is_empty(),
        "no labelled questions to search with"
    );
    let shipped = &content.knowledge.index.articles;
    let corpus = synthetic_corpus(shipped, articles);
    let built = Instant::now();
    let index = Index::build(corpus);
    let build_ms = built.elapsed().as_secs_f64() * 1000.0;
    let mut times = Vec::with_capacity(questions.len() * rounds);
    let mut checksum = 0.0f32;
    for _ in 0..rounds.max(1) {
        for q in &questions {
            let start = Instant::now();
            let found = index.search(&q.question, 5);
            times.push(start.elapsed());
            checksum += found.confidence;
        }
    }
    times.sort();
    let pick = |p: f64| crate::bench::percentile_ms(&times, p);
    println!(
        "Knowledge-base search · {} articles ({} shipped, the rest synthetic) · {} searches\n",
        index.articles.len(),
        shipped.len().min(articles),
        times.len()
    );
    println!("| index build ms | p50 ms | p95 ms | p99 ms | max ms |");
    println!("|---:|---:|---:|---:|---:|");
    println!(
        "| {build_ms:.1} | {} | {} | {} | {} |",
        pick(0.5),
        pick(0.95),
        pick(0.99),
        pick(1.0)
    );
    std::hint::black_box(checksum);
    Ok(ExitCode::SUCCESS)
}

/// The shipped articles, then synthetic ones until there are `n`: each mixes the title, the
/// examples and the body paragraphs of three shipped articles, so word statistics and lengths
/// stay realistic (same scripts, same vocabulary) while no two are alike.
fn synthetic_corpus(shipped: &[Article], n: usize) -> Vec<Article> {
    let mut corpus: Vec<Article> = shipped.iter().take(n).cloned().collect();
    let len = shipped.len();
    let mut i = 0usize;
    while corpus.len() < n && len > 0 {
        let (a, b, c) = (
            &shipped[i % len],
            &shipped[(i * 7 + 3) % len],
            &shipped[(i * 13 + 5) % len],
        );
        let mut article = a.clone();
        article.id = format!("synthetic-{i}");
        article.examples = a
            .examples
            .iter()
            .step_by(2)
            .chain(b.examples.iter().skip(1).step_by(2))
            .cloned()
            .collect();
        article.topics = vec![c.topic().to_string()];
        article.more = b.more.clone();
        article.short = c.short.clone();
        corpus.push(article);
        i += 1;
    }
    corpus
}

/// `kb bench-clusters`: signs `n` synthetic logged questions (timed, on every core), clusters
/// them (timed) and prints a table.
fn bench_clusters(root: &std::path::Path, content: &Content, n: usize) -> anyhow::Result<ExitCode> {
    let questions = content::eval_questions(root, content)
        .map_err(|_| anyhow::anyhow!("cannot read knowledge-base/eval/questions.yaml"))?;
    anyhow::ensure!(!questions.is_empty(), "no labelled questions to start from");
    let logged = synthetic_questions(&questions, n);
    let threads = std::thread::available_parallelism().map_or(1, usize::from);

    let started = Instant::now();
    let signatures = sign_all(&content.knowledge, &logged, threads)?;
    let signing = started.elapsed().as_secs_f64();
    let peak_signed = peak_rss_mib();
    let json_bytes: usize = signatures
        .iter()
        .step_by(97)
        .map(|s| serde_json::to_string(s).map_or(0, |j| j.len()))
        .sum();
    let json_count = signatures.len().div_ceil(97).max(1);
    let items: Vec<Item> = logged
        .iter()
        .zip(signatures)
        .enumerate()
        .map(|(i, ((text, written, _), signature))| Item {
            id: i64::try_from(i).unwrap_or(i64::MAX),
            text: text.clone(),
            written: *written,
            signature,
        })
        .collect();

    let started = Instant::now();
    let clusters = insights::cluster(&items);
    let clustering = started.elapsed().as_secs_f64();
    let peak_clustered = peak_rss_mib();

    let labels: Vec<&str> = logged
        .iter()
        .map(|(_, _, from)| questions[*from].cluster.as_str())
        .collect();
    let written: Vec<Written> = logged.iter().map(|(_, w, _)| *w).collect();
    let of = insights::eval::cluster_of(&clusters, logged.len());
    let mut pairs = insights::eval::Pairs::default();
    for p in insights::eval::pairs(&labels, &written, &of).values() {
        pairs.labelled += p.labelled;
        pairs.clustered += p.clustered;
        pairs.both += p.both;
    }
    #[allow(clippy::cast_precision_loss)] // a question count
    let per_question_us = if logged.is_empty() {
        0.0
    } else {
        signing * 1e6 * threads as f64 / logged.len() as f64
    };
    println!(
        "Clustering logged questions · {} synthetic questions (perturbed copies of the {} labelled ones) · signed on {threads} threads\n",
        logged.len(),
        questions.len()
    );
    println!(
        "| questions | signatures s | per question µs (one core) | clustering s | clusters | of two or more | largest | peak RSS MiB signed / clustered |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mib = |x: Option<f64>| x.map_or("–".to_string(), |x| format!("{x:.0}"));
    println!(
        "| {} | {signing:.2} | {per_question_us:.1} | {clustering:.2} | {} | {} | {} | {} / {} |",
        logged.len(),
        clusters.len(),
        clusters.iter().filter(|c| c.size >= 2).count(),
        clusters.first().map_or(0, |c| c.size),
        mib(peak_signed),
        mib(peak_clustered),
    );
    let percent = |x: Option<f64>| x.map_or("–".to_string(), |x| format!("{:.1} %", x * 100.0));
    println!(
        "\nsignature JSON: {} bytes on average · against the labels of the questions they copy: pairwise precision {}, recall {}",
        json_bytes / json_count,
        percent(pairs.precision()),
        percent(pairs.recall())
    );
    Ok(ExitCode::SUCCESS)
}

/// Signs the questions on `threads` threads, in order.
fn sign_all(
    kb: &KnowledgeBase,
    logged: &[(String, Written, usize)],
    threads: usize,
) -> anyhow::Result<Vec<Signature>> {
    let chunk = logged.len().div_ceil(threads.max(1)).max(1);
    std::thread::scope(|scope| {
        let handles: Vec<_> = logged
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || {
                    part.iter()
                        .map(|(text, _, _)| insights::signature(kb, text))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut out = Vec::with_capacity(logged.len());
        for handle in handles {
            let part = handle
                .join()
                .map_err(|_| anyhow::anyhow!("a signing thread panicked"))?;
            out.extend(part);
        }
        Ok(out)
    })
}

/// `n` logged questions: the labelled ones in turn, each perturbed as teachers type (a word
/// dropped, a typo, shouting case, greetings and pleas around it), from a fixed seed. Each
/// comes with its language and the index of the labelled question it copies.
fn synthetic_questions(questions: &[eval::Labelled], n: usize) -> Vec<(String, Written, usize)> {
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    let mut rng = StdRng::seed_from_u64(0x00BA_174A);
    (0..n)
        .map(|i| {
            let from = i % questions.len();
            let q = &questions[from];
            (perturb(&q.question, q.written, &mut rng), q.written, from)
        })
        .collect()
}

fn perturb(text: &str, written: Written, rng: &mut impl rand::Rng) -> String {
    use rand::seq::SliceRandom;

    let mut words: Vec<String> = text.split_whitespace().map(str::to_string).collect();
    if words.len() > 3 && rng.random_bool(0.4) {
        words.remove(rng.random_range(0..words.len()));
    }
    if !words.is_empty() && rng.random_bool(0.4) {
        let at = rng.random_range(0..words.len());
        words[at] = typo(&words[at], rng);
    }
    if matches!(written, Written::En | Written::RomanUr) && rng.random_bool(0.2) {
        words = words.iter().map(|w| w.to_uppercase()).collect();
    }
    let fillers: &[&str] = match written {
        Written::En => &[
            "sir",
            "please help",
            "plz",
            "hello",
            "dear team",
            "urgent",
            "thanks",
        ],
        Written::RomanUr => &[
            "sir",
            "plz",
            "madam ji",
            "assalam o alaikum",
            "help karein",
            "shukriya",
        ],
        Written::Ur => &["السلام علیکم", "سر", "مہربانی", "جلدی بتائیں", "شکریہ"],
        Written::Bn => &["স্যার", "আসসালামু আলাইকুম", "দয়া করে", "ধন্যবাদ", "একটু বলবেন"],
    };
    let mut before = Vec::new();
    let mut after = Vec::new();
    for filler in fillers {
        match rng.random_range(0..12) {
            0 => before.push(*filler),
            1 => after.push(*filler),
            _ => {}
        }
    }
    before.shuffle(rng);
    after.shuffle(rng);
    before
        .into_iter()
        .map(str::to_string)
        .chain(words)
        .chain(after.into_iter().map(str::to_string))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A letter swapped with the next, dropped or doubled.
fn typo(word: &str, rng: &mut impl rand::Rng) -> String {
    let mut chars: Vec<char> = word.chars().collect();
    if chars.len() < 3 {
        return word.to_string();
    }
    let at = rng.random_range(0..chars.len() - 1);
    match rng.random_range(0..3) {
        0 => chars.swap(at, at + 1),
        1 => {
            chars.remove(at);
        }
        _ => chars.insert(at, chars[at]),
    }
    chars.into_iter().collect()
}

/// The process's peak resident memory (Linux), in MiB.
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}
