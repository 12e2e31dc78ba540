//! `whatsapp_webhook`: arbitrary bytes as a WhatsApp webhook body, through what
//! `POST /whatsapp/webhook` calls: the `X-Hub-Signature-256` check ([`signature::verify`]),
//! then [`webhook::parse`], then what the conversation does with each event (sanitise, engine
//! input, transcript, sender ids).
//!
//! The signature check runs three ways: the body's own correct signature must pass, a header
//! made from the body's first line must never panic, and a flipped signature must fail.

#![no_main]

use baithak::channel::whatsapp::{signature, webhook};
use libfuzzer_sys::fuzz_target;

const SECRET: &[u8] = b"fuzz-app-secret";

fuzz_target!(|data: &[u8]| {
    let good = signature::sign(SECRET, data);
    assert!(signature::verify(SECRET, data, Some(good.as_bytes())).is_ok());
    let header = data.split(|b| *b == b'\n').next().unwrap_or_default();
    let _ = signature::verify(SECRET, data, Some(header));
    let _ = signature::verify(SECRET, data, None);
    let mut bad = good.into_bytes();
    if let Some(last) = bad.last_mut() {
        *last = if *last == b'0' { b'1' } else { b'0' };
    }
    assert!(signature::verify(SECRET, data, Some(&bad)).is_err());

    if let Ok(events) = webhook::parse(data) {
        for event in &events {
            assert!(!event.external_id.is_empty());
            if let Some(sender) = &event.sender {
                let _ = sender.ids();
            }
            let clean = event.message.sanitized();
            let _ = clean.to_input();
            let _ = clean.transcript_text();
        }
    }
});
