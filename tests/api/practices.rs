//! Peer practice sharing end to end with the shipped content and a manual clock: a teacher on
//! the fake Telegram shares a practice with a photo through the guided dialogue, staff approve
//! it in the console (photo served, author told); a teacher on the fake WhatsApp shares one in
//! Roman Urdu and Urdu and staff reject it (author told); in the web chat the weekly job sends
//! an approved practice to its district's teachers only (not the author, not a teacher who
//! said STOP, not another district), once even when the job runs again, endorsements count
//! once per teacher, the author hears the day's total at 18:00, and ten endorsements earn the
//! recognition message once.

use std::time::Duration;

use baithak::channel::telegram::{Mode, RateLimits, TelegramSettings};
use baithak::channel::whatsapp::{SendLimits, SendSettings, Templates, WhatsAppSettings};
use baithak::clock::Clock;
use baithak::schedule::Outcome;
use baithak::scheduler::Handler;
use baithak::testkit::telegram::{FakeTelegram, FakeTelegramOptions};
use baithak::testkit::whatsapp::{FakeWhatsApp, FakeWhatsAppOptions, MediaKind, SentWa, WaUser};
use chrono::{DateTime, TimeZone, Utc};
use reqwest::StatusCode;

use crate::both_backends;
use crate::console::{Browser, account};
use crate::support::{Backend, TestApp, TestDatabase, WebTeacher, shipped_content};
use crate::telegram::Teacher as TgTeacher;

const DEADLINE: Duration = Duration::from_secs(20);

/// A local time in Karachi in November 2026 (Monday the 23rd is a Monday).
fn pkt(day: u32, hour: u32, minute: u32) -> DateTime<Utc> {
    chrono_tz::Asia::Karachi
        .with_ymd_and_hms(2026, 11, day, hour, minute, 0)
        .unwrap()
        .with_timezone(&Utc)
}

async fn staff(app: &TestApp) -> Browser<'_> {
    account(app, "maryam", "staff").await;
    let mut browser = Browser::new(app);
    browser.sign_in("maryam").await;
    browser
}

// ---------------------------------------------------------------------------------------------
// Telegram.

async fn telegram_app(backend: Backend, clock: Clock) -> Option<(TestApp, FakeTelegram)> {
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
    let app = TestApp::spawn_with(database, shipped_content(), clock, |s| {
        s.telegram = Some(settings);
    })
    .await;
    Some((app, fake))
}

fn photo_update(chat: i64) -> serde_json::Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/telegram/tg09_photo_with_caption.json");
    let mut update: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("fixture")).expect("JSON");
    update["message"]["chat"]["id"] = chat.into();
    update["message"]["from"]["id"] = chat.into();
    update
}

// ---------------------------------------------------------------------------------------------
// WhatsApp.

struct WaTeacher<'a> {
    fake: &'a FakeWhatsApp,
    user: WaUser,
    seen: usize,
}

impl WaTeacher<'_> {
    fn says(&self, text: &str) {
        self.fake.send_text(&self.user, text).expect("message sent");
    }

    fn accepted(&self) -> Vec<SentWa> {
        self.fake
            .sent_to(self.user.address())
            .into_iter()
            .filter(SentWa::is_accepted)
            .collect()
    }

    /// Taps the newest button or list row whose title contains `part`.
    fn taps(&self, part: &str) {
        for message in self.accepted().iter().rev() {
            if let Some(b) = message.buttons.iter().find(|b| b.title.contains(part)) {
                self.fake
                    .press_button(&self.user, &b.id, &b.title)
                    .expect("pressed");
                return;
            }
            if let Some(r) = message.rows.iter().find(|r| r.title.contains(part)) {
                self.fake
                    .choose_list_row(&self.user, &r.id, &r.title)
                    .expect("chosen");
                return;
            }
        }
        panic!("no button or row with `{part}`");
    }

    async fn expect(&mut self, needle: &str) -> SentWa {
        let seen = self.seen;
        let address = self.user.address().to_string();
        let found = self
            .fake
            .wait_until(DEADLINE, |fake| {
                fake.sent_to(&address)
                    .into_iter()
                    .filter(SentWa::is_accepted)
                    .enumerate()
                    .skip(seen)
                    .find(|(_, m)| m.visible_text().contains(needle))
            })
            .await
            .unwrap_or_else(|_| {
                let texts: Vec<String> = self
                    .accepted()
                    .iter()
                    .map(|m| m.visible_text().to_string())
                    .collect();
                panic!("no message with `{needle}` after {seen}; sent: {texts:#?}")
            });
        self.seen = found.0 + 1;
        found.1
    }
}

async fn whatsapp_app(backend: Backend, clock: Clock) -> Option<(TestApp, FakeWhatsApp)> {
    let fake = FakeWhatsApp::start(FakeWhatsAppOptions {
        clock: clock.clone(),
        status_delay: Duration::from_millis(5),
        ..FakeWhatsAppOptions::default()
    })
    .await
    .expect("fake WhatsApp starts");
    fake.approve_template("baithak_reply_waiting", "en");
    let database = TestDatabase::create(backend).await?;
    let settings = WhatsAppSettings {
        verify_token: "verify".into(),
        app_secret: fake.app_secret().to_string(),
        sending: Some(SendSettings {
            access_token: fake.token().to_string(),
            phone_number_id: fake.phone_number_id().to_string(),
            graph_url: fake.graph_url(),
            api_version: fake.api_version().to_string(),
            limits: SendLimits {
                per_second: 0,
                pair_burst: 0,
                ..SendLimits::default()
            },
            templates: Templates {
                reengage: "baithak_reply_waiting".into(),
                ..Templates::default()
            },
        }),
    };
    let app = TestApp::spawn_with(database, shipped_content(), clock, |s| {
        s.whatsapp = Some(settings);
    })
    .await;
    fake.set_webhook(&app.url("/whatsapp/webhook"));
    Some((app, fake))
}

// ---------------------------------------------------------------------------------------------
// The web chat.

/// Onboards in English as a teacher of `district`; ends at the main menu.
async fn onboard_web(teacher: &mut WebTeacher<'_>, name: &str, district: &str) {
    teacher.says("/start").await;
    teacher.expect_reply_containing("Which language").await;
    teacher.taps("en").await;
    teacher.expect_reply_containing("What is your name").await;
    teacher.says(name).await;
    teacher.expect_reply_containing("role").await;
    teacher.taps("teacher").await;
    teacher.expect_reply_containing("district").await;
    teacher.says(district).await;
    teacher.expect_reply_containing("name of your school").await;
    teacher.says(&format!("GPS {district} 1")).await;
    teacher.expect_reply_containing("grades").await;
    teacher.says("3, 4").await;
    teacher.expect_reply_containing("subjects").await;
    teacher.taps("maths").await;
    teacher.expect_reply_containing("🔒").await;
    teacher.taps("agree").await;
    teacher.expect_reply_containing("🏠").await;
}

both_backends! {
    async fn a_telegram_teacher_shares_a_practice_with_a_photo_and_staff_approve_it(backend: Backend) {
        let Some((app, fake)) = telegram_app(backend, Clock::manual(pkt(23, 11, 0))).await else { return };
        let mut t = TgTeacher { fake: &fake, user: fake.add_user(8101, "Ayesha", None), last_seen: 0 };
        t.says("/start");
        t.expect("Which language").await;
        t.taps("English");
        t.expect("What is your name").await;
        t.says("Ayesha Khan");
        t.expect("role").await;
        t.taps("Teacher");
        t.expect("district").await;
        t.says("Kasur");
        t.expect("name of your school").await;
        t.says("GGPS Chak 12");
        t.expect("grades").await;
        t.says("3, 4");
        t.expect("subjects").await;
        t.taps("Maths");
        t.expect("Do you agree").await;
        t.taps("Yes, I agree");
        t.expect("Main menu").await;

        t.taps("🤝 Share a practice");
        t.expect("What did you try").await;
        t.says("Counting with bottle caps in pairs");
        t.expect("Which class").await;
        t.taps("Grade 4");
        t.expect("Which subject").await;
        t.taps("Maths");
        t.expect("What happened").await;
        t.says("Every pair counted to 50; the quiet ones led");
        t.expect("photo").await;
        fake.send_update(photo_update(8101)).expect("photo");
        let summary = t.expect("Here is what you will share").await;
        assert!(summary.visible_text().contains("Grade 4 · Maths"), "{}", summary.visible_text());
        assert!(summary.visible_text().contains("📷 attached"));
        t.taps("✅ Send");
        t.expect("A mentor will review").await;

        let store = app.conversations.store();
        let pending = store.practices(Some("pending"), 10).await.expect("read");
        assert_eq!(pending.len(), 1);
        let practice = &pending[0];
        assert_eq!(practice.district, "Kasur");
        assert_eq!(practice.school, "GGPS Chak 12");
        assert_eq!(practice.class, "Grade 4 · Maths");
        let file_id = practice.photo_file_id.clone().expect("photo kept");
        let jpeg = b"\xFF\xD8\xFF\xE0 the chart".to_vec();
        fake.add_file(&file_id, jpeg.clone());

        // An expert may not review practices; staff may.
        account(&app, "sana", "expert").await;
        let mut expert = Browser::new(&app);
        expert.sign_in("sana").await;
        assert_eq!(expert.get("/console/practices").await.status, StatusCode::FORBIDDEN);
        let staff = staff(&app).await;
        let page = staff.get("/console/practices").await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(page.body.contains("Counting with bottle caps in pairs"), "{}", page.body);
        let photo = staff.get(&format!("/console/practices/{}/photo", practice.id)).await;
        assert_eq!(photo.status, StatusCode::OK);
        assert_eq!(photo.header("content-type"), "image/jpeg");
        assert_eq!(photo.bytes, jpeg);
        // Without the form token nothing happens.
        let forged = staff.post(&format!("/console/practices/{}/approve", practice.id), &[("csrf", "nope")]).await;
        assert_eq!(forged.status, StatusCode::FORBIDDEN);
        let approved = staff
            .post(&format!("/console/practices/{}/approve", practice.id), &[("note", "Lovely idea")])
            .await;
        assert_eq!(approved.status, StatusCode::SEE_OTHER, "{}", approved.body);
        let told = t.expect("was approved").await;
        assert!(told.visible_text().contains("Lovely idea"));
        // A second review changes nothing.
        let again = staff.post(&format!("/console/practices/{}/reject", practice.id), &[]).await;
        assert_eq!(again.status, StatusCode::CONFLICT);
        let practice = store.practice(practice.id).await.expect("read").expect("there");
        assert_eq!(practice.status, "approved");
        app.stop().await;
    }

    async fn a_whatsapp_teacher_shares_in_roman_urdu_and_urdu_and_staff_reject_it(backend: Backend) {
        let clock = Clock::manual(pkt(23, 11, 0));
        let Some((app, fake)) = whatsapp_app(backend, clock).await else { return };
        let mut t = WaTeacher { user: fake.add_user("923001234001", "Bushra"), fake: &fake, seen: 0 };
        t.says("Hi");
        t.expect("Which language").await;
        t.taps("English");
        t.expect("What is your name").await;
        t.says("Bushra");
        t.expect("role").await;
        t.taps("Teacher");
        t.expect("district").await;
        t.says("Lahore");
        t.expect("name of your school").await;
        t.says("GGHS Lahore");
        t.expect("grades").await;
        t.says("5");
        t.expect("subjects").await;
        t.says("Urdu");
        t.expect("Do you agree").await;
        t.taps("Yes");
        t.expect("Main menu").await;

        t.says("tajruba");
        t.expect("What did you try").await;
        t.says("Maine bachon ko kahani sunai aur unhon ne apni kahani likhi");
        t.expect("Which class").await;
        t.says("5");
        t.expect("Which subject").await;
        t.says("اردو");
        t.expect("What happened").await;
        t.says("سب بچوں نے شوق سے لکھا");
        t.expect("photo").await;
        fake.send_media(&t.user, MediaKind::Image, None).expect("photo");
        t.expect("Here is what you will share").await;
        t.says("bhejo");
        t.expect("A mentor will review").await;

        let store = app.conversations.store();
        let pending = store.practices(Some("pending"), 10).await.expect("read");
        assert_eq!(pending.len(), 1);
        assert_eq!(pending[0].what, "Maine bachon ko kahani sunai aur unhon ne apni kahani likhi");
        assert_eq!(pending[0].result, "سب بچوں نے شوق سے لکھا");
        assert_eq!(pending[0].class, "Grade 5 · اردو");
        assert_eq!(pending[0].photo_channel.as_deref(), Some("whatsapp"));

        let staff = staff(&app).await;
        let rejected = staff
            .post(&format!("/console/practices/{}/reject", pending[0].id), &[("note", "Please add what the children did")])
            .await;
        assert_eq!(rejected.status, StatusCode::SEE_OTHER);
        let told = t.expect("will not be shown").await;
        assert!(told.visible_text().contains("Please add what the children did"));
        let page = staff.get("/console/practices?status=rejected").await;
        assert!(page.body.contains("kahani"), "{}", page.body);
        app.stop().await;
    }

    async fn the_practice_of_the_week_reaches_its_district_once_and_endorsements_are_told(backend: Backend) {
        let Some(database) = TestDatabase::create(backend).await else { return };
        // Sunday 22 November 2026, 11:00 in Karachi.
        let app = TestApp::spawn_with(database, shipped_content(), Clock::manual(pkt(22, 11, 0)), |_| {}).await;
        let mut author = app.web_teacher("author");
        onboard_web(&mut author, "Ayesha Khan", "Kasur").await;
        author.taps("practice").await;
        author.expect_reply_containing("What did you try").await;
        author.says("Bottle caps for counting").await;
        author.expect_reply_containing("Which class").await;
        author.says("4").await;
        author.expect_reply_containing("Which subject").await;
        author.says("Maths").await;
        author.expect_reply_containing("What happened").await;
        author.says("Everyone counted").await;
        author.expect_reply_containing("photo").await;
        author.says("skip").await;
        author.expect_reply_containing("Here is what you will share").await;
        author.taps("pg.practice.send").await;
        author.expect_reply_containing("A mentor will review").await;

        let mut peers = Vec::new();
        for n in 0..11 {
            let mut peer = app.web_teacher(&format!("peer{n}"));
            onboard_web(&mut peer, &format!("Peer {n}"), if n % 2 == 0 { "Kasur" } else { " kasur " }).await;
            peers.push(peer);
        }
        let mut stopped = app.web_teacher("stopped");
        onboard_web(&mut stopped, "Sadia", "Kasur").await;
        stopped.says("STOP").await;
        stopped.expect_reply_containing("").await;
        let mut elsewhere = app.web_teacher("elsewhere");
        onboard_web(&mut elsewhere, "Imran", "Lahore").await;

        let store = app.conversations.store();
        let id = store.practices(Some("pending"), 10).await.expect("read")[0].id;
        let staff = staff(&app).await;
        let approved = staff.post(&format!("/console/practices/{id}/approve"), &[]).await;
        assert_eq!(approved.status, StatusCode::SEE_OTHER);
        author.expect_reply_containing("was approved").await;

        // Monday 10:00: the weekly job.
        let clock = app.conversations.clock();
        clock.advance(pkt(23, 10, 0) - clock.now());
        for peer in &mut peers {
            let card = peer.expect_reply_containing("Practice of the week").await;
            assert!(card.contains("Ayesha"), "{card}");
            assert!(card.contains("GPS Kasur 1"), "{card}");
            assert!(!card.contains("Khan"), "only the first name: {card}");
        }
        // Running it again this week sends nothing new.
        let job = store.job(&format!("practice.send:{id}:2026-W48:0")).await.expect("read").expect("the page job");
        let again = baithak::scheduler::practice::Week.run(&app.conversations, &job).await;
        assert!(matches!(again, Outcome::Done), "{again:?}");
        let again = baithak::scheduler::practice::Send.run(&app.conversations, &job).await;
        assert!(matches!(again, Outcome::Done), "{again:?}");
        // The first peer endorses, twice; the second time is already counted.
        peers[0].taps(&format!("pg.endorse:{id}")).await;
        peers[0].expect_reply_containing("Thank you").await;
        peers[0].taps(&format!("pg.endorse:{id}")).await;
        peers[0].expect_reply_containing("already counted").await;
        for peer in &mut peers[1..10] {
            peer.taps(&format!("pg.endorse:{id}")).await;
            peer.expect_reply_containing("Thank you").await;
        }
        for peer in &peers {
            let history = peer.history().await.to_string();
            assert_eq!(history.matches("tried this with").count(), 1, "once: {history}");
        }
        for other in [&stopped, &elsewhere, &author] {
            let history = other.history().await.to_string();
            assert!(!history.contains("tried this with"), "{history}");
        }
        assert_eq!(store.practice(id).await.expect("read").expect("there").endorsements, 10);

        // 18:00: the author hears the day's total, and the milestone.
        clock.advance(pkt(23, 18, 0) - clock.now());
        author.expect_reply_containing("10 teachers have endorsed").await;
        author.expect_reply_containing("endorsed 10 times").await;
        // The next day an 11th endorsement: told again, the milestone not.
        clock.advance(pkt(24, 10, 0) - clock.now());
        peers[10].taps(&format!("pg.endorse:{id}")).await;
        peers[10].expect_reply_containing("Thank you").await;
        clock.advance(pkt(24, 18, 0) - clock.now());
        author.expect_reply_containing("11 teachers have endorsed").await;
        let history = author.history().await.to_string();
        assert_eq!(history.matches("endorsed 10 times").count(), 1);
        assert!(!history.contains("endorsed 11 times"), "{history}");
        // "practice of the week" shows a peer the card again.
        peers[1].says("practice of the week").await;
        peers[1].expect_reply_containing("Bottle caps").await;
        app.stop().await;
    }
}
