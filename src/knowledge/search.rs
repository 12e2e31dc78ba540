//! Multilingual search over the articles: tokens, a BM25 index, topic detection. Pure and in
//! memory; built once per content load.
//!
//! Tokens. A text is normalized ([`crate::language::normalize`]: Urdu letter variants and
//! harakat folded, digits of every script made ASCII, case and punctuation folded), split into
//! words by UAX #29 (Bangla and Urdu words stay whole), common function words dropped, and
//! each word becomes:
//! - the word itself;
//! - for a Latin-script word, its Roman Urdu skeleton ("bachay", "bache", "bachon" meet);
//! - its character trigrams, with word boundaries, weighted lower: they catch typos and
//!   inflections ("parhana"/"parhaun", "noisy"/"noise") that whole words miss.
//!
//! Ranking. BM25 (k1 = 1.2, b = 0.75) over three fields, summed with weights: the example
//! questions (each example is its own little document and an article takes its best one: a
//! teacher's question is most like one earlier question, not like all of them at once), the
//! title, and the body. Scores from the three fields add up.
//!
//! Why not a crate. tantivy would be the choice for a large corpus on disk, but its index
//! writer runs threads and a directory abstraction, which this pure core may not, and our
//! corpus is a few thousand short articles held in memory. The `bm25` crate was tried: its
//! scorer scans each candidate document's whole token list once per query token and
//! recomputes IDF on every query, which with n-gram tokens over 2,000 articles is far above
//! the 1 ms budget. The index here is the textbook inverted index with weights computed once,
//! about a hundred lines, and answers in tens of microseconds (`baithak kb bench`).

use std::collections::HashMap;

use crate::language::{normalize, roman_skeleton, words};

use super::article::{Article, Written};

const K1: f32 = 1.2;
const B: f32 = 0.75;
/// Field weights: examples, title, body.
const W_EXAMPLES: f32 = 1.0;
const W_TITLE: f32 = 0.6;
/// How much an article's second-best example adds to its best.
const SECOND_EXAMPLE: f32 = 0.5;
const W_BODY: f32 = 0.7;
/// Token kind weights: a whole word counts more than one of its trigrams.
const W_WORD: f32 = 1.0;
const W_SKELETON: f32 = 0.6;
const W_STEM: f32 = 0.8;
const W_TRIGRAM: f32 = 0.5;
/// Topic detection looks at this many top articles.
const TOPIC_DEPTH: usize = 5;

/// Words too common to say anything about a question, in the languages teachers type.
const STOP_WORDS: &[&str] = &[
    // English
    "a",
    "an",
    "the",
    "is",
    "are",
    "am",
    "was",
    "be",
    "to",
    "of",
    "in",
    "on",
    "at",
    "for",
    "and",
    "or",
    "i",
    "my",
    "me",
    "we",
    "our",
    "you",
    "your",
    "it",
    "this",
    "that",
    "do",
    "does",
    "what",
    "how",
    "can",
    "with",
    "they",
    "them",
    "their",
    "he",
    "she",
    "his",
    "her",
    "so",
    "very",
    "not",
    "no",
    "have",
    "has",
    "sir",
    "madam",
    "please",
    "pls",
    "plz",
    // Roman Urdu
    "kya",
    "kia",
    "hai",
    "hain",
    "he",
    "ho",
    "ka",
    "ki",
    "ke",
    "ko",
    "se",
    "mein",
    "main",
    "mai",
    "me",
    "mera",
    "meri",
    "mere",
    "ye",
    "yeh",
    "wo",
    "woh",
    "aur",
    "bhi",
    "to",
    "tu",
    "ap",
    "aap",
    "hum",
    "ham",
    "kar",
    "karo",
    "karun",
    "karoon",
    "karna",
    "karte",
    "kaise",
    "kese",
    "kaisay",
    "kesay",
    "kuch",
    "ek",
    "nahi",
    "nhi",
    "nai",
    "na",
    "par",
    "per",
    "liye",
    "lye",
    "sy",
    "ha",
    "hy",
    "hu",
    "hoon",
    "hun",
    "jee",
    "ji",
    // Urdu
    "کیا",
    "ہے",
    "ہیں",
    "کا",
    "کی",
    "کے",
    "کو",
    "سے",
    "میں",
    "میری",
    "میرا",
    "میرے",
    "یہ",
    "وہ",
    "اور",
    "بھی",
    "تو",
    "آپ",
    "ہم",
    "کر",
    "کریں",
    "کروں",
    "کرنا",
    "کیسے",
    "کچھ",
    "ایک",
    "نہیں",
    "پر",
    "لیے",
    "لئے",
    "ہوں",
    "ہو",
    "جی",
    // Bangla
    "আমি",
    "আমার",
    "আমাদের",
    "কি",
    "কী",
    "কেন",
    "কিভাবে",
    "কীভাবে",
    "এবং",
    "ও",
    "এই",
    "সে",
    "তারা",
    "না",
    "করব",
    "করবো",
    "করি",
    "করে",
    "হয়",
    "হয়",
    "আছে",
    "থেকে",
    "জন্য",
    "একটি",
    "এক",
];

/// One hit.
#[derive(Clone, Debug, PartialEq)]
pub struct Hit {
    /// The article's index in [`Index::articles`].
    pub article: usize,
    /// Its score (unbounded; comparable within one query).
    pub score: f32,
}

/// What a search found.
#[derive(Clone, Debug, PartialEq)]
pub struct Found {
    /// Best first, at most the number asked for.
    pub hits: Vec<Hit>,
    /// The topic the question is most likely about, if any article matched.
    pub topic: Option<String>,
    /// How sure, 0–1: the topic's share of the top scores, damped when the best score is low.
    pub confidence: f32,
    /// How the question is written.
    pub written: Written,
}

/// A built index over the servable (non-draft) articles.
#[derive(Debug, Default)]
pub struct Index {
    /// The articles, in file order.
    pub articles: Vec<Article>,
    tokens: HashMap<String, u32>,
    examples: Field,
    titles: Field,
    bodies: Field,
    /// Example document → article.
    example_owner: Vec<u32>,
    /// Per article, the whole-word tokens of all its fields (for the coverage of a question).
    article_words: Vec<std::collections::HashSet<u32>>,
}

/// One field: postings per token with the BM25 weight (IDF × saturated TF) precomputed.
#[derive(Debug, Default)]
struct Field {
    postings: HashMap<u32, Vec<(u32, f32)>>,
}

impl Field {
    fn build(docs: &[Vec<(u32, f32)>]) -> Field {
        let n = docs.len().max(1) as f32;
        let lengths: Vec<f32> = docs
            .iter()
            .map(|d| d.iter().map(|(_, w)| w).sum())
            .collect();
        let avg = (lengths.iter().sum::<f32>() / n).max(1.0);
        let mut tf: HashMap<u32, Vec<(u32, f32)>> = HashMap::new();
        for (doc, tokens) in docs.iter().enumerate() {
            let mut counts: HashMap<u32, f32> = HashMap::new();
            for (token, weight) in tokens {
                *counts.entry(*token).or_default() += weight;
            }
            for (token, count) in counts {
                tf.entry(token).or_default().push((doc as u32, count));
            }
        }
        let postings = tf
            .into_iter()
            .map(|(token, list)| {
                let df = list.len() as f32;
                let idf = (1.0 + (n - df + 0.5) / (df + 0.5)).ln();
                let weighted = list
                    .into_iter()
                    .map(|(doc, count)| {
                        let norm = 1.0 - B + B * lengths[doc as usize] / avg;
                        (doc, idf * count * (K1 + 1.0) / (count + K1 * norm))
                    })
                    .collect();
                (token, weighted)
            })
            .collect();
        Field { postings }
    }

    /// Adds `weight × BM25` of each query token to `scores` (indexed by document).
    fn score(&self, query: &[(u32, f32)], scores: &mut [f32]) {
        for (token, weight) in query {
            if let Some(list) = self.postings.get(token) {
                for (doc, w) in list {
                    scores[*doc as usize] += weight * w;
                }
            }
        }
    }
}

impl Index {
    /// Indexes the servable articles (drafts are left out).
    #[must_use]
    pub fn build(articles: Vec<Article>) -> Index {
        let articles: Vec<Article> = articles.into_iter().filter(|a| !a.draft).collect();
        let mut index = Index::default();
        let mut examples = Vec::new();
        let mut titles = Vec::new();
        let mut bodies = Vec::new();
        for (i, article) in articles.iter().enumerate() {
            let mut whole = std::collections::HashSet::new();
            let mut keep = |index: &Index, tokens: &[(String, f32)]| {
                for (token, _) in tokens {
                    if !token.starts_with("g:")
                        && let Some(id) = index.tokens.get(token)
                    {
                        whole.insert(*id);
                    }
                }
            };
            for (_, question) in &article.examples {
                let raw = tokenize(question);
                let tokens = index.intern(&raw);
                keep(&index, &raw);
                examples.push(tokens);
                index.example_owner.push(i as u32);
            }
            let title: Vec<&str> = article.title.versions().map(|(_, t)| t).collect();
            let raw = tokenize(&title.join(" \n "));
            titles.push(index.intern(&raw));
            keep(&index, &raw);
            let body: Vec<&str> = article
                .short
                .versions()
                .chain(article.more.versions())
                .map(|(_, t)| t)
                .collect();
            let raw = tokenize(&body.join(" \n "));
            bodies.push(index.intern(&raw));
            keep(&index, &raw);
            index.article_words.push(whole);
        }
        index.examples = Field::build(&examples);
        index.titles = Field::build(&titles);
        index.bodies = Field::build(&bodies);
        index.articles = articles;
        index
    }

    fn intern(&mut self, tokens: &[(String, f32)]) -> Vec<(u32, f32)> {
        tokens
            .iter()
            .map(|(token, weight)| {
                let next = self.tokens.len() as u32;
                let id = *self.tokens.entry(token.clone()).or_insert(next);
                (id, *weight)
            })
            .collect()
    }

    /// The article with this id.
    #[must_use]
    pub fn article(&self, id: &str) -> Option<&Article> {
        self.articles.iter().find(|a| a.id == id)
    }

    /// The `limit` best articles for `question`, with the detected topic.
    #[must_use]
    pub fn search(&self, question: &str, limit: usize) -> Found {
        let written = detect(question);
        let per_word = word_tokens(question);
        // Each content word as the ids of its whole-word forms (word, stem, skeleton, root).
        let word_forms: Vec<Vec<u32>> = per_word
            .iter()
            .map(|forms| {
                forms
                    .iter()
                    .filter(|(t, _)| !t.starts_with("g:"))
                    .filter_map(|(t, _)| self.tokens.get(t.as_str()).copied())
                    .collect()
            })
            .collect();
        let tokens: Vec<(String, f32)> = per_word.into_iter().flatten().collect();
        let mut query: Vec<(u32, f32)> = Vec::new();
        for (token, weight) in tokens {
            if let Some(&id) = self.tokens.get(&token) {
                match query.iter_mut().find(|(t, _)| *t == id) {
                    // A token said twice in a question counts a little more, not twice.
                    Some((_, w)) => *w = (*w + weight * 0.5).min(weight * 2.0),
                    None => query.push((id, weight)),
                }
            }
        }
        let n = self.articles.len();
        let mut scores = vec![0.0f32; n];
        if !query.is_empty() {
            let mut per_example = vec![0.0f32; self.example_owner.len()];
            self.examples.score(&query, &mut per_example);
            // An article's best example, plus half of its second best: two earlier questions
            // like this one say more than one.
            let mut best_example = vec![0.0f32; n];
            let mut second = vec![0.0f32; n];
            for (example, score) in per_example.iter().enumerate() {
                let owner = self.example_owner[example] as usize;
                if *score > best_example[owner] {
                    second[owner] = best_example[owner];
                    best_example[owner] = *score;
                } else if *score > second[owner] {
                    second[owner] = *score;
                }
            }
            for (best, second) in best_example.iter_mut().zip(&second) {
                *best += SECOND_EXAMPLE * second;
            }
            let mut title = vec![0.0f32; n];
            self.titles.score(&query, &mut title);
            let mut body = vec![0.0f32; n];
            self.bodies.score(&query, &mut body);
            for i in 0..n {
                scores[i] = W_EXAMPLES * best_example[i] + W_TITLE * title[i] + W_BODY * body[i];
            }
        }
        let mut hits: Vec<Hit> = scores
            .iter()
            .enumerate()
            .filter(|(_, s)| **s > 0.0)
            .map(|(article, score)| Hit {
                article,
                score: *score,
            })
            .collect();
        let depth = limit.max(TOPIC_DEPTH).min(hits.len());
        if depth > 0 && depth < hits.len() {
            hits.select_nth_unstable_by(depth - 1, |a, b| b.score.total_cmp(&a.score));
            hits.truncate(depth);
        }
        hits.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.article.cmp(&b.article)));
        let (topic, confidence) = self.topic_of(&hits);
        // Words of the question the best article never uses ("tankhwah", "tenses") make the
        // match less sure: the question is about something else too.
        let coverage = hits.first().map_or(0.0, |best| {
            let known = &self.article_words[best.article];
            let covered = word_forms
                .iter()
                .filter(|forms| forms.iter().any(|id| known.contains(id)))
                .count();
            #[allow(clippy::cast_precision_loss)] // word counts are small
            let share = covered as f32 / word_forms.len().max(1) as f32;
            share
        });
        let confidence = confidence * coverage.sqrt();
        hits.truncate(limit);
        Found {
            hits,
            topic,
            confidence,
            written,
        }
    }

    /// The topic with the most score among the top hits (a second topic counts half), and its
    /// share, damped when even the best match is weak.
    fn topic_of(&self, hits: &[Hit]) -> (Option<String>, f32) {
        let mut by_topic: Vec<(&str, f32)> = Vec::new();
        for hit in hits.iter().take(TOPIC_DEPTH) {
            for (rank, topic) in self.articles[hit.article].topics.iter().enumerate() {
                let share = if rank == 0 { 1.0 } else { 0.5 };
                match by_topic.iter_mut().find(|(t, _)| t == topic) {
                    Some((_, s)) => *s += hit.score * share,
                    None => by_topic.push((topic, hit.score * share)),
                }
            }
        }
        let total: f32 = by_topic.iter().map(|(_, s)| s).sum();
        // The best article's main topic: the runner-up articles vote on how sure that is.
        let Some(best) = hits.first() else {
            return (None, 0.0);
        };
        let topic = self.articles[best.article].topic();
        let score = by_topic
            .iter()
            .find(|(t, _)| *t == topic)
            .map_or(0.0, |(_, s)| *s);
        let strength = 1.0 - (-best.score / 4.0).exp();
        (
            Some(topic.to_string()),
            (score / total.max(1e-6)) * strength,
        )
    }
}

/// How a question is written: by script, and for Latin letters by common Roman Urdu words.
#[must_use]
pub fn detect(text: &str) -> Written {
    let (mut arabic, mut bengali, mut latin) = (0, 0, 0);
    for c in text.chars() {
        match c {
            '\u{0600}'..='\u{06FF}'
            | '\u{0750}'..='\u{077F}'
            | '\u{FB50}'..='\u{FDFF}'
            | '\u{FE70}'..='\u{FEFF}' => arabic += 1,
            '\u{0980}'..='\u{09FF}' => bengali += 1,
            c if c.is_ascii_alphabetic() => latin += 1,
            _ => {}
        }
    }
    if arabic > bengali && arabic >= latin / 2 && arabic > 0 {
        return Written::Ur;
    }
    if bengali > 0 && bengali >= latin / 2 {
        return Written::Bn;
    }
    const ROMAN_URDU: &[&str] = &[
        "kya", "kia", "hai", "hain", "nahi", "nhi", "mein", "mera", "meri", "bachay", "bache",
        "bachon", "bacho", "bachey", "kaise", "kese", "kaisay", "karun", "karoon", "karein",
        "karen", "ko", "ka", "ki", "ke", "se", "aur", "kuch", "kyun", "kyu", "hota", "hoti",
        "hotay", "hote", "raha", "rahi", "rahe", "sakta", "sakti", "wala", "wali", "tou", "bohat",
        "bahut", "bohot", "zyada", "ziyada", "parhana", "padhana", "parhai", "sabaq", "ustad",
        "talib", "jamat", "jamaat", "shor", "samajh", "samjh", "koi", "agar", "lekin", "magar",
        "phir", "abhi", "kab", "kahan", "apni", "apna", "humari", "hamari", "unko",
    ];
    let roman = normalize(text)
        .split(' ')
        .filter(|w| ROMAN_URDU.contains(w))
        .count();
    if roman >= 1 && latin > 0 {
        Written::RomanUr
    } else {
        Written::En
    }
}

/// The Snowball English stemmer, built once.
fn english_stemmer() -> &'static rust_stemmers::Stemmer {
    static STEMMER: std::sync::OnceLock<rust_stemmers::Stemmer> = std::sync::OnceLock::new();
    STEMMER.get_or_init(|| rust_stemmers::Stemmer::create(rust_stemmers::Algorithm::English))
}

/// The weighted tokens of a text (see the module documentation).
#[must_use]
pub fn tokenize(text: &str) -> Vec<(String, f32)> {
    word_tokens(text).into_iter().flatten().collect()
}

/// The weighted tokens of each content word of a text, word by word.
fn word_tokens(text: &str) -> Vec<Vec<(String, f32)>> {
    let normalized = normalize(text);
    let mut all = Vec::new();
    for word in words(&normalized) {
        if STOP_WORDS.contains(&word) {
            continue;
        }
        let mut out = Vec::new();
        out.push((format!("w:{word}"), W_WORD));
        let latin = word.chars().all(|c| c.is_ascii_alphanumeric());
        if latin && !word.chars().all(|c| c.is_ascii_digit()) {
            // English inflections ("teasing"/"tease", "duties"/"duty") meet at the stem.
            let stem = english_stemmer().stem(word);
            if stem != word {
                out.push((format!("w:{stem}"), W_STEM));
            }
            let skeleton = roman_skeleton(word);
            if skeleton.chars().count() >= 2 {
                // Roman Urdu endings change with number, gender and verb form ("bachay",
                // "bachon"; "sikhana", "sikhaun"): the skeleton without its ending meets them.
                let root = skeleton
                    .strip_suffix("an")
                    .or_else(|| skeleton.strip_suffix('a'))
                    .unwrap_or(&skeleton);
                if root.len() >= 3 && root != skeleton {
                    out.push((format!("r:{root}"), W_SKELETON));
                }
                out.push((format!("s:{skeleton}"), W_SKELETON));
            }
        }
        let chars: Vec<char> = std::iter::once('#')
            .chain(word.chars())
            .chain(std::iter::once('#'))
            .collect();
        if chars.len() >= 5 {
            for gram in chars.windows(3) {
                out.push((format!("g:{}", gram.iter().collect::<String>()), W_TRIGRAM));
            }
        }
        all.push(out);
    }
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_how_a_question_is_written() {
        assert_eq!(detect("My class is too noisy"), Written::En);
        assert_eq!(detect("meri class bohat shor karti hai"), Written::RomanUr);
        assert_eq!(detect("میری کلاس بہت شور کرتی ہے"), Written::Ur);
        assert_eq!(detect("আমার ক্লাসে খুব হৈচৈ"), Written::Bn);
        assert_eq!(detect("আমার class এ noise"), Written::Bn);
    }

    #[test]
    fn tokens_fold_roman_urdu_spellings_and_skip_function_words() {
        let a: Vec<String> = tokenize("bachay").into_iter().map(|(t, _)| t).collect();
        let b: Vec<String> = tokenize("bache").into_iter().map(|(t, _)| t).collect();
        let skeleton = |v: &[String]| v.iter().find(|t| t.starts_with("s:")).cloned();
        assert_eq!(skeleton(&a), skeleton(&b));
        assert!(tokenize("kya hai").is_empty());
    }

    #[test]
    fn urdu_typed_on_an_arabic_keyboard_gives_the_same_tokens() {
        assert_eq!(tokenize("بچے شور كرتے هيں"), tokenize("بچے شور کرتے ہیں"));
    }
}
