use chrono::Utc;

use super::after_step;
use crate::dialogue::{self, ModuleProgress, Reply};
use crate::helpdesk::{Context, Effect, Helpdesk, TeacherState};
use crate::language::Lang;

fn content() -> crate::content::Content {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    match crate::content::load(&root) {
        Ok(content) => content,
        Err(d) => panic!("fixture content: {d:?}"),
    }
}

fn say(text: &str) -> Effect {
    Effect::Dialogue(dialogue::Effect::Say(Reply {
        text: text.into(),
        choices: Vec::new(),
        lang: Lang::En,
    }))
}

fn kinds(effects: &[Effect]) -> Vec<String> {
    effects
        .iter()
        .map(|e| match e {
            Effect::Dialogue(dialogue::Effect::Say(r)) => {
                format!("say:{}", r.text.lines().next().unwrap_or(""))
            }
            Effect::Dialogue(dialogue::Effect::Certificate { module, .. }) => {
                format!("cert:{module}")
            }
            Effect::Photo { path, .. } => format!("photo:{}", path.starts_with("/certificates/")),
            _ => "other".into(),
        })
        .collect()
}

#[test]
fn a_module_certificate_brings_its_picture_the_pathway_and_the_first_milestone() {
    let content = content();
    let cx = Context {
        dialogues: &content.dialogues,
        kb: &content.knowledge,
        config: &content.helpdesk,
        programme: &content.programme,
    };
    let mut state = TeacherState::default();
    state
        .dialogue
        .profile
        .insert("name".into(), "Ayesha".into());
    state.dialogue.modules.insert(
        "demo".into(),
        ModuleProgress {
            passed: true,
            certificate: Some("ABCD-2345".into()),
            ..ModuleProgress::default()
        },
    );
    let mut h = Helpdesk::new(cx, &state, Utc::now());
    h.effects
        .push(Effect::Dialogue(dialogue::Effect::Certificate {
            module: "demo".into(),
            code: "ABCD-2345".into(),
        }));
    h.effects.push(say("Passed! Certificate ABCD-2345"));
    h.effects.push(say("Menu"));
    after_step(&mut h, 0);
    let got = kinds(&h.effects);
    let pathway_code = h.s.programme.pathways["starter"].clone();
    let expected: Vec<String> = vec![
        "cert:demo".into(),
        "say:Passed! Certificate ABCD-2345".into(),
        "photo:true".into(),
        "cert:pathway:starter".into(),
        format!("say:🏅 You have finished every module of the pathway *Starter pathway*! Here is your pathway certificate, code *{pathway_code}*."),
        "photo:true".into(),
        "say:🌱 Your first module is done. That is how lasting change in a classroom starts: one practice at a time.".into(),
        "say:Menu".into(),
    ];
    assert_eq!(got, expected);
    if let Effect::Photo { reply, link, .. } = &h.effects[2] {
        assert!(
            reply.text.contains("Ayesha") && reply.text.contains("ABCD-2345"),
            "{}",
            reply.text
        );
        assert_eq!(link, "/verify/ABCD-2345");
    }
    // Once: the pathway is not issued again.
    let state = h.s.clone();
    let mut again = Helpdesk::new(cx, &state, Utc::now());
    again
        .effects
        .push(Effect::Dialogue(dialogue::Effect::Certificate {
            module: "demo".into(),
            code: "ABCD-2345".into(),
        }));
    after_step(&mut again, 0);
    assert!(
        !kinds(&again.effects)
            .iter()
            .any(|k| k.starts_with("cert:pathway"))
    );
}

#[test]
fn badges_count_modules_and_pathways() {
    let content = content();
    let cx = Context {
        dialogues: &content.dialogues,
        kb: &content.knowledge,
        config: &content.helpdesk,
        programme: &content.programme,
    };
    let mut state = TeacherState::default();
    for i in 0..5 {
        state.dialogue.modules.insert(
            format!("m{i}"),
            ModuleProgress {
                passed: true,
                ..ModuleProgress::default()
            },
        );
    }
    state
        .programme
        .pathways
        .insert("starter".into(), "WXYZ-2345".into());
    let h = Helpdesk::new(cx, &state, Utc::now());
    let badges = super::badges(&h, 3);
    assert_eq!(badges.len(), 4, "{badges:?}");
    assert!(badges[0].starts_with("🌱"));
    assert!(badges[1].starts_with("📚"));
    assert!(badges[2].contains("Starter pathway") && badges[2].contains("WXYZ-2345"));
    assert!(badges[3].starts_with("⭐"));
}
