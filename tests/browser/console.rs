//! The staff console (`/console`) in the same headless chromium, on both backends:
//!
//! - an expert signs in on a phone, finds a Telegram teacher's ticket in the queue, claims it
//!   and answers it from the ticket page; the answer reaches the teacher on the fake Bot API
//!   and the ticket shows answered;
//! - programme staff land on the recurring issues with the question's topic listed, and an
//!   expert who opens that page gets the 403 page;
//! - a wrong password shows the error and sets no session cookie;
//! - an admin's sign-in page, queue, ticket (an Urdu question) and insights are photographed
//!   at phone width, the queue also at desktop width, into
//!   `target/screenshots/console-{login,queue,ticket,insights,queue-desktop}-{sqlite,postgres}.png`.
//!
//! Every page the browser shows is also checked for fitting its window: nothing wider than
//! the screen, no sideways scrolling.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, Result, anyhow, ensure};
use baithak::channel::telegram::{Mode, RateLimits, TelegramSettings};
use baithak::clock::Clock;
use baithak::store::Ticket;
use baithak::testkit::telegram::{FakeTelegram, FakeTelegramOptions, SentMessage, UserHandle};
use chrono::Utc;
use fantoccini::cookies::Cookie;
use fantoccini::elements::Element;
use fantoccini::{Client, Locator};
use serde::Deserialize;

use super::{Browser, POLL, Screen, WAIT, save_screenshot, xpath_literal};
use crate::support::{Backend, TestApp, TestDatabase, WebTeacher, fixture_content, ticket_code};

/// A mid-range Android phone (CSS pixels), as the experts in the field have.
const PHONE: Screen = Screen {
    width: 412,
    height: 915,
    mobile: true,
};
/// An office laptop.
const DESKTOP: Screen = Screen {
    width: 1280,
    height: 900,
    mobile: false,
};
/// The password every test account gets.
const PASSWORD: &str = "a long test password";
/// The experts' forum group on the fake Bot API.
const EXPERTS: i64 = -1_001_234_567_890;
/// The Telegram teacher's private chat.
const TEACHER: i64 = 5_061;
/// How long the fake Bot API and the store may take to show what a test waits for.
const DEADLINE: Duration = Duration::from_secs(20);

crate::both_backends! {
    async fn an_expert_claims_and_answers_a_telegram_teachers_ticket_in_the_browser(backend: Backend) {
        let Some((app, fake)) = telegram_app(backend).await else {
            return;
        };
        let Some(mut browser) = Browser::launch(PHONE).await else {
            return;
        };
        let result = expert_answers(&browser.client, &app, &fake).await;
        finish(&mut browser, app, result, "expert", backend).await;
    }

    async fn staff_land_on_the_insights_and_an_expert_gets_the_403_page(backend: Backend) {
        let Some(app) = TestApp::spawn(backend, fixture_content()).await else {
            return;
        };
        let Some(mut browser) = Browser::launch(PHONE).await else {
            return;
        };
        let result = insights_by_role(&browser.client, &app).await;
        finish(&mut browser, app, result, "insights", backend).await;
    }

    async fn a_wrong_password_shows_the_error_and_sets_no_session_cookie(backend: Backend) {
        let Some(app) = TestApp::spawn(backend, fixture_content()).await else {
            return;
        };
        let Some(mut browser) = Browser::launch(PHONE).await else {
            return;
        };
        let result = wrong_password(&browser.client, &app).await;
        finish(&mut browser, app, result, "wrong-password", backend).await;
    }

    async fn the_console_pages_are_photographed_at_phone_and_desktop_width(backend: Backend) {
        let Some(app) = TestApp::spawn(backend, fixture_content()).await else {
            return;
        };
        let Some(mut browser) = Browser::launch(PHONE).await else {
            return;
        };
        let code = urdu_ticket(&app).await;
        account(&app, "amir", "admin").await;
        let result = photograph_on_the_phone(&browser.client, &app, &code, backend).await;
        let phone = close(&mut browser, result, "screenshots", backend).await;
        let desktop = match phone {
            Ok(_) => {
                let mut desktop = Browser::launch(DESKTOP).await.expect("chromedriver is still there");
                let result = photograph_on_the_desktop(&desktop.client, &app, &code, backend).await;
                close(&mut desktop, result, "screenshots-desktop", backend).await
            }
            Err(_) => Err(anyhow!("the desktop was not tried")),
        };
        app.stop().await;
        let phone = passed(phone);
        let queue = passed(desktop);
        let shots = phone.iter().map(|p| (p, PHONE)).chain([(&queue, DESKTOP)]);
        for (path, screen) in shots {
            let png = std::fs::read(path)
                .unwrap_or_else(|err| panic!("{} was not written: {err}", path.display()));
            assert!(
                png.len() > 1_000 && png.starts_with(b"\x89PNG\r\n\x1a\n"),
                "{} is not a PNG ({} bytes)",
                path.display(),
                png.len()
            );
            // IHDR: the width in device pixels (twice the CSS pixels on the phone).
            let pixels = u32::from_be_bytes(png[16..20].try_into().expect("four bytes"));
            let expected = screen.width * if screen.mobile { 2 } else { 1 };
            assert_eq!(pixels, expected, "{} is {pixels} px wide", path.display());
        }
    }
}

// ---- the scenarios ------------------------------------------------------------------------

/// The teacher asks on Telegram; the expert works the ticket in the browser; the answer
/// reaches the teacher's chat.
async fn expert_answers(c: &Client, app: &TestApp, fake: &FakeTelegram) -> Result<()> {
    // Nothing in the knowledge base is about this: it goes straight to an expert. The
    // brackets and the ampersand must come out on the pages as the teacher typed them.
    let question = "Any chlorophyll photosynthesis experiment <with> sunlight & water?";
    let answer = "Cover half a leaf with black paper & leave the plant in the sun for 2 days; \
                  then test both halves with iodine.";
    let mut teacher = TelegramTeacher::new(fake, TEACHER, "Shazia");
    let code = teacher.opens_a_ticket(question).await?;
    account(app, "sana", "expert").await;

    sign_in(c, app, "sana", PASSWORD).await?;
    let link = wait_page(
        c,
        &format!(
            "//table[@id='queue']//a[normalize-space(.)={}]",
            xpath_literal(&code)
        ),
        &format!("{code} in the queue"),
    )
    .await?;
    ensure_path(c, "/console/tickets").await?;
    check_fits(c, PHONE, "the queue").await?;
    let row = wait_page(
        c,
        &format!(
            "//table[@id='queue']//tr[td/a[normalize-space(.)={}]]",
            xpath_literal(&code)
        ),
        "the ticket's row",
    )
    .await?
    .text()
    .await?;
    ensure!(
        row.contains("open") && row.contains(question),
        "the queue's row for {code} shows {row:?}"
    );

    link.click().await.context("open the ticket")?;
    wait_status(c, "open").await?;
    ensure_path(c, &format!("/console/tickets/{code}")).await?;
    let shown = c.find(Locator::Id("question")).await?.text().await?;
    ensure!(
        shown == question,
        "the ticket shows the question as {shown:?}"
    );
    ensure!(
        c.find_all(Locator::XPath("//main//with")).await?.is_empty(),
        "the teacher's <with> became an element"
    );
    let contact = c.find(Locator::Id("contact")).await?.text().await?;
    ensure!(
        contact.starts_with("telegram") && !contact.contains(&TEACHER.to_string()),
        "the teacher's chat is masked for experts: {contact:?}"
    );
    check_fits(c, PHONE, "the ticket page").await?;

    c.find(Locator::Id("claim"))
        .await?
        .click()
        .await
        .context("claim")?;
    wait_status(c, "claimed").await?;
    wait_page(
        c,
        "//main//p[contains(., 'with sana')]",
        "the ticket to say who has it",
    )
    .await?;
    let stored = app.conversations.store().ticket(&code).await?;
    ensure!(
        stored.expert.as_deref() == Some("sana"),
        "claimed by {:?}",
        stored.expert
    );

    let field = c.find(Locator::Id("answer")).await?;
    field.send_keys(answer).await.context("type the answer")?;
    let typed = field.prop("value").await?;
    ensure!(
        typed.as_deref() == Some(answer),
        "the answer field holds {typed:?}"
    );
    c.find(Locator::XPath(
        "//form[contains(@action, '/answer')]//button[normalize-space(.)='Send answer']",
    ))
    .await?
    .click()
    .await
    .context("send the answer")?;
    wait_page(
        c,
        &format!(
            "//ul[@id='ticket-messages']/li[contains(., 'expert')]/div[normalize-space(.)={}]",
            xpath_literal(answer)
        ),
        "the answer on the ticket",
    )
    .await?;

    // The teacher reads it in her chat, with the ticket's number; then the page says answered.
    let got = teacher.expect("Helpdesk expert").await?;
    let text = got.visible_text();
    ensure!(
        text.contains(&code) && text.contains(answer),
        "the teacher got {text:?}"
    );
    teacher.expect("How useful").await?;
    wait_for_ticket(app, &code, |t| t.status == "answered").await?;
    c.goto(&app.url(&format!("/console/tickets/{code}")))
        .await
        .context("open the ticket again")?;
    wait_status(c, "answered").await?;
    Ok(())
}

/// A staff member lands on the recurring issues; an expert is refused them.
async fn insights_by_role(c: &Client, app: &TestApp) -> Result<()> {
    // Two teachers ask the same thing, in English and in Roman Urdu.
    for (user, question) in [
        ("sadia", "my class is too noisy, what do i do"),
        (
            "hina",
            "meri class mein bachay bohat shor machatay hain kya karun",
        ),
    ] {
        let mut teacher = app.web_teacher(user);
        onboard(&mut teacher, "en").await;
        teacher.says(question).await;
        teacher.expect_reply_containing("Did this help?").await;
    }
    account(app, "farah", "staff").await;
    account(app, "sana", "expert").await;

    sign_in(c, app, "farah", PASSWORD).await?;
    let topic = wait_page(
        c,
        "//table[@id='topics']/tbody/tr[td[1][normalize-space(.)='behaviour-management']]",
        "the question's topic in the topics table",
    )
    .await?
    .text()
    .await?;
    ensure_path(c, "/console/insights").await?;
    ensure!(
        topic.contains("2 (was 0)"),
        "the topic's line reads {topic:?}"
    );
    let helpdesk = c.find(Locator::Id("helpdesk")).await?;
    ensure!(
        helpdesk.is_displayed().await?,
        "the helpdesk figures are hidden"
    );
    let figures = helpdesk.text().await?;
    ensure!(
        figures.contains("Tickets opened"),
        "the helpdesk card reads {figures:?}"
    );
    // The groups of similar questions are new: when the page has them, they show (and are
    // measured with the rest of the page below).
    if let Some(clusters) = c.find_all(Locator::Id("clusters")).await?.pop() {
        let shown = clusters.text().await?;
        ensure!(
            clusters.is_displayed().await? && !shown.trim().is_empty(),
            "the clusters section is on the page but shows nothing"
        );
    }
    check_fits(c, PHONE, "the insights").await?;
    ensure!(
        response_status(c).await? == Some(200),
        "the insights did not come with 200"
    );

    // Signing out in the header, then in again as an expert.
    c.find(Locator::XPath(
        "//header//form[@action='/console/logout']//button",
    ))
    .await?
    .click()
    .await
    .context("sign out")?;
    wait_page(
        c,
        "//input[@id='name']",
        "the sign-in page after signing out",
    )
    .await?;
    ensure!(
        session_cookie(c).await?.is_none(),
        "the session cookie outlived the sign-out"
    );
    sign_in(c, app, "sana", PASSWORD).await?;
    wait_page(
        c,
        "//h1[normalize-space(.)='Ticket queue']",
        "the expert's queue",
    )
    .await?;
    ensure!(
        c.find_all(Locator::XPath("//header//a[@href='/console/insights']"))
            .await?
            .is_empty(),
        "an expert's menu offers the insights"
    );
    c.goto(&app.url("/console/insights"))
        .await
        .context("open the insights as an expert")?;
    wait_page(
        c,
        "//h1[normalize-space(.)='Not for your role']",
        "the 403 page",
    )
    .await?;
    ensure!(
        response_status(c).await? == Some(403),
        "the refusal did not come with 403"
    );
    ensure!(
        c.find_all(Locator::Id("topics")).await?.is_empty(),
        "the refusal shows the topics"
    );
    check_fits(c, PHONE, "the 403 page").await?;
    Ok(())
}

/// A wrong password: the error, the name kept, no cookie; the right one then sets it.
async fn wrong_password(c: &Client, app: &TestApp) -> Result<()> {
    account(app, "sana", "expert").await;
    sign_in(c, app, "sana", "not the password at all").await?;
    let error = wait_page(c, "//p[@role='alert']", "the error on the sign-in page")
        .await?
        .text()
        .await?;
    ensure!(
        error == "That name and password do not match an account.",
        "the error reads {error:?}"
    );
    ensure!(
        response_status(c).await? == Some(401),
        "the refusal did not come with 401"
    );
    let name = c.find(Locator::Id("name")).await?.prop("value").await?;
    let password = c.find(Locator::Id("password")).await?.prop("value").await?;
    ensure!(
        name.as_deref() == Some("sana") && password.as_deref() == Some(""),
        "after the error the form holds name {name:?} and password {password:?}"
    );
    ensure!(
        session_cookie(c).await?.is_none(),
        "a failed sign-in set the session cookie"
    );
    check_fits(c, PHONE, "the sign-in page with its error").await?;

    // The same check sees the cookie once the password is right (it is HttpOnly: no script
    // would).
    sign_in(c, app, "sana", PASSWORD).await?;
    wait_page(
        c,
        "//h1[normalize-space(.)='Ticket queue']",
        "the queue after signing in",
    )
    .await?;
    let cookie = session_cookie(c)
        .await?
        .ok_or_else(|| anyhow!("signed in, yet no session cookie"))?;
    ensure!(
        cookie.http_only() == Some(true)
            && cookie.same_site() == Some(cookie::SameSite::Lax)
            && cookie.path() == Some("/console"),
        "the session cookie is {cookie:?}"
    );
    let script_sees = c.execute("return document.cookie;", vec![]).await?;
    ensure!(
        !script_sees
            .as_str()
            .unwrap_or("")
            .contains("baithak_session"),
        "scripts can read the session cookie: {script_sees}"
    );
    Ok(())
}

/// The sign-in page, the queue, an Urdu ticket and the insights on the phone; returns the
/// screenshots' paths.
async fn photograph_on_the_phone(
    c: &Client,
    app: &TestApp,
    code: &str,
    backend: Backend,
) -> Result<Vec<PathBuf>> {
    let mut shots = Vec::new();
    c.goto(&app.url("/console/login"))
        .await
        .context("open the sign-in page")?;
    wait_page(c, "//input[@id='name']", "the sign-in page").await?;
    check_fits(c, PHONE, "the sign-in page").await?;
    shots.push(screenshot(c, "login", backend).await?);

    sign_in(c, app, "amir", PASSWORD).await?;
    let link = wait_page(
        c,
        &format!(
            "//table[@id='queue']//a[normalize-space(.)={}]",
            xpath_literal(code)
        ),
        &format!("{code} in the queue"),
    )
    .await?;
    check_fits(c, PHONE, "the queue").await?;
    let said = c
        .find(Locator::XPath(&format!(
            "//table[@id='queue']//tr[td/a[normalize-space(.)={}]]/td[{}]",
            xpath_literal(code),
            super::has_class("said")
        )))
        .await?;
    check_urdu(&said, URDU_QUESTION, "the queue's question").await?;
    shots.push(screenshot(c, "queue", backend).await?);

    link.click().await.context("open the ticket")?;
    wait_status(c, "open").await?;
    check_fits(c, PHONE, "the ticket page").await?;
    let question = c.find(Locator::Id("question")).await?;
    check_urdu(&question, URDU_QUESTION, "the ticket's question").await?;
    shots.push(screenshot(c, "ticket", backend).await?);

    c.goto(&app.url("/console/insights"))
        .await
        .context("open the insights")?;
    wait_page(
        c,
        "//table[@id='topics']/tbody/tr[td[1][normalize-space(.)='behaviour-management']]",
        "the Urdu question's topic in the topics table",
    )
    .await?;
    check_fits(c, PHONE, "the insights").await?;
    shots.push(screenshot(c, "insights", backend).await?);
    Ok(shots)
}

/// The queue on a laptop: every column shows.
async fn photograph_on_the_desktop(
    c: &Client,
    app: &TestApp,
    code: &str,
    backend: Backend,
) -> Result<PathBuf> {
    sign_in(c, app, "amir", PASSWORD).await?;
    wait_page(
        c,
        &format!(
            "//table[@id='queue']//a[normalize-space(.)={}]",
            xpath_literal(code)
        ),
        &format!("{code} in the queue"),
    )
    .await?;
    check_fits(c, DESKTOP, "the queue").await?;
    let district = c
        .find(Locator::XPath(
            "//table[@id='queue']//th[normalize-space(.)='District']",
        ))
        .await?;
    ensure!(
        district.is_displayed().await?,
        "the queue hides its District column at desktop width"
    );
    screenshot(c, "queue-desktop", backend).await
}

// ---- the teachers -------------------------------------------------------------------------

/// The Urdu question of the photographed ticket (an example of the fixture's `noisy-class`,
/// in other words).
const URDU_QUESTION: &str = "میری کلاس کے بچے بہت شور کرتے ہیں، میں کیا کروں؟";

/// A web chat teacher in Urdu asks [`URDU_QUESTION`], says the answer did not help and gets a
/// ticket; returns its number.
async fn urdu_ticket(app: &TestApp) -> String {
    let mut teacher = app.web_teacher("923001234567");
    onboard(&mut teacher, "ur").await;
    teacher.says(URDU_QUESTION).await;
    teacher.expect_reply_containing("کیا اس سے مدد ملی؟").await;
    teacher.taps("hd.no").await;
    let opened = teacher.expect_reply_containing("HD-").await;
    teacher.expect_reply_containing("مین مینو").await;
    ticket_code(&opened)
}

/// Onboarding of the fixture content in the web chat, in `lang` (`en` or `ur`).
async fn onboard(teacher: &mut WebTeacher<'_>, lang: &str) {
    // What the bot asks, and the teacher's name.
    let (ask_name, name, ask_grades, ask_consent, menu) = if lang == "ur" {
        ("آپ کا نام", "نسرین اختر", "جماعتیں", "متفق", "مین مینو")
    } else {
        (
            "What is your name",
            "Ayesha Khan",
            "Which grades",
            "Agree?",
            "Main menu",
        )
    };
    teacher.says("/start").await;
    teacher
        .expect_reply_containing("Choose your language")
        .await;
    teacher.taps(lang).await;
    teacher.expect_reply_containing(ask_name).await;
    teacher.says(name).await;
    teacher.expect_reply_containing(ask_grades).await;
    teacher.says("3 and 4").await;
    teacher.expect_reply_containing(ask_consent).await;
    teacher.says("haan").await;
    teacher.expect_reply_containing(menu).await;
}

/// The app with the fixture content, polling a fresh fake Bot API that has the experts'
/// forum group.
async fn telegram_app(backend: Backend) -> Option<(TestApp, FakeTelegram)> {
    let fake = FakeTelegram::start(FakeTelegramOptions::default())
        .await
        .expect("the fake Bot API starts");
    fake.create_forum_group(EXPERTS, "Baithak helpdesk experts");
    let database = TestDatabase::create(backend).await?;
    let telegram = TelegramSettings {
        token: fake.token().to_string(),
        api_url: fake.api_url(),
        mode: Mode::Polling,
        webhook_secret: None,
        limits: RateLimits {
            global_per_second: 0,
            per_chat_per_second: 0,
            per_chat_burst: 0,
        },
        expert_group: Some(EXPERTS),
    };
    let app = TestApp::spawn_with(database, fixture_content(), Clock::System, |s| {
        s.telegram = Some(telegram);
    })
    .await;
    Some((app, fake))
}

/// A teacher in a private chat with the bot on the fake Bot API.
struct TelegramTeacher<'a> {
    fake: &'a FakeTelegram,
    user: UserHandle,
    last_seen: i64,
}

impl<'a> TelegramTeacher<'a> {
    fn new(fake: &'a FakeTelegram, id: i64, name: &str) -> TelegramTeacher<'a> {
        TelegramTeacher {
            fake,
            user: fake.add_user(id, name, Some("en")),
            last_seen: 0,
        }
    }

    fn says(&self, text: &str) -> Result<()> {
        self.fake
            .send_text(&self.user, text)
            .map_err(|err| anyhow!("{err}"))
            .with_context(|| format!("the teacher says {text:?}"))?;
        Ok(())
    }

    fn taps(&self, label: &str) -> Result<()> {
        self.fake
            .press_label(&self.user, label)
            .map_err(|err| anyhow!("{err}"))
            .with_context(|| format!("the teacher taps {label:?}"))?;
        Ok(())
    }

    /// Waits for the bot's next message containing `needle`; later ones stay unseen.
    async fn expect(&mut self, needle: &str) -> Result<SentMessage> {
        let after = self.last_seen;
        let found = self
            .fake
            .wait_for(
                self.user.id,
                |m| m.message_id > after && m.visible_text().contains(needle),
                DEADLINE,
            )
            .await
            .map_err(|err| anyhow!("the teacher waited for {needle:?}: {err}"))?;
        self.last_seen = found.message_id;
        Ok(found)
    }

    /// Onboards and asks `question`, which the knowledge base cannot answer; returns the
    /// ticket's number.
    async fn opens_a_ticket(&mut self, question: &str) -> Result<String> {
        self.says("/start")?;
        self.expect("Choose your language").await?;
        self.taps("English")?;
        self.expect("What is your name").await?;
        self.says("Shazia")?;
        self.expect("Which grades").await?;
        self.says("5")?;
        self.expect("Agree?").await?;
        self.taps("Yes")?;
        self.expect("Main menu").await?;
        self.says(question)?;
        let opened = self.expect("HD-").await?;
        Ok(ticket_code(opened.visible_text()))
    }
}

/// Waits until ticket `code` satisfies `check`, looking again after every commit and every
/// delivery.
async fn wait_for_ticket(app: &TestApp, code: &str, check: impl Fn(&Ticket) -> bool) -> Result<()> {
    let mut commits = app.conversations.subscribe();
    let mut deliveries = app.conversations.subscribe_deliveries();
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let ticket = app.conversations.store().ticket(code).await?;
        if check(&ticket) {
            return Ok(());
        }
        tokio::select! {
            changed = commits.changed() => changed?,
            changed = deliveries.changed() => changed?,
            () = tokio::time::sleep_until(deadline) => {
                return Err(anyhow!("ticket {code} not as expected within {DEADLINE:?}: {ticket:?}"));
            }
        }
    }
}

/// An account, added straight to the store (as `baithak user add` does).
async fn account(app: &TestApp, name: &str, role: &str) {
    let hash = baithak::staff::hash_password(PASSWORD).expect("hash");
    app.conversations
        .store()
        .add_staff_user(name, role, &hash, Utc::now())
        .await
        .expect("add the account")
        .expect("a new account");
}

// ---- the browser on the console -----------------------------------------------------------

/// Opens the sign-in page and submits `name` and `password` as a person types them.
async fn sign_in(c: &Client, app: &TestApp, name: &str, password: &str) -> Result<()> {
    c.goto(&app.url("/console/login"))
        .await
        .context("open the sign-in page")?;
    wait_page(c, "//input[@id='name']", "the sign-in form").await?;
    let field = c.find(Locator::Id("name")).await?;
    field.clear().await?;
    field.send_keys(name).await.context("type the name")?;
    c.find(Locator::Id("password"))
        .await?
        .send_keys(password)
        .await
        .context("type the password")?;
    c.find(Locator::XPath(
        "//form[@action='/console/login']//button[@type='submit']",
    ))
    .await?
    .click()
    .await
    .context("press Sign in")?;
    Ok(())
}

/// Waits until `xpath` finds an element; fails with `what` and what the page shows instead.
async fn wait_page(c: &Client, xpath: &str, what: &str) -> Result<Element> {
    match c
        .wait()
        .at_most(WAIT)
        .every(POLL)
        .for_element(Locator::XPath(xpath))
        .await
    {
        Ok(element) => Ok(element),
        Err(err) => Err(anyhow!(
            "waited {WAIT:?} for {what}: {err}\nthe page shows:\n{}",
            page_summary(c).await
        )),
    }
}

/// Waits until the ticket page shows `status`.
async fn wait_status(c: &Client, status: &str) -> Result<()> {
    wait_page(
        c,
        &format!(
            "//span[@id='ticket-status'][normalize-space(.)={}]",
            xpath_literal(status)
        ),
        &format!("the ticket to show {status}"),
    )
    .await?;
    Ok(())
}

/// The address, title and first lines of the page, for failure messages.
async fn page_summary(c: &Client) -> String {
    let url = c
        .current_url()
        .await
        .map_or_else(|err| format!("(no address: {err})"), |u| u.to_string());
    let text = c
        .execute(
            "return document.title + '\\n' + (document.body ? document.body.innerText : '');",
            vec![],
        )
        .await
        .map_or_else(
            |err| format!("(cannot read the page: {err})"),
            |v| v.as_str().unwrap_or("").chars().take(600).collect(),
        );
    format!("  {url}\n  {}", text.replace('\n', "\n  "))
}

async fn ensure_path(c: &Client, path: &str) -> Result<()> {
    let url = c.current_url().await?;
    ensure!(url.path() == path, "the browser is at {url}, not {path}");
    Ok(())
}

/// The HTTP status the page came with, as the browser saw it.
async fn response_status(c: &Client) -> Result<Option<u64>> {
    let status = c
        .execute(
            "var n = performance.getEntriesByType('navigation');
             return n.length ? n[n.length - 1].responseStatus : null;",
            vec![],
        )
        .await
        .context("read the response status")?;
    Ok(status.as_u64())
}

/// The console's session cookie, as the browser keeps it.
async fn session_cookie(c: &Client) -> Result<Option<Cookie<'static>>> {
    let all = c.get_all_cookies().await.context("read the cookies")?;
    Ok(all.into_iter().find(|c| c.name() == "baithak_session"))
}

/// The page fits `screen`: nothing reaches past the screen's right edge, nothing scrolls
/// sideways, and so the window keeps the screen's width (a phone widens its layout to what
/// overflows, then shows it all shrunk).
async fn check_fits(c: &Client, screen: Screen, page: &str) -> Result<()> {
    #[derive(Debug, Deserialize)]
    struct Fit {
        window: f64,
        scroll: f64,
        /// Elements reaching past the screen's edge: `tag#id.class "text" reaches N px`.
        wider: Vec<String>,
    }
    let fit = c
        .execute(
            "var w = arguments[0], out = [];
             document.querySelectorAll('body *').forEach(function (e) {
               var r = e.getBoundingClientRect();
               if (r.width > 0 && r.right > w + 1) {
                 var name = e.tagName.toLowerCase() + (e.id ? '#' + e.id : '')
                   + (typeof e.className === 'string' && e.className.trim()
                      ? '.' + e.className.trim().split(/\\s+/).join('.') : '');
                 out.push(name + ' ' + JSON.stringify((e.textContent || '').trim().slice(0, 40))
                   + ' reaches ' + Math.round(r.right) + ' px');
               }
             });
             return { window: window.innerWidth, scroll: document.documentElement.scrollWidth,
                      wider: out.slice(0, 12) };",
            vec![screen.width.into()],
        )
        .await
        .with_context(|| format!("measure {page}"))?;
    let fit: Fit = serde_json::from_value(fit)?;
    let width = f64::from(screen.width);
    ensure!(
        fit.wider.is_empty() && fit.scroll <= width,
        "{page} is wider than the {} px screen (laid out {} px wide):\n  {}",
        screen.width,
        fit.scroll,
        fit.wider.join("\n  ")
    );
    ensure!(
        (fit.window - width).abs() < 1.0,
        "{page}: the window is {} px wide, not {}",
        fit.window,
        screen.width
    );
    Ok(())
}

/// `element` shows `text` right to left, in the Urdu font when the page marks it Urdu.
async fn check_urdu(element: &Element, text: &str, what: &str) -> Result<()> {
    let shown = element.text().await?;
    ensure!(shown == text, "{what} reads {shown:?}");
    let direction = element.css_value("direction").await?;
    ensure!(direction == "rtl", "{what} is laid out {direction}");
    if element.attr("lang").await?.as_deref() == Some("ur") {
        let font = element.css_value("font-family").await?;
        ensure!(
            font.contains("Nastaliq"),
            "{what} is marked Urdu but set in {font}"
        );
    }
    Ok(())
}

/// Saves the window as `target/screenshots/console-{name}-{backend}.png`.
async fn screenshot(c: &Client, name: &str, backend: Backend) -> Result<PathBuf> {
    let file = format!("console-{name}-{backend:?}.png").to_lowercase();
    let path = save_screenshot(c, &file).await?;
    eprintln!("screenshot: {}", path.display());
    Ok(path)
}

/// Photographs a failure, then closes the browser.
async fn close<T>(
    browser: &mut Browser,
    result: Result<T>,
    scenario: &str,
    backend: Backend,
) -> Result<T> {
    if result.is_err() {
        let name = format!("failed-console-{scenario}-{backend:?}.png").to_lowercase();
        match save_screenshot(&browser.client, &name).await {
            Ok(path) => eprintln!("screenshot of the failure: {}", path.display()),
            Err(err) => eprintln!("no screenshot of the failure: {err:#}"),
        }
    }
    browser.close().await;
    result
}

/// [`close`], then stops the app; panics with the failure.
async fn finish(
    browser: &mut Browser,
    app: TestApp,
    result: Result<()>,
    scenario: &str,
    backend: Backend,
) {
    let result = close(browser, result, scenario, backend).await;
    app.stop().await;
    passed(result);
}

fn passed<T>(result: Result<T>) -> T {
    result.unwrap_or_else(|err| panic!("{err:#}"))
}
