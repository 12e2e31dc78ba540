//! Who may do what in the web console, and the rules around signing in: roles and the areas
//! they open, session lifetimes, sign-in throttling, and how much of a teacher's phone number
//! each role sees. Pure: the web layer asks, the store remembers.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Duration, Utc};

/// A staff account's role.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// Works the helpdesk queue.
    Expert,
    /// Programme staff: reports, CPD planning, broadcasts, content drafts.
    Staff,
    /// Manages accounts; may open every area.
    Admin,
}

/// A part of the console.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Area {
    /// The ticket queue and tickets.
    Tickets,
    /// Recurring issues, reports and exports of them.
    Insights,
    /// Staff accounts.
    Accounts,
    /// Content staff keep: the experts' canned replies.
    Content,
    /// CPD planning: recurring issues marked planned, sessions, notices to teachers.
    Plans,
    /// Broadcasts to segments of teachers (issue 7).
    Broadcasts,
    /// The CPD-hour calendar: sessions, announcements, RSVPs (read-only).
    Calendar,
    /// Shared classroom practices: review (approve, reject) and the practice of the week.
    Practices,
}

impl Role {
    /// Every role, for forms and help texts.
    pub const ALL: [Role; 3] = [Role::Expert, Role::Staff, Role::Admin];

    /// The name stored and typed (`expert`, `staff`, `admin`).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Expert => "expert",
            Role::Staff => "staff",
            Role::Admin => "admin",
        }
    }

    /// Whether this role may open `area`.
    #[must_use]
    pub fn may_open(self, area: Area) -> bool {
        matches!(
            (self, area),
            (Role::Admin, _)
                | (Role::Expert, Area::Tickets)
                | (Role::Staff, Area::Insights | Area::Content | Area::Plans)
                | (Role::Staff, Area::Broadcasts)
                | (Role::Staff, Area::Calendar)
                | (Role::Staff, Area::Practices)
        )
    }

    /// Where the console opens for this role.
    #[must_use]
    pub fn home(self) -> &'static str {
        match self {
            Role::Expert | Role::Admin => "/console/tickets",
            Role::Staff => "/console/insights",
        }
    }

    /// Whether this role sees teachers' phone numbers in full.
    #[must_use]
    pub fn sees_phone_numbers(self) -> bool {
        self == Role::Admin
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A role name that is not one of ours.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("unknown role `{0}` (expected expert, staff or admin)")]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;

    fn from_str(s: &str) -> Result<Role, UnknownRole> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| UnknownRole(s.to_string()))
    }
}

/// How long sessions live.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionRules {
    /// From sign-in, whatever happens.
    pub lifetime: Duration,
    /// Unused for this long, a session ends.
    pub idle: Duration,
}

impl Default for SessionRules {
    fn default() -> SessionRules {
        SessionRules {
            lifetime: Duration::hours(12),
            idle: Duration::hours(2),
        }
    }
}

impl SessionRules {
    /// Whether a session last used at `last_seen` and ending at `expires_at` is still good.
    #[must_use]
    pub fn alive(
        &self,
        expires_at: DateTime<Utc>,
        last_seen: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> bool {
        now < expires_at && now - last_seen < self.idle
    }

    /// Whether `last_seen` is old enough to be written down again (a write per page view
    /// would be wasteful; a minute of precision is plenty for an idle limit of hours).
    #[must_use]
    pub fn worth_touching(&self, last_seen: DateTime<Utc>, now: DateTime<Utc>) -> bool {
        now - last_seen >= Duration::minutes(1)
    }
}

/// Sign-in throttling: after [`Throttle::failures`] failed attempts within
/// [`Throttle::window`] against an account name or from one client, further attempts are
/// refused until the window has passed since the last failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Throttle {
    /// Failures allowed in the window.
    pub failures: i64,
    /// How far back failures count, and how long the lock lasts after the last.
    pub window: Duration,
}

impl Default for Throttle {
    fn default() -> Throttle {
        Throttle {
            failures: 5,
            window: Duration::minutes(15),
        }
    }
}

impl Throttle {
    /// When attempts may resume, if they are locked now, given the failures counted since
    /// `now - window` and the latest of them.
    #[must_use]
    pub fn locked_until(
        &self,
        failures: i64,
        last: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        let until = last? + self.window;
        (failures >= self.failures && until > now).then_some(until)
    }
}

/// Hashes a password with Argon2id (the crate's default parameters) into a PHC string, with a
/// fresh random salt.
///
/// # Errors
///
/// Only when the hasher refuses its input (a password longer than Argon2 allows).
pub fn hash_password(password: &str) -> Result<String, argon2::password_hash::Error> {
    use argon2::password_hash::PasswordHasher;
    let hash: argon2::password_hash::phc::PasswordHash =
        argon2::Argon2::default().hash_password(password.as_bytes())?;
    Ok(hash.to_string())
}

/// Whether `password` matches a PHC string from [`hash_password`]; an unreadable hash never
/// matches.
#[must_use]
pub fn password_matches(password: &str, hash: &str) -> bool {
    use argon2::password_hash::PasswordVerifier;
    argon2::Argon2::default()
        .verify_password(password.as_bytes(), hash)
        .is_ok()
}

/// A hash to verify against when the account does not exist, so that a sign-in for an unknown
/// name takes as long as one for a known name (names cannot be probed by timing).
#[must_use]
pub fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash_password("not a password anyone has").unwrap_or_default())
}

/// A one-time password for a new account: 20 letters and digits from a cryptographic generator,
/// without look-alikes (0/O, 1/l/I).
#[must_use]
pub fn one_time_password() -> String {
    use rand::Rng as _;
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rng();
    (0..20)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect()
}

/// Why an account name is refused, if it is: 1–64 characters, letters, digits, `.`, `-`, `_`
/// and spaces, not starting or ending with a space.
///
/// # Errors
///
/// A sentence saying what is wrong.
pub fn valid_account_name(name: &str) -> Result<(), &'static str> {
    let chars = name.chars().count();
    if chars == 0 || chars > 64 {
        return Err("An account name has 1 to 64 characters.");
    }
    if name != name.trim() {
        return Err("An account name does not start or end with a space.");
    }
    if !name
        .chars()
        .all(|c| c.is_alphanumeric() || matches!(c, '.' | '-' | '_' | ' '))
    {
        return Err("An account name has letters, digits, spaces, `.`, `-` and `_` only.");
    }
    Ok(())
}

/// The shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 12;

/// A phone number as `role` may see it: in full for admins, else only its last three digits
/// (`•••••••123`). Not a phone number (a Telegram id, a business-scoped id): shown as is to
/// admins, masked the same way to others.
#[must_use]
pub fn phone_for(role: Role, number: &str) -> String {
    if role.sees_phone_numbers() {
        return number.to_string();
    }
    let chars: Vec<char> = number.chars().collect();
    let keep = chars.len().min(3);
    let hidden = chars.len() - keep;
    let mut out = "•".repeat(hidden.clamp(4, 12));
    out.extend(&chars[hidden..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_open_their_own_areas_and_admins_every_area() {
        assert!(Role::Expert.may_open(Area::Tickets));
        assert!(!Role::Expert.may_open(Area::Insights));
        assert!(!Role::Expert.may_open(Area::Accounts));
        assert!(Role::Staff.may_open(Area::Insights));
        assert!(!Role::Staff.may_open(Area::Tickets));
        assert!(!Role::Staff.may_open(Area::Accounts));
        for area in [Area::Tickets, Area::Insights, Area::Accounts] {
            assert!(Role::Admin.may_open(area));
        }
        assert_eq!("staff".parse(), Ok(Role::Staff));
        assert_eq!("root".parse::<Role>(), Err(UnknownRole("root".to_string())));
    }

    #[test]
    fn passwords_hash_with_argon2id_and_verify() {
        let hash = hash_password("correct horse battery").expect("hash");
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(password_matches("correct horse battery", &hash));
        assert!(!password_matches("correct horse batter", &hash));
        assert!(!password_matches("anything", "not a phc string"));
        assert_eq!(one_time_password().len(), 20);
    }

    #[test]
    fn experts_see_the_last_three_digits_only() {
        assert_eq!(phone_for(Role::Expert, "923001234567"), "•••••••••567");
        assert_eq!(phone_for(Role::Staff, "12"), "••••12");
        assert_eq!(phone_for(Role::Admin, "923001234567"), "923001234567");
    }

    #[test]
    fn sessions_end_when_idle_or_old() {
        let rules = SessionRules::default();
        let now = Utc::now();
        assert!(rules.alive(now + Duration::hours(1), now - Duration::minutes(5), now));
        assert!(!rules.alive(now + Duration::hours(1), now - Duration::hours(3), now));
        assert!(!rules.alive(now - Duration::seconds(1), now, now));
    }

    #[test]
    fn throttling_locks_after_repeated_failures_for_the_window() {
        let throttle = Throttle::default();
        let now = Utc::now();
        let last = Some(now - Duration::minutes(1));
        assert_eq!(throttle.locked_until(4, last, now), None);
        assert_eq!(
            throttle.locked_until(5, last, now),
            Some(now + Duration::minutes(14))
        );
        assert_eq!(
            throttle.locked_until(9, Some(now - Duration::minutes(16)), now),
            None
        );
    }
}
