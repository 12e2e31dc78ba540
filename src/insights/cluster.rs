//! Clusters of similar teacher questions, inside and across topics and languages. Pure.
//!
//! **Signature.** When a question is logged, the knowledge-base search has just run on it;
//! [`signature`] keeps what grouping needs, once, so that clustering a year of questions never
//! searches again:
//! - the best [`TOP_ARTICLES`] articles, each with its score relative to the best (1.0), the
//!   detected topic and its confidence, and whether the bot answered on its own;
//! - for an administrative question, the *matter* it names among those the administrative
//!   article's title lists ("Salary, transfer, posting, leave or promotion", in every
//!   language): `salary`, `transfer`…;
//! - its content words as 32-bit hashes of their [sound keys](super::sound) ("class", "کلاس"
//!   and "ক্লাস" give one key), at most [`MAX_WORDS`].
//!
//! It serialises to a short JSON object with one-letter keys, for a column next to the
//! question: `{"v":1,"a":[["noisy-class",1.0],["group-roles",0.43],["pair-work-large-class",
//! 0.41]],"t":"behaviour-management","c":0.62,"ok":true,"w":[90412374,…]}`.
//!
//! **Grouping**, with union-find over four steps (the numbers are the defaults of [`Thresholds`]):
//! 1. *Anchor.* The articles have example questions in English, Urdu, Roman Urdu and Bangla,
//!    so a question's best article names its problem whatever the language. A question whose
//!    best article clearly leads (the runner-up scores at most 85 % of it) is anchored to that
//!    article, and all questions anchored to one article form one group: "noisy class" typed
//!    in four scripts lands together. The administrative article is no anchor (it sends every
//!    office matter to the same office, so sharing it says nothing about sharing a problem):
//!    an administrative question is anchored to the matter it names, if any.
//! 2. *Attach.* A question without an anchor (a close call between two articles, no article,
//!    or an unnamed office matter) joins the anchored question whose words are most like its
//!    own (IDF-weighted cosine of word keys ≥ 0.4). Sound keys make this work across scripts:
//!    "class control nahi hoti" meets "کلاس کنٹرول نہیں ہوتی".
//! 3. *Link.* Questions still without an anchor join each other by words (≥ 0.3); a group
//!    never takes in a second anchor.
//! 4. *Fall back.* A group still without an anchor joins the article most of its members
//!    found best, when the search was at least somewhat sure of the topic (confidence ≥ 0.2);
//!    otherwise it stays on its own: a problem no article covers.
//!
//! Administrative and teaching questions are never grouped together by words.
//!
//! The defaults were chosen with a grid over the four thresholds on the labelled questions of
//! `baithak kb eval`; their neighbours stay within a few points of them.
//!
//! Cost: no step compares every question with every other. Words are compared only between
//! questions that share one of their [`BLOCKING_KEYS`] rarest keys (a key in more than
//! [`MAX_KEY_QUESTIONS`] questions is no blocking key), at most [`MAX_CANDIDATES`] per
//! question; 100,000 questions cluster in about two seconds (`baithak kb bench-clusters`).
//! The output does not depend on the input order: members by id, clusters biggest first, ties
//! by smallest id.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use super::sound;
use crate::knowledge::eval::ADMIN_TOPIC;
use crate::knowledge::{Found, KnowledgeBase, Written, search};
use crate::language::{normalize, words};

/// The layout of [`Signature`]; a stored signature of another version should be computed
/// again (its word hashes come from the tokenizer of its day).
pub const SIGNATURE_VERSION: u8 = 1;
/// Articles kept in a signature.
pub const TOP_ARTICLES: usize = 3;
/// Word keys kept in a signature: a few dozen cover any real question.
pub const MAX_WORDS: usize = 48;
/// Each question's rarest word keys that find its candidates.
pub const BLOCKING_KEYS: usize = 3;
/// A word key in more questions than this says little about any of them, and is no blocking
/// key.
pub const MAX_KEY_QUESTIONS: usize = 2_000;
/// Candidates weighed per question.
pub const MAX_CANDIDATES: usize = 1_024;
/// Characters of a question that are signed: a longer text is a pasted message, and its
/// opening says what it is about.
const MAX_CHARS: usize = 1_000;
/// Sample questions per cluster.
const SAMPLES: usize = 3;

/// The thresholds of the grouping steps (see the module documentation).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Thresholds {
    /// A question is anchored to its best article when the runner-up scores at most this
    /// share of the best.
    pub anchor_ratio: f32,
    /// The word similarity at which a question without an anchor joins an anchored one.
    pub attach: f32,
    /// The word similarity at which two questions without an anchor join.
    pub link: f32,
    /// The topic confidence a group without an anchor needs to join its best article.
    pub fallback_confidence: f32,
}

impl Default for Thresholds {
    fn default() -> Thresholds {
        Thresholds {
            anchor_ratio: 0.85,
            attach: 0.4,
            link: 0.3,
            fallback_confidence: 0.2,
        }
    }
}

/// What clustering needs to know about one question, computed once when it is logged.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Signature {
    /// [`SIGNATURE_VERSION`] when it was computed.
    #[serde(rename = "v", default)]
    pub version: u8,
    /// The best articles, best first, with their score relative to the best (three decimals).
    #[serde(rename = "a", default)]
    pub articles: Vec<(String, f32)>,
    /// The detected topic.
    #[serde(rename = "t", default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    /// How sure the topic is, 0–1 (three decimals).
    #[serde(rename = "c", default)]
    pub confidence: f32,
    /// Whether the bot answered with the best article on its own.
    #[serde(rename = "ok", default)]
    pub answered: bool,
    /// For an administrative question, the matter it names (the English word of the
    /// administrative article's title).
    #[serde(rename = "m", default, skip_serializing_if = "Option::is_none")]
    pub matter: Option<String>,
    /// FNV-1a hashes of the content words' sound keys, ascending, without repeats.
    #[serde(rename = "w", default)]
    pub words: Vec<u32>,
}

/// One logged question.
#[derive(Clone, Debug, PartialEq)]
pub struct Item {
    /// Its id (a row id, or an index).
    pub id: i64,
    /// What the teacher typed.
    pub text: String,
    /// How it is written.
    pub written: Written,
    /// Its signature, from [`signature`].
    pub signature: Signature,
}

/// A group of questions about one problem.
#[derive(Clone, Debug, PartialEq)]
pub struct Cluster {
    /// The members' ids, ascending.
    pub ids: Vec<i64>,
    /// How many questions.
    pub size: usize,
    /// Up to three ids closest to the cluster's centre, one per language first.
    pub samples: Vec<i64>,
    /// Questions per way of writing, in [`Written::ALL`] order, only those present.
    pub languages: Vec<(Written, usize)>,
    /// The most frequent detected topic.
    pub topic: Option<String>,
    /// Every detected topic with its number of questions, most first (ties by id).
    pub topics: Vec<(String, usize)>,
    /// The article that covers the cluster, if any question matched one.
    pub article: Option<Covered>,
}

/// How an article covers a cluster.
#[derive(Clone, Debug, PartialEq)]
pub struct Covered {
    /// The article id.
    pub id: String,
    /// Share of the members whose best article it is, 0–1.
    pub share: f32,
    /// Share of the members the bot answered with it on its own, 0–1: high means the article
    /// already serves this problem, low a gap to fill.
    pub answered: f32,
    /// The mean topic confidence of the members whose best article it is, 0–1.
    pub confidence: f32,
}

impl Cluster {
    /// Whether the bot answers most of these questions with an article on its own.
    #[must_use]
    pub fn is_answered(&self) -> bool {
        self.article.as_ref().is_some_and(|a| a.answered >= 0.5)
    }
}

/// The signature of a question: its best articles, its office matter and its words. Never
/// fails: an empty or emoji-only question has no articles and no words.
#[must_use]
pub fn signature(kb: &KnowledgeBase, text: &str) -> Signature {
    let text = clip(text, MAX_CHARS);
    signed(kb, text, &kb.search(text, TOP_ARTICLES))
}

/// [`signature`], reusing `found`, the search the helpdesk already made for `text` with
/// [`TOP_ARTICLES`] hits, so logging a question searches once; a text longer than a
/// signature reads is searched again, clipped, so the result is the same as [`signature`]'s.
#[must_use]
pub fn signature_with(kb: &KnowledgeBase, text: &str, found: &Found) -> Signature {
    let clipped = clip(text, MAX_CHARS);
    if clipped.len() == text.len() && found.hits.len() <= TOP_ARTICLES {
        signed(kb, text, found)
    } else {
        signature(kb, text)
    }
}

fn signed(kb: &KnowledgeBase, text: &str, found: &Found) -> Signature {
    let best = found.hits.first().map_or(0.0, |hit| hit.score);
    let articles = found
        .hits
        .iter()
        .map(|hit| {
            let id = kb.index.articles[hit.article].id.clone();
            (id, round(ratio(hit.score, best)))
        })
        .collect();
    let (plain, keys) = content_words(text);
    Signature {
        version: SIGNATURE_VERSION,
        articles,
        topic: found.topic.clone(),
        confidence: round(found.confidence),
        answered: kb.answer(found).is_some(),
        matter: matter(kb, found, &plain),
        words: keys,
    }
}

/// Groups questions about the same problem with the default [`Thresholds`].
#[must_use]
pub fn cluster(items: &[Item]) -> Vec<Cluster> {
    cluster_with(items, &Thresholds::default())
}

/// Groups questions about the same problem (see the module documentation). Biggest first, ties
/// by smallest id.
#[must_use]
pub fn cluster_with(items: &[Item], thresholds: &Thresholds) -> Vec<Cluster> {
    if items.is_empty() {
        return Vec::new();
    }
    let features = Features::build(items, thresholds);
    let mut groups = Groups::new(items.len());
    let mut anchors = anchor(&features, &mut groups);
    let index = WordIndex::build(&features);
    attach(&features, &index, &mut groups, thresholds.attach);
    link(&features, &index, &mut groups, thresholds.link);
    fall_back(&features, &mut groups, &mut anchors);
    let mut clusters: Vec<Cluster> = groups
        .members(&features.order)
        .iter()
        .map(|members| describe(items, &features, members))
        .collect();
    clusters.sort_by(|a, b| b.size.cmp(&a.size).then(a.ids[0].cmp(&b.ids[0])));
    clusters
}

/// What [`cluster_with`] derives from the signatures before linking.
struct Features<'a> {
    /// Item indices by id (then index): every step walks them in this order.
    order: Vec<usize>,
    /// Each item's position in `order`.
    rank: Vec<usize>,
    /// Interned keys: article ids, and `article#matter` for office matters.
    keys: Vec<String>,
    /// Per item, its articles (interned) and their relative scores.
    articles: Vec<Vec<(u32, f32)>>,
    /// Per item, the group key it is anchored to.
    anchor: Vec<Option<u32>>,
    /// Per item, the article it falls back to.
    fallback: Vec<Option<u32>>,
    /// Per item, whether it is an administrative question.
    admin: Vec<bool>,
    /// Per item, its word keys, ascending and unique.
    words: Vec<Cow<'a, [u32]>>,
    /// Per item, the IDF weight of each of its word keys.
    weights: Vec<Vec<f32>>,
    /// Per item, the Euclidean norm of `weights`.
    norms: Vec<f32>,
    /// Questions per word key.
    df: HashMap<u32, u32>,
}

impl<'a> Features<'a> {
    fn build(items: &'a [Item], thresholds: &Thresholds) -> Features<'a> {
        let n = items.len();
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by_key(|i| (items[*i].id, *i));
        let mut rank = vec![0; n];
        for (position, item) in order.iter().enumerate() {
            rank[*item] = position;
        }
        let mut interner = Interner::default();
        let mut articles = Vec::with_capacity(n);
        let mut anchor = Vec::with_capacity(n);
        let mut fallback = Vec::with_capacity(n);
        let mut admin = Vec::with_capacity(n);
        for item in items {
            let signature = &item.signature;
            let own: Vec<(u32, f32)> = signature
                .articles
                .iter()
                .map(|(id, score)| (interner.key(id), finite(*score)))
                .collect();
            let is_admin = signature.topic.as_deref() == Some(ADMIN_TOPIC);
            let top = signature.articles.first().map(|(id, _)| id.as_str());
            let runner_up = match own.as_slice() {
                [(_, best), (_, second), ..] => ratio(*second, *best),
                _ => 0.0,
            };
            anchor.push(match (is_admin, top, &signature.matter) {
                (true, Some(top), Some(matter)) => Some(interner.key(&format!("{top}#{matter}"))),
                (false, Some(_), _) if runner_up <= thresholds.anchor_ratio => {
                    own.first().map(|(key, _)| *key)
                }
                _ => None,
            });
            fallback.push(
                own.first()
                    .filter(|_| {
                        !is_admin && finite(signature.confidence) >= thresholds.fallback_confidence
                    })
                    .map(|(key, _)| *key),
            );
            admin.push(is_admin);
            articles.push(own);
        }
        let words: Vec<Cow<'a, [u32]>> = items
            .iter()
            .map(|item| sorted_unique(&item.signature.words))
            .collect();
        let mut df: HashMap<u32, u32> = HashMap::new();
        for own in &words {
            for word in own.iter() {
                *df.entry(*word).or_default() += 1;
            }
        }
        #[allow(clippy::cast_precision_loss)] // question counts: precision to 2^24 is plenty
        let idf = |word: &u32| (1.0 + n as f32 / df.get(word).copied().unwrap_or(1) as f32).ln();
        let weights: Vec<Vec<f32>> = words
            .iter()
            .map(|own| own.iter().map(&idf).collect())
            .collect();
        let norms = weights
            .iter()
            .map(|w| w.iter().map(|x| x * x).sum::<f32>().sqrt())
            .collect();
        Features {
            order,
            rank,
            keys: interner.keys,
            articles,
            anchor,
            fallback,
            admin,
            words,
            weights,
            norms,
            df,
        }
    }

    /// The IDF-weighted cosine of two questions' word keys, 0–1.
    fn similarity(&self, a: usize, b: usize) -> f32 {
        let (x, y) = (&self.words[a], &self.words[b]);
        let (wx, wy) = (&self.weights[a], &self.weights[b]);
        let (mut i, mut j, mut dot) = (0, 0, 0.0f32);
        while i < x.len() && j < y.len() {
            match x[i].cmp(&y[j]) {
                Ordering::Less => i += 1,
                Ordering::Greater => j += 1,
                Ordering::Equal => {
                    dot += wx[i] * wy[j];
                    i += 1;
                    j += 1;
                }
            }
        }
        ratio(dot, self.norms[a] * self.norms[b])
    }

    /// A question's rarest word keys shared with at least one other question, rarest first.
    fn blocking_keys(&self, item: usize) -> Vec<u32> {
        let mut keys: Vec<(u32, u32)> = self.words[item]
            .iter()
            .map(|w| (self.df.get(w).copied().unwrap_or(0), *w))
            .filter(|(df, _)| *df >= 2 && *df as usize <= MAX_KEY_QUESTIONS)
            .collect();
        keys.sort_unstable();
        keys.truncate(BLOCKING_KEYS);
        keys.into_iter().map(|(_, w)| w).collect()
    }

    /// Whether `a` is a better partner than `b` at the same similarity: the earlier id.
    fn earlier(&self, a: usize, b: usize) -> bool {
        self.rank[a] < self.rank[b]
    }
}

/// Strings to small numbers, first come first numbered.
#[derive(Default)]
struct Interner {
    numbers: HashMap<String, u32>,
    keys: Vec<String>,
}

impl Interner {
    fn key(&mut self, text: &str) -> u32 {
        if let Some(number) = self.numbers.get(text) {
            return *number;
        }
        let number = u32::try_from(self.keys.len()).unwrap_or(u32::MAX);
        self.numbers.insert(text.to_string(), number);
        self.keys.push(text.to_string());
        number
    }
}

/// Step 1: every anchored question joins the group of its key. Returns a member per key.
fn anchor(features: &Features, groups: &mut Groups) -> HashMap<u32, usize> {
    let mut first: HashMap<u32, usize> = HashMap::new();
    for &item in &features.order {
        let Some(key) = features.anchor[item] else {
            continue;
        };
        match first.entry(key) {
            Entry::Occupied(seen) => {
                groups.union(*seen.get(), item);
            }
            Entry::Vacant(slot) => {
                slot.insert(item);
                groups.label(item, key);
            }
        }
    }
    first
}

/// Step 2: a question without an anchor joins its most similar anchored question.
fn attach(features: &Features, index: &WordIndex, groups: &mut Groups, threshold: f32) {
    let mut seen = vec![usize::MAX; features.order.len()];
    for &item in &features.order {
        if features.anchor[item].is_some() {
            continue;
        }
        let mut best: Option<(f32, usize)> = None;
        index.candidates(item, &mut seen, |other| {
            if features.anchor[other].is_none() || features.admin[other] != features.admin[item] {
                return;
            }
            let similarity = features.similarity(item, other);
            let better = best.is_none_or(|(top, partner)| match similarity.total_cmp(&top) {
                Ordering::Greater => true,
                Ordering::Equal => features.earlier(other, partner),
                Ordering::Less => false,
            });
            if similarity >= threshold && better {
                best = Some((similarity, other));
            }
        });
        if let Some((_, partner)) = best {
            groups.union(item, partner);
        }
    }
}

/// Step 3: questions without an anchor join each other by words.
fn link(features: &Features, index: &WordIndex, groups: &mut Groups, threshold: f32) {
    let mut seen = vec![usize::MAX; features.order.len()];
    for &item in &features.order {
        if features.anchor[item].is_some() {
            continue;
        }
        index.candidates(item, &mut seen, |other| {
            // Each pair once, from its earlier question.
            if features.anchor[other].is_some()
                || features.admin[other] != features.admin[item]
                || features.earlier(other, item)
                || groups.find(item) == groups.find(other)
            {
                return;
            }
            if features.similarity(item, other) >= threshold {
                groups.union(item, other);
            }
        });
    }
}

/// Step 4: a group without an anchor joins the article most of its members found best.
fn fall_back(features: &Features, groups: &mut Groups, anchors: &mut HashMap<u32, usize>) {
    // Per unanchored group (by its first member, in order): the votes per article.
    let mut votes: Vec<(usize, BTreeMap<u32, usize>)> = Vec::new();
    let mut slot_of: HashMap<usize, usize> = HashMap::new();
    for &item in &features.order {
        let root = groups.find(item);
        if groups.key(root).is_some() {
            continue;
        }
        let slot = *slot_of.entry(root).or_insert_with(|| {
            votes.push((item, BTreeMap::new()));
            votes.len() - 1
        });
        if let Some(article) = features.fallback[item] {
            *votes[slot].1.entry(article).or_default() += 1;
        }
    }
    for (member, tally) in votes {
        let chosen = tally.into_iter().max_by(|a, b| {
            a.1.cmp(&b.1)
                .then_with(|| features.keys[b.0 as usize].cmp(&features.keys[a.0 as usize]))
        });
        let Some((article, _)) = chosen else {
            continue;
        };
        match anchors.entry(article) {
            Entry::Occupied(anchored) => {
                groups.union(*anchored.get(), member);
            }
            Entry::Vacant(slot) => {
                slot.insert(member);
                groups.label(member, article);
            }
        }
    }
}

/// The inverted index of blocking keys.
struct WordIndex {
    keys: Vec<Vec<u32>>,
    postings: HashMap<u32, Vec<usize>>,
}

impl WordIndex {
    fn build(features: &Features) -> WordIndex {
        let mut keys = vec![Vec::new(); features.order.len()];
        let mut postings: HashMap<u32, Vec<usize>> = HashMap::new();
        for &item in &features.order {
            keys[item] = features.blocking_keys(item);
            for key in &keys[item] {
                postings.entry(*key).or_default().push(item);
            }
        }
        WordIndex { keys, postings }
    }

    /// Calls `visit` once for each other question sharing a blocking key with `item`, in
    /// order, at most [`MAX_CANDIDATES`]; `seen` remembers who was visited for whom.
    fn candidates(&self, item: usize, seen: &mut [usize], mut visit: impl FnMut(usize)) {
        let mut budget = MAX_CANDIDATES;
        for key in &self.keys[item] {
            let Some(list) = self.postings.get(key) else {
                continue;
            };
            for &other in list {
                if budget == 0 {
                    return;
                }
                if other == item || seen[other] == item {
                    continue;
                }
                seen[other] = item;
                budget -= 1;
                visit(other);
            }
        }
    }
}

/// A cluster's figures from its members (indices, in id order).
fn describe(items: &[Item], features: &Features, members: &[usize]) -> Cluster {
    let ids: Vec<i64> = members.iter().map(|m| items[*m].id).collect();
    let languages = Written::ALL
        .into_iter()
        .map(|w| {
            (
                w,
                members.iter().filter(|m| items[**m].written == w).count(),
            )
        })
        .filter(|(_, count)| *count > 0)
        .collect();
    let mut by_topic: BTreeMap<&str, usize> = BTreeMap::new();
    for m in members {
        if let Some(topic) = &items[*m].signature.topic {
            *by_topic.entry(topic.as_str()).or_default() += 1;
        }
    }
    let mut topics: Vec<(String, usize)> = by_topic
        .into_iter()
        .map(|(topic, count)| (topic.to_string(), count))
        .collect();
    topics.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    Cluster {
        size: ids.len(),
        samples: samples(items, features, members),
        ids,
        languages,
        topic: topics.first().map(|(t, _)| t.clone()),
        topics,
        article: covered(items, features, members),
    }
}

/// The members' most frequent best article.
fn covered(items: &[Item], features: &Features, members: &[usize]) -> Option<Covered> {
    // Per article id: members with it first, answered with it, summed topic confidence.
    let mut tally: BTreeMap<&str, (usize, usize, f32)> = BTreeMap::new();
    for m in members {
        let Some((article, _)) = features.articles[*m].first() else {
            continue;
        };
        let entry = tally
            .entry(features.keys[*article as usize].as_str())
            .or_default();
        entry.0 += 1;
        entry.1 += usize::from(items[*m].signature.answered);
        entry.2 += finite(items[*m].signature.confidence);
    }
    let (id, (count, answered, confidence)) = tally
        .into_iter()
        .max_by(|a, b| a.1.0.cmp(&b.1.0).then(b.0.cmp(a.0)))?;
    #[allow(clippy::cast_precision_loss)] // member counts
    let (count_f, size, answered) = (count as f32, members.len() as f32, answered as f32);
    Some(Covered {
        id: id.to_string(),
        share: round(count_f / size),
        answered: round(answered / size),
        confidence: round(confidence / count_f),
    })
}

/// Up to [`SAMPLES`] members closest to the centre (cosine with the mean of the members'
/// article scores plus cosine with the mean of their weighted words), the most central of
/// each language first.
fn samples(items: &[Item], features: &Features, members: &[usize]) -> Vec<i64> {
    let mut article_centre: BTreeMap<u32, f32> = BTreeMap::new();
    let mut word_centre: BTreeMap<u32, f32> = BTreeMap::new();
    for m in members {
        for (article, score) in &features.articles[*m] {
            *article_centre.entry(*article).or_default() += score;
        }
        let norm = features.norms[*m];
        if norm > 0.0 {
            for (word, weight) in features.words[*m].iter().zip(&features.weights[*m]) {
                *word_centre.entry(*word).or_default() += weight / norm;
            }
        }
    }
    let length = |centre: &BTreeMap<u32, f32>| centre.values().map(|x| x * x).sum::<f32>().sqrt();
    let (article_len, word_len) = (length(&article_centre), length(&word_centre));
    let mut ranked: Vec<(f32, usize)> = members
        .iter()
        .map(|m| {
            let own = &features.articles[*m];
            let own_len = own.iter().map(|(_, s)| s * s).sum::<f32>().sqrt();
            let articles: f32 = own
                .iter()
                .map(|(a, s)| s * article_centre.get(a).copied().unwrap_or(0.0))
                .sum();
            let words: f32 = features.words[*m]
                .iter()
                .zip(&features.weights[*m])
                .map(|(w, x)| x * word_centre.get(w).copied().unwrap_or(0.0))
                .sum();
            let score = ratio(articles, own_len * article_len)
                + ratio(words, features.norms[*m] * word_len);
            (score, *m)
        })
        .collect();
    ranked.sort_by(|a, b| {
        b.0.total_cmp(&a.0)
            .then(features.rank[a.1].cmp(&features.rank[b.1]))
    });
    let mut picked: Vec<usize> = Vec::with_capacity(SAMPLES);
    for (_, m) in &ranked {
        let written = items[*m].written;
        if picked.len() < SAMPLES && !picked.iter().any(|p| items[*p].written == written) {
            picked.push(*m);
        }
    }
    for (_, m) in &ranked {
        if picked.len() >= SAMPLES {
            break;
        }
        if !picked.contains(m) {
            picked.push(*m);
        }
    }
    picked.into_iter().map(|m| items[m].id).collect()
}

/// A text's content words (normalized, function words left out, at most [`MAX_WORDS`]) and
/// the hashes of their sound keys (and of their English stems'), ascending and unique.
fn content_words(text: &str) -> (Vec<String>, Vec<u32>) {
    let normalized = normalize(text);
    let mut plain = Vec::new();
    let mut keys: Vec<u32> = Vec::new();
    for word in words(&normalized) {
        if plain.len() == MAX_WORDS {
            break;
        }
        // The search tokenizer drops function words; its whole-word forms are the word and,
        // for English, its stem.
        let forms: Vec<String> = search::tokenize(word)
            .into_iter()
            .filter_map(|(token, _)| token.strip_prefix("w:").map(str::to_string))
            .collect();
        if forms.is_empty() {
            continue;
        }
        plain.push(word.to_string());
        for form in forms {
            let Some(key) = sound::key(&form) else {
                continue;
            };
            let hash = fnv1a(key.as_bytes());
            if keys.len() < MAX_WORDS && !keys.contains(&hash) {
                keys.push(hash);
            }
        }
    }
    keys.sort_unstable();
    (plain, keys)
}

/// For an administrative question, the matter it names among those the best article's title
/// lists in every language (the English word).
fn matter(kb: &KnowledgeBase, found: &Found, words: &[String]) -> Option<String> {
    if found.topic.as_deref() != Some(ADMIN_TOPIC) {
        return None;
    }
    let article = &kb.index.articles[found.hits.first()?.article];
    let lists: Vec<Vec<Vec<String>>> = article
        .title
        .versions()
        .map(|(_, title)| matters_listed(title))
        .collect();
    let count = lists.first()?.len();
    if count < 2 || lists.iter().any(|list| list.len() != count) {
        return None;
    }
    (0..count)
        .find(|k| lists.iter().any(|list| names(words, &list[*k])))
        .map(|k| lists[0][k].join(" "))
}

/// The matters a title lists before its colon, each as its words: "Salary, transfer,
/// posting, leave or promotion: where to go" → salary, transfer, posting, leave, promotion.
fn matters_listed(title: &str) -> Vec<Vec<String>> {
    const AND_OR: &[&str] = &["or", "and", "یا", "اور", "বা", "ও", "আর"];
    let head = title.split(':').next().unwrap_or(title);
    let mut out = Vec::new();
    for piece in head.split([',', '،']) {
        let normalized = normalize(piece);
        let mut term: Vec<String> = Vec::new();
        for word in words(&normalized) {
            if AND_OR.contains(&word) {
                if !term.is_empty() {
                    out.push(std::mem::take(&mut term));
                }
            } else {
                term.push(word.to_string());
            }
        }
        if !term.is_empty() {
            out.push(term);
        }
    }
    out
}

/// Whether a question's words name a matter: each of the matter's words begins one of them,
/// differs from one only in its last letter (تبادلہ, تبادلے), or sounds the same with at
/// least three consonants (tankhwah, تنخواہ).
fn names(words: &[String], matter: &[String]) -> bool {
    matter.iter().all(|term| {
        let sound = sound::key(term).filter(|k| k.chars().count() >= 3);
        words.iter().any(|word| {
            word.starts_with(term.as_str())
                || same_but_last(word, term)
                || sound.is_some() && sound::key(word) == sound
        })
    })
}

fn same_but_last(a: &str, b: &str) -> bool {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let shorter = a.len().min(b.len());
    shorter >= 4 && a[..shorter - 1] == b[..shorter - 1]
}

/// FNV-1a, 32 bits. Hand-written because stored hashes must stay the same across Rust
/// versions and processes, which std's `DefaultHasher` does not promise, and it is five lines.
fn fnv1a(bytes: &[u8]) -> u32 {
    let mut hash: u32 = 0x811c_9dc5;
    for byte in bytes {
        hash ^= u32::from(*byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    hash
}

/// The words as stored when they are already ascending and unique (as [`signature`] makes
/// them), else a sorted copy.
fn sorted_unique(words: &[u32]) -> Cow<'_, [u32]> {
    if words.windows(2).all(|w| w[0] < w[1]) {
        Cow::Borrowed(words)
    } else {
        let mut own = words.to_vec();
        own.sort_unstable();
        own.dedup();
        Cow::Owned(own)
    }
}

/// The first `max` characters.
fn clip(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((at, _)) => &text[..at],
        None => text,
    }
}

fn round(x: f32) -> f32 {
    (finite(x) * 1000.0).round() / 1000.0
}

/// NaN and infinities (from a hand-edited stored signature) count as nothing.
fn finite(x: f32) -> f32 {
    if x.is_finite() { x } else { 0.0 }
}

fn ratio(a: f32, b: f32) -> f32 {
    if b > 0.0 { finite(a / b) } else { 0.0 }
}

/// Disjoint sets with path halving and union by size, where a set may carry one group key and
/// two sets with different keys never merge. Hand-written: thirty lines, where a crate
/// (`petgraph`, `disjoint-sets`) would be a dependency without the keys.
struct Groups {
    parent: Vec<usize>,
    size: Vec<usize>,
    key: Vec<Option<u32>>,
}

impl Groups {
    fn new(n: usize) -> Groups {
        Groups {
            parent: (0..n).collect(),
            size: vec![1; n],
            key: vec![None; n],
        }
    }

    fn find(&mut self, mut x: usize) -> usize {
        while self.parent[x] != x {
            self.parent[x] = self.parent[self.parent[x]];
            x = self.parent[x];
        }
        x
    }

    /// The key of `x`'s set.
    fn key(&mut self, x: usize) -> Option<u32> {
        let root = self.find(x);
        self.key[root]
    }

    /// Gives `x`'s set a key.
    fn label(&mut self, x: usize, key: u32) {
        let root = self.find(x);
        self.key[root] = Some(key);
    }

    /// Merges the sets of `a` and `b` unless they carry different keys.
    fn union(&mut self, a: usize, b: usize) {
        let (mut a, mut b) = (self.find(a), self.find(b));
        if a == b {
            return;
        }
        if let (Some(x), Some(y)) = (self.key[a], self.key[b])
            && x != y
        {
            return;
        }
        if self.size[a] < self.size[b] {
            std::mem::swap(&mut a, &mut b);
        }
        self.parent[b] = a;
        self.size[a] += self.size[b];
        self.key[a] = self.key[a].or(self.key[b]);
    }

    /// The sets' members, each in `order`, sets in the order of their first member.
    fn members(&mut self, order: &[usize]) -> Vec<Vec<usize>> {
        let mut index_of: HashMap<usize, usize> = HashMap::new();
        let mut out: Vec<Vec<usize>> = Vec::new();
        for &item in order {
            let root = self.find(item);
            let group = *index_of.entry(root).or_insert_with(|| {
                out.push(Vec::new());
                out.len() - 1
            });
            out[group].push(item);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::OnceLock;

    use super::*;

    /// The shipped knowledge base, loaded once for the tests that search.
    fn shipped() -> &'static KnowledgeBase {
        static CONTENT: OnceLock<crate::content::Content> = OnceLock::new();
        &CONTENT
            .get_or_init(|| {
                crate::content::load(Path::new(env!("CARGO_MANIFEST_DIR")))
                    .expect("the shipped content loads")
            })
            .knowledge
    }

    #[test]
    fn a_signature_from_the_helpdesk_search_equals_one_computed_later() {
        let kb = shipped();
        let long = "my class is too noisy ".repeat(80);
        for text in [
            "meri class mein bohat shor hai",
            "میری کلاس میں شور ہے",
            long.as_str(),
        ] {
            let found = kb.search(text, TOP_ARTICLES);
            assert_eq!(
                signature_with(kb, text, &found),
                signature(kb, text),
                "{text}"
            );
        }
    }

    fn item(id: i64, written: Written, signature: Signature) -> Item {
        Item {
            id,
            text: String::new(),
            written,
            signature,
        }
    }

    /// A signature with one article (so anchored to it) or none, a topic and words.
    fn signed(article: Option<&str>, topic: &str, words: &[u32]) -> Signature {
        let mut words = words.to_vec();
        words.sort_unstable();
        Signature {
            version: SIGNATURE_VERSION,
            articles: article.map(|a| (a.to_string(), 1.0)).into_iter().collect(),
            topic: Some(topic.to_string()),
            confidence: 0.6,
            answered: article.is_some(),
            matter: None,
            words,
        }
    }

    fn ids(clusters: &[Cluster]) -> Vec<Vec<i64>> {
        clusters.iter().map(|c| c.ids.clone()).collect()
    }

    #[test]
    fn a_noisy_class_in_four_languages_lands_in_one_cluster() {
        let kb = shipped();
        let questions = [
            (1, Written::En, "my class is too noisy, i cannot teach"),
            (2, Written::Ur, "میری کلاس میں بہت شور ہوتا ہے"),
            (
                3,
                Written::RomanUr,
                "bachay class mein bohat shor machatay hain",
            ),
            (4, Written::Bn, "আমার ক্লাসে খুব হৈচৈ হয়"),
            (5, Written::En, "my salary has not come for two months"),
            (6, Written::RomanUr, "huroof ki awazein kaise sikhaun"),
        ];
        let items: Vec<Item> = questions
            .iter()
            .map(|(id, written, text)| Item {
                id: *id,
                text: (*text).to_string(),
                written: *written,
                signature: signature(kb, text),
            })
            .collect();

        let clusters = cluster(&items);

        assert_eq!(clusters[0].ids, [1, 2, 3, 4], "{clusters:#?}");
        assert_eq!(clusters[0].size, 4);
        let covered = clusters[0].article.as_ref().expect("an article covers it");
        assert_eq!(covered.id, "noisy-class");
        assert_eq!(clusters[0].topic.as_deref(), Some("behaviour-management"));
        assert_eq!(clusters[0].samples.len(), 3);
        let mut languages: Vec<Written> = clusters[0]
            .samples
            .iter()
            .map(|id| questions[usize::try_from(*id - 1).unwrap_or(0)].1)
            .collect();
        languages.dedup();
        assert_eq!(languages.len(), 3, "one sample per language");
        assert_eq!(clusters.len(), 3, "{clusters:#?}");
    }

    #[test]
    fn odd_input_gives_a_signature_that_survives_json() {
        let kb = shipped();
        let huge = "noise ".repeat(200_000);
        let many_words: String = (0..5_000).map(|i| format!("word{i} ")).collect();
        for text in [
            "",
            "   ",
            "🙂🙂🙂",
            "\u{200B}\u{FEFF}",
            "؟؟؟",
            huge.as_str(),
            many_words.as_str(),
        ] {
            let signed = signature(kb, text);

            assert!(signed.words.len() <= MAX_WORDS, "{text:.20}");
            assert!(signed.articles.len() <= TOP_ARTICLES);
            assert!(signed.words.windows(2).all(|w| w[0] < w[1]));
            let json = serde_json::to_string(&signed).expect("serialises");
            let back: Signature = serde_json::from_str(&json).expect("deserialises");
            assert_eq!(back, signed, "{json}");
        }
        assert!(signature(kb, "🙂🙂🙂").words.is_empty());
        let noisy = signature(kb, &huge);
        assert_eq!(noisy.articles[0].0, "noisy-class");
    }

    #[test]
    fn a_signature_is_compact_json() {
        let signed = signature(shipped(), "meri class bohat shor karti hai kya karun");

        let json = serde_json::to_string(&signed).expect("serialises");

        assert!(json.len() < 300, "{} bytes: {json}", json.len());
        assert!(
            json.starts_with(r#"{"v":1,"a":[["noisy-class",1.0],"#),
            "{json}"
        );
    }

    #[test]
    fn nothing_to_cluster_gives_no_clusters() {
        assert!(cluster(&[]).is_empty());
    }

    #[test]
    fn clusters_come_biggest_first_then_by_smallest_id_whatever_the_input_order() {
        let mut items = vec![
            item(7, Written::En, signed(Some("b"), "t", &[1])),
            item(3, Written::En, signed(Some("a"), "t", &[2])),
            item(9, Written::Ur, signed(Some("a"), "t", &[3])),
            item(5, Written::En, signed(Some("b"), "t", &[4])),
            item(8, Written::Bn, signed(Some("c"), "t", &[5])),
            item(6, Written::En, signed(Some("c"), "t", &[6])),
            item(4, Written::Bn, signed(Some("c"), "t", &[7])),
        ];

        let first = cluster(&items);
        items.reverse();
        let second = cluster(&items);

        assert_eq!(ids(&first), [vec![4, 6, 8], vec![3, 9], vec![5, 7]]);
        assert_eq!(first, second);
    }

    #[test]
    fn administrative_questions_are_grouped_by_their_words_not_by_the_article() {
        let admin = |words: &[u32]| signed(Some("salary-transfer-admin"), ADMIN_TOPIC, words);
        let items = vec![
            item(1, Written::En, admin(&[10, 11, 12, 14])),
            item(2, Written::RomanUr, admin(&[10, 11, 12, 15])),
            item(3, Written::En, admin(&[20, 21, 22])),
        ];

        let clusters = cluster(&items);

        assert_eq!(ids(&clusters), [vec![1, 2], vec![3]]);
        let covered = clusters[0].article.as_ref().expect("covered");
        assert_eq!(covered.id, "salary-transfer-admin");
        assert!(clusters[0].is_answered());
    }

    #[test]
    fn questions_on_different_articles_are_never_joined_by_words() {
        let items = vec![
            item(1, Written::En, signed(Some("a"), "t", &[1, 2, 3])),
            item(2, Written::En, signed(Some("b"), "t", &[1, 2, 3])),
        ];

        assert_eq!(ids(&cluster(&items)), [vec![1], vec![2]]);
    }

    #[test]
    fn a_question_no_article_covers_joins_the_questions_it_shares_words_with() {
        let items = vec![
            item(1, Written::En, signed(Some("a"), "t", &[1, 2, 3, 4, 9])),
            item(2, Written::En, signed(Some("a"), "t", &[7, 8])),
            item(3, Written::En, signed(None, "t", &[1, 2, 3, 4, 5])),
            item(4, Written::En, signed(None, "t", &[1, 2, 3, 4, 6])),
            item(5, Written::En, signed(None, "t", &[30, 31])),
        ];

        let clusters = cluster(&items);

        assert_eq!(ids(&clusters), [vec![1, 2, 3, 4], vec![5]]);
        let covered = clusters[0].article.as_ref().expect("covered");
        assert_eq!((covered.id.as_str(), covered.share), ("a", 0.5));
        assert!(clusters[1].article.is_none());
    }

    #[test]
    fn a_stored_signature_with_odd_values_is_read_safely() {
        let weird = Signature {
            version: 0,
            articles: vec![("a".into(), f32::NAN), ("b".into(), f32::INFINITY)],
            topic: None,
            confidence: f32::NAN,
            answered: false,
            matter: Some(String::new()),
            words: vec![5, 3, 3, 1],
        };
        let items = vec![
            item(1, Written::En, weird.clone()),
            item(2, Written::Bn, weird),
        ];

        let clusters = cluster(&items);

        assert_eq!(ids(&clusters), [vec![1, 2]]);
        assert!(clusters[0].topic.is_none());
    }

    #[test]
    fn office_matters_are_read_from_the_administrative_title_in_every_language() {
        assert_eq!(
            matters_listed("Salary, transfer, posting, leave or promotion: where to go"),
            [
                ["salary"],
                ["transfer"],
                ["posting"],
                ["leave"],
                ["promotion"]
            ]
        );
        assert_eq!(
            matters_listed("বেতন, বদলি, পদায়ন, ছুটি বা পদোন্নতি: কোথায় যাবেন").len(),
            5
        );
        assert_eq!(
            matters_listed("A noisy class: signals that bring quiet").len(),
            1
        );
    }

    #[test]
    fn administrative_questions_are_grouped_by_the_matter_they_name_in_any_language() {
        let kb = shipped();
        let questions = [
            (1, Written::En, "my salary has not come for 3 months"),
            (2, Written::Ur, "تنخواہ دو مہینے سے نہیں ملی"),
            (3, Written::Bn, "তিন মাস ধরে বেতন বন্ধ"),
            (
                4,
                Written::En,
                "how to apply for a transfer to my home district",
            ),
            (5, Written::Bn, "বদলির আবেদন কোথায় করব"),
        ];
        let items: Vec<Item> = questions
            .iter()
            .map(|(id, written, text)| item(*id, *written, signature(kb, text)))
            .collect();

        let clusters = cluster(&items);

        assert_eq!(items[0].signature.matter.as_deref(), Some("salary"));
        assert_eq!(items[4].signature.matter.as_deref(), Some("transfer"));
        assert_eq!(ids(&clusters), [vec![1, 2, 3], vec![4, 5]]);
    }

    #[test]
    fn a_close_call_between_articles_follows_the_words_across_scripts() {
        let kb = shipped();
        let anchored = |text: &str| {
            let mut signed = signature(kb, text);
            signed.articles.truncate(1);
            signed
        };
        let mut close_call = signature(kb, "class control nahi hoti");
        close_call.articles = vec![
            ("pair-work-large-class".into(), 1.0),
            ("noisy-class".into(), 0.95),
        ];
        let items = vec![
            item(
                1,
                Written::Ur,
                anchored("کلاس کنٹرول نہیں ہوتی بچے باتیں کرتے رہتے ہیں"),
            ),
            item(2, Written::RomanUr, close_call),
        ];

        let clusters = cluster(&items);

        assert_eq!(ids(&clusters), [vec![1, 2]]);
    }
}
