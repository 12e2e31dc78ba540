//! PURE. The scheduler's policy: what to do with a job found due (run it, skip it because it is
//! too late, or move it out of the night), what a handler's outcome becomes (done, skipped,
//! retried with back-off, given up), and when a recurring job comes next, in the programme's
//! time zone. No I/O and no clock: `now` and the time zone are arguments; the runner in
//! [`crate::scheduler`] acts on the answers.
//!
//! - [`Policy`]: what a kind of job asks for (its grace, a deadline, whether teachers see it,
//!   its recurrence, how many attempts).
//! - [`on_due`] → [`Verdict`]; [`settle`] → [`Settle`]: the two decisions.
//! - [`QuietHours`]: the night, when nothing teacher-facing runs.
//! - [`Recurrence`]: daily, weekly or fortnightly at a local time, right across DST changes.

use chrono::{
    DateTime, Datelike, Duration, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, Offset as _,
    TimeZone, Utc, Weekday,
};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

/// Attempts a job gets unless its kind says otherwise.
pub const MAX_ATTEMPTS: i64 = 5;

/// What a handler says after running a job.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// It did what it was for.
    Done,
    /// There was nothing to do (the reason is kept on the job; ids and kinds, never message
    /// text or phone numbers).
    Skip(String),
    /// It failed in a way worth trying again (a store or platform error; kept and logged like
    /// a skip's reason).
    Retry(String),
}

/// How a kind of job wants to be treated; a handler builds one per job (a deadline or a
/// recurrence may come from the job's payload).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    /// Found later than this after its due time (after downtime), the job is skipped: its
    /// moment has passed.
    pub grace: Duration,
    /// After this instant the job is pointless whatever its grace (an announcement for a
    /// session that has started).
    pub deadline: Option<DateTime<Utc>>,
    /// Teachers see what it does: it never runs in the [`QuietHours`].
    pub teacher_facing: bool,
    /// It comes back: after each occurrence (done, skipped or failed) the next is scheduled.
    pub recurrence: Option<Recurrence>,
    /// Attempts before it is given up (failed).
    pub max_attempts: i64,
}

impl Policy {
    /// A one-off job that is still worth running up to `grace` late.
    #[must_use]
    pub fn new(grace: Duration) -> Policy {
        Policy {
            grace,
            deadline: None,
            teacher_facing: false,
            recurrence: None,
            max_attempts: MAX_ATTEMPTS,
        }
    }

    /// The same, for a job teachers see (kept out of the night).
    #[must_use]
    pub fn teacher_facing(mut self) -> Policy {
        self.teacher_facing = true;
        self
    }

    /// The same, recurring.
    #[must_use]
    pub fn recurring(mut self, recurrence: Recurrence) -> Policy {
        self.recurrence = Some(recurrence);
        self
    }

    /// The same, pointless from `deadline` on.
    #[must_use]
    pub fn until(mut self, deadline: DateTime<Utc>) -> Policy {
        self.deadline = Some(deadline);
        self
    }

    /// The same, given up after `attempts` (at least one).
    #[must_use]
    pub fn attempts(mut self, attempts: i64) -> Policy {
        self.max_attempts = attempts.max(1);
        self
    }
}

/// How a job ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Finished {
    /// It ran.
    Done,
    /// It was not run, for a reason.
    Skipped,
    /// It was given up.
    Failed,
}

/// A job's end, and its next occurrence when it recurs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finish {
    /// How it ended.
    pub status: Finished,
    /// Why (skipped or failed).
    pub reason: Option<String>,
    /// When the next occurrence is due, for a recurring job.
    pub next: Option<DateTime<Utc>>,
}

/// What to do with a job found due.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Run it now.
    Run,
    /// Not now: due again at this time (the end of the night), not counted as an attempt.
    Defer(DateTime<Utc>),
    /// End it without running it.
    Finish(Finish),
}

/// What to do after a handler ran a job.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Settle {
    /// End it.
    Finish(Finish),
    /// Due again at `at`, with the error kept.
    Retry {
        /// When to try again.
        at: DateTime<Utc>,
        /// What went wrong.
        error: String,
    },
}

/// Decides what to do with a job due at `due_at`, found at `now` after `attempts` claims
/// (this one included).
///
/// In order: a job whose runner stopped (crashed) more often than its attempts allow fails; a
/// job past its deadline, or later than its grace, is skipped with the reason (a recurring
/// one goes on to its next occurrence); a teacher-facing job found in the night waits for the
/// morning; anything else runs.
#[must_use]
pub fn on_due(
    policy: &Policy,
    due_at: DateTime<Utc>,
    attempts: i64,
    now: DateTime<Utc>,
    tz: Tz,
    quiet: &QuietHours,
) -> Verdict {
    let end = |status, reason: String| {
        Verdict::Finish(Finish {
            status,
            reason: Some(reason),
            next: next(policy, now, tz),
        })
    };
    if attempts > policy.max_attempts {
        return end(
            Finished::Failed,
            format!("its runner stopped {} times before finishing", attempts - 1),
        );
    }
    if let Some(deadline) = policy.deadline
        && now >= deadline
    {
        return end(
            Finished::Skipped,
            format!("its moment passed {} ago", words(now - deadline)),
        );
    }
    let late = now - due_at;
    if late > policy.grace {
        return end(
            Finished::Skipped,
            format!("late by {} (grace {})", words(late), words(policy.grace)),
        );
    }
    if policy.teacher_facing && quiet.contains(now, tz) {
        let morning = quiet.next_allowed(now, tz);
        if policy.deadline.is_some_and(|deadline| morning >= deadline) {
            return end(
                Finished::Skipped,
                "the night lasts past its moment".to_string(),
            );
        }
        return Verdict::Defer(morning);
    }
    Verdict::Run
}

/// Decides what a handler's `outcome` becomes, after `attempts` claims (this one included):
/// a retry waits [`backoff`] unless the attempts are used up (then the job fails).
#[must_use]
pub fn settle(
    policy: &Policy,
    outcome: Outcome,
    attempts: i64,
    now: DateTime<Utc>,
    tz: Tz,
) -> Settle {
    let finish = |status, reason| {
        Settle::Finish(Finish {
            status,
            reason,
            next: next(policy, now, tz),
        })
    };
    match outcome {
        Outcome::Done => finish(Finished::Done, None),
        Outcome::Skip(reason) => finish(Finished::Skipped, Some(reason)),
        Outcome::Retry(error) if attempts >= policy.max_attempts => finish(
            Finished::Failed,
            Some(format!("gave up after {attempts} attempts: {error}")),
        ),
        Outcome::Retry(error) => Settle::Retry {
            at: now + backoff(attempts),
            error,
        },
    }
}

/// How long to wait after the `attempts`-th failed attempt: a minute, doubling, at most an
/// hour.
#[must_use]
pub fn backoff(attempts: i64) -> Duration {
    let doublings = u32::try_from(attempts.clamp(1, 7) - 1).unwrap_or(0);
    Duration::minutes(1 << doublings).min(Duration::hours(1))
}

/// The next occurrence of a recurring job finishing at `now`: the first strictly after `now`,
/// so a series that missed several occurrences during downtime runs once, not once per miss.
fn next(policy: &Policy, now: DateTime<Utc>, tz: Tz) -> Option<DateTime<Utc>> {
    policy.recurrence.map(|r| r.next_after(now, tz))
}

/// The night in the programme's time zone: teacher-facing jobs do not run from `start` to
/// `end` (local times; `start` after `end` spans midnight).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QuietHours {
    /// When the night starts.
    pub start: NaiveTime,
    /// When the morning starts.
    pub end: NaiveTime,
}

impl Default for QuietHours {
    /// 21:00 to 08:00: a phone that buzzes later or earlier is a teacher woken or disturbed at
    /// home.
    fn default() -> QuietHours {
        QuietHours {
            start: NaiveTime::from_hms_opt(21, 0, 0).unwrap_or_default(),
            end: NaiveTime::from_hms_opt(8, 0, 0).unwrap_or_default(),
        }
    }
}

impl QuietHours {
    /// Whether `at` is in the night.
    #[must_use]
    pub fn contains(&self, at: DateTime<Utc>, tz: Tz) -> bool {
        let time = at.with_timezone(&tz).time();
        if self.start <= self.end {
            time >= self.start && time < self.end
        } else {
            time >= self.start || time < self.end
        }
    }

    /// `at` itself when it is not in the night, else the morning that ends it.
    #[must_use]
    pub fn next_allowed(&self, at: DateTime<Utc>, tz: Tz) -> DateTime<Utc> {
        if !self.contains(at, tz) {
            return at;
        }
        let local = at.with_timezone(&tz);
        let mut day = local.date_naive();
        if self.start > self.end && local.time() >= self.start {
            day += Duration::days(1);
        }
        local_instant(tz, day.and_time(self.end))
    }
}

/// When a recurring job comes back, at a local time in the programme's time zone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "every", rename_all = "snake_case", deny_unknown_fields)]
pub enum Recurrence {
    /// Every day at `at`.
    Daily {
        /// Local time.
        at: NaiveTime,
    },
    /// Every week on `on` at `at`.
    Weekly {
        /// The day.
        on: Weekday,
        /// Local time.
        at: NaiveTime,
    },
    /// Every other week at `at`, on the weekday of `from` and in its fortnight.
    Fortnightly {
        /// A date the series falls on.
        from: NaiveDate,
        /// Local time.
        at: NaiveTime,
    },
}

impl Recurrence {
    /// The first occurrence strictly after `after`. The wall-clock time is kept across DST
    /// changes: in a gap it falls just after the jump (02:30 on a spring-forward night is
    /// 03:30), and a time that occurs twice counts once, the first time.
    #[must_use]
    pub fn next_after(&self, after: DateTime<Utc>, tz: Tz) -> DateTime<Utc> {
        let first = after.with_timezone(&tz).date_naive();
        // A fortnight and a day hold an occurrence of every series, even when the time today
        // has passed.
        for ahead in 0..=15 {
            let day = first + Duration::days(ahead);
            if !self.falls_on(day) {
                continue;
            }
            let at = local_instant(tz, day.and_time(self.time()));
            if at > after {
                return at;
            }
        }
        after + Duration::days(1)
    }

    fn falls_on(&self, day: NaiveDate) -> bool {
        match self {
            Recurrence::Daily { .. } => true,
            Recurrence::Weekly { on, .. } => day.weekday() == *on,
            Recurrence::Fortnightly { from, .. } => (day - *from).num_days().rem_euclid(14) == 0,
        }
    }

    fn time(&self) -> NaiveTime {
        match self {
            Recurrence::Daily { at }
            | Recurrence::Weekly { at, .. }
            | Recurrence::Fortnightly { at, .. } => *at,
        }
    }
}

/// A local wall-clock time as an instant: the earlier of two when the clocks go back, and, in
/// the gap when they go forward, the same wall time read with the offset before the jump
/// (so it lands just after it).
fn local_instant(tz: Tz, local: NaiveDateTime) -> DateTime<Utc> {
    match tz.from_local_datetime(&local) {
        LocalResult::Single(at) | LocalResult::Ambiguous(at, _) => at.with_timezone(&Utc),
        LocalResult::None => {
            let before = tz
                .offset_from_utc_datetime(&(local - Duration::days(1)))
                .fix()
                .local_minus_utc();
            Utc.from_utc_datetime(&(local - Duration::seconds(i64::from(before))))
        }
    }
}

/// A duration in words for reasons: `3 days 2 hours`, `45 minutes`.
fn words(duration: Duration) -> String {
    let minutes = duration.num_minutes().max(0);
    let (days, hours, minutes) = (minutes / 1440, minutes / 60 % 24, minutes % 60);
    let unit = |n: i64, one: &str| match n {
        1 => format!("1 {one}"),
        n => format!("{n} {one}s"),
    };
    let parts: Vec<String> = [(days, "day"), (hours, "hour"), (minutes, "minute")]
        .into_iter()
        .filter(|(n, _)| *n > 0)
        .take(2)
        .map(|(n, one)| unit(n, one))
        .collect();
    if parts.is_empty() {
        return "less than a minute".to_string();
    }
    parts.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    const KARACHI: Tz = chrono_tz::Asia::Karachi;
    const NEW_YORK: Tz = chrono_tz::America::New_York;

    fn utc(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, min, 0).unwrap()
    }

    fn hm(h: u32, m: u32) -> NaiveTime {
        NaiveTime::from_hms_opt(h, m, 0).unwrap()
    }

    /// A local time in Karachi (UTC+5, no DST) as UTC.
    fn pkt(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        KARACHI
            .with_ymd_and_hms(y, m, d, h, min, 0)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn verdict(policy: &Policy, due: DateTime<Utc>, now: DateTime<Utc>) -> Verdict {
        on_due(policy, due, 1, now, KARACHI, &QuietHours::default())
    }

    #[test]
    fn a_job_late_by_less_than_its_grace_runs() {
        let due = pkt(2026, 11, 23, 10, 0);
        let policy = Policy::new(Duration::hours(1));

        assert_eq!(verdict(&policy, due, due), Verdict::Run);
        assert_eq!(
            verdict(&policy, due, due + Duration::minutes(59)),
            Verdict::Run
        );
        assert_eq!(
            verdict(&policy, due, due + Duration::hours(1)),
            Verdict::Run
        );
    }

    #[test]
    fn a_job_late_by_more_than_its_grace_is_skipped_with_the_reason() {
        let due = pkt(2026, 11, 23, 10, 0);
        let policy = Policy::new(Duration::hours(1));

        let found = verdict(&policy, due, due + Duration::days(3) + Duration::hours(2));

        assert_eq!(
            found,
            Verdict::Finish(Finish {
                status: Finished::Skipped,
                reason: Some("late by 3 days 2 hours (grace 1 hour)".to_string()),
                next: None,
            })
        );
    }

    #[test]
    fn an_announcement_for_a_session_that_started_is_skipped_whatever_its_grace() {
        let due = pkt(2026, 11, 26, 14, 0);
        let session = pkt(2026, 11, 26, 16, 0);
        let policy = Policy::new(Duration::days(1)).until(session);

        assert_eq!(
            verdict(&policy, due, session + Duration::minutes(5)),
            Verdict::Finish(Finish {
                status: Finished::Skipped,
                reason: Some("its moment passed 5 minutes ago".to_string()),
                next: None,
            })
        );
        assert_eq!(
            verdict(&policy, due, session - Duration::minutes(1)),
            Verdict::Run
        );
    }

    #[test]
    fn a_teacher_facing_job_found_at_night_waits_for_the_morning() {
        let policy = Policy::new(Duration::hours(2)).teacher_facing();
        let cases = [
            // Late evening: the next morning.
            (pkt(2026, 11, 23, 23, 30), pkt(2026, 11, 24, 8, 0)),
            // After midnight: the same day's morning.
            (pkt(2026, 11, 24, 2, 0), pkt(2026, 11, 24, 8, 0)),
            // The first minute of the night.
            (pkt(2026, 11, 23, 21, 0), pkt(2026, 11, 24, 8, 0)),
        ];
        for (now, morning) in cases {
            assert_eq!(verdict(&policy, now, now), Verdict::Defer(morning), "{now}");
        }
        let morning = pkt(2026, 11, 24, 8, 0);
        assert_eq!(verdict(&policy, morning, morning), Verdict::Run);
        let evening = pkt(2026, 11, 23, 20, 59);
        assert_eq!(verdict(&policy, evening, evening), Verdict::Run);
    }

    #[test]
    fn a_job_nobody_sees_runs_at_night() {
        let policy = Policy::new(Duration::hours(2));
        let night = pkt(2026, 11, 24, 3, 0);

        assert_eq!(verdict(&policy, night, night), Verdict::Run);
    }

    #[test]
    fn a_teacher_facing_job_whose_moment_ends_before_the_morning_is_skipped() {
        let night = pkt(2026, 11, 23, 22, 0);
        let policy = Policy::new(Duration::hours(2))
            .teacher_facing()
            .until(pkt(2026, 11, 24, 7, 0));

        let found = verdict(&policy, night, night);

        assert!(
            matches!(
                found,
                Verdict::Finish(Finish {
                    status: Finished::Skipped,
                    ..
                })
            ),
            "{found:?}"
        );
    }

    #[test]
    fn a_job_whose_runner_kept_crashing_fails() {
        let due = pkt(2026, 11, 23, 10, 0);
        let policy = Policy::new(Duration::hours(1)).attempts(2);
        let quiet = QuietHours::default();

        assert_eq!(on_due(&policy, due, 2, due, KARACHI, &quiet), Verdict::Run);
        assert_eq!(
            on_due(&policy, due, 3, due, KARACHI, &quiet),
            Verdict::Finish(Finish {
                status: Finished::Failed,
                reason: Some("its runner stopped 2 times before finishing".to_string()),
                next: None,
            })
        );
    }

    #[test]
    fn a_late_recurring_job_is_skipped_and_comes_back_at_its_next_time() {
        let daily = Recurrence::Daily { at: hm(3, 0) };
        let policy = Policy::new(Duration::hours(12)).recurring(daily);
        let due = pkt(2026, 11, 24, 3, 0);
        let now = pkt(2026, 11, 27, 10, 0);

        let Verdict::Finish(finish) = verdict(&policy, due, now) else {
            panic!("not finished");
        };

        assert_eq!(finish.status, Finished::Skipped);
        assert_eq!(finish.next, Some(pkt(2026, 11, 28, 3, 0)));
    }

    #[test]
    fn outcomes_become_ends_retries_and_give_ups() {
        let now = pkt(2026, 11, 23, 10, 0);
        let policy = Policy::new(Duration::hours(1));
        let boom = || Outcome::Retry("store unavailable".to_string());

        assert_eq!(
            settle(&policy, Outcome::Done, 1, now, KARACHI),
            Settle::Finish(Finish {
                status: Finished::Done,
                reason: None,
                next: None
            })
        );
        assert_eq!(
            settle(
                &policy,
                Outcome::Skip("nobody to tell".into()),
                1,
                now,
                KARACHI
            ),
            Settle::Finish(Finish {
                status: Finished::Skipped,
                reason: Some("nobody to tell".to_string()),
                next: None
            })
        );
        assert_eq!(
            settle(&policy, boom(), 1, now, KARACHI),
            Settle::Retry {
                at: now + Duration::minutes(1),
                error: "store unavailable".to_string()
            }
        );
        assert_eq!(
            settle(&policy, boom(), 4, now, KARACHI),
            Settle::Retry {
                at: now + Duration::minutes(8),
                error: "store unavailable".to_string()
            }
        );
        assert_eq!(
            settle(&policy, boom(), 5, now, KARACHI),
            Settle::Finish(Finish {
                status: Finished::Failed,
                reason: Some("gave up after 5 attempts: store unavailable".to_string()),
                next: None
            })
        );
    }

    #[test]
    fn a_recurring_job_comes_back_after_every_end() {
        let daily = Recurrence::Daily { at: hm(3, 0) };
        let policy = Policy::new(Duration::hours(12)).recurring(daily);
        let now = pkt(2026, 11, 24, 3, 0);
        let tomorrow = Some(pkt(2026, 11, 25, 3, 0));

        for outcome in [
            Outcome::Done,
            Outcome::Skip("nothing".into()),
            Outcome::Retry("x".into()),
        ] {
            let Settle::Finish(finish) = settle(&policy, outcome, 5, now, KARACHI) else {
                panic!("not finished");
            };
            assert_eq!(finish.next, tomorrow);
        }
    }

    #[test]
    fn backoff_doubles_from_a_minute_up_to_an_hour() {
        let waits: Vec<i64> = (0..10).map(|n| backoff(n).num_minutes()).collect();

        assert_eq!(waits, [1, 1, 2, 4, 8, 16, 32, 60, 60, 60]);
    }

    #[test]
    fn quiet_hours_span_midnight_or_not() {
        let night = QuietHours::default();
        assert!(night.contains(pkt(2026, 11, 23, 21, 0), KARACHI));
        assert!(night.contains(pkt(2026, 11, 24, 7, 59), KARACHI));
        assert!(!night.contains(pkt(2026, 11, 24, 8, 0), KARACHI));
        assert!(!night.contains(pkt(2026, 11, 23, 20, 59), KARACHI));

        let small_hours = QuietHours {
            start: hm(0, 0),
            end: hm(6, 0),
        };
        assert!(small_hours.contains(pkt(2026, 11, 24, 5, 0), KARACHI));
        assert!(!small_hours.contains(pkt(2026, 11, 23, 23, 0), KARACHI));
        assert_eq!(
            small_hours.next_allowed(pkt(2026, 11, 24, 5, 0), KARACHI),
            pkt(2026, 11, 24, 6, 0)
        );
        let day = pkt(2026, 11, 24, 12, 0);
        assert_eq!(small_hours.next_allowed(day, KARACHI), day);
    }

    #[test]
    fn daily_weekly_and_fortnightly_in_karachi() {
        let thursday_4pm = |on| Recurrence::Weekly { on, at: hm(16, 0) };
        let monday = pkt(2026, 11, 23, 10, 0);

        assert_eq!(
            Recurrence::Daily { at: hm(3, 0) }.next_after(monday, KARACHI),
            pkt(2026, 11, 24, 3, 0)
        );
        assert_eq!(
            Recurrence::Daily { at: hm(11, 0) }.next_after(monday, KARACHI),
            pkt(2026, 11, 23, 11, 0)
        );
        assert_eq!(
            thursday_4pm(Weekday::Thu).next_after(monday, KARACHI),
            pkt(2026, 11, 26, 16, 0)
        );
        // Exactly at an occurrence: the next one, a week on.
        assert_eq!(
            thursday_4pm(Weekday::Thu).next_after(pkt(2026, 11, 26, 16, 0), KARACHI),
            pkt(2026, 12, 3, 16, 0)
        );
        // 16:00 in Karachi is 11:00 UTC every week of the year.
        assert_eq!(
            thursday_4pm(Weekday::Thu).next_after(utc(2027, 6, 1, 0, 0), KARACHI),
            utc(2027, 6, 3, 11, 0)
        );
        let fortnightly = Recurrence::Fortnightly {
            from: NaiveDate::from_ymd_opt(2026, 11, 26).unwrap(),
            at: hm(16, 0),
        };
        assert_eq!(
            fortnightly.next_after(monday, KARACHI),
            pkt(2026, 11, 26, 16, 0)
        );
        assert_eq!(
            fortnightly.next_after(pkt(2026, 11, 26, 16, 0), KARACHI),
            pkt(2026, 12, 10, 16, 0)
        );
        // Before its first date the series still keeps its fortnights.
        assert_eq!(
            fortnightly.next_after(pkt(2026, 11, 1, 0, 0), KARACHI),
            pkt(2026, 11, 12, 16, 0)
        );
    }

    #[test]
    fn weekly_keeps_the_wall_clock_time_across_dst() {
        let sunday_9am = Recurrence::Weekly {
            on: Weekday::Sun,
            at: hm(9, 0),
        };

        // New York: EST (UTC-5) before 8 March 2026, EDT (UTC-4) from it.
        assert_eq!(
            sunday_9am.next_after(utc(2026, 3, 2, 0, 0), NEW_YORK),
            utc(2026, 3, 8, 13, 0)
        );
        assert_eq!(
            sunday_9am.next_after(utc(2026, 2, 23, 0, 0), NEW_YORK),
            utc(2026, 3, 1, 14, 0)
        );
    }

    #[test]
    fn a_local_time_in_a_dst_gap_or_overlap_happens_once() {
        let half_past_two = Recurrence::Daily { at: hm(2, 30) };
        let half_past_one = Recurrence::Daily { at: hm(1, 30) };

        // 02:30 does not exist on 8 March 2026 in New York: just after the jump, 03:30 EDT.
        assert_eq!(
            half_past_two.next_after(utc(2026, 3, 8, 5, 0), NEW_YORK),
            utc(2026, 3, 8, 7, 30)
        );
        // 01:30 happens twice on 1 November 2026: the first (EDT), then the next day.
        let first = half_past_one.next_after(utc(2026, 11, 1, 4, 0), NEW_YORK);
        assert_eq!(first, utc(2026, 11, 1, 5, 30));
        assert_eq!(
            half_past_one.next_after(first, NEW_YORK),
            utc(2026, 11, 2, 6, 30)
        );
    }

    #[test]
    fn recurrences_travel_in_a_payload() {
        let weekly = Recurrence::Weekly {
            on: Weekday::Thu,
            at: hm(16, 0),
        };

        let json = serde_json::to_string(&weekly).unwrap();

        assert_eq!(json, r#"{"every":"weekly","on":"Thu","at":"16:00:00"}"#);
        assert_eq!(serde_json::from_str::<Recurrence>(&json).unwrap(), weekly);
    }

    #[test]
    fn durations_in_words() {
        assert_eq!(words(Duration::seconds(30)), "less than a minute");
        assert_eq!(words(Duration::minutes(45)), "45 minutes");
        assert_eq!(words(Duration::minutes(61)), "1 hour 1 minute");
        assert_eq!(
            words(Duration::days(3) + Duration::minutes(5)),
            "3 days 5 minutes"
        );
        assert_eq!(
            words(Duration::days(2) + Duration::hours(1)),
            "2 days 1 hour"
        );
    }
}
