//! The web console through its front door: every route needs a session and the right role,
//! forms need their session's token and must come from this site, sign-ins are throttled, and
//! an expert works a ticket from the browser (claims race, answers reach the teacher).

use baithak::clock::Clock;
use chrono::{TimeZone, Utc};
use reqwest::StatusCode;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};

use crate::both_backends;
use crate::helpdesk::onboard;
use crate::support::database::{Backend, TestDatabase};
use crate::support::{TestApp, WebTeacher, fixture_content, ticket_code};

/// The password every test account gets.
pub(crate) const PASSWORD: &str = "a long test password";

/// Monday 23 November 2026, 10:00 in Karachi: office hours.
fn office_hours() -> Clock {
    Clock::manual(Utc.with_ymd_and_hms(2026, 11, 23, 5, 0, 0).unwrap())
}

async fn app(backend: Backend) -> Option<TestApp> {
    let database = TestDatabase::create(backend).await?;
    Some(TestApp::spawn_with(database, fixture_content(), office_hours(), |_| {}).await)
}

/// An account, added straight to the store (as `baithak user add` does).
pub(crate) async fn account(app: &TestApp, name: &str, role: &str) {
    let hash = baithak::staff::hash_password(PASSWORD).expect("hash");
    let store = app.conversations.store();
    store
        .add_staff_user(name, role, &hash, Utc::now())
        .await
        .expect("add")
        .expect("new account");
}

/// What a response looked like.
#[derive(Debug)]
pub(crate) struct Page {
    pub(crate) status: StatusCode,
    pub(crate) location: Option<String>,
    pub(crate) cookie: Option<String>,
    pub(crate) headers: reqwest::header::HeaderMap,
    /// The body as sent (a file is not text).
    pub(crate) bytes: Vec<u8>,
    /// The body as text.
    pub(crate) body: String,
}

impl Page {
    /// A response header, or "" when absent.
    pub(crate) fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

/// A browser on the console: no redirects followed, cookies carried by hand.
pub(crate) struct Browser<'a> {
    pub(crate) app: &'a TestApp,
    pub(crate) client: reqwest::Client,
    cookie: Option<String>,
    pub(crate) csrf: Option<String>,
}

impl<'a> Browser<'a> {
    pub(crate) fn new(app: &'a TestApp) -> Browser<'a> {
        Browser {
            app,
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
            cookie: None,
            csrf: None,
        }
    }

    pub(crate) async fn send(&self, request: reqwest::RequestBuilder) -> Page {
        let request = match &self.cookie {
            Some(cookie) => request.header(COOKIE, format!("baithak_session={cookie}")),
            None => request,
        };
        let response = request.send().await.expect("request");
        let headers = response.headers().clone();
        let header = |name| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let (location, cookie) = (header(LOCATION), header(SET_COOKIE));
        let status = response.status();
        let bytes = response.bytes().await.expect("body").to_vec();
        Page {
            status,
            location,
            cookie,
            body: String::from_utf8_lossy(&bytes).into_owned(),
            bytes,
            headers,
        }
    }

    pub(crate) async fn get(&self, path: &str) -> Page {
        self.send(self.client.get(self.app.url(path))).await
    }

    /// A form posted the way a browser posts it from a console page (same origin), with the
    /// session's token unless the fields carry their own.
    pub(crate) async fn post(&self, path: &str, fields: &[(&str, &str)]) -> Page {
        let mut form: Vec<(&str, &str)> = fields.to_vec();
        if let Some(csrf) = &self.csrf
            && !fields.iter().any(|(k, _)| *k == "csrf")
        {
            form.push(("csrf", csrf));
        }
        self.send(
            self.client
                .post(self.app.url(path))
                .header("sec-fetch-site", "same-origin")
                .form(&form),
        )
        .await
    }

    /// Signs in; the session cookie and form token are kept for later requests.
    pub(crate) async fn sign_in(&mut self, name: &str) -> Page {
        let page = self
            .post("/console/login", &[("name", name), ("password", PASSWORD)])
            .await;
        if let Some(cookie) = &page.cookie {
            let value = cookie
                .split(';')
                .next()
                .and_then(|kv| kv.strip_prefix("baithak_session="))
                .expect("session cookie");
            self.cookie = Some(value.to_string());
            let to = page.location.clone().expect("redirect after sign-in");
            let home = self.get(&to).await;
            self.csrf = form_token(&home.body);
        }
        page
    }
}

/// The form token rendered into a page.
fn form_token(html: &str) -> Option<String> {
    let at = html.find("name=\"csrf\" value=\"")? + "name=\"csrf\" value=\"".len();
    Some(html[at..].split('"').next()?.to_string())
}

/// A teacher whose question went to the helpdesk; returns the ticket's number.
async fn ticket_from(teacher: &mut WebTeacher<'_>, question: &str) -> String {
    onboard(teacher).await;
    teacher.says(question).await;
    teacher.expect_reply_containing("Did this help?").await;
    teacher.taps("hd.no").await;
    let opened = teacher.expect_reply_containing("HD-").await;
    let code = ticket_code(&opened);
    teacher.expect_reply_containing("Main menu").await;
    code
}

both_backends! {
    async fn staff_see_questions_per_topic_with_their_trend_and_the_helpdesk_figures(backend: Backend) {
        let Some(app) = app(backend).await else { return };
        let mut first = app.web_teacher("sadia");
        let code = ticket_from(&mut first, "my class is too noisy, what do i do").await;
        let mut second = app.web_teacher("rubina");
        onboard(&mut second).await;
        second.says("students talk all the time and the class is too noisy").await;
        second.expect_reply_containing("Did this help?").await;
        account(&app, "farah", "staff").await;
        account(&app, "sana", "expert").await;
        let mut sana = Browser::new(&app);
        sana.sign_in("sana").await;
        sana.post(&format!("/console/tickets/{code}/answer"), &[("text", "Try a clapping signal.")]).await;
        first.expect_reply_containing("clapping").await;

        let mut farah = Browser::new(&app);
        let signed_in = farah.sign_in("farah").await;
        assert_eq!(signed_in.location.as_deref(), Some("/console/insights"));
        let page = farah.get("/console/insights").await;
        assert_eq!(page.status, StatusCode::OK);
        let body = page.body;
        assert!(body.contains("behaviour-management"), "{body}");
        assert!(body.contains("2 questions from"), "{body}");
        assert!(body.contains("0 in the period before"), "{body}");
        assert!(body.contains(">new<"), "no questions before: {body}");
        assert!(body.contains("<svg"), "bars drawn");
        assert!(body.contains("Tickets opened</dt><dd>1<"), "{body}");
        assert!(body.contains("Answered</dt><dd>1<"), "{body}");

        // Filters narrow it; a period without questions says so; bad dates are refused.
        let elsewhere = farah.get("/console/insights?district=Nowhere").await;
        assert!(elsewhere.body.contains("No questions in this period"));
        let october = farah.get("/console/insights?since=2026-10-01&until=2026-10-31").await;
        assert!(october.body.contains("No questions in this period"));
        let bad = farah.get("/console/insights?since=yesterday").await;
        assert_eq!(bad.status, StatusCode::BAD_REQUEST);
        assert!(bad.body.contains("not a date"));
        let backwards = farah.get("/console/insights?since=2026-11-20&until=2026-11-01").await;
        assert_eq!(backwards.status, StatusCode::BAD_REQUEST);
        app.stop().await;
    }

    async fn every_console_page_needs_a_session_and_the_right_role(backend: Backend) {
        let Some(app) = app(backend).await else { return };
        let mut teacher = app.web_teacher("923001234567");
        let code = ticket_from(&mut teacher, "my class is too noisy, what do i do").await;
        account(&app, "sana", "expert").await;
        account(&app, "farah", "staff").await;
        account(&app, "amir", "admin").await;
        let ticket = format!("/console/tickets/{code}");
        // (path, may the expert, the staff member, the admin open it)
        let pages: Vec<(&str, [bool; 3])> = vec![
            ("/console/tickets", [true, false, true]),
            ("/console/tickets?status=all&topic=&mine=1", [true, false, true]),
            (ticket.as_str(), [true, false, true]),
            ("/console/accounts", [false, false, true]),
            ("/console/insights", [false, true, true]),
            ("/console/insights?since=2026-11-01&until=2026-11-30&district=Lahore&grade=3", [false, true, true]),
        ];
        let anonymous = Browser::new(&app);
        for (path, _) in &pages {
            let page = anonymous.get(path).await;
            assert_eq!(page.status, StatusCode::SEE_OTHER, "{path}");
            let to = page.location.expect("redirect");
            assert!(to.starts_with("/console/login?next=%2Fconsole%2F"), "{path} → {to}");
        }
        for (index, name) in ["sana", "farah", "amir"].into_iter().enumerate() {
            let mut browser = Browser::new(&app);
            let signed_in = browser.sign_in(name).await;
            assert_eq!(signed_in.status, StatusCode::SEE_OTHER, "{name}");
            for (path, allowed) in &pages {
                let page = browser.get(path).await;
                let expected = if allowed[index] { StatusCode::OK } else { StatusCode::FORBIDDEN };
                assert_eq!(page.status, expected, "{name} on {path}");
            }
        }
        // Posts need a session too, and a role that may act.
        for path in [format!("{ticket}/claim"), "/console/accounts".to_string(), "/console/logout".to_string()] {
            let page = anonymous.post(&path, &[("csrf", "x"), ("name", "x"), ("role", "expert")]).await;
            assert_eq!(page.status, StatusCode::SEE_OTHER, "{path}");
            assert_eq!(page.location.as_deref(), Some("/console/login"), "{path}");
        }
        let mut staff = Browser::new(&app);
        staff.sign_in("farah").await;
        assert_eq!(staff.post(&format!("{ticket}/claim"), &[]).await.status, StatusCode::FORBIDDEN);
        assert_eq!(
            staff.post("/console/accounts", &[("name", "x"), ("role", "admin")]).await.status,
            StatusCode::FORBIDDEN
        );
        let store = app.conversations.store();
        assert_eq!(store.ticket(&code).await.expect("ticket").status, "open");
        assert!(store.staff_user("x").await.expect("read").is_none());
        app.stop().await;
    }

    async fn sign_in_sets_a_safe_cookie_and_sign_out_ends_the_session(backend: Backend) {
        let Some(app) = app(backend).await else { return };
        account(&app, "sana", "expert").await;
        let mut browser = Browser::new(&app);
        let page = browser.sign_in("sana").await;
        assert_eq!(page.location.as_deref(), Some("/console/tickets"));
        let cookie = page.cookie.expect("cookie");
        for attribute in ["HttpOnly", "SameSite=Lax", "Path=/console"] {
            assert!(cookie.contains(attribute), "{cookie}");
        }
        assert!(!cookie.contains("Secure"), "plain HTTP: {cookie}");
        let token = browser.cookie.clone().expect("token");
        assert_eq!(token.len(), 64, "256 bits, hex");

        // Behind an HTTPS proxy the cookie is Secure.
        let over_https = browser
            .send(
                browser
                    .client
                    .post(app.url("/console/login"))
                    .header("x-forwarded-proto", "https")
                    .form(&[("name", "sana"), ("password", PASSWORD)]),
            )
            .await;
        assert!(over_https.cookie.expect("cookie").contains("Secure"));

        // A next page on another site is not followed.
        let elsewhere = browser
            .send(browser.client.post(app.url("/console/login")).form(&[
                ("name", "sana"),
                ("password", PASSWORD),
                ("next", "//evil.example/console/"),
            ]))
            .await;
        assert_eq!(elsewhere.location.as_deref(), Some("/console/tickets"));

        let out = browser.post("/console/logout", &[]).await;
        assert_eq!(out.status, StatusCode::SEE_OTHER);
        assert!(out.cookie.expect("cleared").contains("Max-Age=0"));
        // The old cookie no longer opens anything.
        let after = browser.get("/console/tickets").await;
        assert_eq!(after.status, StatusCode::SEE_OTHER);

        // A made-up cookie neither.
        browser.cookie = Some("0".repeat(64));
        assert_eq!(browser.get("/console/tickets").await.status, StatusCode::SEE_OTHER);
        app.stop().await;
    }

    async fn repeated_failed_sign_ins_are_throttled(backend: Backend) {
        let Some(app) = app(backend).await else { return };
        account(&app, "sana", "expert").await;
        let browser = Browser::new(&app);
        for _ in 0..5 {
            let page = browser
                .post("/console/login", &[("name", "sana"), ("password", "guess guess guess")])
                .await;
            assert_eq!(page.status, StatusCode::UNAUTHORIZED);
            assert!(page.body.contains("do not match"), "{}", page.body);
            assert!(page.cookie.is_none());
        }
        // Now even the right password waits.
        let page = browser
            .post("/console/login", &[("name", "Sana"), ("password", PASSWORD)])
            .await;
        assert_eq!(page.status, StatusCode::TOO_MANY_REQUESTS);
        assert!(page.cookie.is_none());
        // An unknown name fails the same way as a wrong password.
        let unknown = browser
            .post("/console/login", &[("name", "nobody"), ("password", PASSWORD)])
            .await;
        assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
        app.stop().await;
    }

    async fn forms_without_their_token_or_from_another_site_change_nothing(backend: Backend) {
        let Some(app) = app(backend).await else { return };
        let mut teacher = app.web_teacher("sadia");
        let code = ticket_from(&mut teacher, "my class is too noisy, what do i do").await;
        account(&app, "sana", "expert").await;
        account(&app, "imran", "expert").await;
        let mut sana = Browser::new(&app);
        sana.sign_in("sana").await;
        let mut imran = Browser::new(&app);
        imran.sign_in("imran").await;
        let claim = format!("/console/tickets/{code}/claim");

        let missing = sana.post(&claim, &[("csrf", "")]).await;
        assert_eq!(missing.status, StatusCode::FORBIDDEN);
        let forged = sana.post(&claim, &[("csrf", "0123456789abcdef")]).await;
        assert_eq!(forged.status, StatusCode::FORBIDDEN);
        // Another user's token with this session's cookie.
        let other = imran.csrf.clone().expect("token");
        assert_eq!(sana.post(&claim, &[("csrf", &other)]).await.status, StatusCode::FORBIDDEN);
        // The right token, but the browser says the form is from another site.
        let csrf = sana.csrf.clone().expect("token");
        let cross = sana
            .send(
                sana.client
                    .post(app.url(&claim))
                    .header("sec-fetch-site", "cross-site")
                    .form(&[("csrf", csrf.as_str())]),
            )
            .await;
        assert_eq!(cross.status, StatusCode::FORBIDDEN);
        let origin = sana
            .send(
                sana.client
                    .post(app.url(&claim))
                    .header("origin", "https://evil.example")
                    .form(&[("csrf", csrf.as_str())]),
            )
            .await;
        assert_eq!(origin.status, StatusCode::FORBIDDEN);
        // A sign-in form posted from another site is refused too.
        let login = sana
            .send(
                sana.client
                    .post(app.url("/console/login"))
                    .header("sec-fetch-site", "cross-site")
                    .form(&[("name", "sana"), ("password", PASSWORD)]),
            )
            .await;
        assert_eq!(login.status, StatusCode::FORBIDDEN);
        let store = app.conversations.store();
        assert_eq!(store.ticket(&code).await.expect("ticket").status, "open");

        // A form replayed after sign-out is refused.
        sana.post("/console/logout", &[]).await;
        let replay = sana.post(&claim, &[("csrf", csrf.as_str())]).await;
        assert_eq!(replay.status, StatusCode::SEE_OTHER);
        assert_eq!(store.ticket(&code).await.expect("ticket").status, "open");
        app.stop().await;
    }

    async fn an_expert_claims_and_answers_and_the_teacher_reads_it_in_her_chat(backend: Backend) {
        let Some(app) = app(backend).await else { return };
        let mut teacher = app.web_teacher("923001234567");
        let code = ticket_from(&mut teacher, "<script>alert(1)</script> my class is too noisy").await;
        account(&app, "sana", "expert").await;
        account(&app, "imran", "expert").await;
        account(&app, "amir", "admin").await;
        let mut sana = Browser::new(&app);
        sana.sign_in("sana").await;
        let mut imran = Browser::new(&app);
        imran.sign_in("imran").await;
        let ticket = format!("/console/tickets/{code}");

        // The queue and the ticket show the teacher's words inert, the number masked.
        let queue = sana.get("/console/tickets").await;
        assert!(queue.body.contains(&code));
        assert!(queue.body.contains("&#60;script&#62;"), "escaped in the queue");
        assert!(!queue.body.contains("<script>alert"));
        let page = sana.get(&ticket).await;
        assert!(page.body.contains("&#60;script&#62;alert(1)&#60;/script&#62;"));
        assert!(!page.body.contains("<script>alert"));
        assert!(page.body.contains("•567"), "masked for experts");
        assert!(!page.body.contains("923001234567"));
        assert!(page.body.contains("noisy-class"), "what the bot suggested");
        let mut admin = Browser::new(&app);
        admin.sign_in("amir").await;
        assert!(admin.get(&ticket).await.body.contains("923001234567"), "admins see it");

        // Filters are data, never SQL.
        let odd = sana.get("/console/tickets?topic=%27%20OR%201%3D1%20--&district=%22%3B%20DROP%20TABLE%20tickets").await;
        assert_eq!(odd.status, StatusCode::OK);
        assert!(odd.body.contains("No tickets match"));

        // Two experts claim at once: one gets it, the other is told who.
        let claim = format!("{ticket}/claim");
        let (a, b) = tokio::join!(sana.post(&claim, &[]), imran.post(&claim, &[]));
        let statuses = [a.status, b.status];
        assert!(statuses.contains(&StatusCode::SEE_OTHER), "{statuses:?}");
        assert!(statuses.contains(&StatusCode::CONFLICT), "{statuses:?}");
        let (winner, loser) = if a.status == StatusCode::SEE_OTHER { ("sana", &b) } else { ("imran", &a) };
        assert!(loser.body.contains(&format!("{winner} already took {code}")), "{}", loser.body);
        let store = app.conversations.store();
        assert_eq!(store.ticket(&code).await.expect("ticket").status, "claimed");
        assert_eq!(store.ticket(&code).await.expect("ticket").expert.as_deref(), Some(winner));

        // A note stays inside; the answer reaches the teacher with the rating buttons.
        let note = sana.post(&format!("{ticket}/note"), &[("text", "check the seating plan first")]).await;
        assert_eq!(note.status, StatusCode::SEE_OTHER);
        let answer = sana
            .post(&format!("{ticket}/answer"), &[("text", "Try a clapping signal: clap twice, they clap back."), ("nonce", "00000000000000aa")])
            .await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER);
        // The same form posted again relays nothing new.
        sana.post(&format!("{ticket}/answer"), &[("text", "Try a clapping signal: clap twice, they clap back."), ("nonce", "00000000000000aa")]).await;
        let got = teacher.expect_reply_containing("clapping signal").await;
        assert!(got.contains(&code), "{got}");
        teacher.expect_reply_containing("How useful").await;
        let ticket_now = store.ticket(&code).await.expect("ticket");
        assert_eq!(ticket_now.status, "answered");
        let messages = store.ticket_messages(&code).await.expect("messages");
        let authors: Vec<&str> = messages.iter().map(|m| m.author.as_str()).collect();
        assert!(authors.contains(&"note") && authors.contains(&"expert"), "{authors:?}");
        let page = sana.get(&ticket).await;
        assert!(page.body.contains("check the seating plan first"));

        // Closed: an answer is refused and nothing reaches the teacher; reopen brings it back.
        assert_eq!(sana.post(&format!("{ticket}/close"), &[]).await.status, StatusCode::SEE_OTHER);
        let late = sana.post(&format!("{ticket}/answer"), &[("text", "one more thing")]).await;
        assert_eq!(late.status, StatusCode::CONFLICT);
        assert!(late.body.contains("is closed"), "{}", late.body);
        assert_eq!(sana.post(&format!("{ticket}/reopen"), &[]).await.status, StatusCode::SEE_OTHER);
        assert_eq!(store.ticket(&code).await.expect("ticket").status, "open");
        assert_eq!(sana.post(&format!("{ticket}/topic"), &[("topic", "no-such-topic")]).await.status, StatusCode::CONFLICT);
        let history = teacher.history().await.to_string();
        assert!(!history.contains("one more thing"));
        assert_eq!(history.matches("Helpdesk expert").count(), 1, "relayed once: {history}");
        let answers = messages.iter().filter(|m| m.author == "expert").count();
        assert_eq!(answers, 1, "the form posted twice is recorded once");
        app.stop().await;
    }

    async fn admins_add_accounts_whose_one_time_password_signs_in(backend: Backend) {
        let Some(app) = app(backend).await else { return };
        account(&app, "amir", "admin").await;
        let mut admin = Browser::new(&app);
        admin.sign_in("amir").await;
        let added = admin.post("/console/accounts", &[("name", "Nadia Rahman"), ("role", "staff")]).await;
        assert_eq!(added.status, StatusCode::OK);
        let at = added.body.find("id=\"one-time-password\">").expect("shown once") + "id=\"one-time-password\">".len();
        let password = added.body[at..].split('<').next().expect("password").to_string();
        assert_eq!(password.len(), 20);
        let again = admin.post("/console/accounts", &[("name", "Nadia Rahman"), ("role", "staff")]).await;
        assert!(again.body.contains("exists already"));
        let bad = admin.post("/console/accounts", &[("name", "<b>x</b>"), ("role", "staff")]).await;
        assert!(bad.body.contains("letters, digits"));
        let wrong_role = admin.post("/console/accounts", &[("name", "x"), ("role", "root")]).await;
        assert!(wrong_role.body.contains("Unknown role"));

        let nadia = Browser::new(&app);
        let page = nadia
            .post("/console/login", &[("name", "Nadia Rahman"), ("password", password.as_str())])
            .await;
        assert_eq!(page.status, StatusCode::SEE_OTHER);
        assert_eq!(page.location.as_deref(), Some("/console/insights"));
        let user = app.conversations.store().staff_user("Nadia Rahman").await.expect("read").expect("added");
        assert!(user.password_hash.starts_with("$argon2id$"));
        app.stop().await;
    }
}
