//! What follows a certificate in the teacher's conversation. Pure.
//!
//! Run by the helpdesk after each dialogue step ([`after_step`]): for every module
//! certificate the step issued, right after the text the certificate node said,
//! - the certificate's picture with a caption (name, module, code; the verification link is
//!   added when the message is sent, with the public URL);
//! - a pathway certificate for each pathway (`programme/pathways.yaml`) the teacher's passed
//!   modules now complete, issued once (its code kept in `ProgrammeState::pathways`, its row
//!   written like a module's with module `pathway:{id}`), with its own picture;
//! - a recognition message at the first module passed and at the fifth (said once: a module's
//!   certificate is issued once).
//!
//! And when the step showed "My progress" (a reply that starts with the `progress_heading`
//! text), the teacher's badges are added to it ([`badges`]).

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::dialogue::{self, Input, Reply};
use crate::helpdesk::{Effect, Helpdesk};
use crate::programme::pathways::PREFIX;

/// How many passed modules earn the "five modules" badge and message.
pub const FIVE: usize = 5;

/// Adds what follows the certificates issued among `h.effects[from..]`, and the badges to a
/// progress summary among them.
pub(crate) fn after_step(h: &mut Helpdesk<'_>, from: usize) {
    add_badges(h, from);
    let mut index = from;
    while index < h.effects.len() {
        let Effect::Dialogue(dialogue::Effect::Certificate { module, code }) = &h.effects[index]
        else {
            index += 1;
            continue;
        };
        if module.starts_with(PREFIX) {
            index += 1;
            continue;
        }
        let (module, code) = (module.clone(), code.clone());
        // After the words the certificate node said (the next message), else at the end.
        let at = h.effects[index + 1..]
            .iter()
            .position(|e| matches!(e, Effect::Dialogue(dialogue::Effect::Say(_))))
            .map_or(h.effects.len(), |p| index + 1 + p + 1);
        let mut extra = Vec::new();
        extra.push(photo(h, &module, &code));
        extra.extend(pathways(h));
        extra.extend(milestone(h));
        let added = extra.len();
        h.effects.splice(at..at, extra);
        index = at + added;
    }
}

/// The picture of the certificate `code` for `subject` (a module id or `pathway:{id}`).
fn photo(h: &Helpdesk<'_>, subject: &str, code: &str) -> Effect {
    let lang = h.s.dialogue.lang;
    let title =
        h.cx.programme
            .pathways
            .title_of(subject, h.cx.dialogues, lang);
    let name =
        h.s.dialogue
            .profile
            .get("name")
            .cloned()
            .unwrap_or_default();
    let key = if subject.starts_with(PREFIX) {
        "certificate_caption_pathway"
    } else {
        "certificate_caption"
    };
    let caption = h
        .text(key)
        .replace("{name}", &name)
        .replace("{title}", &title)
        .replace("{code}", code);
    Effect::Photo {
        reply: Reply {
            text: caption,
            choices: Vec::new(),
            lang,
        },
        path: format!("/certificates/{code}.png"),
        link: format!("/verify/{code}"),
    }
}

/// Pathway certificates for the pathways the passed modules now complete (once each).
fn pathways(h: &mut Helpdesk<'_>) -> Vec<Effect> {
    let completed: Vec<(String, String)> = {
        let modules = &h.s.dialogue.modules;
        h.cx.programme
            .pathways
            .completed(|m| modules.get(m).is_some_and(|p| p.passed))
            .filter(|p| !h.s.programme.pathways.contains_key(&p.id))
            .map(|p| (p.id.clone(), p.certificate_key()))
            .collect()
    };
    let mut out = Vec::new();
    for (id, key) in completed {
        let code = dialogue::engine::certificate_code(h.s.dialogue.seed, &key, h.now);
        h.s.programme.pathways.insert(id, code.clone());
        let title =
            h.cx.programme
                .pathways
                .title_of(&key, h.cx.dialogues, h.s.dialogue.lang);
        out.push(Effect::Dialogue(dialogue::Effect::Certificate {
            module: key.clone(),
            code: code.clone(),
        }));
        let words = h
            .text("pathway_certificate")
            .replace("{title}", &title)
            .replace("{code}", &code);
        out.push(say(h, words));
        out.push(photo(h, &key, &code));
    }
    out
}

/// The recognition message for the first module passed and the fifth.
fn milestone(h: &Helpdesk<'_>) -> Option<Effect> {
    let key = match passed(h) {
        1 => "milestone_first_module",
        FIVE => "milestone_five_modules",
        _ => return None,
    };
    Some(say(h, h.text(key)))
}

/// Modules passed (pathways are not modules).
fn passed(h: &Helpdesk<'_>) -> usize {
    h.s.dialogue
        .modules
        .iter()
        .filter(|(id, p)| p.passed && !id.starts_with(PREFIX))
        .count()
}

fn say(h: &Helpdesk<'_>, text: String) -> Effect {
    Effect::Dialogue(dialogue::Effect::Say(Reply {
        text,
        choices: Vec::new(),
        lang: h.s.dialogue.lang,
    }))
}

/// The teacher's badges, one line each, in their language: 🌱 first module passed, 📚 five
/// modules, 🏅 each pathway completed, ⭐ practices endorsed by peers (`endorsed`, counted by
/// practice sharing; 0 leaves it out).
pub(crate) fn badges(h: &Helpdesk<'_>, endorsed: u32) -> Vec<String> {
    let mut out = Vec::new();
    let passed = passed(h);
    if passed >= 1 {
        out.push(h.text("badge_first_module"));
    }
    if passed >= FIVE {
        out.push(h.text("badge_five_modules"));
    }
    for (id, code) in &h.s.programme.pathways {
        let title = h.cx.programme.pathways.title_of(
            &format!("{PREFIX}{id}"),
            h.cx.dialogues,
            h.s.dialogue.lang,
        );
        out.push(
            h.text("badge_pathway")
                .replace("{title}", &title)
                .replace("{code}", code),
        );
    }
    if endorsed > 0 {
        out.push(
            h.text("badge_endorsed")
                .replace("{count}", &endorsed.to_string()),
        );
    }
    out
}

/// Adds the badges to a progress summary said in `h.effects[from..]`.
fn add_badges(h: &mut Helpdesk<'_>, from: usize) {
    let heading = h.text("progress_heading");
    let Some(index) = h.effects[from..].iter().position(
        |e| matches!(e, Effect::Dialogue(dialogue::Effect::Say(r)) if r.text.starts_with(&heading)),
    ) else {
        return;
    };
    // Practice sharing's endorsements would be counted here (⭐); none yet.
    let badges = badges(h, 0);
    if badges.is_empty() {
        return;
    }
    let title = h.text("badges_heading");
    if let Effect::Dialogue(dialogue::Effect::Say(reply)) = &mut h.effects[from + index] {
        reply.text = format!("{}\n\n{title}\n{}", reply.text, badges.join("\n"));
    }
}

/// The answer to "/verify CODE", found by the `verify` job.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifyResult {
    /// The request's job key (`verify:{teacher}:{millis}`): the occasion.
    pub request: String,
    /// The code (as stored when valid, as typed otherwise).
    pub code: String,
    /// Whether it is a Baithak certificate.
    pub valid: bool,
    /// The name on it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// A module id or `pathway:{id}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub module: Option<String>,
    /// The day it was issued, programme time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issued: Option<NaiveDate>,
}

impl VerifyResult {
    /// The outbox tag of its reply.
    #[must_use]
    pub fn tag(&self) -> String {
        self.request.clone()
    }
}

/// "/verify CODE", "verify CODE" or Roman Urdu "tasdeeq CODE" (also "/tasdeeq", Urdu
/// "تصدیق"): asks the `verify` job; without a code, says how to write it.
pub(crate) fn verify_command(h: &mut Helpdesk<'_>, input: &Input) -> bool {
    let Input::Text(text) = input else {
        return false;
    };
    let trimmed = text.trim();
    let mut words = trimmed.splitn(2, char::is_whitespace);
    let first = words.next().unwrap_or_default().to_lowercase();
    let first = first.trim_start_matches('/');
    let first = first.split('@').next().unwrap_or_default();
    if !matches!(first, "verify" | "tasdeeq" | "tasdiq" | "تصدیق" | "যাচাই") {
        return false;
    }
    let code = words.next().unwrap_or_default().trim();
    if code.is_empty() {
        if !trimmed.starts_with('/') && first != "verify" {
            return false;
        }
        let usage = h.text("verify_usage");
        h.say(usage, Vec::new());
        h.reshow();
        return true;
    }
    // A long sentence that starts with the word is a question, not a code.
    if code.chars().count() > 20 {
        return false;
    }
    h.effects
        .push(Effect::Programme(crate::programme::Effect::Verify {
            code: code.to_string(),
        }));
    true
}

/// Says the answer to "/verify CODE" (even after STOP: the teacher asked), and shows again
/// where the conversation was.
pub(crate) fn verify_result(h: &mut Helpdesk<'_>, result: &VerifyResult) {
    let lang = h.s.dialogue.lang;
    let text = if result.valid {
        let title = result.module.as_deref().map_or_else(String::new, |m| {
            h.cx.programme.pathways.title_of(m, h.cx.dialogues, lang)
        });
        let date = result
            .issued
            .map(|d| super::format_date(d, lang))
            .unwrap_or_default();
        h.text("verify_valid")
            .replace("{code}", &result.code)
            .replace("{name}", result.name.as_deref().unwrap_or("—"))
            .replace("{title}", &title)
            .replace("{date}", &date)
    } else {
        h.text("verify_unknown").replace("{code}", &result.code)
    };
    h.say(text, Vec::new());
    h.reshow();
}

#[cfg(test)]
mod tests;
