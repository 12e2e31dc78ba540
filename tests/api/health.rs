use crate::both_backends;
use crate::support::{TestApp, fixture_content};

both_backends! {
    async fn healthz_answers_ok_while_the_process_is_alive(backend: Backend) {
        let Some(app) = TestApp::spawn(backend, fixture_content()).await else { return };

        let response = app.client.get(app.url("/healthz")).send().await.expect("request");

        assert_eq!(response.status(), 200);
        assert_eq!(response.text().await.expect("body"), "ok");
        app.stop().await;
    }

    async fn readyz_says_ready_with_the_database_and_content_loaded(backend: Backend) {
        let Some(app) = TestApp::spawn(backend, fixture_content()).await else { return };

        let response = app.client.get(app.url("/readyz")).send().await.expect("request");

        assert_eq!(response.status(), 200);
        let body = response.text().await.expect("body");
        assert!(body.starts_with("ready: "), "{body}");
        assert!(body.contains("dialogue trees"), "{body}");
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
