//! The expert's ticket page, second part, through the front door: files teachers attach
//! (WhatsApp voice notes kept by the media keeper, Telegram photos fetched from the Bot API on
//! demand) served only to signed-in experts and only through their ticket; canned replies that
//! fill the answer box in the ticket's language, edited by staff into a file the running server
//! uses at once; and the button that turns an answer into a knowledge-base draft, once.

use std::path::{Path, PathBuf};

use baithak::channel::telegram::{Mode, RateLimits, TelegramSettings};
use baithak::channel::whatsapp::client::GraphApi;
use baithak::clock::Clock;
use baithak::testkit::telegram::{FakeTelegram, FakeTelegramOptions, UserHandle};
use baithak::testkit::whatsapp::{Fault, MediaKind};
use chrono::{TimeZone, Utc};
use reqwest::StatusCode;
use reqwest::header::LOCATION;

use crate::both_backends;
use crate::console::{Browser, account};
use crate::helpdesk::onboard;
use crate::support::database::{Backend, TestDatabase};
use crate::support::{TestApp, WebTeacher, fixture_content, ticket_code};
use crate::whatsapp_chat::{self, DEADLINE, Setup, Teacher, World};

/// Monday 23 November 2026, 10:00 in Karachi: office hours.
fn office_hours() -> Clock {
    Clock::manual(Utc.with_ymd_and_hms(2026, 11, 23, 5, 0, 0).unwrap())
}

/// Canned replies of the tests: one with markup in its title and text, which must stay text.
const REPLIES: &str = "\
replies:
  - id: thanks
    title: Thanks, an expert will follow up
    text:
      en: Thank you! An expert will write to you soon.
      ur: شکریہ! ایک ماہر جلد آپ کو جواب دیں گے۔
  - id: photo-of-board
    title: Please send a photo <b>of the board</b>
    text:
      en: Could you send a photo of the board? <script>alert(1)</script>
      ur: کیا آپ بورڈ کی تصویر بھیج سکتی ہیں؟
";

/// A copy of the fixture content with [`REPLIES`], which a test may change.
fn content_with_replies() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    crate::fs::copy_dir(&fixture_content(), dir.path());
    std::fs::write(dir.path().join("canned-replies.yaml"), REPLIES).expect("replies");
    dir
}

async fn app_on(backend: Backend, content: PathBuf) -> Option<TestApp> {
    let database = TestDatabase::create(backend).await?;
    Some(TestApp::spawn_with(database, content, office_hours(), |_| {}).await)
}

/// Someone signed in to the console.
async fn signed_in<'a>(app: &'a TestApp, name: &str) -> Browser<'a> {
    let mut browser = Browser::new(app);
    let page = browser.sign_in(name).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{name} signs in");
    browser
}

/// The text between `start` and the next `end` in `text`.
fn between(text: &str, start: &str, end: &str) -> String {
    let at = text
        .find(start)
        .unwrap_or_else(|| panic!("no {start:?} in the page"))
        + start.len();
    text[at..].split(end).next().unwrap_or_default().to_string()
}

/// A web teacher asks a question the fixture knowledge base cannot settle; returns the ticket.
async fn english_ticket(teacher: &mut WebTeacher<'_>, question: &str) -> String {
    onboard(teacher).await;
    teacher.says(question).await;
    teacher.expect_reply_containing("Did this help?").await;
    teacher.taps("hd.no").await;
    let opened = teacher.expect_reply_containing("HD-").await;
    ticket_code(&opened)
}

/// The same in Urdu: the ticket is in Urdu.
async fn urdu_ticket(teacher: &mut WebTeacher<'_>) -> String {
    teacher.says("/start").await;
    teacher
        .expect_reply_containing("Choose your language")
        .await;
    teacher.taps("ur").await;
    teacher.expect_reply_containing("آپ کا نام کیا ہے").await;
    teacher.says("Saima Bibi").await;
    teacher.expect_reply_containing("جماعتیں").await;
    teacher.says("3").await;
    teacher.expect_reply_containing("متفق").await;
    teacher.says("haan").await;
    teacher.expect_reply_containing("مین مینو").await;
    teacher.says("my class is too noisy, what do i do").await;
    teacher.expect_reply_containing("کیا اس سے مدد ملی").await;
    teacher.taps("hd.no").await;
    let opened = teacher.expect_reply_containing("HD-").await;
    ticket_code(&opened)
}

// ---- WhatsApp ------------------------------------------------------------------------------

/// A WhatsApp teacher onboards in English and asks what the knowledge base cannot settle;
/// returns the ticket.
async fn opens_a_ticket(teacher: &mut Teacher<'_>, name: &str) -> String {
    whatsapp_chat::onboard(teacher, name).await;
    teacher.says("my class is too noisy, what do i do");
    teacher.expect("Did this help?").await;
    teacher.taps("👎 No");
    let opened = teacher.expect("HD-").await;
    ticket_code(opened.visible_text())
}

// ---- Telegram ------------------------------------------------------------------------------

/// The app polling a fresh fake Bot API.
async fn telegram_app(backend: Backend) -> Option<(TestApp, FakeTelegram)> {
    let fake = FakeTelegram::start(FakeTelegramOptions::default())
        .await
        .expect("fake starts");
    let database = TestDatabase::create(backend).await?;
    let settings = TelegramSettings {
        token: fake.token().to_string(),
        api_url: fake.api_url(),
        mode: Mode::Polling,
        webhook_secret: None,
        limits: RateLimits {
            global_per_second: 0,
            per_chat_per_second: 0,
            per_chat_burst: 0,
        },
        expert_group: None,
    };
    let app = TestApp::spawn_with(database, fixture_content(), office_hours(), |s| {
        s.telegram = Some(settings);
    })
    .await;
    Some((app, fake))
}

/// Waits for the bot's next message to `user` containing `needle`; returns its id.
async fn telegram_expect(
    fake: &FakeTelegram,
    user: &UserHandle,
    after: i64,
    needle: &str,
) -> (i64, String) {
    let found = fake
        .wait_for(
            user.id,
            |m| m.message_id > after && m.visible_text().contains(needle),
            DEADLINE,
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    (found.message_id, found.visible_text().to_string())
}

/// A real photo update (with a caption), moved into `chat`.
fn photo_update(chat: i64) -> serde_json::Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/telegram/tg09_photo_with_caption.json");
    let mut update: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("fixture")).expect("JSON");
    update["message"]["chat"]["id"] = chat.into();
    update["message"]["from"]["id"] = chat.into();
    update
}

both_backends! {
    async fn a_whatsapp_voice_note_plays_on_the_ticket_page_for_experts_only(backend: Backend) {
        let clock = office_hours();
        let setup = Setup { clock: Some(clock.clone()), ..Setup::default() };
        let Some(World { app, whatsapp, .. }) = whatsapp_chat::spawn(backend, setup).await else { return };
        let mut kiran = Teacher::new(&whatsapp, "923001110071", "Kiran");
        let code = opens_a_ticket(&mut kiran, "Kiran").await;
        let mut other = Teacher::new(&whatsapp, "923001110072", "Hina");
        let other_code = opens_a_ticket(&mut other, "Hina").await;

        // The first download fails: the file is not kept, and the page says so.
        whatsapp.fail_next("media", 1, Fault::Http5xx { status: 503, json: true });
        whatsapp.send_media(&kiran.user, MediaKind::Voice, None).expect("voice note");
        kiran.expect("Added to your question").await;
        let store = app.conversations.store();
        let messages = store.ticket_messages(&code).await.expect("messages");
        let media_id = messages.iter().find(|m| m.kind == "voice").and_then(|m| m.file_id.clone()).expect("voice");
        whatsapp
            .wait_until(DEADLINE, |fake| {
                fake.requests().iter().any(|r| r.path.ends_with(&media_id) && r.status == Some(503)).then_some(())
            })
            .await
            .expect("the keeper tried once");

        account(&app, "sana", "expert").await;
        account(&app, "farah", "staff").await;
        let sana = signed_in(&app, "sana").await;
        let file = format!("/console/tickets/{code}/files/1");
        let page = sana.get(&format!("/console/tickets/{code}")).await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(page.body.clone().contains("The voice is not available yet."), "{}", page.body.clone());
        assert!(!page.body.clone().contains(&format!("src=\"{file}\"")));
        let early = sana.get(&file).await;
        assert_eq!(early.status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(early.body.clone().contains("not available yet"));

        // A minute later the keeper tries again (one pass, as the background task does).
        clock.advance(chrono::Duration::minutes(2));
        let api = GraphApi::new(&whatsapp.graph_url(), whatsapp.api_version(), whatsapp.phone_number_id(), whatsapp.token())
            .expect("client");
        baithak::channel::whatsapp::media::keep_pending(&api, &app.conversations).await.expect("kept");
        let page = sana.get(&format!("/console/tickets/{code}")).await;
        assert!(page.body.clone().contains(&format!("<audio controls preload=\"none\" src=\"{file}\">")), "{}", page.body.clone());
        let voice = sana.get(&file).await;
        assert_eq!(voice.status, StatusCode::OK);
        assert_eq!(voice.header("content-type"), "audio/ogg");
        assert_eq!(voice.header("x-content-type-options"), "nosniff");
        assert!(voice.header("cache-control").starts_with("private"), "{}", voice.header("cache-control"));
        assert!(voice.header("content-disposition").starts_with("inline"));
        assert_eq!(Some(voice.bytes), whatsapp.media(&media_id));

        // Only through its own ticket, by its own number.
        for path in [
            format!("/console/tickets/{other_code}/files/1"),
            format!("/console/tickets/{code}/files/2"),
            format!("/console/tickets/{code}/files/0"),
            format!("/console/tickets/{code}/files/{media_id}"),
            "/console/tickets/HD-NOSUCH/files/1".to_string(),
        ] {
            assert_eq!(sana.get(&path).await.status, StatusCode::NOT_FOUND, "{path}");
        }
        // Signed in with the right role only.
        let anonymous = Browser::new(&app).get(&file).await;
        assert_eq!(anonymous.status, StatusCode::SEE_OTHER);
        assert!(anonymous.header("location").starts_with("/console/login?next=%2Fconsole%2Ftickets%2F"), "{}", anonymous.header("location"));
        assert!(anonymous.bytes.is_empty() || !anonymous.body.clone().contains("Ogg"));
        let farah = signed_in(&app, "farah").await;
        assert_eq!(farah.get(&file).await.status, StatusCode::FORBIDDEN);
        app.stop().await;
    }

    async fn a_telegram_photo_is_fetched_through_the_bot_api(backend: Backend) {
        let Some((app, fake)) = telegram_app(backend).await else { return };
        let user = fake.add_user(5071, "Shazia", Some("en"));
        let mut last = 0;
        let step = |text: Option<&str>, label: Option<&str>| {
            if let Some(text) = text { fake.send_text(&user, text).expect("sent"); }
            if let Some(label) = label { fake.press_label(&user, label).expect("pressed"); }
        };
        step(Some("/start"), None);
        last = telegram_expect(&fake, &user, last, "Choose your language").await.0;
        step(None, Some("English"));
        last = telegram_expect(&fake, &user, last, "What is your name").await.0;
        step(Some("Shazia"), None);
        last = telegram_expect(&fake, &user, last, "Which grades").await.0;
        step(Some("4"), None);
        last = telegram_expect(&fake, &user, last, "Agree?").await.0;
        step(None, Some("Yes"));
        last = telegram_expect(&fake, &user, last, "Main menu").await.0;
        step(Some("my class is too noisy, what do i do"), None);
        last = telegram_expect(&fake, &user, last, "Did this help?").await.0;
        step(None, Some("👎 No"));
        let (opened, text) = telegram_expect(&fake, &user, last, "HD-").await;
        let code = ticket_code(&text);
        fake.send_update(photo_update(5071)).expect("photo");
        telegram_expect(&fake, &user, opened, "Added to your question").await;

        let store = app.conversations.store();
        let messages = store.ticket_messages(&code).await.expect("messages");
        let photo = messages.iter().find(|m| m.kind == "photo").expect("photo on the ticket");
        let file_id = photo.file_id.clone().expect("file id");
        let jpeg = b"\xFF\xD8\xFF\xE0 a photo of the board".to_vec();
        fake.add_file(&file_id, jpeg.clone());

        account(&app, "sana", "expert").await;
        let sana = signed_in(&app, "sana").await;
        let file = format!("/console/tickets/{code}/files/1");
        let page = sana.get(&format!("/console/tickets/{code}")).await;
        let body = page.body.clone();
        assert!(body.contains(&format!("<img src=\"{file}\"")), "{body}");
        assert!(body.contains("www.example.com"), "the caption: {body}");
        let got = sana.get(&file).await;
        assert_eq!(got.status, StatusCode::OK);
        assert_eq!(got.header("content-type"), "image/jpeg");
        assert_eq!(got.header("x-content-type-options"), "nosniff");
        assert!(got.header("cache-control").starts_with("private"));
        assert_eq!(got.bytes, jpeg);
        let asked: Vec<String> = fake
            .requests_to("getFile")
            .iter()
            .map(|r| r.params.to_string())
            .collect();
        assert!(asked.iter().any(|p| p.contains(&file_id)), "{asked:?}");
        app.stop().await;
    }

    async fn a_canned_reply_fills_the_answer_in_urdu_for_an_urdu_ticket(backend: Backend) {
        let content = content_with_replies();
        let Some(app) = app_on(backend, content.path().to_path_buf()).await else { return };
        let mut saima = app.web_teacher("saima");
        let code = urdu_ticket(&mut saima).await;
        assert_eq!(app.conversations.store().ticket(&code).await.expect("ticket").language, "ur");
        account(&app, "sana", "expert").await;
        let sana = signed_in(&app, "sana").await;

        let page = sana.get(&format!("/console/tickets/{code}")).await.body.clone();
        assert!(page.contains(&format!("href=\"/console/tickets/{code}?reply=thanks#answer\"")), "{page}");
        assert!(page.contains("Please send a photo &#60;b&#62;of the board&#60;/b&#62;"), "titles stay text: {page}");
        assert!(!page.contains("<b>of the board"));

        let filled = sana.get(&format!("/console/tickets/{code}?reply=thanks")).await;
        assert_eq!(filled.status, StatusCode::OK);
        let answer = between(&filled.body.clone(), "<textarea id=\"answer\"", "</textarea>");
        assert!(answer.ends_with(">شکریہ! ایک ماہر جلد آپ کو جواب دیں گے۔"), "{answer}");
        assert!(answer.contains("lang=\"ur\""), "{answer}");
        assert!(!filled.body.clone().contains("An expert will write to you soon"), "not the English");

        let unknown = sana.get(&format!("/console/tickets/{code}?reply=no-such-reply")).await.body.clone();
        assert!(unknown.contains("does not exist"), "{unknown}");

        // Sent as filled, it reaches the teacher in Urdu.
        let text = "شکریہ! ایک ماہر جلد آپ کو جواب دیں گے۔";
        let sent = sana.post(&format!("/console/tickets/{code}/answer"), &[("text", text), ("nonce", "00000000000000c1")]).await;
        assert_eq!(sent.status, StatusCode::SEE_OTHER);
        saima.expect_reply_containing("ایک ماہر جلد").await;
        app.stop().await;
    }

    async fn staff_edit_a_reply_and_the_ticket_page_shows_the_new_text(backend: Backend) {
        let content = content_with_replies();
        let file = content.path().join("canned-replies.yaml");
        let Some(app) = app_on(backend, content.path().to_path_buf()).await else { return };
        let mut teacher = app.web_teacher("rubina");
        let code = english_ticket(&mut teacher, "my class is too noisy, what do i do").await;
        account(&app, "farah", "staff").await;
        account(&app, "sana", "expert").await;
        let farah = signed_in(&app, "farah").await;
        let sana = signed_in(&app, "sana").await;
        assert_eq!(sana.get("/console/replies").await.status, StatusCode::FORBIDDEN, "experts pick, staff edit");

        let page = farah.get("/console/replies").await;
        assert_eq!(page.status, StatusCode::OK);
        let body = page.body.clone();
        assert!(body.contains("Thank you! An expert will write to you soon."), "{body}");
        assert!(body.contains("&#60;script&#62;alert(1)&#60;/script&#62;") && !body.contains("<script>alert"), "{body}");
        let version = between(&body, "name=\"version\" value=\"", "\"");

        let new_text = "Thanks, Rubina! <i>Sana</i> will call you today.";
        let saved = farah
            .post("/console/replies", &[
                ("op", "save"), ("version", &version), ("original", "thanks"), ("id", "thanks"),
                ("title", "Thanks, we will call"), ("en", new_text),
                ("ur", "شکریہ! ثنا آج آپ کو فون کریں گی۔"), ("bn", ""),
            ])
            .await;
        assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body.clone());
        assert_eq!(saved.header("location"), "/console/replies?saved=thanks");
        let on_disk = std::fs::read_to_string(&file).expect("file");
        assert!(on_disk.contains("Sana</i> will call you today"), "{on_disk}");
        assert!(on_disk.contains("photo-of-board"), "the other reply is kept: {on_disk}");

        // The running server uses it at once: no restart, no waiting.
        let filled = sana.get(&format!("/console/tickets/{code}?reply=thanks")).await.body.clone();
        let answer = between(&filled, "<textarea id=\"answer\"", "</textarea>");
        assert!(answer.ends_with(">Thanks, Rubina! &#60;i&#62;Sana&#60;/i&#62; will call you today."), "{answer}");
        assert!(filled.contains("Thanks, we will call"), "{filled}");

        // A reply added from the page is offered too.
        let version = between(&farah.get("/console/replies").await.body.clone(), "name=\"version\" value=\"", "\"");
        let added = farah
            .post("/console/replies", &[
                ("op", "add"), ("version", &version), ("id", "seating-plan"), ("title", "Try a seating plan"),
                ("en", "Try a seating plan:\r\nmix talkative and quiet children."),
                ("ur", "بیٹھنے کا نقشہ آزمائیں۔"), ("bn", ""),
            ])
            .await;
        assert_eq!(added.status, StatusCode::SEE_OTHER, "{}", added.body.clone());
        let filled = sana.get(&format!("/console/tickets/{code}?reply=seating-plan")).await.body.clone();
        assert!(filled.contains("Try a seating plan:\nmix talkative"), "{filled}");

        // An edit made on a page opened before that save is refused, and changes nothing.
        let before = std::fs::read_to_string(&file).expect("file");
        let stale = farah
            .post("/console/replies", &[
                ("op", "delete"), ("version", &version), ("original", "thanks"),
            ])
            .await;
        assert_eq!(stale.status, StatusCode::CONFLICT);
        assert!(stale.body.clone().contains("Someone saved the replies after you opened this page"));
        assert_eq!(std::fs::read_to_string(&file).expect("file"), before);
        assert!(baithak::content::load(content.path()).is_ok(), "`baithak check` accepts what was written");
        app.stop().await;
    }

    async fn a_bad_edit_is_refused_with_a_clear_message_and_the_file_unchanged(backend: Backend) {
        let content = content_with_replies();
        let file = content.path().join("canned-replies.yaml");
        let Some(app) = app_on(backend, content.path().to_path_buf()).await else { return };
        account(&app, "farah", "staff").await;
        let farah = signed_in(&app, "farah").await;
        let version = between(&farah.get("/console/replies").await.body.clone(), "name=\"version\" value=\"", "\"");

        // Broken YAML in the whole-file box: where, and what.
        let broken = "replies:\n  - id: thanks\n    title: [Thanks\n    text: {en: a, ur: ب}\n";
        let refused = farah.post("/console/replies", &[("op", "file"), ("version", &version), ("yaml", broken)]).await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST);
        let body = refused.body.clone();
        assert!(body.contains("Nothing was saved"), "{body}");
        assert!(body.contains("canned-replies.yaml:3:") || body.contains("canned-replies.yaml:4:"), "{body}");
        assert!(body.contains("error: YAML"), "{body}");
        assert!(body.contains("title: [Thanks"), "the edit is kept in the box: {body}");
        assert_eq!(std::fs::read_to_string(&file).expect("file"), REPLIES);

        // Valid YAML, wrong content: each problem named where it is.
        let wrong = "replies:\n  - id: Thanks!\n    title: T\n    text: {en: a, ur: ب, fr: c}\n";
        let refused = farah.post("/console/replies", &[("op", "file"), ("version", &version), ("yaml", wrong)]).await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST);
        assert!(refused.body.clone().contains("canned-replies.yaml:4:26: error: YAML: unknown field `fr`"), "{}", refused.body.clone());
        assert_eq!(std::fs::read_to_string(&file).expect("file"), REPLIES);

        // A reply's form without its Urdu text.
        let refused = farah
            .post("/console/replies", &[
                ("op", "save"), ("version", &version), ("original", "thanks"), ("id", "thanks"),
                ("title", "Thanks"), ("en", "Thanks."), ("ur", "  "), ("bn", ""),
            ])
            .await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST);
        assert!(refused.body.clone().contains("reply `thanks`: the Urdu text (`text.ur`) is empty"), "{}", refused.body.clone());
        assert_eq!(std::fs::read_to_string(&file).expect("file"), REPLIES);

        // The experts still get the replies as they were.
        let replies = &app.conversations.content().get().canned;
        assert_eq!(replies.get("thanks").map(|r| r.title.as_str()), Some("Thanks, an expert will follow up"));
        app.stop().await;
    }

    async fn a_replies_form_without_its_token_or_from_another_site_changes_nothing(backend: Backend) {
        let content = content_with_replies();
        let file = content.path().join("canned-replies.yaml");
        let Some(app) = app_on(backend, content.path().to_path_buf()).await else { return };
        account(&app, "farah", "staff").await;
        let farah = signed_in(&app, "farah").await;
        let version = between(&farah.get("/console/replies").await.body.clone(), "name=\"version\" value=\"", "\"");
        let fields = [("op", "file"), ("version", version.as_str()), ("yaml", "replies: []\n")];

        // The console's own browser helper, with a forged and with an empty token.
        let mut browser = Browser::new(&app);
        browser.sign_in("farah").await;
        for csrf in ["", "0123456789abcdef"] {
            let mut forged = fields.to_vec();
            forged.push(("csrf", csrf));
            assert_eq!(browser.post("/console/replies", &forged).await.status, StatusCode::FORBIDDEN);
        }
        // The right token, from another site.
        let mut with_token = fields.to_vec();
        with_token.push(("csrf", farah.csrf.as_deref().expect("signed in")));
        let cross = farah
            .send(farah.client.post(app.url("/console/replies")).header("sec-fetch-site", "cross-site").form(&with_token))
            .await;
        assert_eq!(cross.status, StatusCode::FORBIDDEN);
        // Nobody signed in.
        let anonymous = Browser::new(&app).post("/console/replies", &with_token).await;
        assert_eq!(anonymous.status, StatusCode::SEE_OTHER);
        assert_eq!(anonymous.headers.get(LOCATION).and_then(|v| v.to_str().ok()), Some("/console/login"));
        assert_eq!(std::fs::read_to_string(&file).expect("file"), REPLIES);
        app.stop().await;
    }

    async fn the_knowledge_base_draft_button_writes_the_draft_once(backend: Backend) {
        let content = content_with_replies();
        let Some(app) = app_on(backend, content.path().to_path_buf()).await else { return };
        let mut teacher = app.web_teacher("nadia");
        let code = english_ticket(&mut teacher, "my class is too noisy, what do i do").await;
        account(&app, "sana", "expert").await;
        account(&app, "farah", "staff").await;
        let sana = signed_in(&app, "sana").await;
        let ticket = format!("/console/tickets/{code}");
        assert!(!sana.get(&ticket).await.body.clone().contains("knowledge-base draft"), "no answer yet");
        let not_yet = sana.post(&format!("{ticket}/draft"), &[]).await;
        assert_eq!(not_yet.status, StatusCode::CONFLICT);

        sana.post(&format!("{ticket}/answer"), &[("text", "Agree on a quiet signal & praise the first quiet row."), ("nonce", "00000000000000d1")]).await;
        teacher.expect_reply_containing("quiet signal").await;
        let page = sana.get(&ticket).await.body.clone();
        assert!(page.contains("Make a knowledge-base draft from this answer"), "{page}");

        let name = format!("knowledge-base/articles/draft-{}.md", code.to_lowercase());
        let written = sana.post(&format!("{ticket}/draft"), &[]).await;
        assert_eq!(written.status, StatusCode::OK);
        assert!(written.body.clone().contains(&format!("Draft written: {name}")), "{}", written.body.clone());
        let path = content.path().join(&name);
        let draft = std::fs::read_to_string(&path).expect("draft written");
        assert!(draft.contains("draft: true") && draft.contains("praise the first quiet row"), "{draft}");
        assert!(draft.contains(&format!("Drafted from ticket {code}, answered by sana")), "{draft}");
        assert!(sana.get(&ticket).await.body.clone().contains(&format!("A draft exists already: {name}")));

        // Pressed again: refused, naming the file, which is unchanged.
        std::fs::write(&path, format!("{draft}\n<!-- edited by a person -->\n")).expect("edit");
        let again = sana.post(&format!("{ticket}/draft"), &[]).await;
        assert_eq!(again.status, StatusCode::CONFLICT);
        assert!(again.body.clone().contains(&format!("exists already: {name}")), "{}", again.body.clone());
        assert!(std::fs::read_to_string(&path).expect("draft").ends_with("<!-- edited by a person -->\n"));
        assert!(baithak::content::load(content.path()).is_ok(), "`baithak check` accepts the draft");

        // Staff may not press it.
        let farah = signed_in(&app, "farah").await;
        assert_eq!(farah.post(&format!("{ticket}/draft"), &[]).await.status, StatusCode::FORBIDDEN);
        app.stop().await;
    }
}
