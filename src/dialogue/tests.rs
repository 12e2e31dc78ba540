//! Tests of the pure engine over the small, stable fixture content in `tests/fixtures/`.
//!
//! - Table tests: one (state, input) → (cursor, profile, language, effect kinds) per row.
//! - Transcripts: a teacher walks onboarding, a lesson, the quiz and the certificate.
//! - A property-style test: generated text of every script never makes `step` panic and always
//!   gets an answer.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::sync::LazyLock;

use chrono::{DateTime, Duration, TimeZone, Utc};

use super::engine::{
    Cursor, Effect, Input, ModuleProgress, Reply, Stage, State, certificate_code, resume, step,
};
use super::load::{Loaded, SourceFile, load};
use super::tree::{Dialogues, Node, NodeRef};
use crate::diagnostic::Severity;
use crate::language::Lang;

const SYSTEM: &str = include_str!("../../tests/fixtures/dialogues/_system.yaml");
const ONBOARDING: &str = include_str!("../../tests/fixtures/dialogues/onboarding.yaml");
const MAIN: &str = include_str!("../../tests/fixtures/dialogues/main.yaml");
const DEMO: &str = include_str!("../../tests/fixtures/dialogues/modules/demo.yaml");

/// The fixture content, loaded once.
static FIXTURE: LazyLock<Dialogues> = LazyLock::new(|| {
    let loaded = load_sources(ONBOARDING, MAIN, DEMO);
    assert!(
        loaded.diagnostics.is_empty(),
        "the fixture loads cleanly: {:?}",
        loaded.diagnostics
    );
    loaded.dialogues.expect("fixture dialogues")
});

fn source(path: &str, text: &str) -> SourceFile {
    SourceFile {
        path: PathBuf::from(path),
        source: text.to_string(),
    }
}

fn load_sources(onboarding: &str, main: &str, demo: &str) -> Loaded {
    let trees = [
        source("dialogues/onboarding.yaml", onboarding),
        source("dialogues/main.yaml", main),
        source("dialogues/modules/demo.yaml", demo),
    ];
    load(
        &source("dialogues/_system.yaml", SYSTEM),
        &trees,
        &HashSet::new(),
    )
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, 1, 9, 30, 0)
        .single()
        .expect("a valid date")
}

fn t(text: &str) -> Input {
    Input::Text(text.to_string())
}

fn tap(id: &str) -> Input {
    Input::Choice(id.to_string())
}

fn cursor(tree: &str, node: &str, stage: Stage) -> Option<Cursor> {
    Some(Cursor {
        node: NodeRef::new(tree, node),
        stage,
    })
}

/// A teacher waiting at `tree/node`, not yet onboarded.
fn waiting_at(tree: &str, node: &str) -> State {
    State {
        at: cursor(tree, node, Stage::Waiting),
        seed: 42,
        ..State::default()
    }
}

/// A teacher who finished onboarding in `lang` and waits at `tree/node` (`stage`).
fn onboarded_at(lang: Lang, tree: &str, node: &str, stage: Stage) -> State {
    let profile: BTreeMap<String, String> = [
        ("language", lang.code()),
        ("name", "Ayesha"),
        ("grades", "3, 4"),
        ("consent", "yes"),
        ("onboarded", "yes"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    State {
        lang,
        at: cursor(tree, node, stage),
        profile,
        seed: 42,
        ..State::default()
    }
}

/// The state with the quiz attempt that waiting at a quiz node implies.
fn in_quiz(state: State) -> State {
    State {
        quiz: Some(super::engine::QuizRun {
            module: "demo".into(),
            ..Default::default()
        }),
        ..state
    }
}

fn replies(effects: &[Effect]) -> Vec<&Reply> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Say(reply) => Some(reply),
            _ => None,
        })
        .collect()
}

fn texts(effects: &[Effect]) -> Vec<String> {
    replies(effects)
        .into_iter()
        .map(|r| r.text.clone())
        .collect()
}

fn kind(effect: &Effect) -> &'static str {
    match effect {
        Effect::Say(_) => "say",
        Effect::SetProfile { .. } => "set",
        Effect::LessonProgress { .. } => "lesson",
        Effect::Reflection { .. } => "reflection",
        Effect::QuizAnswer { .. } => "answer",
        Effect::QuizFinished { .. } => "finished",
        Effect::Certificate { .. } => "certificate",
        Effect::Question { .. } => "question",
    }
}

fn kinds(effects: &[Effect]) -> Vec<&'static str> {
    effects.iter().map(kind).collect()
}

fn button_ids(reply: &Reply) -> Vec<&str> {
    reply.choices.iter().map(|b| b.id.as_str()).collect()
}

/// The cursor as `tree/node`, or `-` when no dialogue runs.
fn where_(state: &State) -> String {
    state
        .at
        .as_ref()
        .map_or_else(|| "-".to_string(), |c| c.node.to_string())
}

// ---------------------------------------------------------------------------------------------
// Loading the fixture.

#[test]
fn fixture_has_the_expected_shape() {
    let d = &*FIXTURE;
    let mut trees: Vec<&str> = d.trees.keys().map(String::as_str).collect();
    trees.sort_unstable();
    assert_eq!(trees, ["demo", "main", "onboarding"]);
    assert_eq!(d.module_order, ["demo"]);
    let module = d.module("demo").expect("demo is a module");
    assert_eq!((module.pass_mark, module.parts), (50, 2));
    let names: Vec<&str> = d.commands.iter().map(|c| c.name.as_str()).collect();
    for required in super::system::COMMANDS {
        assert!(names.contains(required), "command {required}");
    }
    for key in super::system::TEXT_KEYS {
        assert!(d.texts.contains_key(*key), "system text {key}");
    }
}

// ---------------------------------------------------------------------------------------------
// Commands work from anywhere.

#[test]
fn commands_work_from_anywhere() {
    let d = &*FIXTURE;
    let starts = [
        ("fresh", State::default()),
        ("asking the name", waiting_at("onboarding", "ask_name")),
        ("consent", waiting_at("onboarding", "consent")),
        (
            "main menu",
            onboarded_at(Lang::En, "main", "menu", Stage::Waiting),
        ),
        (
            "lesson part 2",
            onboarded_at(Lang::En, "demo", "lesson", Stage::Part(1)),
        ),
        (
            "lesson task",
            onboarded_at(Lang::En, "demo", "lesson", Stage::Task),
        ),
        (
            "reflection",
            onboarded_at(Lang::En, "demo", "lesson", Stage::Reflection),
        ),
        (
            "quiz",
            in_quiz(onboarded_at(Lang::En, "demo", "q2", Stage::Waiting)),
        ),
        (
            "failed menu",
            onboarded_at(Lang::En, "demo", "failed", Stage::Waiting),
        ),
    ];
    // (typed, where it lands, the replies' texts)
    let cases: &[(&str, &str, &[&str])] = &[
        ("/menu", "main/menu", &["Main menu"]),
        ("menu", "main/menu", &["Main menu"]),
        ("MENU", "main/menu", &["Main menu"]),
        ("  Menu! ", "main/menu", &["Main menu"]),
        ("mainu", "main/menu", &["Main menu"]),
        ("meenu", "main/menu", &["Main menu"]),
        ("مینو", "main/menu", &["Main menu"]),
        ("মেনু", "main/menu", &["Main menu"]),
        ("wapas", "main/menu", &["Main menu"]),
        (
            "madad",
            "main/menu",
            &["Help: type menu any time.", "Main menu"],
        ),
        (
            "Madad",
            "main/menu",
            &["Help: type menu any time.", "Main menu"],
        ),
        (
            "مدد",
            "main/menu",
            &["Help: type menu any time.", "Main menu"],
        ),
        (
            "/help",
            "main/menu",
            &["Help: type menu any time.", "Main menu"],
        ),
        (
            "/language",
            "onboarding/language",
            &["Choose your language"],
        ),
        ("زبان", "onboarding/language", &["Choose your language"]),
        ("zabaan", "onboarding/language", &["Choose your language"]),
        ("ভাষা", "onboarding/language", &["Choose your language"]),
    ];
    // Loose Roman Urdu spellings; they are free-text answers where free text is awaited (see
    // `free_text_answers_are_not_read_loosely_as_commands`).
    let loose = ["mainu", "meenu", "zabaan"];
    let free_text = ["asking the name", "reflection"];
    for (label, state) in &starts {
        for (typed, lands, said) in cases {
            if loose.contains(typed) && free_text.contains(label) {
                continue;
            }
            let out = step(d, state, &t(typed), now());
            assert_eq!(where_(&out.state), *lands, "{typed:?} from {label}");
            assert_eq!(texts(&out.effects), *said, "{typed:?} from {label}");
            assert_eq!(
                kinds(&out.effects),
                vec!["say"; said.len()],
                "{typed:?} from {label}"
            );
            assert_eq!(
                out.state.profile, state.profile,
                "a command changes no profile field"
            );
            assert_eq!(out.state.lang, state.lang, "a command keeps the language");
            assert_eq!(out.state.quiz, None, "a command leaves any quiz attempt");
        }
    }
}

#[test]
fn start_opens_onboarding_or_the_menu_once_onboarded() {
    let d = &*FIXTURE;
    for typed in [
        "/start",
        "/start campaign-42",
        "start",
        "Shuru",
        "شروع",
        "salam",
        "hello",
    ] {
        let fresh = step(d, &State::default(), &t(typed), now());
        assert_eq!(where_(&fresh.state), "onboarding/language", "{typed:?}");
        let reply = replies(&fresh.effects)[0];
        assert_eq!(reply.text, "Choose your language");
        assert_eq!(
            button_ids(reply),
            ["language.en", "language.ur", "language.bn"]
        );

        let done = onboarded_at(Lang::Ur, "demo", "q1", Stage::Waiting);
        let again = step(d, &done, &t(typed), now());
        assert_eq!(where_(&again.state), "main/menu", "{typed:?}");
        assert_eq!(texts(&again.effects), ["مین مینو"], "{typed:?}");
        assert!(again.effects.iter().all(|e| kind(e) == "say"));
    }
}

#[test]
fn any_message_without_a_running_dialogue_starts_over() {
    let d = &*FIXTURE;
    for input in [
        t("hi there"),
        t("🙂"),
        tap("menu.lessons"),
        Input::Unsupported,
    ] {
        let out = step(d, &State::default(), &input, now());
        assert_eq!(where_(&out.state), "onboarding/language", "{input:?}");
        assert_eq!(texts(&out.effects), ["Choose your language"], "{input:?}");
    }
    // After the `end` node, the next message starts over too (here: onboarded → main menu).
    let ended = State {
        at: None,
        ..onboarded_at(Lang::En, "main", "menu", Stage::Waiting)
    };
    let out = step(d, &ended, &t("anything"), now());
    assert_eq!(where_(&out.state), "main/menu");
}

// ---------------------------------------------------------------------------------------------
// Choices: tapped, numbered in any script, typed approximately.

#[test]
fn language_menu_accepts_taps_numbers_labels_and_aliases() {
    let d = &*FIXTURE;
    let state = waiting_at("onboarding", "language");
    let cases = [
        (tap("language.ur"), Lang::Ur),
        (tap("language.bn"), Lang::Bn),
        (tap("language.en"), Lang::En),
        (t("2"), Lang::Ur),
        (t("۲"), Lang::Ur),
        (t("٢"), Lang::Ur),
        (t("২"), Lang::Ur),
        (t("3"), Lang::Bn),
        (t("۳"), Lang::Bn),
        (t("৩"), Lang::Bn),
        (t("٣"), Lang::Bn),
        (t("1"), Lang::En),
        (t("١"), Lang::En),
        (t("option 2"), Lang::Ur),
        (t("#2"), Lang::Ur),
        (t("english"), Lang::En),
        (t("Englsh"), Lang::En),
        (t("اردو"), Lang::Ur),
        (t("urdu"), Lang::Ur),
        (t("Urdoo"), Lang::Ur),
        (t("বাংলা"), Lang::Bn),
        (t("bangla"), Lang::Bn),
    ];
    for (input, lang) in cases {
        let out = step(d, &state, &input, now());
        assert_eq!(out.state.lang, lang, "{input:?}");
        assert_eq!(
            out.state.profile.get("language").map(String::as_str),
            Some(lang.code()),
            "{input:?}"
        );
        assert_eq!(where_(&out.state), "onboarding/ask_name", "{input:?}");
        assert_eq!(kinds(&out.effects), ["set", "say"], "{input:?}");
        assert_eq!(
            out.effects[0],
            Effect::SetProfile {
                field: "language".into(),
                value: lang.code().into()
            }
        );
        let reply = replies(&out.effects)[0];
        assert_eq!(
            reply.lang, lang,
            "the question comes in the new language: {input:?}"
        );
        let expected = match lang {
            Lang::En => "What is your name?",
            Lang::Ur => "آپ کا نام کیا ہے؟",
            Lang::Bn => "আপনার নাম কী?",
        };
        assert_eq!(reply.text, expected, "{input:?}");
    }
}

#[test]
fn main_menu_accepts_taps_numbers_labels_and_roman_urdu() {
    let d = &*FIXTURE;
    for lang in [Lang::En, Lang::Ur] {
        let state = onboarded_at(lang, "main", "menu", Stage::Waiting);
        let lesson = "demo/lesson";
        let progress = "main/menu"; // "My progress" shows, then goes back to the menu.
        let cases = [
            (tap("menu.lessons"), lesson),
            (t("1"), lesson),
            (t("۱"), lesson),
            (t("১"), lesson),
            (t("Lessons"), lesson),
            (t("lesons"), lesson),
            (t("LESSONS!"), lesson),
            (t("اسباق"), lesson),
            (t("পাঠ"), lesson),
            (t("sabaq"), lesson),
            (t("sabak"), lesson),
            (t("Sabaaq"), lesson),
            (tap("menu.progress"), progress),
            (t("2"), progress),
            (t("my progres"), progress),
            (t("میری پیش رفت"), progress),
        ];
        for (input, lands) in cases {
            let out = step(d, &state, &input, now());
            assert_eq!(where_(&out.state), lands, "{input:?} in {lang}");
            assert!(
                !texts(&out.effects)[0].contains("Sorry"),
                "{input:?} in {lang}"
            );
            assert!(
                replies(&out.effects).iter().all(|r| r.lang == lang),
                "{input:?} in {lang}"
            );
        }
    }
}

#[test]
fn consent_accepts_roman_urdu_aliases_and_marks_onboarding_done() {
    let d = &*FIXTURE;
    let state = waiting_at("onboarding", "consent");
    for typed in [
        "yes",
        "Yes!",
        "haan",
        "Haan",
        "han",
        "haaan",
        "ji",
        "جی ہاں",
        "হ্যাঁ",
        "1",
        "۱",
    ] {
        let out = step(d, &state, &t(typed), now());
        assert_eq!(where_(&out.state), "main/menu", "{typed:?}");
        assert_eq!(
            out.state.profile.get("onboarded").map(String::as_str),
            Some("yes"),
            "{typed:?}"
        );
        assert_eq!(
            out.state.profile.get("consent").map(String::as_str),
            Some("yes"),
            "{typed:?}"
        );
        assert_eq!(kinds(&out.effects), ["set", "set", "say"], "{typed:?}");
    }
    for typed in ["no", "No.", "نہیں", "না", "2"] {
        let out = step(d, &state, &t(typed), now());
        assert_eq!(out.state.at, None, "{typed:?} ends the dialogue");
        assert_eq!(
            texts(&out.effects),
            ["Okay. Type /start if you change your mind."],
            "{typed:?}"
        );
        assert!(!out.state.profile.contains_key("onboarded"));
    }
}

// ---------------------------------------------------------------------------------------------
// Re-prompts: old buttons, unexpected input.

const FALLBACK_EN: &str = "Sorry, I did not understand that. Please choose one of these (tap a button or type its number):";
const UNSUPPORTED_EN: &str =
    "I can only read text messages for now. Please type your answer or tap a button.";

#[test]
fn a_reply_to_an_old_menu_reprompts_with_the_current_options() {
    let d = &*FIXTURE;
    let state = onboarded_at(Lang::En, "main", "menu", Stage::Waiting);
    for old in [
        "language.ur",
        "consent.agree",
        "failed.retry",
        "lesson.next.1",
        "q1.2",
        "menu.nowhere",
        "menu.",
    ] {
        let out = step(d, &state, &tap(old), now());
        assert_eq!(out.state, state, "{old}: nothing changes");
        assert_eq!(texts(&out.effects), [FALLBACK_EN, "Main menu"], "{old}");
        assert_eq!(
            button_ids(replies(&out.effects)[1]),
            ["menu.lessons", "menu.progress", "menu.help"],
            "{old}"
        );
    }
    // The same on a quiz: an old menu's button is no answer.
    let quiz = in_quiz(onboarded_at(Lang::En, "demo", "q1", Stage::Waiting));
    for old in ["menu.lessons", "q2.1", "q1.0", "q1.4", "q1.x"] {
        let out = step(d, &quiz, &tap(old), now());
        assert_eq!(out.state, quiz, "{old}");
        assert_eq!(kinds(&out.effects), ["say", "say"], "{old}");
        let again = replies(&out.effects);
        assert_eq!(again[0].text, FALLBACK_EN);
        assert_eq!(
            again[1].text,
            "❓ *Quiz — Demo module*\n\nThe class is noisy. First step?"
        );
        assert_eq!(button_ids(again[1]), ["q1.1", "q1.2", "q1.3"]);
    }
    // And in a lesson: the Next button of another part re-shows the part on screen.
    let lesson = onboarded_at(Lang::En, "demo", "lesson", Stage::Part(1));
    let out = step(d, &lesson, &tap("lesson.next.1"), now());
    assert_eq!(out.state.at, lesson.at);
    let again = texts(&out.effects);
    assert_eq!(again[0], FALLBACK_EN);
    assert!(
        again[1].ends_with("Part two: practise it daily."),
        "{again:?}"
    );
}

#[test]
fn unexpected_input_reprompts_and_never_panics() {
    let d = &*FIXTURE;
    let long = "a".repeat(10_000);
    let long_urdu = "کلاس ".repeat(2_000);
    let menus = [
        (waiting_at("onboarding", "language"), "Choose your language"),
        (
            waiting_at("onboarding", "consent"),
            "We keep your answers. Agree?",
        ),
        (
            onboarded_at(Lang::En, "main", "menu", Stage::Waiting),
            "Main menu",
        ),
        (
            in_quiz(onboarded_at(Lang::En, "demo", "q2", Stage::Waiting)),
            "❓ *Quiz — Demo module*\n\nHow often to practise?",
        ),
    ];
    let junk = [
        "banana",
        "🙂",
        "👍🏽👍🏽",
        "",
        "   ",
        "???",
        "0",
        "99",
        "4",
        "1.5",
        long.as_str(),
        long_urdu.as_str(),
    ];
    for (state, prompt) in &menus {
        for typed in junk {
            let out = step(d, state, &t(typed), now());
            let label = format!("{:.20?} at {}", typed, where_(state));
            assert_eq!(out.state, *state, "{label}");
            if out.effects
                == [Effect::Question {
                    text: typed.to_string(),
                }]
            {
                // Words of their own on an onboarded teacher's menu go to the helpdesk.
                assert!(state.profile.contains_key("onboarded"), "{label}");
                assert!(typed.split_whitespace().count() >= 2, "{label}");
                continue;
            }
            let said = texts(&out.effects);
            assert_eq!(said.len(), 2, "{label}");
            assert_eq!(said[0], FALLBACK_EN, "{label}");
            assert_eq!(said[1], *prompt, "{label}");
            assert!(!replies(&out.effects)[1].choices.is_empty(), "{label}");
        }
        let out = step(d, state, &Input::Unsupported, now());
        assert_eq!(out.state, *state);
        assert_eq!(texts(&out.effects), [UNSUPPORTED_EN, *prompt]);
    }
    // Lessons: anything but Next shows the same part again.
    let part = onboarded_at(Lang::En, "demo", "lesson", Stage::Part(0));
    for input in [t("banana"), t("🙂"), t(&long), Input::Unsupported] {
        let out = step(d, &part, &input, now());
        assert_eq!(out.state.at, part.at, "{:.20?}", input);
        let said = texts(&out.effects);
        assert_eq!(said.len(), 2);
        assert_eq!(
            said[1],
            "📘 *Demo module* — part 1 of 2\n\nPart one: agree a quiet signal."
        );
    }
    // Unsupported input on an ask node and at the reflection asks again.
    let ask = waiting_at("onboarding", "ask_name");
    let out = step(d, &ask, &Input::Unsupported, now());
    assert_eq!(out.state, ask);
    assert_eq!(texts(&out.effects), [UNSUPPORTED_EN, "What is your name?"]);
    let reflect = onboarded_at(Lang::En, "demo", "lesson", Stage::Reflection);
    let out = step(d, &reflect, &Input::Unsupported, now());
    assert_eq!(out.state.at, reflect.at);
    assert_eq!(texts(&out.effects)[0], UNSUPPORTED_EN);
    assert!(!out.effects.iter().any(|e| kind(e) == "reflection"));
}

// ---------------------------------------------------------------------------------------------
// Ask nodes: validation and normalization of answers.

#[test]
fn ask_answers_are_validated_and_normalized() {
    let d = &*FIXTURE;
    let name = waiting_at("onboarding", "ask_name");
    let grades = waiting_at("onboarding", "ask_grades");
    let name_error = ["Please write your name.", "What is your name?"];
    let grades_error = [
        "Please answer with a number, for example 3 (or a list such as 1, 2, 5).",
        "Which grades do you teach?",
    ];
    // (state, typed, stored value or None for a complaint)
    let cases: &[(&State, &str, Option<&str>)] = &[
        (&name, "Ayesha", Some("Ayesha")),
        (&name, "  Ayesha Khan  ", Some("Ayesha Khan")),
        (&name, "عائشہ", Some("عائشہ")),
        (&name, "আয়েশা", Some("আয়েশা")),
        (&name, "A", None),
        (&name, "", None),
        (&name, "🙂🙂🙂", None),
        (&name, "...", None),
        (&name, &"x".repeat(41), None),
        (&grades, "۳ اور ۴", Some("3, 4")),
        (&grades, "3 and 4", Some("3, 4")),
        (&grades, "1-3", Some("1, 2, 3")),
        (&grades, "১ থেকে ২, ৫", Some("1, 2, 5")),
        (&grades, "4, 3, 3", Some("3, 4")),
        (&grades, "class ٥", Some("5")),
        (&grades, "4 se 6", Some("4, 5, 6")),
        (&grades, "0", Some("0")),
        (&grades, "13", None),
        (&grades, "5 and 99", None),
        (&grades, "none", None),
        (&grades, "", None),
    ];
    for (state, typed, stored) in cases {
        let out = step(d, state, &t(typed), now());
        let field = if where_(state).ends_with("ask_name") {
            "name"
        } else {
            "grades"
        };
        match stored {
            Some(value) => {
                assert_eq!(
                    out.state.profile.get(field).map(String::as_str),
                    Some(*value),
                    "{typed:?}"
                );
                assert_eq!(
                    out.effects[0],
                    Effect::SetProfile {
                        field: field.into(),
                        value: (*value).into()
                    }
                );
                assert_ne!(where_(&out.state), where_(state), "{typed:?} moves on");
            }
            None => {
                assert_eq!(out.state, **state, "{typed:.20?} is refused");
                let expected = if field == "name" {
                    &name_error
                } else {
                    &grades_error
                };
                assert_eq!(texts(&out.effects), *expected, "{typed:.20?}");
            }
        }
    }
}

#[test]
fn free_text_answers_are_not_read_loosely_as_commands() {
    let d = &*FIXTURE;
    let mut ask = waiting_at("onboarding", "ask_name");
    ask.profile.insert("language".into(), "en".into());
    // Names whose Roman Urdu skeleton equals a command word's (salam, menu, zaban, hi, hello).
    for name in ["Saleem", "Salim", "Meena", "Mina", "Zubin", "Haya", "Hala"] {
        let out = step(d, &ask, &t(name), now());
        assert_eq!(
            out.state.profile.get("name").map(String::as_str),
            Some(name),
            "{name}"
        );
        assert_eq!(where_(&out.state), "onboarding/ask_grades", "{name}");
    }
    // A command typed as written still works while a question waits.
    for (typed, lands) in [
        ("menu", "main/menu"),
        ("Menu!", "main/menu"),
        ("/start", "onboarding/ask_name"),
        ("madad", "main/menu"),
    ] {
        let out = step(d, &ask, &t(typed), now());
        assert_eq!(where_(&out.state), lands, "{typed}");
        assert!(!out.state.profile.contains_key("name"), "{typed}");
    }
    // A one-word reflection is kept as a reflection.
    let reflect = onboarded_at(Lang::En, "demo", "lesson", Stage::Reflection);
    let out = step(d, &reflect, &t("Meena"), now());
    assert!(out.effects.contains(&Effect::Reflection {
        module: "demo".into(),
        text: "Meena".into()
    }));
    // Elsewhere, Roman Urdu spellings of commands still match loosely.
    let menu = onboarded_at(Lang::En, "demo", "q1", Stage::Waiting);
    assert_eq!(
        where_(&step(d, &menu, &t("meenu"), now()).state),
        "main/menu"
    );
}

#[test]
fn ask_errors_come_in_the_teachers_language() {
    let d = &*FIXTURE;
    let state = State {
        lang: Lang::Ur,
        ..waiting_at("onboarding", "ask_name")
    };
    let out = step(d, &state, &t("ع"), now());
    assert_eq!(
        texts(&out.effects),
        ["براہِ کرم اپنا نام لکھیں۔", "آپ کا نام کیا ہے؟"]
    );
    assert!(replies(&out.effects).iter().all(|r| r.lang == Lang::Ur));
    let state = State {
        lang: Lang::Bn,
        ..waiting_at("onboarding", "ask_grades")
    };
    let out = step(d, &state, &t("অনেক"), now());
    assert_eq!(
        texts(&out.effects),
        [
            "অনুগ্রহ করে একটি সংখ্যা লিখুন, যেমন ৩ (বা তালিকা, যেমন ১, ২, ৫)।",
            "কোন শ্রেণিতে পড়ান?"
        ]
    );
}

// ---------------------------------------------------------------------------------------------
// Languages.

#[test]
fn switching_language_changes_later_replies() {
    let d = &*FIXTURE;
    let state = onboarded_at(Lang::En, "main", "menu", Stage::Waiting);
    let out = step(d, &state, &t("/language"), now());
    assert_eq!(where_(&out.state), "onboarding/language");
    let out = step(d, &out.state, &tap("language.ur"), now());
    assert_eq!(out.state.lang, Lang::Ur);
    // Onboarded already: straight back to the menu, in Urdu, without asking the name again.
    assert_eq!(where_(&out.state), "main/menu");
    assert_eq!(texts(&out.effects), ["مین مینو"]);
    assert_eq!(out.state.profile["name"], "Ayesha");
    let out = step(d, &out.state, &t("banana"), now());
    let said = replies(&out.effects);
    assert!(said.iter().all(|r| r.lang == Lang::Ur));
    assert!(said[0].text.starts_with("معاف کیجیے"), "{}", said[0].text);
    let labels: Vec<&str> = said[1].choices.iter().map(|b| b.label.as_str()).collect();
    assert_eq!(labels, ["اسباق", "میری پیش رفت", "مدد"]);
    // And back to Bangla by typing the language's name.
    let out = step(d, &out.state, &t("zaban"), now());
    let out = step(d, &out.state, &t("bangla"), now());
    assert_eq!(out.state.lang, Lang::Bn);
    assert_eq!(texts(&out.effects), ["প্রধান মেনু"]);
}

#[test]
fn missing_translations_fall_back_to_english() {
    let help_ur = r#"ur: "مدد: کسی بھی وقت مینو لکھیں۔", "#;
    assert!(
        MAIN.contains(help_ur),
        "the fixture's help text has an Urdu version"
    );
    let main = MAIN.replace(help_ur, "");
    let loaded = load_sources(ONBOARDING, &main, DEMO);
    assert_eq!(loaded.diagnostics.len(), 1, "{:?}", loaded.diagnostics);
    let warning = &loaded.diagnostics[0];
    assert_eq!(warning.severity, Severity::Warning);
    assert!(
        warning.message.contains("no translation for ur"),
        "{}",
        warning.message
    );
    let d = loaded.dialogues.expect("a warning does not stop loading");

    let state = onboarded_at(Lang::Ur, "main", "menu", Stage::Waiting);
    let out = step(&d, &state, &t("madad"), now());
    assert_eq!(
        texts(&out.effects),
        ["Help: type menu any time.", "مین مینو"]
    );
    // Bangla still has its own translation.
    let state = onboarded_at(Lang::Bn, "main", "menu", Stage::Waiting);
    let out = step(&d, &state, &t("madad"), now());
    assert_eq!(texts(&out.effects)[0], "সাহায্য: যেকোনো সময় মেনু লিখুন।");
}

// ---------------------------------------------------------------------------------------------
// Transcripts.

/// A simulated teacher: plays inputs one by one and keeps every effect.
struct Teacher {
    state: State,
    now: DateTime<Utc>,
    effects: Vec<Effect>,
    last: Vec<Reply>,
}

impl Teacher {
    fn new() -> Teacher {
        Teacher {
            state: State {
                seed: 7,
                ..State::default()
            },
            now: now(),
            effects: Vec::new(),
            last: Vec::new(),
        }
    }

    /// Plays `inputs` and returns the texts of every reply, in order.
    fn play(&mut self, inputs: &[Input]) -> Vec<String> {
        let mut said = Vec::new();
        for input in inputs {
            self.now += Duration::minutes(1);
            let out = step(&FIXTURE, &self.state, input, self.now);
            assert!(!replies(&out.effects).is_empty(), "{input:?} got no reply");
            self.last = replies(&out.effects).into_iter().cloned().collect();
            said.extend(texts(&out.effects));
            self.effects.extend(out.effects);
            self.state = out.state;
        }
        said
    }

    fn at(&self) -> String {
        where_(&self.state)
    }

    fn certificates(&self) -> Vec<String> {
        self.effects
            .iter()
            .filter_map(|e| match e {
                Effect::Certificate { module, code } if module == "demo" => Some(code.clone()),
                _ => None,
            })
            .collect()
    }

    fn drain(&mut self) -> Vec<Effect> {
        std::mem::take(&mut self.effects)
    }
}

fn assert_certificate_code(code: &str) {
    const ALPHABET: &str = "23456789ABCDEFGHJKMNPQRSTUVWXYZ";
    assert_eq!(code.chars().count(), 9, "{code}");
    for (i, c) in code.chars().enumerate() {
        if i == 4 {
            assert_eq!(c, '-', "{code}");
        } else {
            assert!(ALPHABET.contains(c), "{code}: `{c}` is not in the alphabet");
        }
    }
}

#[test]
fn english_transcript_from_onboarding_to_certificate() {
    let mut teacher = Teacher::new();
    let said = teacher.play(&[
        t("/start"),
        tap("language.en"),
        t("Ayesha Khan"),
        t("3 and 4"),
        t("yes"),
    ]);
    assert_eq!(
        said,
        [
            "Choose your language",
            "What is your name?",
            "Which grades do you teach?",
            "We keep your answers. Agree?",
            "Main menu",
        ]
    );
    let profile: Vec<(&str, &str)> = teacher
        .state
        .profile
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        profile,
        [
            ("consent", "yes"),
            ("grades", "3, 4"),
            ("language", "en"),
            ("name", "Ayesha Khan"),
            ("onboarded", "yes"),
        ]
    );
    teacher.drain();

    // The lesson: two parts with Next, the task, the reflection.
    let said = teacher.play(&[t("lessons")]);
    assert_eq!(
        said,
        ["📘 *Demo module* — part 1 of 2\n\nPart one: agree a quiet signal."]
    );
    assert_eq!(button_ids(&teacher.last[0]), ["lesson.next.1"]);
    assert_eq!(teacher.last[0].choices[0].label, "Next ▶");
    let said = teacher.play(&[tap("lesson.next.1")]);
    assert_eq!(
        said,
        ["📘 *Demo module* — part 2 of 2\n\nPart two: practise it daily."]
    );
    let said = teacher.play(&[t("next")]);
    assert_eq!(said, ["✏️ *Try this in class*\n\nUse the signal tomorrow."]);
    assert_eq!(button_ids(&teacher.last[0]), ["lesson.next.task"]);
    let said = teacher.play(&[t("Next ▶")]);
    assert_eq!(
        said,
        ["💭 *Reflect* — type your answer, or tap Skip.\n\nWhat happened?"]
    );
    assert_eq!(button_ids(&teacher.last[0]), ["lesson.skip"]);
    assert_eq!(
        teacher.state.at,
        cursor("demo", "lesson", Stage::Reflection)
    );

    let said = teacher.play(&[t("The class went quiet in ten seconds.")]);
    assert_eq!(
        said,
        [
            "Thank you for sharing. Your reflection is saved in your learning record.",
            "❓ *Quiz — Demo module*\n\nThe class is noisy. First step?",
        ]
    );
    let labels: Vec<&str> = teacher.last[1]
        .choices
        .iter()
        .map(|b| b.label.as_str())
        .collect();
    assert_eq!(labels, ["Shout", "Use the quiet signal", "Punish everyone"]);
    let effects = teacher.drain();
    assert!(effects.contains(&Effect::Reflection {
        module: "demo".into(),
        text: "The class went quiet in ten seconds.".into()
    }));
    let progress: Vec<(usize, bool)> = effects
        .iter()
        .filter_map(|e| match e {
            Effect::LessonProgress {
                part,
                parts: 2,
                done,
                ..
            } => Some((*part, *done)),
            _ => None,
        })
        .collect();
    assert_eq!(progress, [(1, false), (2, false), (2, true)]);
    assert!(teacher.state.modules["demo"].lesson_done);

    // The quiz: answers, explanations, score, certificate.
    let said = teacher.play(&[tap("q1.2")]);
    assert_eq!(
        said,
        [
            "✅ Correct!\n\nA practised signal works calmly.",
            "❓ *Quiz — Demo module*\n\nHow often to practise?",
        ]
    );
    let said = teacher.play(&[t("daily")]);
    let code = teacher
        .certificates()
        .pop()
        .expect("a certificate was issued");
    assert_certificate_code(&code);
    assert_eq!(
        said,
        [
            "✅ Correct!\n\nRoutines need repetition.".to_string(),
            "You scored 2 out of 2 (100%).".to_string(),
            format!("Passed! Certificate {code}"),
            "Main menu".to_string(),
        ]
    );
    assert_eq!(
        kinds(&teacher.drain()),
        [
            "answer",
            "say",
            "say",
            "answer",
            "say",
            "finished",
            "say",
            "certificate",
            "say",
            "say"
        ]
    );
    assert_eq!(teacher.at(), "main/menu");
    assert_eq!(teacher.state.quiz, None, "the attempt is closed");
    let demo = &teacher.state.modules["demo"];
    assert_eq!(
        (demo.best_percent, demo.attempts, demo.passed),
        (Some(100), 1, true)
    );
    assert_eq!(demo.certificate.as_deref(), Some(code.as_str()));

    // My progress lists the module, the best score and the certificate code.
    let said = teacher.play(&[t("my progress")]);
    assert_eq!(
        said,
        [
            format!(
                "📊 *My progress*\n\n*Demo module*\n• Lesson completed ✅\n• Best quiz score: 100%\n• Quiz passed 🎉\n• \
                 Certificate: *{code}*"
            ),
            "Main menu".to_string(),
        ]
    );
}

#[test]
fn quiz_answer_effects_record_the_chosen_option() {
    let mut teacher = Teacher::new();
    teacher.state = onboarded_at(Lang::En, "demo", "q1", Stage::Waiting);
    // Option letters work too ("c" = third option).
    teacher.play(&[t("c"), tap("q2.1")]);
    let answers: Vec<&Effect> = teacher
        .effects
        .iter()
        .filter(|e| kind(e) == "answer")
        .collect();
    assert_eq!(
        answers,
        [
            &Effect::QuizAnswer {
                module: "demo".into(),
                question: "q1".into(),
                chosen: 3,
                correct: false
            },
            &Effect::QuizAnswer {
                module: "demo".into(),
                question: "q2".into(),
                chosen: 1,
                correct: true
            },
        ]
    );
    // 1 of 2 is exactly the pass mark of 50%: passed.
    assert!(teacher.effects.contains(&Effect::QuizFinished {
        module: "demo".into(),
        score: 1,
        max: 2,
        passed: true
    }));
}

#[test]
fn urdu_transcript_from_onboarding_to_certificate() {
    let mut teacher = Teacher::new();
    let said = teacher.play(&[
        t("/start"),
        t("۲"),
        t("عائشہ"),
        t("۳ اور ۴"),
        t("جی ہاں"),
        t("اسباق"),
        t("آگے"),
        t("اگلا"),
        t("آگے ▶"),
        t("بچے جلدی خاموش ہو گئے"),
        t("خاموشی کا اشارہ"),
        t("روزانہ"),
    ]);
    let code = teacher
        .certificates()
        .pop()
        .expect("a certificate was issued");
    assert_certificate_code(&code);
    assert_eq!(
        said,
        [
            "Choose your language".to_string(),
            "آپ کا نام کیا ہے؟".to_string(),
            "آپ کون سی جماعتیں پڑھاتے ہیں؟".to_string(),
            "ہم آپ کے جوابات محفوظ رکھتے ہیں۔ متفق؟".to_string(),
            "مین مینو".to_string(),
            "📘 *ڈیمو ماڈیول* — حصہ 1 از 2\n\nپہلا حصہ: خاموشی کا اشارہ طے کریں۔".to_string(),
            "📘 *ڈیمو ماڈیول* — حصہ 2 از 2\n\nدوسرا حصہ: روز مشق کریں۔".to_string(),
            "✏️ *کلاس میں آزمائیں*\n\nکل اشارہ استعمال کریں۔".to_string(),
            "💭 *غور کریں* — اپنا جواب لکھیں، یا \"چھوڑ دیں\" دبائیں۔\n\nکیا ہوا؟".to_string(),
            "شکریہ! آپ کی سوچ آپ کے تعلیمی ریکارڈ میں محفوظ ہو گئی ہے۔".to_string(),
            "❓ *کوئز — ڈیمو ماڈیول*\n\nکلاس میں شور ہے۔ پہلا قدم؟".to_string(),
            "✅ درست!\n\nمشق شدہ اشارہ سکون سے کام کرتا ہے۔".to_string(),
            "❓ *کوئز — ڈیمو ماڈیول*\n\nکتنی بار مشق؟".to_string(),
            "✅ درست!\n\nمعمول کو دہرانا پڑتا ہے۔".to_string(),
            "آپ کا اسکور 2 میں سے 2 ہے (100%)۔".to_string(),
            format!("کامیاب! سرٹیفکیٹ {code}"),
            "مین مینو".to_string(),
        ]
    );
    assert_eq!(teacher.state.lang, Lang::Ur);
    assert_eq!(teacher.state.profile["grades"], "3, 4");
    assert_eq!(teacher.state.profile["name"], "عائشہ");
    assert!(teacher.effects.contains(&Effect::Reflection {
        module: "demo".into(),
        text: "بچے جلدی خاموش ہو گئے".into()
    }));
    let said = teacher.play(&[t("میری پیش رفت")]);
    assert!(teacher.last.iter().all(|r| r.lang == Lang::Ur));
    assert_eq!(
        said[0],
        format!(
            "📊 *میری پیش رفت*\n\n*ڈیمو ماڈیول*\n• سبق مکمل ✅\n• کوئز کا بہترین اسکور: 100%\n• کوئز پاس 🎉\n• سرٹیفکیٹ: \
             *{code}*"
        )
    );
}

#[test]
fn failing_the_quiz_offers_a_retry_and_passing_again_keeps_the_first_code() {
    let mut teacher = Teacher::new();
    teacher.state = onboarded_at(Lang::En, "demo", "q1", Stage::Waiting);
    teacher.state.seed = 7;
    let said = teacher.play(&[t("shout"), t("never")]);
    assert_eq!(
        said,
        [
            "❌ Not quite. The right answer is: *Use the quiet signal*\n\nA practised signal works calmly.",
            "❓ *Quiz — Demo module*\n\nHow often to practise?",
            "❌ Not quite. The right answer is: *Daily*\n\nRoutines need repetition.",
            "You scored 0 out of 2 (0%).",
            "Not passed (0/2).",
        ]
    );
    assert_eq!(teacher.at(), "demo/failed");
    assert_eq!(
        button_ids(&teacher.last[2]),
        ["failed.retry", "failed.menu"]
    );
    assert!(teacher.effects.contains(&Effect::QuizFinished {
        module: "demo".into(),
        score: 0,
        max: 2,
        passed: false
    }));
    assert!(teacher.certificates().is_empty());
    let demo = &teacher.state.modules["demo"];
    assert_eq!(
        (demo.best_percent, demo.attempts, demo.passed),
        (Some(0), 1, false)
    );

    // Something unexpected at the "try again" menu: the re-prompt still shows the score.
    let said = teacher.play(&[t("🙂")]);
    assert_eq!(said.last().map(String::as_str), Some("Not passed (0/2)."));

    // Retry: the quiz starts again from the first question, with a fresh score.
    let said = teacher.play(&[tap("failed.retry")]);
    assert_eq!(
        said,
        ["❓ *Quiz — Demo module*\n\nThe class is noisy. First step?"]
    );
    let said = teacher.play(&[t("2"), t("1")]);
    let first = teacher.certificates();
    assert_eq!(first.len(), 1);
    let code = first[0].clone();
    assert!(
        said.contains(&"You scored 2 out of 2 (100%).".to_string()),
        "{said:?}"
    );
    assert!(
        said.contains(&format!("Passed! Certificate {code}")),
        "{said:?}"
    );
    let demo = &teacher.state.modules["demo"];
    assert_eq!(
        (demo.best_percent, demo.attempts, demo.passed),
        (Some(100), 2, true)
    );

    // Later, the whole module again (the lesson restarts at part 1, the reflection skipped).
    teacher.drain();
    teacher.now += Duration::days(30);
    let said = teacher.play(&[
        t("lessons"),
        t("next"),
        t("next"),
        t("next"),
        tap("lesson.skip"),
        t("2"),
        t("1"),
    ]);
    assert!(
        said[0].starts_with("📘 *Demo module* — part 1 of 2"),
        "{said:?}"
    );
    assert!(
        !teacher.effects.iter().any(|e| kind(e) == "reflection"),
        "skipped"
    );
    assert!(teacher.certificates().is_empty(), "no second certificate");
    assert!(
        said.contains(&format!("Passed! Certificate {code}")),
        "{said:?}"
    );
    assert_ne!(
        certificate_code(teacher.state.seed, "demo", teacher.now),
        code,
        "a fresh code would differ, so the first one was kept on purpose"
    );
    assert_eq!(
        teacher.state.modules["demo"].certificate.as_deref(),
        Some(code.as_str())
    );
    assert_eq!(teacher.state.modules["demo"].attempts, 3);
}

#[test]
fn leaving_a_quiz_half_way_starts_a_new_attempt_next_time() {
    let mut teacher = Teacher::new();
    teacher.state = onboarded_at(Lang::En, "main", "menu", Stage::Waiting);
    teacher.play(&[t("lessons"), t("next"), t("next"), t("next"), t("skip")]);
    assert_eq!(teacher.at(), "demo/q1");
    // A wrong answer, then away to the menu in the middle of the quiz.
    teacher.play(&[t("shout"), t("menu")]);
    assert_eq!(teacher.at(), "main/menu");
    assert_eq!(
        teacher.state.quiz, None,
        "the unfinished attempt is dropped"
    );
    // Back through the lesson to the quiz: one right and one wrong answer is 1 of 2 (50%),
    // exactly the pass mark; the abandoned answer does not count.
    teacher.drain();
    let said = teacher.play(&[
        t("lessons"),
        t("next"),
        t("next"),
        t("next"),
        t("skip"),
        t("2"),
        t("never"),
    ]);
    assert!(
        said.contains(&"You scored 1 out of 2 (50%).".to_string()),
        "{said:?}"
    );
    assert!(teacher.effects.contains(&Effect::QuizFinished {
        module: "demo".into(),
        score: 1,
        max: 2,
        passed: true
    }));
    assert_eq!(teacher.certificates().len(), 1);
}

#[test]
fn certificate_and_score_texts_name_the_module() {
    let old = "{ en: \"Passed! Certificate {code}\",";
    assert!(DEMO.contains(old));
    let demo = DEMO.replace(old, "{ en: \"Passed *{module}* ({percent}%)! Certificate {code}\",").replace(
        "    kind: score\n",
        "    kind: score\n    text: { en: \"{module}: {score}/{max}, pass mark {pass_mark}%\", ur: \"{module}\", bn: \"{module}\" }\n",
    );
    let loaded = load_sources(ONBOARDING, MAIN, &demo);
    assert!(loaded.diagnostics.is_empty(), "{:?}", loaded.diagnostics);
    let d = loaded.dialogues.expect("loads");
    let state = in_quiz(onboarded_at(Lang::En, "demo", "q2", Stage::Waiting));
    let out = step(&d, &state, &t("daily"), now());
    let code = out
        .effects
        .iter()
        .find_map(|e| match e {
            Effect::Certificate { code, .. } => Some(code.clone()),
            _ => None,
        })
        .expect("certificate");
    let said = texts(&out.effects);
    // q1 was not answered in this attempt: 1 of 1.
    assert_eq!(said[1], "Demo module: 1/1, pass mark 50%");
    assert_eq!(
        said[2],
        format!("Passed *Demo module* (100%)! Certificate {code}")
    );
}

#[test]
fn leaving_a_lesson_half_way_resumes_at_the_same_part() {
    let mut teacher = Teacher::new();
    teacher.state = onboarded_at(Lang::En, "main", "menu", Stage::Waiting);
    teacher.play(&[t("lessons"), t("next")]);
    assert_eq!(teacher.state.at, cursor("demo", "lesson", Stage::Part(1)));
    let said = teacher.play(&[t("menu")]);
    assert_eq!(said, ["Main menu"]);
    assert_eq!(teacher.state.modules["demo"].part, 2);

    let said = teacher.play(&[t("2")]);
    assert_eq!(
        said,
        [
            "📊 *My progress*\n\n*Demo module*\n• Lesson: part 2 of 2",
            "Main menu"
        ]
    );

    let said = teacher.play(&[t("lessons")]);
    assert_eq!(
        said,
        [
            "Welcome back! We continue from part 2, where you stopped.",
            "📘 *Demo module* — part 2 of 2\n\nPart two: practise it daily.",
        ]
    );
    assert_eq!(teacher.state.at, cursor("demo", "lesson", Stage::Part(1)));
    let said = teacher.play(&[t("next")]);
    assert_eq!(said, ["✏️ *Try this in class*\n\nUse the signal tomorrow."]);

    // In Urdu, the resume text is Urdu too.
    let mut urdu = Teacher::new();
    urdu.state = onboarded_at(Lang::Ur, "main", "menu", Stage::Waiting);
    urdu.play(&[t("sabaq"), t("aage"), t("wapas")]);
    let said = urdu.play(&[t("1")]);
    assert_eq!(
        said[0],
        "خوش آمدید! ہم وہیں سے شروع کرتے ہیں جہاں آپ رکے تھے: حصہ 2۔"
    );
}

#[test]
fn progress_is_empty_before_any_module() {
    let mut teacher = Teacher::new();
    teacher.state = onboarded_at(Lang::En, "main", "menu", Stage::Waiting);
    let said = teacher.play(&[tap("menu.progress")]);
    assert_eq!(
        said,
        [
            "📊 *My progress*\n\nYou have not started a module yet. Open *Lessons* from the menu to begin.",
            "Main menu",
        ]
    );
}

// ---------------------------------------------------------------------------------------------
// Stale state: content changed under a waiting conversation.

#[test]
fn stale_state_never_panics() {
    let d = &*FIXTURE;
    // A cursor at a node that no longer exists starts over.
    let gone = onboarded_at(Lang::En, "demo", "q9", Stage::Waiting);
    let out = step(d, &gone, &t("1"), now());
    assert_eq!(where_(&out.state), "main/menu");
    let gone_tree = onboarded_at(Lang::En, "old-module", "lesson", Stage::Part(3));
    let out = step(d, &gone_tree, &t("next"), now());
    assert_eq!(where_(&out.state), "main/menu");
    // A cursor at a node that no longer waits (here a message) starts over.
    let message = onboarded_at(Lang::En, "main", "help", Stage::Waiting);
    let out = step(d, &message, &t("1"), now());
    assert_eq!(where_(&out.state), "main/menu");
    // A lesson part beyond the lesson's end (the lesson got shorter) moves on to the task.
    let beyond = onboarded_at(Lang::En, "demo", "lesson", Stage::Part(7));
    for input in [t("next"), t("banana")] {
        let out = step(d, &beyond, &input, now());
        assert_eq!(
            out.state.at,
            cursor("demo", "lesson", Stage::Task),
            "{input:?}"
        );
    }
    // Progress recorded further than the lesson now goes resumes at its last part.
    let mut far = onboarded_at(Lang::En, "main", "menu", Stage::Waiting);
    far.modules.insert(
        "demo".into(),
        ModuleProgress {
            part: 5,
            ..ModuleProgress::default()
        },
    );
    let out = step(d, &far, &t("lessons"), now());
    assert_eq!(out.state.at, cursor("demo", "lesson", Stage::Part(1)));
    assert!(
        texts(&out.effects)
            .last()
            .is_some_and(|s| s.ends_with("Part two: practise it daily."))
    );
}

// ---------------------------------------------------------------------------------------------
// Property-style: generated input never breaks the engine.

/// xorshift64*: small, deterministic, good enough to spread inputs.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next_u64() % u64::try_from(n).unwrap_or(1)).unwrap_or(0)
    }

    fn pick<'a>(&mut self, items: &'a [&'a str]) -> &'a str {
        items[self.below(items.len())]
    }

    fn char_in(&mut self, ranges: &[(u32, u32)]) -> char {
        let (lo, hi) = ranges[self.below(ranges.len())];
        let span = usize::try_from(hi - lo + 1).unwrap_or(1);
        let offset = u32::try_from(self.below(span)).unwrap_or(0);
        char::from_u32(lo + offset).unwrap_or('?')
    }

    /// A string from one of several families of characters, sometimes very long.
    fn string(&mut self) -> String {
        const ASCII: &[(u32, u32)] = &[(0x20, 0x7E)];
        const URDU: &[(u32, u32)] = &[
            (0x0621, 0x063A),
            (0x0641, 0x064A),
            (0x0679, 0x06D3),
            (0x06F0, 0x06F9),
            (0x20, 0x20),
        ];
        const ARABIC_MARKS: &[(u32, u32)] = &[(0x064B, 0x065F), (0x0660, 0x0669), (0x0640, 0x0640)];
        const BANGLA: &[(u32, u32)] = &[(0x0980, 0x09FF), (0x20, 0x20)];
        const EMOJI: &[(u32, u32)] = &[
            (0x1F300, 0x1F64F),
            (0x1F900, 0x1F9FF),
            (0x1F3FB, 0x1F3FF),
            (0x200D, 0x200D),
            (0xFE0F, 0xFE0F),
        ];
        const CONTROL: &[(u32, u32)] = &[
            (0x00, 0x1F),
            (0x7F, 0x9F),
            (0x200B, 0x200F),
            (0x202A, 0x202E),
            (0x2066, 0x2069),
            (0xFEFF, 0xFEFF),
        ];
        const ODD: &[(u32, u32)] = &[
            (0xFF01, 0xFF5E),
            (0x0300, 0x036F),
            (0x2000, 0x206F),
            (0xE000, 0xE0FF),
            (0x10000, 0x1000F),
        ];
        const WORDS: &[&str] = &[
            "menu",
            "1",
            "2",
            "۲",
            "৩",
            "next",
            "aage",
            "skip",
            "/start",
            "/start x",
            "yes",
            "haan",
            "{name}",
            "{",
            "}",
            "1-3",
            "0-999",
            "99999999999999999999",
            "a",
            "c",
            "option 9",
            "#",
            "/",
            "//",
            "q1.1",
            "lesson.next.1",
        ];
        let families: [&[(u32, u32)]; 7] = [ASCII, URDU, ARABIC_MARKS, BANGLA, EMOJI, CONTROL, ODD];
        let len = match self.below(20) {
            0 => 0,
            1 => 1_000 + self.below(3_000),
            _ => 1 + self.below(40),
        };
        let mixed = self.below(3) == 0;
        let family = families[self.below(families.len())];
        let mut out = String::new();
        let mut chars = 0;
        while chars < len {
            chars += 1;
            if self.below(8) == 0 {
                let word = self.pick(WORDS);
                chars += word.chars().count();
                out.push_str(word);
                out.push(' ');
            } else if mixed {
                let any = families[self.below(families.len())];
                out.push(self.char_in(any));
            } else {
                out.push(self.char_in(family));
            }
        }
        out
    }
}

/// Every place the fixture can wait for input, in every language, fresh or with progress.
fn waiting_states() -> Vec<State> {
    let d = &*FIXTURE;
    let mut states = vec![State::default()];
    let mut trees: Vec<&String> = d.trees.keys().collect();
    trees.sort();
    for tree in trees {
        let mut nodes: Vec<(&String, &Node)> = d.trees[tree].nodes.iter().collect();
        nodes.sort_by_key(|(id, _)| *id);
        for (id, node) in nodes {
            let stages = match node {
                Node::Menu { .. } | Node::Ask { .. } | Node::Quiz { .. } => vec![Stage::Waiting],
                Node::Lesson { parts, .. } => {
                    let mut s: Vec<Stage> = (0..parts.len()).map(Stage::Part).collect();
                    s.extend([Stage::Task, Stage::Reflection]);
                    s
                }
                _ => continue,
            };
            let quiz = matches!(node, Node::Quiz { .. });
            for stage in stages {
                for lang in Lang::ALL {
                    let state = onboarded_at(lang, tree, id, stage);
                    let mut fresh = state.clone();
                    fresh.profile.clear();
                    for state in [state, fresh] {
                        states.push(if quiz { in_quiz(state) } else { state });
                    }
                }
            }
        }
    }
    // One with progress and a quiz run half done.
    let mut busy = onboarded_at(Lang::Ur, "demo", "q2", Stage::Waiting);
    busy.modules.insert(
        "demo".into(),
        ModuleProgress {
            part: 2,
            lesson_done: true,
            best_percent: Some(50),
            attempts: 1,
            passed: true,
            certificate: Some("ABCD-EFGH".into()),
            last_score: Some((1, 2)),
        },
    );
    busy.quiz = Some(super::engine::QuizRun {
        module: "demo".into(),
        score: 1,
        max: 1,
    });
    states.push(busy);
    states
}

/// True when `text` still holds a `{placeholder}` the engine should have filled.
fn has_unfilled_placeholder(text: &str) -> bool {
    [
        "{name}",
        "{module}",
        "{part}",
        "{parts}",
        "{score}",
        "{max}",
        "{percent}",
        "{code}",
        "{answer}",
    ]
    .iter()
    .any(|p| text.contains(p))
}

#[test]
fn generated_input_never_panics_and_always_gets_a_reply() {
    let d = &*FIXTURE;
    let states = waiting_states();
    assert!(states.len() > 60, "{} states", states.len());
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut steps = 0;
    for round in 0..24 {
        for state in &states {
            let input = match rng.below(12) {
                0 => Input::Unsupported,
                1 => Input::Choice(rng.string()),
                2 => {
                    // A plausible button id of some node, right or wrong.
                    let node = rng.pick(&[
                        "menu", "language", "consent", "failed", "q1", "q2", "lesson",
                    ]);
                    let suffix = rng.pick(&[
                        "1",
                        "2",
                        "3",
                        "9",
                        "en",
                        "ur",
                        "agree",
                        "retry",
                        "next.1",
                        "next.task",
                        "skip",
                    ]);
                    Input::Choice(format!("{node}.{suffix}"))
                }
                _ => Input::Text(rng.string()),
            };
            let out = step(d, state, &input, now());
            steps += 1;
            let label = format!("round {round}, at {}, input {:.60?}", where_(state), input);
            let said = replies(&out.effects);
            let asked = out
                .effects
                .iter()
                .any(|e| matches!(e, Effect::Question { .. }));
            // A question is the helpdesk's to answer.
            assert!(!said.is_empty() || asked, "no reply: {label}");
            for reply in &said {
                assert!(!reply.text.trim().is_empty(), "empty reply: {label}");
                assert_eq!(reply.lang, out.state.lang, "{label}");
                assert!(reply.choices.iter().all(|b| b.id.len() <= 64), "{label}");
                // The failed menu's text uses {score}/{max}, filled only in the scoring step.
                if where_(&out.state) != "demo/failed" {
                    assert!(
                        !has_unfilled_placeholder(&reply.text),
                        "{}: {label}",
                        reply.text
                    );
                }
            }
            if let Some(at) = &out.state.at {
                let node = d
                    .node(&at.node)
                    .unwrap_or_else(|| panic!("cursor at a missing node: {label}"));
                assert!(
                    matches!(
                        node,
                        Node::Menu { .. }
                            | Node::Ask { .. }
                            | Node::Lesson { .. }
                            | Node::Quiz { .. }
                    ),
                    "cursor at a node that does not wait: {label}"
                );
            }
            let json = serde_json::to_string(&out.state).expect("state serializes");
            let back: State = serde_json::from_str(&json).expect("state deserializes");
            assert_eq!(back, out.state, "{label}");
        }
    }
    assert!(steps > 1_500, "{steps} steps");
}

#[test]
fn free_words_on_a_menu_are_a_question_for_the_helpdesk_once_onboarded() {
    let d = &*FIXTURE;
    let menu = onboarded_at(Lang::En, "main", "menu", Stage::Waiting);
    let asked = "my class is too noisy what do i do";
    let out = step(d, &menu, &t(asked), now());
    assert_eq!(
        out.effects,
        [Effect::Question {
            text: asked.to_string()
        }]
    );
    assert_eq!(out.state, menu, "the conversation stays at the menu");
    // Showing the menu again afterwards is `resume`.
    let resumed = resume(d, &out.state, now());
    assert_eq!(texts(&resumed.effects), ["Main menu"]);
    // Before onboarding, the same words are only a wrong answer.
    let language = waiting_at("onboarding", "language");
    let out = step(d, &language, &t(asked), now());
    assert_eq!(texts(&out.effects)[0], FALLBACK_EN);
    // One word is a mistyped choice, not a question.
    let out = step(d, &menu, &t("banana"), now());
    assert_eq!(texts(&out.effects)[0], FALLBACK_EN);
}
