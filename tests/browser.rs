//! A real browser on the web chat page: Debian's chromium, driven through chromedriver with
//! fantoccini, in a phone-sized window. A teacher goes from the first message through
//! onboarding, every part of the `foundational-numeracy` lesson, its classroom task, a
//! reflection and the whole quiz (answered right, as the shipped content says) to her
//! certificate, and finds the certificate's code in "My progress": all by tapping buttons and
//! typing, in English and in Urdu (right to left). The Urdu teacher also reloads the page
//! halfway and finds the conversation where she left it.
//! Screenshots of the SQLite runs go to `target/screenshots/web-chat-{en,ur}.png` (lesson
//! part 2), `…-quiz.png` (an answered question and the next one) and `…-certificate.png`
//! ("My progress" with the certificate).
//!
//! The staff console's scenarios (an expert working a Telegram teacher's ticket, the
//! insights by role, a wrong password, screenshots at phone and desktop width) are in
//! `browser/console.rs`.
//!
//! Needs the Debian packages `chromium` and `chromium-driver`. Without chromedriver the tests
//! print a note and pass, except with `CI=true`, where they fail.

#[path = "api/support/mod.rs"]
#[allow(dead_code, unused_imports)]
mod support;

#[path = "browser/console.rs"]
mod console;

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, anyhow, bail, ensure};
use baithak::dialogue::{Node, NodeRef};
use baithak::language::Lang;
use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use serde::Deserialize;
use serde_json::json;

use support::{Backend, TestApp, shipped_content};

/// How long the page may take to show something the test waits for (a reply, a button).
const WAIT: Duration = Duration::from_secs(20);
/// How often a wait looks again.
const POLL: Duration = Duration::from_millis(50);
/// The phone the page is shown on (CSS pixels).
const PHONE: (u32, u32) = (390, 844);
/// The module the teacher completes: its buttons are in [`Walk`], its parts and right answers
/// are read from the shipped content.
const MODULE: &str = "foundational-numeracy";

// ---- the teacher's walk ------------------------------------------------------------------

/// What a teacher taps and types, and what she expects to read, in one language.
struct Walk {
    /// Language code the bot answers in.
    lang: &'static str,
    dir: &'static str,
    language_button: &'static str,
    ask_name: &'static str,
    name: &'static str,
    role_button: &'static str,
    ask_district: &'static str,
    district: &'static str,
    ask_school: &'static str,
    school: &'static str,
    ask_grades: &'static str,
    grades: &'static str,
    subject_button: &'static str,
    agree_button: &'static str,
    main_menu: &'static str,
    lessons_button: &'static str,
    area_button: &'static str,
    module_button: &'static str,
    /// A lesson part's heading: part `n` of `parts`.
    part: fn(usize, usize) -> String,
    next_button: &'static str,
    reflection: &'static str,
    /// The certificate's "you scored `max` out of `max`".
    full_marks: fn(u32) -> String,
    /// The word the teacher types to get back to the main menu.
    menu_word: &'static str,
    progress_button: &'static str,
    progress_heading: &'static str,
    certificate_word: &'static str,
}

const ENGLISH: Walk = Walk {
    lang: "en",
    dir: "ltr",
    language_button: "English",
    ask_name: "What is your name?",
    name: "Ayesha Khan",
    role_button: "Teacher",
    ask_district: "district",
    district: "Lahore",
    ask_school: "name of your school",
    school: "Government Girls Primary School No. 2",
    ask_grades: "Which grades",
    grades: "3, 4",
    subject_button: "Maths",
    agree_button: "Yes, I agree",
    main_menu: "Main menu",
    lessons_button: "📚 Lessons",
    area_button: "Reading and maths",
    module_button: "Maths can be fun",
    part: |n, parts| format!("part {n} of {parts}"),
    next_button: "Next ▶",
    reflection: "We played Guess my number with 64 children. Even Shabnam asked a question!",
    full_marks: |max| format!("scored {max} out of {max}"),
    menu_word: "menu",
    progress_button: "📊 My progress",
    progress_heading: "My progress",
    certificate_word: "Certificate",
};

const URDU: Walk = Walk {
    lang: "ur",
    dir: "rtl",
    language_button: "اردو",
    ask_name: "آپ کا نام کیا ہے؟",
    name: "نسرین اختر",
    role_button: "استاد / استانی",
    ask_district: "ضلع",
    district: "قصور",
    ask_school: "اسکول کا نام",
    school: "گورنمنٹ گرلز پرائمری اسکول چک 12",
    ask_grades: "جماعتیں",
    grades: "3، 4",
    subject_button: "ریاضی",
    agree_button: "جی ہاں، متفق ہوں",
    main_menu: "مین مینو",
    lessons_button: "📚 اسباق",
    area_button: "پڑھائی اور ریاضی",
    module_button: "ریاضی مزے دار ہو سکتی ہے",
    part: |n, parts| format!("حصہ {n} از {parts}"),
    next_button: "آگے ▶",
    reflection: "ہم نے 64 بچوں کے ساتھ میرا عدد بوجھو کھیلا۔ شبنم نے بھی سوال پوچھا!",
    full_marks: |max| format!("{max} میں سے {max} نمبر"),
    menu_word: "مینو",
    progress_button: "📊 میری پیش رفت",
    progress_heading: "میری پیش رفت",
    certificate_word: "سرٹیفکیٹ",
};

crate::both_backends! {
    async fn an_english_teacher_completes_a_lesson_and_its_quiz_and_sees_her_certificate(backend: Backend) {
        walk_the_chat(backend, &ENGLISH, false).await;
    }

    async fn an_urdu_teacher_reads_right_to_left_survives_a_reload_and_earns_her_certificate(backend: Backend) {
        walk_the_chat(backend, &URDU, true).await;
    }
}

async fn walk_the_chat(backend: Backend, walk: &'static Walk, reload_halfway: bool) {
    let lesson = Lesson::from_shipped_content(walk).unwrap_or_else(|err| panic!("{err:#}"));
    let Some(app) = TestApp::spawn(backend, shipped_content()).await else {
        return;
    };
    let Some(mut browser) = Browser::launch(Screen::PHONE).await else {
        return;
    };
    let screenshots = backend == Backend::Sqlite;
    let started = Instant::now();

    let result = chat(
        &browser.client,
        &app,
        walk,
        &lesson,
        reload_halfway,
        screenshots,
    )
    .await;

    if result.is_err() {
        let name = format!("failed-{}-{backend:?}.png", walk.lang).to_lowercase();
        match save_screenshot(&browser.client, &name).await {
            Ok(path) => eprintln!("screenshot of the failure: {}", path.display()),
            Err(err) => eprintln!("no screenshot of the failure: {err:#}"),
        }
    }
    browser.close().await;
    let stored = match &result {
        Ok(code) => Some(app.conversations.store().certificate(code).await),
        Err(_) => None,
    };
    app.stop().await;
    let code = result.unwrap_or_else(|err| panic!("{err:#}"));
    // The code on the screen is the one the server issued, to this teacher, for this module.
    let (name, module, _) = stored
        .expect("looked up")
        .unwrap_or_else(|err| panic!("certificate {code} is not in the database: {err}"));
    assert_eq!(
        (name.as_deref(), module.as_str()),
        (Some(walk.name), MODULE),
        "certificate {code}"
    );
    eprintln!(
        "{} walk on {backend:?} took {:.1?}",
        walk.lang,
        started.elapsed()
    );
}

/// What the shipped content says the teacher will meet in [`MODULE`], in her language.
struct Lesson {
    title: String,
    parts: usize,
    /// The label of the right option of each quiz question, in order.
    answers: Vec<String>,
    /// The quiz's full marks.
    points: u32,
}

impl Lesson {
    fn from_shipped_content(walk: &Walk) -> Result<Lesson> {
        let lang = Lang::parse(walk.lang).ok_or_else(|| anyhow!("no language {}", walk.lang))?;
        let content = baithak::content::load(Path::new(env!("CARGO_MANIFEST_DIR"))).map_err(
            |diagnostics| anyhow!("the shipped content does not load: {diagnostics:#?}"),
        )?;
        let dialogues = &content.dialogues;
        let module = dialogues
            .module(MODULE)
            .ok_or_else(|| anyhow!("{MODULE} is not a module"))?;
        let start = &dialogues.trees[MODULE].start;
        let Some(Node::Lesson { parts, next, .. }) = dialogues.node(&NodeRef::new(MODULE, start))
        else {
            bail!("{MODULE} does not start with a lesson");
        };
        let mut answers = Vec::new();
        let mut points = 0;
        let mut at = next.clone();
        while let Some(Node::Quiz {
            options,
            points: worth,
            next,
            ..
        }) = dialogues.node(&at)
        {
            let right = options
                .iter()
                .find(|option| option.correct)
                .ok_or_else(|| anyhow!("{at} has no right answer"))?;
            answers.push(right.label.get(lang).to_string());
            points += worth;
            at = next.clone();
        }
        ensure!(!answers.is_empty(), "{MODULE} has no quiz after its lesson");
        let title = module.title.get(lang).to_string();
        ensure!(
            title == walk.module_button,
            "the module is called {title:?} in {}, the walk taps {:?}",
            walk.lang,
            walk.module_button
        );
        Ok(Lesson {
            title,
            parts: parts.len(),
            answers,
            points,
        })
    }
}

/// The whole conversation, as a teacher's thumbs would have it; returns the certificate code.
async fn chat(
    c: &Client,
    app: &TestApp,
    walk: &Walk,
    lesson: &Lesson,
    reload_halfway: bool,
    screenshots: bool,
) -> Result<String> {
    let screenshot = async |suffix: &str| -> Result<()> {
        if screenshots {
            let path = save_screenshot(c, &format!("web-chat-{}{suffix}.png", walk.lang)).await?;
            eprintln!("screenshot: {}", path.display());
        }
        Ok(())
    };
    c.goto(&app.url("/")).await.context("open the chat page")?;
    wait_for(
        c,
        "//body[@data-ready='1']",
        "the page to finish its first poll",
    )
    .await?;

    // Onboarding.
    tap(c, walk.language_button).await?;
    wait_bot(c, walk.ask_name).await?;
    say(c, walk.name).await?;
    tap(c, walk.role_button).await?;
    wait_bot(c, walk.ask_district).await?;
    say(c, walk.district).await?;
    wait_bot(c, walk.ask_school).await?;
    say(c, walk.school).await?;
    wait_bot(c, walk.ask_grades).await?;
    say(c, walk.grades).await?;
    tap(c, walk.subject_button).await?;
    tap(c, walk.agree_button).await?;
    wait_bot(c, walk.main_menu).await?;
    choice(c, walk.lessons_button).await?;

    if reload_halfway {
        check_reload(c, walk).await?;
    }

    // The lesson, part by part.
    tap(c, walk.lessons_button).await?;
    tap(c, walk.area_button).await?;
    tap(c, walk.module_button).await?;
    let part_1 = wait_bot(c, &(walk.part)(1, lesson.parts))
        .await?
        .text()
        .await?;
    ensure!(
        part_1.contains(&lesson.title),
        "the part 1 heading names the module: {part_1:?}"
    );
    for part in 2..=lesson.parts {
        tap(c, walk.next_button).await?;
        wait_bot(c, &(walk.part)(part, lesson.parts)).await?;
        if part == 2 {
            check_language(c, walk).await?;
            check_fits_the_phone(c).await?;
            screenshot("").await?;
        }
    }

    // The classroom task and the reflection.
    tap(c, walk.next_button).await?;
    wait_bot(c, "✏️").await?;
    tap(c, walk.next_button).await?;
    wait_bot(c, "💭").await?;
    say(c, walk.reflection).await?;

    // The quiz: the right answer to every question, then the certificate.
    let mut before = 0;
    for (i, answer) in lesson.answers.iter().enumerate() {
        let what = format!("question {} of {}", i + 1, lesson.answers.len());
        let button = choice(c, answer).await.context(what.clone())?;
        let question = last_bot_text(c).await?;
        ensure!(
            question.contains('❓') && question.contains(&lesson.title),
            "{what} is not a quiz question of the module: {question:?}"
        );
        if i == 1 {
            screenshot("-quiz").await?;
        }
        before = bot_rows(c).await?;
        button
            .click()
            .await
            .with_context(|| format!("{what}: tap {answer:?}"))?;
        wait_mine(c, answer).await?;
        let verdict = wait_new_bot(c, before, &["✅", "❌"]).await?.text().await?;
        ensure!(
            verdict.starts_with('✅'),
            "{what}: {answer:?} is the right answer in the content, yet the bot says {verdict:?}"
        );
    }
    let certificate = wait_new_bot(c, before, &["🎉"]).await?.text().await?;
    let code = certificate_code(&certificate)
        .ok_or_else(|| anyhow!("no XXXX-XXXX code in the certificate: {certificate:?}"))?;
    let full_marks = (walk.full_marks)(lesson.points);
    for expected in [walk.name, &lesson.title, &full_marks] {
        ensure!(
            certificate.contains(expected),
            "the certificate does not say {expected:?}: {certificate:?}"
        );
    }

    // The main menu follows the certificate; the teacher types her way back to it anyway,
    // then opens "My progress".
    wait_new_bot(c, before, &[walk.main_menu]).await?;
    choice(c, walk.progress_button).await?;
    let before = bot_rows(c).await?;
    say(c, walk.menu_word).await?;
    wait_new_bot(c, before, &[walk.main_menu]).await?;
    let before = bot_rows(c).await?;
    tap(c, walk.progress_button).await?;
    let progress = wait_new_bot(c, before, &[walk.progress_heading]).await?;
    let shown = progress.text().await?;
    for expected in [&lesson.title, walk.certificate_word, &code, "100%"] {
        ensure!(
            shown.contains(expected),
            "\"My progress\" does not show {expected:?}: {shown:?}"
        );
    }
    // The menu that follows it, then the progress bubble in view for the picture.
    choice(c, walk.lessons_button).await?;
    c.execute(
        "arguments[0].scrollIntoView({ block: 'nearest' });",
        vec![serde_json::to_value(&progress)?],
    )
    .await
    .context("scroll to the progress")?;
    check_bubbles_language(c, walk, 30).await?;
    check_fits_the_phone(c).await?;
    screenshot("-certificate").await?;
    Ok(code)
}

/// A reload shows the same conversation, the teacher's own messages included.
async fn check_reload(c: &Client, walk: &Walk) -> Result<()> {
    let before = bubbles(c).await?;
    ensure!(
        before.len() >= 15,
        "only {} bubbles before the reload",
        before.len()
    );
    c.refresh().await.context("reload the page")?;
    wait_for(
        c,
        "//body[@data-ready='1']",
        "the reloaded page to finish its first poll",
    )
    .await?;
    let after = bubbles(c).await?;
    let shown = |bs: &[Bubble]| {
        bs.iter()
            .map(|b| (b.me, b.text.clone()))
            .collect::<Vec<_>>()
    };
    ensure!(
        shown(&after) == shown(&before),
        "after a reload the page shows another history:\nbefore: {:#?}\nafter: {:#?}",
        shown(&before),
        shown(&after)
    );
    ensure!(
        after.iter().any(|b| b.me && b.text == walk.name),
        "the teacher's own messages come back too"
    );
    Ok(())
}

/// Every bot bubble after the language question is in the teacher's language and direction,
/// and so are the buttons; the teacher's typed name keeps its own direction.
async fn check_language(c: &Client, walk: &Walk) -> Result<()> {
    check_bubbles_language(c, walk, 10).await?;
    let button = wait_for(c, &last_bot_button(walk.next_button), "the Next button").await?;
    ensure!(
        button.attr("dir").await?.as_deref() == Some(walk.dir)
            && button.attr("lang").await?.as_deref() == Some(walk.lang),
        "buttons follow the message's language and direction"
    );
    // The browser really lays the bubble out right to left (or left to right).
    let bubble = wait_for(
        c,
        &format!("{}/div[{}]", LAST_BOT.as_str(), has_class("msg")),
        "the last bot bubble",
    )
    .await?;
    let direction = bubble.css_value("direction").await?;
    ensure!(
        direction == walk.dir,
        "the last bot bubble is laid out {direction}"
    );
    Ok(())
}

/// At least `at_least` bot bubbles follow the language question, all in the teacher's
/// language and direction; her typed name and messages keep their own direction.
async fn check_bubbles_language(c: &Client, walk: &Walk, at_least: usize) -> Result<()> {
    let all = bubbles(c).await?;
    let asked = all
        .iter()
        .position(|b| !b.me && b.text.contains("Which language"))
        .ok_or_else(|| anyhow!("the language question is not on the page"))?;
    let replies: Vec<&Bubble> = all[asked + 1..].iter().filter(|b| !b.me).collect();
    ensure!(
        replies.len() >= at_least,
        "expected at least {at_least} bot bubbles after the language question, got {}",
        replies.len()
    );
    for b in &replies {
        ensure!(
            b.dir.as_deref() == Some(walk.dir) && b.lang.as_deref() == Some(walk.lang),
            "bot bubble has dir={:?} lang={:?}, expected dir={} lang={}: {:?}",
            b.dir,
            b.lang,
            walk.dir,
            walk.lang,
            b.text
        );
    }
    for typed in [walk.name, walk.reflection] {
        if let Some(mine) = all.iter().find(|b| b.me && b.text == typed) {
            ensure!(
                mine.dir.as_deref() == Some(walk.dir),
                "the typed {typed:?} has dir={:?}",
                mine.dir
            );
        } else if typed == walk.name {
            bail!("the teacher's name bubble is missing");
        }
    }
    Ok(())
}

/// The first `XXXX-XXXX` code in `text` (capitals and digits).
fn certificate_code(text: &str) -> Option<String> {
    let chars: Vec<char> = text.chars().collect();
    let code_char = |c: char| c.is_ascii_uppercase() || c.is_ascii_digit();
    chars.windows(9).enumerate().find_map(|(i, w)| {
        let shape = w
            .iter()
            .enumerate()
            .all(|(j, &c)| if j == 4 { c == '-' } else { code_char(c) });
        let alone = (i == 0 || !chars[i - 1].is_alphanumeric())
            && chars.get(i + 9).is_none_or(|c| !c.is_alphanumeric());
        (shape && alone).then(|| w.iter().collect())
    })
}

/// Nothing is wider than the phone: no sideways scrolling.
async fn check_fits_the_phone(c: &Client) -> Result<()> {
    let widths = c
        .execute(
            "var d = document.documentElement, m = document.getElementById('messages');
             return [window.innerWidth, d.scrollWidth, m.clientWidth, m.scrollWidth];",
            vec![],
        )
        .await?;
    let w: Vec<u64> = serde_json::from_value(widths)?;
    ensure!(
        w[0] == u64::from(PHONE.0),
        "the window is {} px wide, not phone-sized",
        w[0]
    );
    ensure!(
        w[1] <= w[0],
        "the page scrolls sideways (page {} px wide in a {} px window)",
        w[1],
        w[0]
    );
    ensure!(
        w[3] <= w[2],
        "the messages scroll sideways ({} px of content in {} px)",
        w[3],
        w[2]
    );
    Ok(())
}

// ---- reading and touching the page ----------------------------------------------------

/// An XPath predicate: the element has CSS class `name`.
fn has_class(name: &str) -> String {
    format!("contains(concat(' ', normalize-space(@class), ' '), ' {name} ')")
}

/// The last bot message row (older ones, with their buttons, stay on the page).
static LAST_BOT: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "(//div[@id='messages']/div[{} and {}])[last()]",
        has_class("row"),
        has_class("bot")
    )
});
/// The teacher's last message row.
static LAST_ME: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "(//div[@id='messages']/div[{} and {}])[last()]",
        has_class("row"),
        has_class("me")
    )
});

fn last_bot_button(label: &str) -> String {
    format!(
        "{}//button[{}][normalize-space(.)={}]",
        LAST_BOT.as_str(),
        has_class("choice"),
        xpath_literal(label)
    )
}

/// `s` as an XPath string literal, whatever quotes it holds.
fn xpath_literal(s: &str) -> String {
    if !s.contains('\'') {
        format!("'{s}'")
    } else if !s.contains('"') {
        format!("\"{s}\"")
    } else {
        let parts: Vec<String> = s.split('\'').map(|p| format!("'{p}'")).collect();
        format!("concat({})", parts.join(", \"'\", "))
    }
}

/// Waits until `xpath` finds an element; fails with `what` and the last bubbles.
async fn wait_for(c: &Client, xpath: &str, what: &str) -> Result<Element> {
    match c
        .wait()
        .at_most(WAIT)
        .every(POLL)
        .for_element(Locator::XPath(xpath))
        .await
    {
        Ok(element) => Ok(element),
        Err(err) => bail!(
            "waited {WAIT:?} for {what}: {err}\nlast bubbles:\n{}",
            transcript(c).await
        ),
    }
}

/// Waits until the last bot message contains `needle`; returns its bubble.
async fn wait_bot(c: &Client, needle: &str) -> Result<Element> {
    let xpath = format!(
        "{}/div[{}][contains(., {})]",
        LAST_BOT.as_str(),
        has_class("msg"),
        xpath_literal(needle)
    );
    wait_for(c, &xpath, &format!("a bot message containing {needle:?}")).await
}

/// How many bot messages the page shows.
async fn bot_rows(c: &Client) -> Result<usize> {
    let count = c
        .execute(
            "return document.querySelectorAll('#messages > .row.bot').length;",
            vec![],
        )
        .await
        .context("count the bot messages")?;
    Ok(serde_json::from_value(count)?)
}

/// Waits for a bot message after the first `after` ones that contains one of `needles`
/// (a reply that others may follow, such as a quiz verdict before the next question).
async fn wait_new_bot(c: &Client, after: usize, needles: &[&str]) -> Result<Element> {
    let contains: Vec<String> = needles
        .iter()
        .map(|n| format!("contains(., {})", xpath_literal(n)))
        .collect();
    let xpath = format!(
        "(//div[@id='messages']/div[{} and {}])[position() > {after}]/div[{}][{}]",
        has_class("row"),
        has_class("bot"),
        has_class("msg"),
        contains.join(" or ")
    );
    wait_for(
        c,
        &xpath,
        &format!("a new bot message containing one of {needles:?}"),
    )
    .await
}

/// The text of the last bot message.
async fn last_bot_text(c: &Client) -> Result<String> {
    let xpath = format!("{}/div[{}]", LAST_BOT.as_str(), has_class("msg"));
    Ok(wait_for(c, &xpath, "the last bot message")
        .await?
        .text()
        .await?)
}

/// Waits for the button labelled `label` on the last bot message.
async fn choice(c: &Client, label: &str) -> Result<Element> {
    wait_for(
        c,
        &last_bot_button(label),
        &format!("a {label:?} button on the last bot message"),
    )
    .await
}

/// Taps the button labelled `label` on the last bot message, and sees it echoed as the
/// teacher's own bubble.
async fn tap(c: &Client, label: &str) -> Result<()> {
    choice(c, label)
        .await?
        .click()
        .await
        .with_context(|| format!("tap {label:?}"))?;
    wait_mine(c, label).await
}

/// Types `text` in the composer and presses send.
async fn say(c: &Client, text: &str) -> Result<()> {
    let input = c.find(Locator::Id("composer-input")).await?;
    input
        .send_keys(text)
        .await
        .with_context(|| format!("type {text:?}"))?;
    let typed = input.prop("value").await?;
    ensure!(
        typed.as_deref() == Some(text),
        "the composer holds {typed:?} after typing {text:?}"
    );
    c.find(Locator::Id("composer-send"))
        .await?
        .click()
        .await
        .context("press send")?;
    wait_mine(c, text).await?;
    let left = input.prop("value").await?;
    ensure!(
        left.as_deref() == Some(""),
        "the composer is cleared after sending, holds {left:?}"
    );
    Ok(())
}

async fn wait_mine(c: &Client, text: &str) -> Result<()> {
    let xpath = format!(
        "{}/div[{}][normalize-space(.)={}]",
        LAST_ME.as_str(),
        has_class("msg"),
        xpath_literal(text)
    );
    wait_for(c, &xpath, &format!("the teacher's bubble {text:?}")).await?;
    Ok(())
}

/// A chat bubble as the page shows it.
#[derive(Debug, Deserialize)]
struct Bubble {
    me: bool,
    dir: Option<String>,
    lang: Option<String>,
    text: String,
}

async fn bubbles(c: &Client) -> Result<Vec<Bubble>> {
    let value = c
        .execute(
            "return Array.prototype.map.call(document.querySelectorAll('#messages .msg'), function (e) {
               return { me: e.classList.contains('me'), dir: e.getAttribute('dir'),
                        lang: e.getAttribute('lang'), text: e.textContent };
             });",
            vec![],
        )
        .await
        .context("read the bubbles")?;
    Ok(serde_json::from_value(value)?)
}

/// The last few bubbles, for failure messages.
async fn transcript(c: &Client) -> String {
    match bubbles(c).await {
        Ok(all) => {
            let skip = all.len().saturating_sub(6);
            let lines: Vec<String> = all[skip..]
                .iter()
                .map(|b| {
                    let text: String = b.text.chars().take(160).collect();
                    format!("  {}: {text:?}", if b.me { "teacher" } else { "bot" })
                })
                .collect();
            lines.join("\n")
        }
        Err(err) => format!("  (cannot read the page: {err:#})"),
    }
}

/// Saves a PNG of the window to `target/screenshots/{name}`.
async fn save_screenshot(c: &Client, name: &str) -> Result<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
    std::fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
    let png = c.screenshot().await.context("take a screenshot")?;
    ensure!(png.starts_with(b"\x89PNG"), "the screenshot is not a PNG");
    let path = dir.join(name);
    std::fs::write(&path, png).with_context(|| format!("write {}", path.display()))?;
    Ok(path)
}

// ---- chromedriver and chromium ----------------------------------------------------------

/// The size of the window a page is shown in (CSS pixels), and whether it is a phone's.
#[derive(Clone, Copy, Debug)]
struct Screen {
    width: u32,
    height: u32,
    /// A touch screen at twice the pixel density, with the mobile viewport rules.
    mobile: bool,
}

impl Screen {
    /// The phone the web chat is shown on.
    const PHONE: Screen = Screen {
        width: PHONE.0,
        height: PHONE.1,
        mobile: true,
    };
}

/// A headless chromium behind its own chromedriver. Dropping it ends the browser session
/// and kills chromedriver, also when the test fails halfway.
struct Browser {
    client: Client,
    driver: Driver,
}

impl Browser {
    /// Starts chromedriver and a chromium of `screen`'s size; `None` (skip) when chromedriver
    /// is not installed, unless `CI=true`.
    async fn launch(screen: Screen) -> Option<Browser> {
        let Some(chromedriver) = find_program("chromedriver") else {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI=true but chromedriver is not installed: apt-get install chromium chromium-driver"
            );
            eprintln!(
                "chromedriver not found: skipping the browser test (apt-get install chromium chromium-driver)"
            );
            return None;
        };
        let chromium =
            find_program("chromium").unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
        let mut driver = Driver::start(&chromedriver)
            .await
            .unwrap_or_else(|err| panic!("{err:#}"));

        let profile = tempfile::tempdir().expect("temp dir for the chromium profile");
        let window = format!("--window-size={},{}", screen.width, screen.height);
        let user_data = format!("--user-data-dir={}", profile.path().display());
        let args = [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            &window,
            &user_data,
        ];
        let mut capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": args,
            },
        });
        if screen.mobile {
            // Chrome keeps desktop windows at least 500 px wide: emulate the phone's screen.
            capabilities["goog:chromeOptions"]["mobileEmulation"] = json!({
                "deviceMetrics": {
                    "width": screen.width, "height": screen.height, "pixelRatio": 2.0, "mobile": true, "touch": true,
                },
            });
        }
        let serde_json::Value::Object(capabilities) = capabilities else {
            unreachable!()
        };
        driver.profile = Some(profile);

        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector)
            .capabilities(capabilities)
            .connect(&format!("http://{}", driver.address))
            .await
            .unwrap_or_else(|err| {
                panic!("chromedriver could not start {}: {err}", chromium.display())
            });
        driver.session = client.session_id().await.ok().flatten();
        Some(Browser { client, driver })
    }

    /// Ends the session the polite way (chromium quits); the driver is killed on drop.
    async fn close(&mut self) {
        if self.client.clone().close().await.is_ok() {
            self.driver.session = None;
        }
    }
}

/// A running chromedriver.
struct Driver {
    process: Child,
    address: SocketAddr,
    /// The browser session to end if the test stops before [`Browser::close`].
    session: Option<String>,
    /// Removed after chromium is gone (fields drop after [`Drop::drop`]).
    profile: Option<tempfile::TempDir>,
}

impl Driver {
    /// Starts chromedriver on a free port and waits until its `/status` says it is ready.
    async fn start(program: &Path) -> Result<Driver> {
        let mut last_error = anyhow!("chromedriver did not start");
        // A free port can be taken by someone else before chromedriver binds it: try again.
        for _ in 0..3 {
            let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
            let mut process = Command::new(program)
                .arg(format!("--port={port}"))
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .with_context(|| format!("run {}", program.display()))?;
            let (started, log) = watch_output(&mut process);
            let mut driver = Driver {
                process,
                address: SocketAddr::from(([127, 0, 0, 1], port)),
                session: None,
                profile: None,
            };
            // chromedriver says on stdout when it listens (or exits); then /status must answer.
            let said = tokio::time::timeout(WAIT, started).await;
            if !matches!(said, Ok(Ok(true))) {
                last_error = anyhow!(
                    "chromedriver did not start on port {port}:\n{}",
                    log.lock().unwrap().join("\n")
                );
                continue;
            }
            match driver.wait_ready().await {
                Ok(()) => return Ok(driver),
                Err(err) => last_error = err,
            }
        }
        Err(last_error)
    }

    async fn wait_ready(&mut self) -> Result<()> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_millis(500))
            .build()?;
        let url = format!("http://{}/status", self.address);
        let mut last = String::from("no answer");
        for _ in 0..40 {
            if let Some(status) = self.process.try_wait()? {
                bail!("chromedriver exited with {status}");
            }
            match http.get(&url).send().await {
                Ok(response) => {
                    let body: serde_json::Value = response.json().await.unwrap_or_default();
                    if body["value"]["ready"] == true {
                        return Ok(());
                    }
                    last = body.to_string();
                }
                Err(err) => last = err.to_string(),
            }
        }
        bail!("chromedriver at {url} is not ready: {last}")
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // Ask chromedriver to quit chromium first: killing chromedriver alone leaves it running.
        if let Some(session) = self.session.take() {
            let _ = delete_session(self.address, &session);
        }
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

/// `DELETE /session/{id}` over a plain socket: Drop cannot await.
fn delete_session(address: SocketAddr, session: &str) -> std::io::Result<()> {
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    stream.set_write_timeout(Some(Duration::from_secs(2)))?;
    write!(
        stream,
        "DELETE /session/{session} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer)?;
    Ok(())
}

/// Reads chromedriver's output on threads: the receiver learns whether it started listening
/// (`true`) or exited first (`false`); every line is kept for error messages.
fn watch_output(
    process: &mut Child,
) -> (
    tokio::sync::oneshot::Receiver<bool>,
    Arc<Mutex<Vec<String>>>,
) {
    let log = Arc::new(Mutex::new(Vec::new()));
    let (tx, rx) = tokio::sync::oneshot::channel();
    if let Some(stdout) = process.stdout.take() {
        let log = Arc::clone(&log);
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.contains("started successfully")
                    && let Some(tx) = tx.take()
                {
                    let _ = tx.send(true);
                }
                keep(&log, line);
            }
            if let Some(tx) = tx.take() {
                let _ = tx.send(false);
            }
        });
    }
    if let Some(stderr) = process.stderr.take() {
        let log = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                keep(&log, line);
            }
        });
    }
    (rx, log)
}

fn keep(log: &Mutex<Vec<String>>, line: String) {
    if let Ok(mut log) = log.lock()
        && log.len() < 200
    {
        log.push(line);
    }
}

fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

#[test]
fn certificate_codes_are_found_in_both_languages() {
    let en = "🎉 Well done! Your certificate code is CNGS-8H6S. Anyone can check it.";
    let ur = "آپ کا سرٹیفکیٹ کوڈ 5Z2D-9632 ہے۔";
    assert_eq!(certificate_code(en).as_deref(), Some("CNGS-8H6S"));
    assert_eq!(certificate_code(ur).as_deref(), Some("5Z2D-9632"));
    assert_eq!(certificate_code("ABCDE-FGHJ and 2024-1105X"), None);
}
