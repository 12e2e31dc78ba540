//! `/metrics`: what a web-chat teacher and a Telegram teacher do shows up in the counters, the
//! backlog and ticket gauges are there, every name is Baithak's, and nothing on the page names
//! a teacher or repeats what they wrote.
//!
//! Every test in this binary shares one recorder (one process), so counters are compared
//! before and after, and only ever by "at least".

use std::collections::BTreeMap;
use std::time::Duration;

use baithak::channel::telegram::{Mode, RateLimits, TelegramSettings};
use baithak::clock::Clock;
use baithak::testkit::telegram::{FakeTelegram, FakeTelegramOptions};
use serde_json::json;

use crate::both_backends;
use crate::support::{Backend, TestApp, TestDatabase, fixture_content, new_id, ticket_code};
use crate::telegram::Teacher;

const SECRET: &str = "metrics-secret_42";
const DEADLINE: Duration = Duration::from_secs(15);

/// The web teacher's name and what they write: none of it may reach the page.
const WEB_NAME: &str = "Zarmeena Metricsworth";
const PHONE: &str = "03214567890";
const WEB_QUESTION: &str = "my class is too noisy, what do i do? call me on 03214567890";
/// The Telegram teacher.
const TG_ID: i64 = 730_551_219;
const TG_NAME: &str = "Gulnaz Scrapewell";
const TG_TYPED_NAME: &str = "Gulnaz";
const TG_QUESTION: &str = "my class is too noisy, what do i do";

/// One sample: its name, its labels, its value.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// A scraped page, parsed.
struct Page {
    text: String,
    samples: Vec<Sample>,
}

impl Page {
    /// The sum of the samples of `name` that carry all of `labels`; 0 when there are none.
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.matching(name, labels).map(|s| s.value).sum()
    }

    fn has(&self, name: &str, labels: &[(&str, &str)]) -> bool {
        self.matching(name, labels).next().is_some()
    }

    fn matching<'a>(
        &'a self,
        name: &'a str,
        labels: &'a [(&'a str, &'a str)],
    ) -> impl Iterator<Item = &'a Sample> + 'a {
        self.samples.iter().filter(move |s| {
            s.name == name
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
    }
}

/// Parses Prometheus' text format (what this page uses of it: names, quoted labels with
/// escapes, a value).
fn parse(text: &str) -> Vec<Sample> {
    let mut samples = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').expect("a value after the series");
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("a number in {line:?}"));
        let (name, labels) = match series.split_once('{') {
            None => (series.to_string(), BTreeMap::new()),
            Some((name, rest)) => {
                let body = rest.strip_suffix('}').expect("labels closed");
                (name.to_string(), parse_labels(body))
            }
        };
        samples.push(Sample {
            name,
            labels,
            value,
        });
    }
    samples
}

fn parse_labels(body: &str) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    let mut chars = body.chars().peekable();
    loop {
        let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
        if key.is_empty() {
            return labels;
        }
        assert_eq!(chars.next(), Some('"'), "label {key} quoted in {body:?}");
        let mut value = String::new();
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some('n') => value.push('\n'),
                    Some(other) => value.push(other),
                    None => break,
                },
                '"' => break,
                c => value.push(c),
            }
        }
        labels.insert(key.trim_start_matches(',').to_string(), value);
        if chars.peek() == Some(&',') {
            chars.next();
        }
    }
}

/// `GET /metrics`: checks the content type and parses the page.
async fn scrape(app: &TestApp) -> Page {
    let response = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("scrape");
    assert_eq!(response.status(), 200);
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "Prometheus text format: {content_type}"
    );
    let text = response.text().await.expect("body");
    let samples = parse(&text);
    Page { text, samples }
}

/// The app with a fake Bot API delivering by webhook, no sending limits.
async fn spawn(backend: Backend) -> Option<(TestApp, FakeTelegram)> {
    let fake = FakeTelegram::start(FakeTelegramOptions::default())
        .await
        .expect("fake starts");
    let database = TestDatabase::create(backend).await?;
    let settings = TelegramSettings {
        token: fake.token().to_string(),
        api_url: fake.api_url(),
        mode: Mode::Webhook,
        webhook_secret: Some(SECRET.to_string()),
        limits: RateLimits {
            global_per_second: 0,
            per_chat_per_second: 0,
            per_chat_burst: 0,
        },
        expert_group: None,
    };
    let app = TestApp::spawn_with(database, fixture_content(), Clock::System, |s| {
        s.telegram = Some(settings);
    })
    .await;
    let api = baithak::channel::telegram::client::BotApi::new(&fake.api_url(), fake.token())
        .expect("client");
    api.set_webhook(&app.url("/telegram/webhook"), SECRET)
        .await
        .expect("setWebhook");
    Some((app, fake))
}

/// Waits until no Telegram outbox row is pending: every send has been counted by then (a
/// row is marked sent only after its send returned), looking again after every delivery.
async fn telegram_outbox_drained(app: &TestApp) {
    let store = app.conversations.store();
    let mut deliveries = app.conversations.subscribe_deliveries();
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while !store
        .pending_outbox("telegram", 1)
        .await
        .expect("outbox")
        .is_empty()
    {
        tokio::select! {
            changed = deliveries.changed() => changed.expect("alive"),
            () = tokio::time::sleep_until(deadline) => panic!("Telegram outbox not drained within {DEADLINE:?}"),
        }
    }
}

/// Every sample, `# HELP` and `# TYPE` line names a `baithak_` metric.
fn assert_all_names_are_baithaks(page: &Page) {
    for sample in &page.samples {
        assert!(
            sample.name.starts_with("baithak_"),
            "{} is not a baithak_ metric",
            sample.name
        );
    }
    for line in page.text.lines().filter(|l| l.starts_with('#')) {
        let name = line.split_whitespace().nth(2).unwrap_or("");
        assert!(name.starts_with("baithak_"), "{line}");
    }
}

both_backends! {
    async fn a_web_and_a_telegram_exchange_are_counted_without_naming_anyone(backend: Backend) {
        let Some((app, fake)) = spawn(backend).await else { return };
        let before = scrape(&app).await;

        // A web-chat teacher onboards and asks a question, and one message arrives twice.
        let web_user = format!("metrics-{}", new_id());
        let mut web = app.web_teacher(&web_user);
        web.says("/start").await;
        web.expect_reply_containing("Choose your language").await;
        web.taps("en").await;
        web.expect_reply_containing("What is your name").await;
        web.says(WEB_NAME).await;
        web.expect_reply_containing("Which grades").await;
        web.says("4").await;
        web.expect_reply_containing("Agree?").await;
        web.says("yes").await;
        web.expect_reply_containing("Main menu").await;
        web.says(WEB_QUESTION).await;
        web.expect_reply_containing("Did this help?").await;
        let repeated = json!({ "user": web_user, "id": new_id(), "text": "help" });
        for _ in 0..2 {
            let response = app.client.post(app.url("/api/web/messages")).json(&repeated).send().await.expect("post");
            assert_eq!(response.status(), 202);
        }
        // A Telegram teacher onboards, asks, and opens a ticket.
        let mut teacher = Teacher::new(&fake, TG_ID, TG_NAME);
        teacher.says("/start");
        teacher.expect("Choose your language").await;
        teacher.taps("English");
        teacher.expect("What is your name").await;
        teacher.says(TG_TYPED_NAME);
        teacher.expect("Which grades").await;
        teacher.says("4");
        teacher.expect("Agree?").await;
        teacher.taps("Yes");
        teacher.expect("Main menu").await;
        teacher.says(TG_QUESTION);
        teacher.expect("Did this help?").await;
        teacher.taps("👎 No");
        let opened = teacher.expect("HD-").await;
        let code = ticket_code(opened.visible_text());
        telegram_outbox_drained(&app).await;
        let after = scrape(&app).await;

        let delta = |name: &str, labels: &[(&str, &str)]| after.value(name, labels) - before.value(name, labels);
        // Inbound: 7 web messages (the repeat once), 7 Telegram updates; the repeat ignored.
        assert!(delta("baithak_inbound_total", &[("channel", "web")]) >= 7.0, "{}", after.text);
        assert!(delta("baithak_inbound_total", &[("channel", "telegram")]) >= 7.0, "{}", after.text);
        assert!(delta("baithak_inbound_duplicates_total", &[("channel", "web")]) >= 1.0, "{}", after.text);
        // Processed: all 14 but perhaps the very last, whose count follows its commit.
        assert!(delta("baithak_processed_total", &[("outcome", "done")]) >= 13.0, "{}", after.text);
        assert!(delta("baithak_processing_seconds_count", &[]) >= 13.0, "{}", after.text);
        assert!(after.has("baithak_processing_seconds_bucket", &[("le", "+Inf")]), "a histogram: {}", after.text);
        // Sends: the Telegram replies went out through the dispatcher.
        assert!(delta("baithak_sends_total", &[("channel", "telegram"), ("result", "sent")]) >= 7.0, "{}", after.text);
        assert!(delta("baithak_send_seconds_count", &[("channel", "telegram")]) >= 7.0, "{}", after.text);
        // HTTP, by route pattern: the web chat's posts, the webhook, the first scrape.
        assert!(delta("baithak_http_requests_total", &[("route", "/api/web/messages"), ("status", "202")]) >= 8.0, "{}", after.text);
        assert!(delta("baithak_http_requests_total", &[("route", "/telegram/webhook"), ("status", "200")]) >= 7.0, "{}", after.text);
        assert!(delta("baithak_http_requests_total", &[("route", "/metrics"), ("status", "200")]) >= 1.0, "{}", after.text);
        assert!(after.has("baithak_http_request_seconds_count", &[("route", "/api/web/messages")]), "{}", after.text);
        // Gauges from this app's own database.
        assert_eq!(after.value("baithak_tickets", &[("status", "open")]), 1.0, "{}", after.text);
        for status in ["claimed", "answered", "closed"] {
            assert!(after.has("baithak_tickets", &[("status", status)]), "{status}: {}", after.text);
        }
        for channel in ["telegram", "whatsapp", "web"] {
            for gauge in ["baithak_outbox_depth", "baithak_outbox_oldest_age_seconds", "baithak_inbox_pending", "baithak_inbox_oldest_age_seconds"] {
                assert!(after.has(gauge, &[("channel", channel)]), "{gauge}{{channel={channel}}}: {}", after.text);
            }
        }
        assert_eq!(after.value("baithak_outbox_depth", &[("channel", "telegram")]), 0.0, "drained: {}", after.text);
        assert_eq!(after.value("baithak_up", &[]), 1.0);
        // Names and labels: Baithak's names; no teacher, phone, message or ticket code.
        assert_all_names_are_baithaks(&after);
        let tg_id = TG_ID.to_string();
        let secrets = [WEB_NAME, "Zarmeena", "Metricsworth", PHONE, WEB_QUESTION, "noisy", TG_NAME, "Gulnaz", TG_QUESTION, tg_id.as_str(), web_user.as_str(), code.as_str()];
        for secret in secrets {
            assert!(!after.text.contains(secret), "{secret:?} on the metrics page");
        }
        for sample in &after.samples {
            for (key, value) in &sample.labels {
                assert!(
                    ["channel", "kind", "result", "status", "outcome", "route", "le", "version"].contains(&key.as_str()),
                    "label {key} on {}", sample.name
                );
                assert!(!value.contains("HD-") && !value.chars().any(|c| c.is_ascii_digit() && key == "route"), "{key}={value:?}");
            }
        }
        app.stop().await;
    }

    async fn the_backlog_gauges_follow_what_waits_in_this_database(backend: Backend) {
        let Some(app) = TestApp::spawn(backend, fixture_content()).await else { return };
        let user = format!("backlog-{}", new_id());
        let mut commits = app.conversations.subscribe();
        let body = json!({ "user": user, "id": new_id(), "text": "/start" });
        let response = app.client.post(app.url("/api/web/messages")).json(&body).send().await.expect("post");
        assert_eq!(response.status(), 202);

        // The reply waits in the outbox until the browser reads it: look after every commit.
        let deadline = tokio::time::Instant::now() + DEADLINE;
        let waiting = loop {
            let page = scrape(&app).await;
            if page.value("baithak_outbox_depth", &[("channel", "web")]) >= 1.0 {
                break page;
            }
            tokio::select! {
                changed = commits.changed() => changed.expect("alive"),
                () = tokio::time::sleep_until(deadline) => panic!("no reply queued within {DEADLINE:?}: {}", page.text),
            }
        };
        assert!(waiting.has("baithak_outbox_oldest_age_seconds", &[("channel", "web")]), "{}", waiting.text);
        assert_eq!(waiting.value("baithak_inbox_pending", &[("channel", "web")]), 0.0, "processed: {}", waiting.text);
        assert_eq!(waiting.value("baithak_tickets", &[("status", "open")]), 0.0, "{}", waiting.text);

        // The browser reads it: nothing waits any more, and the gauges say so (no stale value).
        let mut teacher = app.web_teacher(&user);
        teacher.expect_reply_containing("Choose your language").await;
        let read = scrape(&app).await;
        assert_eq!(read.value("baithak_outbox_depth", &[("channel", "web")]), 0.0, "{}", read.text);
        assert_eq!(read.value("baithak_outbox_oldest_age_seconds", &[("channel", "web")]), 0.0, "{}", read.text);
        assert!(!read.text.contains(&user), "no user id on the page");
        app.stop().await;
    }
}
