//! The CPD planning loop: an issue marked planned, a session, and the teachers who asked told through their channel.
//!
//! Teachers ask the same thing in their own words; staff find it among the recurring issues,
//! plan a CPD session on it from the console, and each teacher who asked gets one notice in
//! their language (a replayed form tells nobody twice); a teacher who turned notices off is
//! skipped and counted; one outside WhatsApp's 24-hour window gets it after the template;
//! only staff may plan, with the session's token, and what they type reaches teachers as
//! plain text.

use baithak::channel::whatsapp::RESUME_PAYLOAD;
use baithak::clock::Clock;
use baithak::store::notice_external_id;
use chrono::{TimeZone, Utc};
use reqwest::StatusCode;

use crate::both_backends;
use crate::console::{Browser, Page, account};
use crate::helpdesk::onboard;
use crate::support::database::{Backend, TestDatabase};
use crate::support::{TestApp, WebTeacher, fixture_content};
use crate::whatsapp_chat::{self, DEADLINE, Setup, Teacher, wait_rows};

/// The same problem, a noisy class, as teachers type it.
const NOISY: [&str; 3] = [
    "my class is too noisy, what do i do",
    "میری کلاس میں بہت شور ہوتا ہے، کیا کروں",
    "meri class mein bohat shor hota hai kya karun",
];

/// Monday 23 November 2026, 10:00 in Karachi.
fn monday_morning() -> Clock {
    Clock::manual(Utc.with_ymd_and_hms(2026, 11, 23, 5, 0, 0).unwrap())
}

async fn app(backend: Backend) -> Option<TestApp> {
    let database = TestDatabase::create(backend).await?;
    Some(TestApp::spawn_with(database, fixture_content(), monday_morning(), |_| {}).await)
}

async fn onboard_in_urdu(teacher: &mut WebTeacher<'_>) {
    teacher.says("/start").await;
    teacher
        .expect_reply_containing("Choose your language")
        .await;
    teacher.taps("ur").await;
    teacher.expect_reply_containing("آپ کا نام کیا ہے؟").await;
    teacher.says("Saima Bibi").await;
    teacher.expect_reply_containing("جماعتیں").await;
    teacher.says("۳").await;
    teacher.expect_reply_containing("متفق").await;
    teacher.says("haan").await;
    teacher.expect_reply_containing("مین مینو").await;
}

/// Asks and waits for the bot's answer (and the menu again after a ticket).
async fn asks(teacher: &mut WebTeacher<'_>, question: &str) {
    teacher.says(question).await;
    let reply = teacher.expect_reply_containing("").await;
    if reply.contains("HD-") {
        teacher.expect_reply_containing("Main menu").await;
    }
}

/// The key (`Q123`) of the recurring issue asked `size` times, from the insights page.
async fn issue_of(staff: &Browser<'_>, size: usize) -> String {
    let page = staff.get("/console/insights").await;
    assert_eq!(page.status, StatusCode::OK);
    let card = page
        .body
        .split("<article")
        .skip(1)
        .find(|card| card.contains(&format!("<strong>{size} questions</strong>")))
        .unwrap_or_else(|| panic!("an issue of {size} questions: {}", page.body));
    assert!(card.contains("/console/plans/new?issue="), "{card}");
    let at = card.find("id=\"issue-").expect("issue id") + "id=\"issue-".len();
    card[at..].split('"').next().expect("key").to_string()
}

/// A field's value in a rendered form, unescaped as a browser would.
fn field(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let at = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no field {name} in {html}"))
        + marker.len();
    let raw = html[at..].split('"').next().expect("value");
    raw.replace("&#38;", "&")
        .replace("&amp;", "&")
        .replace("&#61;", "=")
        .replace("&#34;", "\"")
        .replace("&#39;", "'")
        .replace("&#60;", "<")
        .replace("&#62;", ">")
}

/// A session's fields, as staff fill them in.
struct Session<'a> {
    title: &'a str,
    date: &'a str,
    time: &'a str,
    mode: &'a str,
    place: &'a str,
}

const THURSDAY: Session<'static> = Session {
    title: "Quiet signals that work",
    date: "2026-11-26",
    time: "16:00",
    mode: "cpd_hour",
    place: "Staff room, GHS Model Town",
};

/// Opens the new-plan form of `issue` and returns its hidden fields `(nonce, filters)`.
async fn open_form(staff: &Browser<'_>, issue: &str) -> (String, String) {
    let form = staff
        .get(&format!("/console/plans/new?issue={issue}"))
        .await;
    assert_eq!(form.status, StatusCode::OK, "{}", form.body);
    (field(&form.body, "nonce"), field(&form.body, "filters"))
}

/// Posts the new-plan form.
async fn post_plan(
    staff: &Browser<'_>,
    issue: &str,
    (nonce, filters): &(String, String),
    session: &Session<'_>,
) -> Page {
    staff
        .post(
            "/console/plans",
            &[
                ("nonce", nonce),
                ("issue", issue),
                ("filters", filters),
                ("session", "new"),
                ("title", session.title),
                ("date", session.date),
                ("time", session.time),
                ("mode", session.mode),
                ("place", session.place),
            ],
        )
        .await
}

/// The plan page a post redirected to.
fn plan_path(posted: &Page) -> String {
    assert_eq!(posted.status, StatusCode::SEE_OTHER, "{}", posted.body);
    let to = posted.location.clone().expect("redirect");
    assert!(to.starts_with("/console/plans/"), "{to}");
    to
}

/// Reads `path` until it contains `needle`, looking again after every commit and delivery.
async fn page_once(app: &TestApp, staff: &Browser<'_>, path: &str, needle: &str) -> Page {
    let mut commits = app.conversations.subscribe();
    let mut deliveries = app.conversations.subscribe_deliveries();
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let page = staff.get(path).await;
        if page.body.contains(needle) {
            return page;
        }
        let waited = tokio::time::timeout_at(deadline, async {
            tokio::select! {
                changed = commits.changed() => changed.expect("alive"),
                changed = deliveries.changed() => changed.expect("alive"),
            }
        })
        .await;
        assert!(waited.is_ok(), "no {needle:?} on {path}: {}", page.body);
    }
}

/// Outbox rows of a web teacher whose message contains `needle`.
async fn web_rows_with(app: &TestApp, user: &str, needle: &str) -> usize {
    let rows = app
        .conversations
        .store()
        .deliveries("web", user)
        .await
        .expect("rows");
    rows.iter().filter(|r| r.payload.contains(needle)).count()
}

/// Owned form fields as the browser helper takes them.
fn pairs(fields: &[(String, String)]) -> Vec<(&str, &str)> {
    fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect()
}

/// Waits until no inbox event is pending.
async fn inbox_drained(app: &TestApp) {
    let store = app.conversations.store();
    let mut commits = app.conversations.subscribe();
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while !store.pending_inbox(1).await.expect("inbox").is_empty() {
        tokio::time::timeout_at(deadline, commits.changed())
            .await
            .expect("processed")
            .expect("alive");
    }
}

both_backends! {
    async fn teachers_who_asked_are_told_once_each_in_their_language(backend: Backend) {
        let Some(app) = app(backend).await else { return };
        let mut amina = app.web_teacher("amina");
        onboard(&mut amina).await;
        asks(&mut amina, NOISY[0]).await;
        let mut saima = app.web_teacher("saima");
        onboard_in_urdu(&mut saima).await;
        asks(&mut saima, NOISY[1]).await;
        let mut rubina = app.web_teacher("rubina");
        onboard(&mut rubina).await;
        asks(&mut rubina, NOISY[2]).await;
        account(&app, "farah", "staff").await;
        let mut farah = Browser::new(&app);
        farah.sign_in("farah").await;

        // The issue, its three askers, and the form.
        let issue = issue_of(&farah, 3).await;
        let form = farah.get(&format!("/console/plans/new?issue={issue}")).await;
        assert!(form.body.contains("3 questions"), "{}", form.body);
        assert!(form.body.contains("from 3 teachers"), "{}", form.body);
        assert!(form.body.contains("lang=\"ur\""), "the Urdu sample marked: {}", form.body);
        let fields = (field(&form.body, "nonce"), field(&form.body, "filters"));
        let posted = post_plan(&farah, &issue, &fields, &THURSDAY).await;
        let plan = plan_path(&posted);

        // Each is told in their language, the date in Karachi time.
        let told = amina.expect_reply_containing(THURSDAY.title).await;
        assert!(told.contains("You asked about “my class is too noisy, what do i do”"), "{told}");
        assert!(told.contains("On Thursday 26 November at 16:00, the CPD hour"), "{told}");
        assert!(told.contains("Staff room, GHS Model Town"), "{told}");
        assert!(told.contains("STOP"), "how to stop: {told}");
        let told = saima.expect_reply_containing(THURSDAY.title).await;
        assert!(told.contains("آپ نے پوچھا تھا: “میری کلاس میں بہت شور ہوتا ہے، کیا کروں”"), "{told}");
        assert!(told.contains("جمعرات 26 نومبر کو شام 4:00 بجے سی پی ڈی آور"), "{told}");
        assert!(told.contains("STOP یا “بند کرو”"), "{told}");
        let told = rubina.expect_reply_containing(THURSDAY.title).await;
        assert!(told.contains("meri class mein bohat shor"), "her own words: {told}");

        // The same form posted again lands on the same plan and tells nobody again.
        let again = post_plan(&farah, &issue, &fields, &THURSDAY).await;
        assert_eq!(plan_path(&again), plan);
        inbox_drained(&app).await;
        for user in ["amina", "saima", "rubina"] {
            assert_eq!(web_rows_with(&app, user, THURSDAY.title).await, 1, "{user} told once");
        }
        let id: i64 = plan.trim_start_matches("/console/plans/").parse().expect("id");
        let store = app.conversations.store();
        assert_eq!(store.plans(10).await.expect("plans").len(), 1);
        let amina_id = app.teacher_id("web", "amina").await;
        assert!(store.inbox_has("web", &notice_external_id(id, amina_id)).await.expect("inbox"));

        // The plan's page counts three told; the list shows it.
        let page = page_once(&app, &farah, &plan, "Told</dt><dd>3<").await;
        assert!(page.body.contains("Teachers</dt><dd>3<"), "{}", page.body);
        assert!(page.body.contains("Skipped: notices turned off</dt><dd>0<"), "{}", page.body);
        assert!(page.body.contains(THURSDAY.title));
        assert!(page.body.contains("Thu 26 Nov 2026, 16:00"), "{}", page.body);
        let list = farah.get("/console/plans").await;
        assert_eq!(list.status, StatusCode::OK);
        assert!(list.body.contains(&format!("href=\"{plan}\"")), "{}", list.body);
        assert!(list.body.contains(THURSDAY.title));
        app.stop().await;
    }

    async fn a_teacher_who_turned_notices_off_is_skipped_and_can_turn_them_on(backend: Backend) {
        let Some(app) = app(backend).await else { return };
        let mut amina = app.web_teacher("amina");
        onboard(&mut amina).await;
        asks(&mut amina, NOISY[0]).await;
        amina.says("STOP").await;
        amina.expect_reply_containing("no longer get announcements").await;
        let mut rubina = app.web_teacher("rubina");
        onboard(&mut rubina).await;
        asks(&mut rubina, NOISY[2]).await;
        // Rubina is in the middle of a lesson when the notice comes.
        rubina.taps("hd.yes").await;
        rubina.expect_reply_containing("Main menu").await;
        rubina.taps("lessons").await;
        rubina.expect_reply_containing("part 1 of 2").await;
        account(&app, "farah", "staff").await;
        let mut farah = Browser::new(&app);
        farah.sign_in("farah").await;

        let issue = issue_of(&farah, 2).await;
        let fields = open_form(&farah, &issue).await;
        let plan = plan_path(&post_plan(&farah, &issue, &fields, &THURSDAY).await);
        rubina.expect_reply_containing(THURSDAY.title).await;
        rubina.expect_reply_containing("continue where you were").await;
        rubina.expect_reply_containing("part 1 of 2").await;
        rubina.taps("next.1").await;
        rubina.expect_reply_containing("part 2 of 2").await;
        let page = page_once(&app, &farah, &plan, "Skipped: notices turned off</dt><dd>1<").await;
        assert!(page.body.contains("Told</dt><dd>1<"), "{}", page.body);
        assert!(page.body.contains("skipped: notices turned off"), "{}", page.body);
        assert_eq!(web_rows_with(&app, "amina", THURSDAY.title).await, 0);

        // Notices on again: the next plan reaches her.
        amina.says("START").await;
        amina.expect_reply_containing("here again").await;
        let friday = Session { title: "Routines for a calm start", date: "2026-11-27", ..THURSDAY };
        let fields = open_form(&farah, &issue).await;
        let second = plan_path(&post_plan(&farah, &issue, &fields, &friday).await);
        assert_ne!(second, plan);
        let told = amina.expect_reply_containing(friday.title).await;
        assert!(told.contains("On Friday 27 November at 16:00"), "{told}");
        rubina.expect_reply_containing(friday.title).await;
        rubina.expect_reply_containing("part 2 of 2").await;
        page_once(&app, &farah, &second, "Told</dt><dd>2<").await;
        assert_eq!(web_rows_with(&app, "amina", THURSDAY.title).await, 0, "never the first");
        app.stop().await;
    }

    async fn a_whatsapp_teacher_outside_the_window_gets_the_notice_after_the_template(backend: Backend) {
        let clock = monday_morning();
        let setup = Setup { clock: Some(clock.clone()), ..Setup::default() };
        let Some(world) = whatsapp_chat::spawn(backend, setup).await else { return };
        let app = &world.app;
        let mut nadia = Teacher::new(&world.whatsapp, "923001110009", "Nadia");
        whatsapp_chat::onboard(&mut nadia, "Nadia").await;
        nadia.says(NOISY[0]);
        nadia.expect("Did this help?").await;
        let mut rubina = app.web_teacher("rubina");
        onboard(&mut rubina).await;
        asks(&mut rubina, NOISY[2]).await;

        // Two days later her window is long closed.
        clock.advance(chrono::Duration::hours(49));
        account(app, "farah", "staff").await;
        let mut farah = Browser::new(app);
        farah.sign_in("farah").await;
        let issue = issue_of(&farah, 2).await;
        let fields = open_form(&farah, &issue).await;
        let friday = Session { date: "2026-11-27", ..THURSDAY };
        let plan = plan_path(&post_plan(&farah, &issue, &fields, &friday).await);
        rubina.expect_reply_containing(friday.title).await;

        let template = world
            .whatsapp
            .wait_for(nadia.address(), |m| m.template.is_some(), DEADLINE)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(template.is_accepted());
        wait_rows(app, nadia.address(), "notice held", |rows| {
            rows.iter().any(|r| r.status == "held" && r.payload.contains(friday.title))
        })
        .await;
        assert!(
            world.whatsapp.sent_to(nadia.address()).iter().all(|m| !m.visible_text().contains(friday.title)),
            "nothing free-form outside the window"
        );
        page_once(app, &farah, &plan, "Waiting for the WhatsApp window</dt><dd>1<").await;

        // She taps the template's button: the notice arrives, and the plan counts both told.
        world
            .whatsapp
            .press_template_button(&nadia.user, RESUME_PAYLOAD, "Show me")
            .expect("tap");
        let told = nadia.expect(friday.title).await;
        assert!(told.visible_text().contains("On Friday 27 November at 16:00"));
        page_once(app, &farah, &plan, "Told</dt><dd>2<").await;
        world.app.stop().await;
    }

    async fn only_staff_plan_with_their_forms_token_and_what_they_type_stays_plain_text(backend: Backend) {
        let Some(app) = app(backend).await else { return };
        let mut amina = app.web_teacher("amina");
        onboard(&mut amina).await;
        asks(&mut amina, NOISY[0]).await;
        let mut rubina = app.web_teacher("rubina");
        onboard(&mut rubina).await;
        asks(&mut rubina, NOISY[2]).await;
        account(&app, "sana", "expert").await;
        account(&app, "farah", "staff").await;
        let mut farah = Browser::new(&app);
        farah.sign_in("farah").await;
        let issue = issue_of(&farah, 2).await;
        let new = format!("/console/plans/new?issue={issue}");
        let store = app.conversations.store();

        // Signed out: to the sign-in page; an expert: not for their role.
        let anonymous = Browser::new(&app);
        for path in ["/console/plans", new.as_str(), "/console/plans/1"] {
            let page = anonymous.get(path).await;
            assert_eq!(page.status, StatusCode::SEE_OTHER, "{path}");
            assert!(page.location.expect("redirect").starts_with("/console/login?next=%2Fconsole%2Fplans"), "{path}");
        }
        let fields = open_form(&farah, &issue).await;
        let form = |session: &Session<'_>| -> Vec<(String, String)> {
            vec![
                ("nonce".into(), fields.0.clone()),
                ("issue".into(), issue.clone()),
                ("filters".into(), fields.1.clone()),
                ("session".into(), "new".into()),
                ("title".into(), session.title.into()),
                ("date".into(), session.date.into()),
                ("time".into(), session.time.into()),
                ("mode".into(), session.mode.into()),
                ("place".into(), session.place.into()),
            ]
        };
        let thursday = form(&THURSDAY);
        let borrowed = pairs(&thursday);
        let refused = anonymous.post("/console/plans", &borrowed).await;
        assert_eq!(refused.status, StatusCode::SEE_OTHER);
        assert_eq!(refused.location.as_deref(), Some("/console/login"));
        let mut sana = Browser::new(&app);
        sana.sign_in("sana").await;
        for path in ["/console/plans", new.as_str(), "/console/plans/1"] {
            assert_eq!(sana.get(path).await.status, StatusCode::FORBIDDEN, "{path}");
        }
        assert_eq!(sana.post("/console/plans", &borrowed).await.status, StatusCode::FORBIDDEN);

        // Without the session's form token: refused, nothing stored.
        let mut tokenless = borrowed.clone();
        tokenless.push(("csrf", ""));
        assert_eq!(farah.post("/console/plans", &tokenless).await.status, StatusCode::FORBIDDEN);
        assert!(store.plans(10).await.expect("plans").is_empty());

        // A date that is not one, one that has passed, a script for a link: the form again.
        let bad = [
            (Session { date: "2026-02-30", ..THURSDAY }, "is not a date"),
            (Session { date: "2026-11-20", ..THURSDAY }, "has passed"),
            (Session { date: "2026-11-23", time: "09:00", ..THURSDAY }, "has passed"),
            (Session { mode: "online", place: "javascript:alert(1)", ..THURSDAY }, "https://"),
            (Session { place: "javascript:alert(1)", ..THURSDAY }, "https://"),
            (Session { title: "   ", ..THURSDAY }, "title"),
        ];
        for (session, why) in &bad {
            let page = farah.post("/console/plans", &pairs(&form(session))).await;
            assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY, "{why}: {}", page.body);
            assert!(page.body.contains("id=\"form-error\""), "{}", page.body);
            assert!(page.body.contains(why), "{why}: {}", page.body);
            assert!(page.body.contains("name=\"nonce\""), "the form again");
        }
        assert!(store.plans(10).await.expect("plans").is_empty(), "nothing planned");
        let gone = farah.get("/console/plans/new?issue=Q999999").await;
        assert_eq!(gone.status, StatusCode::NOT_FOUND);
        assert!(gone.body.contains("no longer among the recurring issues"), "{}", gone.body);
        assert_eq!(farah.get("/console/plans/999999").await.status, StatusCode::NOT_FOUND);

        // HTML in the title: inert on the page, plain text to the teacher.
        let html = Session { title: "<b>Circle time</b> & <script>alert(1)</script>", ..THURSDAY };
        let plan = plan_path(&farah.post("/console/plans", &pairs(&form(&html))).await);
        let page = farah.get(&plan).await;
        assert!(!page.body.contains("<b>Circle"), "{}", page.body);
        assert!(!page.body.contains("<script>alert"), "{}", page.body);
        assert!(page.body.contains("&#60;b&#62;Circle time&#60;/b&#62; &#38; &#60;script&#62;"), "{}", page.body);
        let list = farah.get("/console/plans").await;
        assert!(!list.body.contains("<script>alert"), "{}", list.body);
        let told = amina.expect_reply_containing("Circle time").await;
        assert!(told.contains("“<b>Circle time</b> & <script>alert(1)</script>”"), "{told}");
        app.stop().await;
    }
}
