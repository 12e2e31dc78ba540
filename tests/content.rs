//! Content validation: the shipped dialogues are complete, and broken content is reported by
//! `baithak check` (and refused by `baithak serve`) as `file:line:column: level: message`.

#[path = "common/fs.rs"]
mod fs;

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use baithak::dialogue::tree::{Choice, Node, Text};
use baithak::language::Lang;

fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// `baithak check --content DIR`.
fn check(dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_baithak"))
        .arg("check")
        .arg("--content")
        .arg(dir)
        .output()
        .expect("baithak check runs")
}

// ---------------------------------------------------------------------------------------------
// The shipped content.

fn shipped() -> baithak::content::Content {
    match baithak::content::load(repo_root()) {
        Ok(content) => content,
        Err(diagnostics) => {
            let list: Vec<String> = diagnostics.iter().map(ToString::to_string).collect();
            panic!("the shipped content has errors:\n{}", list.join("\n"));
        }
    }
}

/// Every text of a node, with a label saying where it is.
fn node_texts<'a>(id: &str, node: &'a Node) -> Vec<(String, &'a Text)> {
    fn choices<'a>(id: &str, choices: &'a [Choice], out: &mut Vec<(String, &'a Text)>) {
        for c in choices {
            out.push((format!("{id}: label of `{}`", c.id), &c.label));
            if let Some(short) = &c.short {
                out.push((format!("{id}: short label of `{}`", c.id), short));
            }
        }
    }
    let mut out: Vec<(String, &Text)> = Vec::new();
    match node {
        Node::Message { text, .. }
        | Node::Certificate { text, .. }
        | Node::Question { text, .. } => out.push((format!("{id}: text"), text)),
        Node::Menu { text, choices: c } => {
            out.push((format!("{id}: text"), text));
            choices(id, c, &mut out);
        }
        Node::Ask {
            text,
            error,
            choices: c,
            ..
        } => {
            out.push((format!("{id}: text"), text));
            if let Some(error) = error {
                out.push((format!("{id}: error"), error));
            }
            choices(id, c, &mut out);
        }
        Node::Lesson {
            parts,
            task,
            reflection,
            ..
        } => {
            for (i, part) in parts.iter().enumerate() {
                out.push((format!("{id}: part {}", i + 1), part));
            }
            out.push((format!("{id}: task"), task));
            out.push((format!("{id}: reflection"), reflection));
        }
        Node::Quiz {
            text,
            options,
            explanation,
            ..
        } => {
            out.push((format!("{id}: question"), text));
            for (i, option) in options.iter().enumerate() {
                out.push((format!("{id}: option {}", i + 1), &option.label));
            }
            out.push((format!("{id}: explanation"), explanation));
        }
        Node::Score { text, .. } | Node::Progress { text, .. } | Node::End { text } => {
            if let Some(text) = text {
                out.push((format!("{id}: text"), text));
            }
        }
        Node::Check { .. } | Node::Jump { .. } => {}
    }
    out
}

#[test]
fn shipped_content_loads_without_errors() {
    let content = shipped();
    assert!(content.warnings.iter().all(|d| !d.is_error()));
    let d = &content.dialogues;
    for tree in ["onboarding", "main"] {
        assert!(d.trees.contains_key(tree), "tree {tree}");
    }
    assert!(
        d.module_order.len() >= 12,
        "{} modules",
        d.module_order.len()
    );
}

#[test]
fn every_module_has_a_short_lesson_and_a_real_quiz() {
    let content = shipped();
    let d = &content.dialogues;
    for id in &d.module_order {
        let tree = &d.trees[id];
        let module = tree.module.as_ref().expect("a module tree");
        let lessons: Vec<usize> = tree
            .nodes
            .values()
            .filter_map(|n| match n {
                Node::Lesson { parts, .. } => Some(parts.len()),
                _ => None,
            })
            .collect();
        assert_eq!(lessons.len(), 1, "{id}: one lesson node");
        assert!(
            (3..=6).contains(&lessons[0]),
            "{id}: {} lesson parts",
            lessons[0]
        );
        assert_eq!(module.parts, lessons[0], "{id}");
        assert!(
            (1..=100).contains(&module.pass_mark),
            "{id}: pass mark {}",
            module.pass_mark
        );

        let mut quizzes = 0;
        for (node_id, node) in &tree.nodes {
            if let Node::Quiz { options, .. } = node {
                quizzes += 1;
                assert!(
                    options.len() >= 2,
                    "{id}/{node_id}: {} options",
                    options.len()
                );
                let correct = options.iter().filter(|o| o.correct).count();
                assert_eq!(correct, 1, "{id}/{node_id}: exactly one correct option");
            }
        }
        assert!(quizzes >= 5, "{id}: {quizzes} quiz questions");
        let has = |pred: fn(&Node) -> bool| tree.nodes.values().any(pred);
        assert!(
            has(|n| matches!(n, Node::Score { .. })),
            "{id}: a score node"
        );
        assert!(
            has(|n| matches!(n, Node::Certificate { .. })),
            "{id}: a certificate node"
        );
    }
}

#[test]
fn every_text_has_english_and_urdu() {
    let content = shipped();
    let d = &content.dialogues;
    let mut missing = Vec::new();
    let mut checked = 0;
    let mut trees: Vec<&String> = d.trees.keys().collect();
    trees.sort();
    for tree_id in trees {
        let tree = &d.trees[tree_id];
        let mut texts: Vec<(String, &Text)> = Vec::new();
        if let Some(module) = &tree.module {
            texts.push(("module title".to_string(), &module.title));
        }
        for (node_id, node) in &tree.nodes {
            texts.extend(node_texts(node_id, node));
        }
        for (what, text) in texts {
            checked += 1;
            if text.get(Lang::En).trim().is_empty()
                || !text.has(Lang::Ur)
                || text.get(Lang::Ur).trim().is_empty()
            {
                missing.push(format!("{tree_id}/{what}"));
            }
        }
    }
    for (key, text) in &d.texts {
        checked += 1;
        if !text.has(Lang::Ur) {
            missing.push(format!("_system/{key}"));
        }
    }
    missing.sort();
    assert!(
        missing.is_empty(),
        "texts without en and ur:\n{}",
        missing.join("\n")
    );
    assert!(checked > 500, "{checked} texts checked");
}

#[test]
fn modules_cover_the_classroom_instruction_socioemotional_and_numeracy_topics() {
    #[derive(serde::Deserialize)]
    struct Taxonomy {
        areas: BTreeMap<String, BTreeMap<String, String>>,
    }
    let source = std::fs::read_to_string(repo_root().join("knowledge-base/topics.yaml"))
        .expect("topics.yaml");
    let taxonomy: Taxonomy = serde_saphyr::from_str(&source).expect("topics.yaml parses");
    let mut wanted: Vec<String> = Vec::new();
    for area in ["classroom-culture", "instruction", "socioemotional"] {
        let topics = taxonomy
            .areas
            .get(area)
            .unwrap_or_else(|| panic!("area {area}"));
        assert!(!topics.is_empty(), "area {area}");
        wanted.extend(topics.keys().cloned());
    }
    wanted.push("foundational-numeracy".to_string());

    let content = shipped();
    let d = &content.dialogues;
    let covered: HashSet<&str> = d
        .module_order
        .iter()
        .filter_map(|id| d.module(id))
        .map(|m| m.topic.as_str())
        .collect();
    let uncovered: Vec<&String> = wanted
        .iter()
        .filter(|t| !covered.contains(t.as_str()))
        .collect();
    assert!(
        uncovered.is_empty(),
        "topics without a module: {uncovered:?}"
    );
    for topic in &covered {
        assert!(
            content.topics.contains(*topic),
            "module topic {topic} is in the taxonomy"
        );
    }
}

#[test]
fn the_knowledge_base_covers_every_topic_in_english_urdu_and_bangla() {
    use baithak::knowledge::Written;
    let content = shipped();
    let articles = &content.knowledge.index.articles;
    assert!(articles.len() >= 60, "{} articles", articles.len());
    for topic in &content.topics {
        let n = articles.iter().filter(|a| a.topics.contains(topic)).count();
        assert!(n >= 1, "no article on {topic}");
    }
    for common in [
        "behaviour-management",
        "checking-understanding",
        "feedback",
        "collaboration",
        "multigrade-teaching",
        "foundational-numeracy",
        "foundational-literacy",
        "teaching-materials",
        "inclusive-education",
    ] {
        let n = articles
            .iter()
            .filter(|a| a.topics.iter().any(|t| t == common))
            .count();
        assert!(n >= 3, "only {n} articles on {common}");
    }
    let bangla = articles
        .iter()
        .filter(|a| a.languages.contains(&Lang::Bn))
        .count();
    assert!(bangla >= 20, "{bangla} articles in Bangla");
    for article in articles {
        assert!(
            article.languages.contains(&Lang::Ur),
            "{} has no Urdu",
            article.id
        );
        for written in [Written::En, Written::Ur, Written::RomanUr] {
            assert!(
                article.examples.iter().any(|(w, _)| *w == written),
                "{} has no {} example question",
                article.id,
                written.code()
            );
        }
        assert!(
            !article.more.get(Lang::Ur).is_empty(),
            "{}: Urdu has no \"read more\"",
            article.id
        );
    }
    let app_help = articles.iter().filter(|a| a.topic() == "app-help").count();
    assert!(app_help >= 3, "{app_help} app-help articles");
    assert!(articles.iter().any(|a| a.topic() == "admin-non-cpd"));
}

#[test]
fn check_passes_on_the_shipped_content() {
    let output = check(repo_root());
    let out = stdout(&output);
    assert!(
        output.status.success(),
        "exit {:?}\n{out}{}",
        output.status,
        stderr(&output)
    );
    let last = out.lines().last().unwrap_or_default();
    assert!(last.starts_with("ok: "), "{out}");
    let modules: usize = last
        .split(", ")
        .find_map(|part| part.strip_suffix(" lesson modules"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no module count in {last:?}"));
    assert!(modules >= 12, "{last}");
    assert!(!out.contains(": error: "), "{out}");
}

// ---------------------------------------------------------------------------------------------
// Broken copies of the fixture content.

/// A copy of `tests/fixtures` to break.
struct Copy {
    dir: tempfile::TempDir,
}

impl Copy {
    fn new() -> Copy {
        let dir = tempfile::tempdir().expect("a temporary directory");
        fs::copy_dir(&repo_root().join("tests/fixtures"), dir.path());
        Copy { dir }
    }

    fn root(&self) -> &Path {
        self.dir.path()
    }

    fn path(&self, file: &str) -> PathBuf {
        match file.strip_prefix("kb:") {
            Some(article) => self
                .root()
                .join("knowledge-base")
                .join("articles")
                .join(article),
            None => self.root().join("dialogues").join(file),
        }
    }

    /// Replaces the only occurrence of `from` in `file` with `to`.
    fn replace(&self, file: &str, from: &str, to: &str) {
        let path = self.path(file);
        let source = std::fs::read_to_string(&path).expect("fixture file");
        assert_eq!(
            source.matches(from).count(),
            1,
            "{from:?} occurs once in {file}"
        );
        std::fs::write(&path, source.replacen(from, to, 1)).expect("write");
    }

    /// 1-based line and column (in characters) where the only occurrence of `needle` starts.
    fn position(&self, file: &str, needle: &str) -> (usize, usize) {
        let source = std::fs::read_to_string(self.path(file)).expect("fixture file");
        assert_eq!(
            source.matches(needle).count(),
            1,
            "{needle:?} occurs once in {file}"
        );
        let offset = source.find(needle).expect("found");
        let before = &source[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = source[line_start..offset].chars().count() + 1;
        (line, column)
    }

    /// The diagnostic line `check` should print for `file` at `needle`.
    fn expect(&self, file: &str, needle: &str, level: &str, message: &str) -> String {
        let (line, column) = self.position(file, needle);
        format!(
            "{}:{line}:{column}: {level}: {message}",
            self.path(file).display()
        )
    }

    fn check(&self) -> (bool, Vec<String>) {
        let output = check(self.root());
        let lines = stdout(&output).lines().map(str::to_string).collect();
        (output.status.success(), lines)
    }
}

/// Asserts that `check` fails and prints exactly `expected` (one error, no other problem).
fn assert_only_error(copy: &Copy, expected: &str) {
    let (ok, lines) = copy.check();
    assert!(!ok, "check must fail:\n{}", lines.join("\n"));
    assert_eq!(
        lines,
        [expected, "failed: 1 errors, 0 warnings"],
        "\n{}",
        lines.join("\n")
    );
}

/// Asserts that `check` fails and prints a line starting with `prefix`.
///
/// For files that do not parse at all: the YAML library words the message, and the other files'
/// references into the broken tree are reported as well.
fn assert_error_starting(copy: &Copy, prefix: &str) {
    let (ok, lines) = copy.check();
    assert!(!ok, "check must fail:\n{}", lines.join("\n"));
    assert!(
        lines.iter().any(|l| l.starts_with(prefix)),
        "no line starts with\n{prefix}\nin\n{}",
        lines.join("\n")
    );
    assert!(
        lines.last().is_some_and(|l| l.starts_with("failed: ")),
        "{}",
        lines.join("\n")
    );
}

#[test]
fn the_fixture_itself_is_clean() {
    let copy = Copy::new();
    let (ok, lines) = copy.check();
    assert!(ok, "{}", lines.join("\n"));
    assert_eq!(lines.len(), 1, "{}", lines.join("\n"));
    assert!(lines[0].starts_with("ok: 3 trees, "), "{}", lines[0]);
    assert!(lines[0].contains(", 4 articles (0 drafts)"), "{}", lines[0]);
    assert!(lines[0].ends_with("; 0 warnings"), "{}", lines[0]);
}

#[test]
fn a_yaml_syntax_error_is_located() {
    let copy = Copy::new();
    // An unclosed flow mapping: the parser notices at the next token, the `choices:` key below.
    copy.replace("main.yaml", r#"bn: "প্রধান মেনু" }"#, r#"bn: "প্রধান মেনু""#);
    let (line, column) = copy.position("main.yaml", "choices:");
    let prefix = format!(
        "{}:{line}:{column}: error: YAML: while parsing a flow mapping, did not find expected ',' or '}}'",
        copy.path("main.yaml").display()
    );
    assert_error_starting(&copy, &prefix);
}

#[test]
fn an_unknown_field_is_located_at_its_key() {
    let copy = Copy::new();
    copy.replace(
        "main.yaml",
        "    text: { en: \"Help:",
        "    txt: { en: \"Help:",
    );
    let (line, column) = copy.position("main.yaml", "txt:");
    let prefix = format!(
        "{}:{line}:{column}: error: YAML: unknown field `txt`, expected one of kind, text,",
        copy.path("main.yaml").display()
    );
    assert_error_starting(&copy, &prefix);
}

#[test]
fn a_duplicate_node_id_is_located_at_the_second_key() {
    let copy = Copy::new();
    copy.replace(
        "main.yaml",
        "  help:\n    kind: message",
        "  progress:\n    kind: message",
    );
    let (line, column) = copy.position("main.yaml", "  progress:\n    kind: message");
    let prefix = format!(
        "{}:{line}:{}: error: YAML: duplicate mapping key: progress",
        copy.path("main.yaml").display(),
        column + 2
    );
    assert_error_starting(&copy, &prefix);
}

#[test]
fn a_dangling_goto_is_located_at_the_reference() {
    let copy = Copy::new();
    copy.replace("main.yaml", "goto: help }", "goto: nowhere }");
    let expected = copy.expect(
        "main.yaml",
        "nowhere",
        "error",
        "`nowhere` refers to node `nowhere`, which tree `main` does not have",
    );
    assert_only_error(&copy, &expected);
}

#[test]
fn a_dangling_cross_tree_reference_is_located_at_the_reference() {
    let copy = Copy::new();
    copy.replace(
        "modules/demo.yaml",
        "    next: main/menu\n",
        "    next: main/nowhere\n",
    );
    let expected = copy.expect(
        "modules/demo.yaml",
        "main/nowhere",
        "error",
        "`main/nowhere` refers to node `nowhere`, which tree `main` does not have",
    );
    assert_only_error(&copy, &expected);

    let copy = Copy::new();
    copy.replace(
        "modules/demo.yaml",
        "    next: main/menu\n",
        "    next: nowhere/menu\n",
    );
    let expected = copy.expect(
        "modules/demo.yaml",
        "nowhere/menu",
        "error",
        "`nowhere/menu` refers to tree `nowhere`, which does not exist",
    );
    assert_only_error(&copy, &expected);
}

#[test]
fn a_quiz_needs_exactly_one_correct_option() {
    // Two correct options: reported at the question's node (its first field).
    let copy = Copy::new();
    let never = "      - label: { en: Never, ur: کبھی نہیں, bn: কখনো না }\n";
    copy.replace(
        "modules/demo.yaml",
        never,
        &format!("{never}        correct: true\n"),
    );
    let expected = copy.expect(
        "modules/demo.yaml",
        "kind: quiz\n    text: { en: \"How often",
        "error",
        "a quiz question needs exactly one correct option, found 2",
    );
    assert_only_error(&copy, &expected);

    // None.
    let copy = Copy::new();
    let signal =
        "      - label: { en: Use the quiet signal, ur: خاموشی کا اشارہ, bn: চুপের সংকেত }\n";
    copy.replace(
        "modules/demo.yaml",
        &format!("{signal}        correct: true\n"),
        signal,
    );
    let expected = copy.expect(
        "modules/demo.yaml",
        "kind: quiz\n    text: { en: \"The class is noisy",
        "error",
        "a quiz question needs exactly one correct option, found 0",
    );
    assert_only_error(&copy, &expected);
}

#[test]
fn an_unknown_node_kind_is_located_at_the_kind() {
    let copy = Copy::new();
    copy.replace("modules/demo.yaml", "kind: score", "kind: scroe");
    let expected = copy.expect(
        "modules/demo.yaml",
        "scroe",
        "error",
        "node `result` has unknown kind `scroe` (expected message, menu, ask, question, lesson, quiz, score, certificate, \
         progress, check, jump or end)",
    );
    assert_only_error(&copy, &expected);
}

#[test]
fn an_unreachable_node_is_reported() {
    let copy = Copy::new();
    copy.replace(
        "main.yaml",
        "  help:\n",
        "  orphan:\n    kind: end\n  help:\n",
    );
    // Reported at the node's body (its first field), the line below its id.
    let expected = copy.expect(
        "main.yaml",
        "kind: end",
        "error",
        "node `orphan` is unreachable: no command, menu or `next` leads to it",
    );
    assert_only_error(&copy, &expected);
}

#[test]
fn a_missing_translation_is_only_a_warning() {
    let copy = Copy::new();
    copy.replace("main.yaml", r#", bn: "সাহায্য: যেকোনো সময় মেনু লিখুন।""#, "");
    let expected = copy.expect(
        "main.yaml",
        r#"{ en: "Help: type menu any time.""#,
        "warning",
        "text has no translation for bn (English is shown)",
    );
    let (ok, lines) = copy.check();
    assert!(ok, "warnings alone pass:\n{}", lines.join("\n"));
    assert_eq!(lines.len(), 2, "{}", lines.join("\n"));
    assert_eq!(lines[0], expected);
    assert!(lines[1].starts_with("ok: 3 trees, "), "{}", lines[1]);
    assert!(lines[1].ends_with("; 1 warnings"), "{}", lines[1]);
}

#[test]
fn a_long_button_label_is_a_warning() {
    let copy = Copy::new();
    copy.replace(
        "main.yaml",
        "label: { en: My progress,",
        "label: { en: My progress and certificates,",
    );
    // Reported at the choice (the flow mapping that holds the label).
    let expected = copy.expect(
        "main.yaml",
        "{ id: progress,",
        "warning",
        "label of choice `progress` in en is 28 characters; WhatsApp buttons show at most 20 (add a `short:` label)",
    );
    let (ok, lines) = copy.check();
    assert!(ok, "warnings alone pass:\n{}", lines.join("\n"));
    assert_eq!(lines[0], expected, "{}", lines.join("\n"));
    assert!(lines[1].ends_with("; 1 warnings"), "{}", lines[1]);
}

/// Breaks one copy in several ways at once.
fn several_problems() -> (Copy, Vec<String>) {
    let copy = Copy::new();
    copy.replace("main.yaml", "goto: help }", "goto: nowhere }");
    copy.replace(
        "main.yaml",
        "label: { en: My progress,",
        "label: { en: My progress and certificates,",
    );
    copy.replace("modules/demo.yaml", "kind: score", "kind: scroe");
    let never = "      - label: { en: Never, bn: কখনো না }\n";
    copy.replace(
        "modules/demo.yaml",
        "      - label: { en: Never, ur: کبھی نہیں, bn: কখনো না }\n",
        &format!("{never}        correct: true\n"),
    );
    copy.replace("onboarding.yaml", "next: consent", "next: main/nowhere");
    let expected = vec![
        copy.expect(
            "main.yaml",
            "{ id: progress,",
            "warning",
            "label of choice `progress` in en is 28 characters; WhatsApp buttons show at most 20 (add a `short:` label)",
        ),
        copy.expect(
            "main.yaml",
            "nowhere",
            "error",
            "`nowhere` refers to node `nowhere`, which tree `main` does not have",
        ),
        copy.expect(
            "modules/demo.yaml",
            "kind: quiz\n    text: { en: \"How often",
            "error",
            "a quiz question needs exactly one correct option, found 2",
        ),
        copy.expect(
            "modules/demo.yaml",
            "{ en: Never, bn: কখনো না }",
            "warning",
            "quiz option has no translation for ur (English is shown)",
        ),
        copy.expect(
            "modules/demo.yaml",
            "scroe",
            "error",
            "node `result` has unknown kind `scroe` (expected message, menu, ask, question, lesson, quiz, score, certificate, \
             progress, check, jump or end)",
        ),
        copy.expect(
            "onboarding.yaml",
            "main/nowhere",
            "error",
            "`main/nowhere` refers to node `nowhere`, which tree `main` does not have",
        ),
    ];
    (copy, expected)
}

#[test]
fn every_problem_is_reported_in_one_run() {
    let (copy, expected) = several_problems();
    let (ok, lines) = copy.check();
    assert!(!ok, "{}", lines.join("\n"));
    let mut wanted = expected;
    wanted.push("failed: 4 errors, 2 warnings".to_string());
    assert_eq!(lines, wanted, "\n{}", lines.join("\n"));
}

#[test]
fn serve_refuses_broken_content_with_the_same_messages() {
    let (copy, expected) = several_problems();
    let db = copy.root().join("x.db");
    let output = Command::new(env!("CARGO_BIN_EXE_baithak"))
        .arg("serve")
        .arg("--content")
        .arg(copy.root())
        .arg("--database-url")
        .arg(format!("sqlite://{}", db.display()))
        .args(["--listen", "127.0.0.1:0"])
        .output()
        .expect("baithak serve runs");
    let err = stderr(&output);
    assert!(
        !output.status.success(),
        "serve must refuse broken content:\n{err}"
    );
    for line in expected.iter().filter(|l| l.contains(": error: ")) {
        assert!(
            err.lines().any(|l| l == line),
            "missing on stderr:\n{line}\nin\n{err}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Knowledge-base articles (`kb:<file>` names a fixture article).

#[test]
fn an_unknown_article_topic_is_located_at_the_topic() {
    let copy = Copy::new();
    copy.replace(
        "kb:noisy-class.md",
        "topics: [behaviour-management]",
        "topics: [behaviour-managment]",
    );
    let expected = copy.expect(
        "kb:noisy-class.md",
        "behaviour-managment",
        "error",
        "unknown topic `behaviour-managment` (see knowledge-base/topics.yaml)",
    );
    assert_only_error(&copy, &expected);
}

#[test]
fn an_article_id_must_be_its_file_name() {
    let copy = Copy::new();
    copy.replace(
        "kb:noisy-class.md",
        "id: noisy-class",
        "id: noisy-classroom",
    );
    let expected = copy.expect(
        "kb:noisy-class.md",
        "noisy-classroom",
        "error",
        "id `noisy-classroom` differs from the file name `noisy-class.md` (the id is the file name)",
    );
    assert_only_error(&copy, &expected);
}

#[test]
fn an_unknown_front_matter_field_is_located_at_its_key() {
    let copy = Copy::new();
    copy.replace(
        "kb:noisy-class.md",
        "languages: [en, ur, bn]",
        "languages: [en, ur, bn]\nauthor: someone",
    );
    let (line, column) = copy.position("kb:noisy-class.md", "author:");
    let prefix = format!(
        "{}:{line}:{column}: error: YAML: unknown field `author`",
        copy.path("kb:noisy-class.md").display()
    );
    assert_error_starting(&copy, &prefix);
}

#[test]
fn a_missing_language_section_is_reported() {
    let copy = Copy::new();
    copy.replace("kb:noisy-class.md", "## bn", "## xx");
    let expected = copy.expect(
        "kb:noisy-class.md",
        "## xx",
        "error",
        "`## xx`: sections are named by language (en, ur, bn)",
    );
    let (ok, lines) = copy.check();
    assert!(!ok);
    // Read at column 4, where the language code starts.
    let expected = expected.replacen(":1: error", ":4: error", 1);
    assert!(
        lines.contains(&expected),
        "{expected}\n{}",
        lines.join("\n")
    );
    assert!(
        lines
            .iter()
            .any(|l| l.ends_with("error: no `## bn` section, yet the front matter lists `bn`")),
        "{}",
        lines.join("\n")
    );
}

#[test]
fn two_more_markers_in_a_section_are_an_error() {
    let copy = Copy::new();
    let path = copy.path("kb:salary-transfer-admin.md");
    let source = std::fs::read_to_string(&path).expect("fixture");
    let en = source.find("## en").expect("en section");
    let marker = source[en..].find("<!-- more -->").expect("marker") + en;
    let doubled = format!(
        "{}<!-- more -->\n\n{}",
        &source[..marker],
        &source[marker..]
    );
    std::fs::write(&path, doubled).expect("write");
    let (line, _) = copy.position("kb:salary-transfer-admin.md", "## en");
    let expected = format!(
        "{}:{line}:1: error: `## en` has 2 `<!-- more -->` markers; one splits the short answer from the rest",
        path.display()
    );
    assert_only_error(&copy, &expected);
}

#[test]
fn a_duplicate_article_id_is_an_error() {
    let copy = Copy::new();
    let from = copy.path("kb:noisy-class.md");
    let to = copy.path("kb:zz-noisy-class-copy.md");
    let source = std::fs::read_to_string(&from).expect("fixture");
    std::fs::write(&to, source).expect("write");
    let (ok, lines) = copy.check();
    assert!(!ok);
    assert!(
        lines.iter().any(|l| l.contains("zz-noisy-class-copy.md:2:")
            && l.contains("id `noisy-class` differs from the file name")),
        "{}",
        lines.join("\n")
    );
}

#[test]
fn a_draft_is_checked_but_not_served() {
    let copy = Copy::new();
    copy.replace(
        "kb:noisy-class.md",
        "languages: [en, ur, bn]",
        "languages: [en, ur, bn]\ndraft: true",
    );
    let (ok, lines) = copy.check();
    assert!(ok, "{}", lines.join("\n"));
    assert!(lines[0].contains(", 4 articles (1 drafts)"), "{}", lines[0]);
    let content = baithak::content::load(copy.root()).expect("loads");
    let found = content
        .knowledge
        .search("my class is too noisy what do i do", 5);
    let ids: Vec<&str> = found
        .hits
        .iter()
        .map(|h| content.knowledge.index.articles[h.article].id.as_str())
        .collect();
    assert!(!ids.contains(&"noisy-class"), "{ids:?}");
}

#[test]
fn kb_search_prints_ranked_articles_and_the_topic_as_json() {
    let output = Command::new(env!("CARGO_BIN_EXE_baithak"))
        .args([
            "kb",
            "search",
            "bachay class mein bohat shor machatay hain",
            "--json",
            "--content",
        ])
        .arg(repo_root().join("tests/fixtures"))
        .output()
        .expect("kb search runs");
    assert!(output.status.success(), "{}", stderr(&output));
    let value: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(value["topic"], "behaviour-management", "{value}");
    let confidence = value["confidence"].as_f64().expect("confidence");
    assert!((0.0..=1.0).contains(&confidence), "{value}");
    let results = value["results"].as_array().expect("results");
    assert_eq!(results[0]["id"], "noisy-class", "{value}");
    assert!(results[0]["title"].as_str().is_some_and(|t| !t.is_empty()));
    let scores: Vec<f64> = results.iter().filter_map(|r| r["score"].as_f64()).collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "{scores:?}");
}

#[test]
fn salary_questions_go_to_the_admin_article_in_every_script() {
    let content = baithak::content::load(&repo_root().join("tests/fixtures")).expect("fixture");
    for question in [
        "my salary has not come for two months",
        "تنخواہ دو مہینے سے نہیں آئی",
        "salary nahi aayi 3 mahine se",
        "বেতন পাইনি তিন মাস",
    ] {
        let found = content.knowledge.search(question, 3);
        assert_eq!(found.topic.as_deref(), Some("admin-non-cpd"), "{question}");
    }
}

#[test]
fn kb_eval_meets_the_accuracy_targets_on_the_shipped_questions() {
    let output = Command::new(env!("CARGO_BIN_EXE_baithak"))
        .args(["kb", "eval", "--content"])
        .arg(repo_root())
        .output()
        .expect("kb eval runs");
    let text = stdout(&output);
    assert!(
        output.status.success(),
        "targets not met:\n{text}\n{}",
        stderr(&output)
    );
    assert!(text.contains("| all | "), "{text}");
    assert!(
        text.contains("\n0 admin-non-cpd questions answered as pedagogy"),
        "{text}"
    );
}
