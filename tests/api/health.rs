use crate::both_backends;
use crate::support::{TestApp, fixture_content};

both_backends! {
    async fn healthz_answers_ok_when_the_database_is_reachable(backend: Backend) {
        let Some(app) = TestApp::spawn(backend, fixture_content()).await else { return };

        let response = app.client.get(app.url("/healthz")).send().await.expect("request");

        assert_eq!(response.status(), 200);
        assert_eq!(response.text().await.expect("body"), "ok");
        app.stop().await;
    }

    async fn the_web_chat_page_is_served_at_the_root(backend: Backend) {
        let Some(app) = TestApp::spawn(backend, fixture_content()).await else { return };

        let response = app.client.get(app.url("/")).send().await.expect("request");

        assert_eq!(response.status(), 200);
        let body = response.text().await.expect("body");
        assert!(body.contains("composer-input"), "the chat page has a composer");
        app.stop().await;
    }
}
