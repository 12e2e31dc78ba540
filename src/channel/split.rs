//! Cutting a long text into messages a platform accepts (Telegram and WhatsApp both stop at
//! 4,096 characters), at the most natural boundary available. Pure.

/// Splits text into parts of at most `max` characters, preferring paragraph, then line, then
/// sentence, then word boundaries; never splits inside a character. A `max` of 0 counts as 1.
#[must_use]
pub fn split(text: &str, max: usize) -> Vec<String> {
    // A zero limit would cut nothing off each time and never finish.
    let max = max.max(1);
    let mut parts = Vec::new();
    let mut rest = text.trim();
    while rest.chars().count() > max {
        let limit = rest.char_indices().nth(max).map_or(rest.len(), |(i, _)| i);
        let window = &rest[..limit];
        let cut = ["\n\n", "\n", ". ", "۔ ", "। ", "? ", "! ", " "]
            .iter()
            .find_map(|sep| {
                window
                    .rfind(sep)
                    .filter(|at| *at > limit / 3)
                    .map(|at| at + sep.len())
            })
            .unwrap_or(limit);
        parts.push(rest[..cut].trim_end().to_string());
        rest = rest[cut..].trim_start();
    }
    if !rest.is_empty() || parts.is_empty() {
        parts.push(rest.to_string());
    }
    parts
}
