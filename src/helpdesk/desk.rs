//! What an expert's action does to a ticket, whether it comes from the web console or from the
//! Telegram expert group: who may claim, when an answer may still go out, what closing and
//! reopening mean. Pure: the caller reads the ticket, asks [`decide`], and writes the
//! [`Change`] only if the ticket is still as it was read (otherwise it reads again and asks
//! again, so two experts acting at once get one outcome and a clear word about the other).

/// An expert's action on a ticket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Take the ticket.
    Claim,
    /// Answer the teacher (the text reaches them on their channel).
    Answer(String),
    /// An internal note (the teacher never sees it).
    Note(String),
    /// Correct the topic.
    Topic(String),
    /// Close the ticket.
    Close,
    /// Open a closed or answered ticket again.
    Reopen,
}

/// The ticket as it was read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seen {
    /// open, claimed, answered, closed.
    pub status: String,
    /// The expert who has it.
    pub expert: Option<String>,
}

/// Why an action was not taken; each says so in words an expert understands.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The ticket is closed: nothing reaches the teacher.
    #[error("{0} is closed: nothing was sent to the teacher. Reopen it first.")]
    Closed(String),
    /// Another expert has it.
    #[error("{by} already took {code}.")]
    ClaimedBy {
        /// The ticket.
        code: String,
        /// Who has it.
        by: String,
    },
    /// Closing a closed ticket, reopening an open one.
    #[error("{code} is already {status}.")]
    AlreadyThere {
        /// The ticket.
        code: String,
        /// Its status.
        status: String,
    },
    /// A topic that is not in `knowledge-base/topics.yaml`.
    #[error("No topic `{0}`; see knowledge-base/topics.yaml.")]
    UnknownTopic(String),
    /// An empty answer or note.
    #[error("Nothing to send: the text is empty.")]
    Empty,
}

/// What to write when the ticket is still as [`Seen`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Change {
    /// The new status.
    pub status: Option<&'static str>,
    /// The expert to record (claims and answers by someone when nobody has it).
    pub expert: Option<String>,
    /// A corrected topic.
    pub topic: Option<String>,
    /// A note for the ticket's record.
    pub note: Option<String>,
    /// An answer for the teacher (and the ticket's record).
    pub answer: Option<String>,
    /// The ticket waits for an expert again (its SLA clock restarts).
    pub reopen: bool,
    /// Nothing changes (claiming one's own ticket again).
    pub unchanged: bool,
    /// One line for the ticket's topic in the expert group.
    pub summary: String,
}

/// What `actor` doing `action` on ticket `code`, seen as `seen`, changes; `topic_known` says
/// whether a topic id exists.
///
/// # Errors
///
/// A [`Refusal`] saying why nothing changes.
pub fn decide(
    code: &str,
    seen: &Seen,
    actor: &str,
    action: &Action,
    topic_known: impl Fn(&str) -> bool,
) -> Result<Change, Refusal> {
    let closed = seen.status == "closed";
    let held_by_other = seen.expert.as_deref().filter(|e| *e != actor);
    match action {
        Action::Claim => {
            if closed {
                return Err(Refusal::AlreadyThere {
                    code: code.into(),
                    status: seen.status.clone(),
                });
            }
            if let Some(by) = held_by_other {
                return Err(Refusal::ClaimedBy {
                    code: code.into(),
                    by: by.into(),
                });
            }
            if seen.expert.as_deref() == Some(actor) {
                return Ok(Change {
                    unchanged: true,
                    summary: format!("{actor} has {code} already."),
                    ..Change::default()
                });
            }
            Ok(Change {
                status: (seen.status == "open").then_some("claimed"),
                expert: Some(actor.into()),
                summary: format!("✋ {actor} took {code}."),
                ..Change::default()
            })
        }
        Action::Answer(text) => {
            let text = text.trim();
            if text.is_empty() {
                return Err(Refusal::Empty);
            }
            if closed {
                return Err(Refusal::Closed(code.into()));
            }
            Ok(Change {
                status: Some("answered"),
                expert: seen.expert.is_none().then(|| actor.into()),
                answer: Some(text.into()),
                summary: format!("✉️ {actor} answered {code}:\n{text}"),
                ..Change::default()
            })
        }
        Action::Note(text) => {
            let text = text.trim();
            if text.is_empty() {
                return Err(Refusal::Empty);
            }
            Ok(Change {
                note: Some(text.into()),
                summary: format!("📝 {actor} noted (the teacher does not see it):\n{text}"),
                ..Change::default()
            })
        }
        Action::Topic(topic) => {
            let topic = topic.trim();
            if !topic_known(topic) {
                return Err(Refusal::UnknownTopic(topic.into()));
            }
            Ok(Change {
                topic: Some(topic.into()),
                summary: format!("🏷 {code} is now about {topic}."),
                ..Change::default()
            })
        }
        Action::Close => {
            if closed {
                return Err(Refusal::AlreadyThere {
                    code: code.into(),
                    status: seen.status.clone(),
                });
            }
            Ok(Change {
                status: Some("closed"),
                summary: format!("✅ {actor} closed {code}."),
                ..Change::default()
            })
        }
        Action::Reopen => {
            if !matches!(seen.status.as_str(), "closed" | "answered") {
                return Err(Refusal::AlreadyThere {
                    code: code.into(),
                    status: seen.status.clone(),
                });
            }
            Ok(Change {
                status: Some("open"),
                reopen: true,
                summary: format!("↩️ {actor} reopened {code}."),
                ..Change::default()
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(status: &str, expert: Option<&str>) -> Seen {
        Seen {
            status: status.into(),
            expert: expert.map(Into::into),
        }
    }

    fn known(topic: &str) -> bool {
        topic == "assessment"
    }

    #[test]
    fn one_expert_claims_and_the_other_is_told_who_has_it() {
        let open = seen("open", None);
        let change = decide("HD-1", &open, "Sana", &Action::Claim, known).expect("claim");
        assert_eq!(change.status, Some("claimed"));
        assert_eq!(change.expert.as_deref(), Some("Sana"));
        let claimed = seen("claimed", Some("Sana"));
        assert_eq!(
            decide("HD-1", &claimed, "Imran", &Action::Claim, known),
            Err(Refusal::ClaimedBy {
                code: "HD-1".into(),
                by: "Sana".into()
            })
        );
        assert!(
            decide("HD-1", &claimed, "Sana", &Action::Claim, known)
                .expect("own")
                .unchanged
        );
    }

    #[test]
    fn answers_go_out_unless_the_ticket_is_closed() {
        let claimed = seen("claimed", Some("Sana"));
        let change = decide(
            "HD-1",
            &claimed,
            "Imran",
            &Action::Answer(" Try this. ".into()),
            known,
        )
        .expect("answer");
        assert_eq!(change.answer.as_deref(), Some("Try this."));
        assert_eq!(change.status, Some("answered"));
        assert_eq!(change.expert, None, "the claim stays with Sana");
        assert_eq!(
            decide(
                "HD-1",
                &seen("closed", None),
                "Sana",
                &Action::Answer("x".into()),
                known
            ),
            Err(Refusal::Closed("HD-1".into()))
        );
        assert_eq!(
            decide(
                "HD-1",
                &claimed,
                "Sana",
                &Action::Answer("  ".into()),
                known
            ),
            Err(Refusal::Empty)
        );
    }

    #[test]
    fn close_reopen_and_topic_follow_the_ticket_s_state() {
        let answered = seen("answered", Some("Sana"));
        assert_eq!(
            decide("HD-1", &answered, "Sana", &Action::Close, known)
                .expect("close")
                .status,
            Some("closed")
        );
        let reopened = decide(
            "HD-1",
            &seen("closed", None),
            "Sana",
            &Action::Reopen,
            known,
        )
        .expect("reopen");
        assert!(reopened.reopen);
        assert!(decide("HD-1", &seen("open", None), "Sana", &Action::Reopen, known).is_err());
        assert!(decide("HD-1", &seen("closed", None), "Sana", &Action::Close, known).is_err());
        assert_eq!(
            decide(
                "HD-1",
                &answered,
                "Sana",
                &Action::Topic("nonsense".into()),
                known
            ),
            Err(Refusal::UnknownTopic("nonsense".into()))
        );
    }
}
