//! `telegram_update`: arbitrary bytes as a Telegram webhook body, through what
//! `POST /telegram/webhook` calls ([`classify`] then [`to_inbound`]); the same bytes read as a
//! `getUpdates` response go through [`classify_value`] per update, as long polling does. Then
//! what the conversation does with the stored message (sanitise, engine input, transcript).

#![no_main]

use baithak::channel::InboundMessage;
use baithak::channel::telegram::inbound::to_inbound;
use baithak::channel::telegram::update::{Kind, classify, classify_value};
use libfuzzer_sys::fuzz_target;

fn follow(message: &InboundMessage) {
    let clean = message.sanitized();
    let _ = clean.to_input();
    let _ = clean.transcript_text();
    let _ = message.transcript_text();
}

fn check(update: &baithak::channel::telegram::update::Classified) {
    let (external_id, user, message) = to_inbound(update);
    assert_eq!(external_id, update.update_id.to_string());
    assert!(!user.is_empty());
    if let Kind::Message { message: m, .. } = &update.kind {
        assert_eq!(m, &message);
    }
    follow(&message);
}

fuzz_target!(|data: &[u8]| {
    if let Ok(update) = classify(data) {
        check(&update);
    }
    // A getUpdates response: `{"ok": true, "result": [update, ...]}`.
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(data)
        && let Some(updates) = value.get("result").and_then(|r| r.as_array())
    {
        for raw in updates {
            if let Ok(update) = classify_value(raw) {
                check(&update);
            }
        }
    }
});
