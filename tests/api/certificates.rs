//! Certificates end to end: the picture sent by URL on Telegram (sendPhoto) and WhatsApp
//! (image with a link), the picture served as PNG, the public verification pages, "/verify
//! CODE" in the chat, pathway certificates and badges in "My progress", on both backends.

use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

use baithak::channel::telegram::{Mode, RateLimits, TelegramSettings};
use baithak::clock::Clock;
use baithak::testkit::telegram::{FakeTelegram, FakeTelegramOptions, SentMessage, UserHandle};

use baithak::channel::whatsapp::{SendLimits, SendSettings, Templates, WhatsAppSettings};
use baithak::testkit::whatsapp::{FakeWhatsApp, FakeWhatsAppOptions};

use crate::both_backends;
use crate::support::{TestApp, TestDatabase, WebTeacher, fixture_content};
use crate::whatsapp_chat::{Teacher as WaTeacher, onboard};

const DEADLINE: Duration = Duration::from_secs(15);

/// A free port on loopback, so the app's public URL can be known before it starts.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Fetches `url` and checks it is a PNG of a certificate's size; returns its bytes' length.
async fn fetch_png(client: &reqwest::Client, url: &str) -> usize {
    let response = client.get(url).send().await.expect("picture fetched");
    assert_eq!(response.status(), 200, "{url}");
    assert_eq!(
        response.headers()["content-type"].to_str().ok(),
        Some("image/png")
    );
    assert!(
        response.headers()["cache-control"]
            .to_str()
            .is_ok_and(|c| c.contains("max-age")),
        "cacheable"
    );
    let bytes = response.bytes().await.expect("body");
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "PNG signature");
    // IHDR: width and height, big-endian, at bytes 16..24.
    let width = u32::from_be_bytes([bytes[16], bytes[17], bytes[18], bytes[19]]);
    let height = u32::from_be_bytes([bytes[20], bytes[21], bytes[22], bytes[23]]);
    assert_eq!((width, height), (1600, 1131));
    assert!(bytes.len() > 20_000, "{} bytes", bytes.len());
    bytes.len()
}

/// Onboards a web-chat teacher called `name` in `lang` and passes the demo module; returns the
/// module certificate's code.
async fn pass_demo(teacher: &mut WebTeacher<'_>, lang: &str, name: &str) -> String {
    teacher.says("/start").await;
    teacher
        .expect_reply_containing("Choose your language")
        .await;
    teacher.taps(lang).await;
    let (name_q, grades_q, consent_q, menu) = match lang {
        "ur" => ("آپ کا نام", "جماعتیں", "متفق", "مین مینو"),
        _ => ("What is your name", "Which grades", "Agree?", "Main menu"),
    };
    teacher.expect_reply_containing(name_q).await;
    teacher.says(name).await;
    teacher.expect_reply_containing(grades_q).await;
    teacher.says("3").await;
    teacher.expect_reply_containing(consent_q).await;
    teacher.says("haan").await;
    teacher.expect_reply_containing(menu).await;
    let (part1, part2, task, reflect, q1, q2) = match lang {
        "ur" => (
            "حصہ 1 از 2",
            "حصہ 2 از 2",
            "کل اشارہ",
            "کیا ہوا؟",
            "کلاس میں شور",
            "کتنی بار مشق",
        ),
        _ => (
            "part 1 of 2",
            "part 2 of 2",
            "Use the signal tomorrow",
            "What happened?",
            "The class is noisy",
            "How often",
        ),
    };
    teacher.taps("lessons").await;
    teacher.expect_reply_containing(part1).await;
    teacher.taps("next.1").await;
    teacher.expect_reply_containing(part2).await;
    teacher.says("next").await;
    teacher.expect_reply_containing(task).await;
    teacher.taps("next.task").await;
    teacher.expect_reply_containing(reflect).await;
    teacher.says("The children loved the clap signal.").await;
    teacher.expect_reply_containing(q1).await;
    teacher.says("2").await;
    teacher.expect_reply_containing(q2).await;
    teacher.taps("q2.1").await;
    let word = if lang == "ur" {
        "سرٹیفکیٹ"
    } else {
        "Certificate"
    };
    let passed = teacher.expect_reply_containing(word).await;
    passed
        .split_whitespace()
        .find(|w| w.len() == 9 && w.as_bytes()[4] == b'-')
        .expect("a code")
        .to_string()
}

/// The outgoing web-chat messages with a picture.
async fn pictures(app: &TestApp, teacher: &WebTeacher<'_>) -> Vec<(String, String)> {
    let _ = app;
    teacher.history().await["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| {
            Some((
                m["image"].as_str()?.to_string(),
                m["text"].as_str().unwrap_or("").to_string(),
            ))
        })
        .collect()
}

both_backends! {
    async fn a_passed_module_brings_the_picture_the_pathway_the_badges_and_a_verifiable_code(backend: Backend) {
        let Some(app) = TestApp::spawn(backend, fixture_content()).await else { return };
        let mut teacher = app.web_teacher("ayesha");
        let code = pass_demo(&mut teacher, "en", "Ayesha Khan").await;
        // The one demo module completes the fixture's "starter" pathway.
        let pathway = teacher.expect_reply_containing("Starter pathway").await;
        assert!(pathway.contains("pathway certificate"), "{pathway}");
        teacher.expect_reply_containing("Your first module is done").await;
        teacher.expect_reply_containing("Main menu").await;

        let pictures = pictures(&app, &teacher).await;
        assert_eq!(pictures.len(), 2, "{pictures:?}");
        assert_eq!(pictures[0].0, format!("/certificates/{code}.png"));
        assert!(pictures[0].1.contains("Ayesha Khan") && pictures[0].1.contains(&code), "{pictures:?}");
        let pathway_code = pictures[1].0.trim_start_matches("/certificates/").trim_end_matches(".png").to_string();
        assert_ne!(pathway_code, code);
        fetch_png(&app.client, &app.url(&pictures[0].0)).await;
        fetch_png(&app.client, &app.url(&pictures[1].0)).await;
        let store = app.conversations.store();
        let record = store.certificate_record(&pathway_code).await.expect("pathway certificate");
        assert_eq!(record.module, "pathway:starter");

        // The public page, in any case, and the 404 for a code that is no certificate.
        let page = app.client.get(app.url(&format!("/verify/{}", code.to_lowercase()))).send().await.expect("page");
        assert_eq!(page.status(), 200);
        let body = page.text().await.expect("body");
        assert!(body.contains("Ayesha Khan") && body.contains("Demo module") && body.contains("Valid"), "{body}");
        let unknown = app.client.get(app.url("/verify/ZZZZ-9999")).send().await.expect("page");
        assert_eq!(unknown.status(), 404);
        assert!(unknown.text().await.expect("body").contains("not a Baithak certificate"));
        let form = app.client.get(app.url(&format!("/verify?code=%20{code}%20"))).send().await.expect("form");
        assert_eq!(form.status(), 200);
        let empty = app.client.get(app.url("/verify")).send().await.expect("form");
        assert!(empty.text().await.expect("body").contains("<form"));
        let missing = app.client.get(app.url("/certificates/ZZZZ-9999.png")).send().await.expect("png");
        assert_eq!(missing.status(), 404);

        // Badges in My progress.
        teacher.taps("progress").await;
        let progress = teacher.expect_reply_containing("My progress").await;
        assert!(progress.contains("Badges") && progress.contains("🌱 First module passed"), "{progress}");
        assert!(progress.contains("Pathway completed: Starter pathway") && progress.contains(&pathway_code), "{progress}");

        // "/verify CODE" and Roman Urdu "tasdeeq" in the chat.
        teacher.says(&format!("/verify {}", code.to_lowercase())).await;
        let answer = teacher.expect_reply_containing("is valid").await;
        assert!(answer.contains("Ayesha Khan") && answer.contains("Demo module"), "{answer}");
        teacher.says("tasdeeq QQQQ-2222").await;
        teacher.expect_reply_containing("is not a Baithak certificate code").await;
        app.stop().await;
    }

    async fn an_urdu_teacher_gets_an_urdu_certificate_picture(backend: Backend) {
        let Some(app) = TestApp::spawn(backend, fixture_content()).await else { return };
        let mut teacher = app.web_teacher("nasreen");
        let code = pass_demo(&mut teacher, "ur", "نسرین اختر").await;
        teacher.expect_reply_containing("ابتدائی راستہ").await;
        let record = app.conversations.store().certificate_record(&code).await.expect("stored");
        assert_eq!(record.name.as_deref(), Some("نسرین اختر"));
        assert_eq!(record.language, "ur");
        fetch_png(&app.client, &app.url(&format!("/certificates/{code}.png"))).await;
        app.stop().await;
    }

    async fn on_telegram_the_certificate_is_a_photo_sent_by_url(backend: Backend) {
        let fake = FakeTelegram::start(FakeTelegramOptions::default()).await.expect("fake starts");
        let Some(database) = TestDatabase::create(backend).await else { return };
        let port = free_port();
        let public = format!("http://127.0.0.1:{port}");
        let settings = TelegramSettings {
            token: fake.token().to_string(),
            api_url: fake.api_url(),
            mode: Mode::Polling,
            webhook_secret: None,
            limits: RateLimits { global_per_second: 0, per_chat_per_second: 0, per_chat_burst: 0 },
            expert_group: None,
        };
        let app = TestApp::spawn_with(database, fixture_content(), Clock::System, |s| {
            s.telegram = Some(settings);
            s.listen = SocketAddr::from(([127, 0, 0, 1], port));
            s.public_url = Some(public.clone());
        })
        .await;
        let user = fake.add_user(4242, "Rubina", Some("en"));
        let mut seen = 0;
        let t = Tg { fake: &fake, user: &user };
        t.says("/start");
        t.expect(&mut seen, "Choose your language").await;
        t.taps("English");
        t.expect(&mut seen, "What is your name").await;
        t.says("Rubina Akhtar");
        t.expect(&mut seen, "Which grades").await;
        t.says("2, 3");
        t.expect(&mut seen, "Agree?").await;
        t.taps("Yes");
        t.expect(&mut seen, "Main menu").await;
        t.taps("Lessons");
        t.expect(&mut seen, "part 1 of 2").await;
        t.taps("Next ▶");
        t.expect(&mut seen, "part 2 of 2").await;
        t.taps("Next ▶");
        t.expect(&mut seen, "Use the signal tomorrow").await;
        t.taps("Next ▶");
        t.expect(&mut seen, "What happened?").await;
        t.says("They loved it.");
        t.expect(&mut seen, "The class is noisy").await;
        t.taps("Use the quiet signal");
        t.expect(&mut seen, "How often").await;
        t.says("1");
        t.expect(&mut seen, "Certificate").await;
        let photo = t.expect(&mut seen, "Verification code").await;
        assert_eq!(photo.media.as_deref(), Some("photo"), "{photo:?}");
        let requests = fake.requests_to("sendPhoto");
        assert_eq!(requests.len(), 1, "one photo");
        let url = requests[0].params["photo"].as_str().expect("photo by URL").to_string();
        assert!(url.starts_with(&format!("{public}/certificates/")) && url.ends_with(".png"), "{url}");
        let caption = photo.caption.clone().unwrap_or_default();
        assert!(caption.contains("Rubina Akhtar") && caption.contains("Demo module"), "{caption}");
        assert!(caption.contains(&format!("{public}/verify/")), "{caption}");
        fetch_png(&app.client, &url).await;
        app.stop().await;
    }

    async fn on_whatsapp_the_certificate_is_an_image_sent_by_link(backend: Backend) {
        let whatsapp = FakeWhatsApp::start(FakeWhatsAppOptions {
            status_delay: Duration::from_millis(5),
            ..FakeWhatsAppOptions::default()
        })
        .await
        .expect("fake WhatsApp starts");
        let Some(database) = TestDatabase::create(backend).await else { return };
        let port = free_port();
        let public = format!("http://127.0.0.1:{port}");
        let settings = WhatsAppSettings {
            verify_token: "verify".into(),
            app_secret: whatsapp.app_secret().to_string(),
            sending: Some(SendSettings {
                access_token: whatsapp.token().to_string(),
                phone_number_id: whatsapp.phone_number_id().to_string(),
                graph_url: whatsapp.graph_url(),
                api_version: whatsapp.api_version().to_string(),
                limits: SendLimits { per_second: 0, pair_burst: 0, ..SendLimits::default() },
                templates: Templates::default(),
            }),
        };
        let app = TestApp::spawn_with(database, fixture_content(), Clock::System, |s| {
            s.whatsapp = Some(settings);
            s.listen = SocketAddr::from(([127, 0, 0, 1], port));
            s.public_url = Some(format!("{public}/"));
        })
        .await;
        whatsapp.set_webhook(&app.url("/whatsapp/webhook"));
        let mut teacher = WaTeacher::new(&whatsapp, "923001110077", "Shabana");
        onboard(&mut teacher, "Shabana Bibi").await;
        teacher.taps("Lessons");
        teacher.expect("part 1 of 2").await;
        teacher.taps("Next ▶");
        teacher.expect("part 2 of 2").await;
        teacher.taps("Next ▶");
        teacher.expect("Use the signal tomorrow").await;
        teacher.taps("Next ▶");
        teacher.expect("What happened?").await;
        teacher.says("They loved it.");
        teacher.expect("The class is noisy").await;
        teacher.taps("Use the quiet signal");
        teacher.expect("How often").await;
        teacher.says("1");
        teacher.expect("Certificate").await;
        let image = teacher.expect("Verification code").await;
        assert_eq!(image.message_type, "image", "{image:?}");
        let media = image.media.clone().expect("media");
        let link = media.link.expect("sent by link");
        assert!(link.starts_with(&format!("{public}/certificates/")), "{link}");
        let caption = media.caption.unwrap_or_default();
        assert!(caption.contains("Shabana Bibi") && caption.contains(&format!("{public}/verify/")), "{caption}");
        fetch_png(&app.client, &link).await;
        app.stop().await;
    }
}

/// A teacher on the fake Bot API.
struct Tg<'a> {
    fake: &'a FakeTelegram,
    user: &'a UserHandle,
}

impl Tg<'_> {
    fn says(&self, text: &str) {
        self.fake.send_text(self.user, text).expect("update queued");
    }

    fn taps(&self, label: &str) {
        self.fake
            .press_label(self.user, label)
            .expect("button pressed");
    }

    async fn expect(&self, seen: &mut i64, needle: &str) -> SentMessage {
        let after = *seen;
        let found = self
            .fake
            .wait_for(
                self.user.id,
                |m| m.message_id > after && m.visible_text().contains(needle),
                DEADLINE,
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        *seen = found.message_id;
        found
    }
}
