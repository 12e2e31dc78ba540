//! The names `_system.yaml` must define: global commands and the system texts the engine uses.
//!
//! Listing them here lets `check` report a missing one before a teacher meets the raw key.

/// Global commands every content set defines. `start` also receives a teacher who writes
/// while no dialogue is running.
pub const COMMANDS: &[&str] = &["start", "menu", "help", "language"];

/// System texts the engine shows, by key.
pub const TEXT_KEYS: &[&str] = &[
    // Re-prompts.
    "fallback",
    "invalid_answer",
    "invalid_number",
    "unsupported_input",
    // Lessons.
    "next",
    "skip",
    "lesson_part",
    "lesson_resume",
    "lesson_task",
    "lesson_reflection",
    "reflection_thanks",
    // Quizzes.
    "quiz_question",
    "quiz_correct",
    "quiz_wrong",
    "quiz_score",
    "certificate_again",
    // My progress.
    "progress_heading",
    "progress_empty",
    "progress_in_lesson",
    "progress_lesson_done",
    "progress_best_score",
    "progress_passed",
    "progress_certificate",
    // The helpdesk.
    "helpdesk_answer",
    "helpdesk_read_more",
    "helpdesk_did_it_help",
    "helpdesk_yes",
    "helpdesk_no",
    "helpdesk_expert",
    "helpdesk_glad",
    "helpdesk_ticket_open",
    "helpdesk_when_hours",
    "helpdesk_when_closed",
    "helpdesk_followup_added",
    "helpdesk_empty",
    "helpdesk_expert_answer",
    "helpdesk_rate",
    "helpdesk_still_need_help",
    "helpdesk_reopened",
    "helpdesk_rated",
    "helpdesk_comment_saved",
    "helpdesk_continue",
    // CPD notices and the teacher's switch for them (`helpdesk::notice`).
    "cpd_notice_cpd_hour",
    "cpd_notice_in_person",
    "cpd_notice_online",
    "cpd_notice_footer",
    "notices_off",
    "notices_on",
    // Reminders (`programme::reminders`).
    "reminder_nudge",
    "reminder_quiz_retry",
    "reminder_continue",
    "reminder_try_again",
    "reminder_try_again_short",
    "reminder_not_now",
    "reminder_later",
    // The teacher's own data (`helpdesk::privacy`).
    "mydata_report",
    "mydata_none",
    "mydata_notices_on",
    "mydata_notices_off",
    "forget_confirm",
    "forget_yes",
    "forget_no",
    "forget_done",
    "forget_kept",
];
