#!/usr/bin/env python3
"""Writes the starting seed corpora of the fuzz targets into fuzz/corpus/<target>/ from the
project's own files: the Telegram and WhatsApp fixtures, the shipped dialogues and articles,
and a handful of typed strings in English, Urdu, Roman Urdu and Bangla. Run from fuzz/; then
`cargo fuzz cmin <target>` keeps the seeds that add coverage (see docs/fuzzing.md)."""

import glob
import hashlib
import os
import struct
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
# The corpora, or another folder given as the only argument (to minimise against the seeds).
OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "fuzz", "corpus")


def put(target, data):
    if isinstance(data, str):
        data = data.encode("utf-8")
    folder = os.path.join(OUT, target)
    os.makedirs(folder, exist_ok=True)
    name = hashlib.sha1(data).hexdigest()
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data)


def read(path):
    with open(os.path.join(ROOT, path), encoding="utf-8") as f:
        return f.read()


def files(pattern):
    return sorted(glob.glob(os.path.join(ROOT, pattern), recursive=True))


# Typed text: menu words, questions, digits of every script, the property tests' edge cases.
TYPED = [
    "hello", "Menu", "/start", "2", "option 3", "#1", "3.", "۲", "২", "٣", "１",
    "Read the lessons", "lessons", "lesons", "Ask a question ❓", "📚 Lessons",
    "haan", "han", "shukriya", "shukria", "bohot acha", "bahut achha", "mainu", "meenu",
    "madad chahiye", "sawal poochna hai", "band karo", "notice chalu karo",
    "مینو", "مدد", "سوال پوچھنا ہے", "شکریہ", "بچوں کو خاموش کیسے کروں؟", "يكه أإ ة ى",
    "ہاں۔ ٹھیک ہے، شکریہ", "\u0627\u064e\u0644\u0652\u0640\u0640\u0643",
    "মেনু", "সাহায্য", "ক্লাসে বাচ্চারা খুব গোলমাল করে।", "ত্\u200d", "\u09A4\u09CD\u200D",
    "e\u200b\u0301", "\u09c7\u200c\u09be", "İ\u09cd", "ﬁ\u200b\u0301", "\ufeffhi\u00ad there",
    "how do I manage a noisy class of 80 children?", "1-3", "1 to 3", "2 se 5", "salary kab aye gi",
    "class monitor ke ilawa bachon ko kya zimmedari dein", "  Hello,   World!!  ",
    "👩🏽‍🏫 *bold* _italic_", "\u2066rtl\u2069 \u200f", "ǅ ß ﬀ ΐ",
]

# --- telegram_update: every Telegram fixture (updates, a getUpdates batch, API answers).
for path in files("tests/fixtures/telegram/*.json"):
    put("telegram_update", read(path))
put("telegram_update", '{"update_id": 1}')

# --- whatsapp_webhook: every WhatsApp fixture.
for path in files("tests/fixtures/whatsapp/*.json"):
    put("whatsapp_webhook", read(path))

# --- dialogue_yaml: `_system.yaml` alone, each tree alone (after a NUL: no system file), and
# whole consistent sets (the test fixtures; the shipped system with the trees it names).
system = read("dialogues/_system.yaml")
put("dialogue_yaml", system)
for path in files("dialogues/**/*.yaml") + files("tests/fixtures/dialogues/**/*.yaml"):
    if os.path.basename(path) != "_system.yaml":
        put("dialogue_yaml", "\0" + read(path))
fixture = ["tests/fixtures/dialogues/_system.yaml"] + [
    p for p in files("tests/fixtures/dialogues/**/*.yaml") if not p.endswith("_system.yaml")
]
put("dialogue_yaml", "\0".join(read(p) for p in fixture))
put("dialogue_yaml", "\0".join(read(p) for p in [
    "dialogues/_system.yaml", "dialogues/main.yaml", "dialogues/onboarding.yaml",
    "dialogues/leaders.yaml",
]))

# --- kb_markdown: every article, shipped and fixture.
for path in files("knowledge-base/articles/*.md") + files("tests/fixtures/knowledge-base/articles/*.md"):
    put("kb_markdown", read(path))

# --- normalize: typed text.
for text in TYPED:
    put("normalize", text)

# --- choice_match: typed text, then choices (labels separated by `|`, `~` for aliases).
MENU = "📚 Lessons|سبق|পাঠ|~sabaq\n❓ Ask a question|سوال پوچھیں|প্রশ্ন করুন|~sawal\n📊 My progress|میری پیش رفت|আমার অগ্রগতি\n🌐 Language|زبان|ভাষা|~zaban"
for text in TYPED:
    put("choice_match", text + "\n" + MENU)
put("choice_match", "yes\nYes|ہاں|হ্যাঁ|~haan|~ji\nNo|نہیں|না|~nahi")
put("choice_match", "Read the lessons\nRead the lessons\nRead the news\n▶ Next")

# --- telegram_render: a split limit (two bytes, little-endian), then reply text and buttons.
for limit, text in [
    (3900, "👩🏽‍🏫 *Main menu* — what would you like to do?\0main/lessons\t📚 Lessons\0main/ask\t❓ Ask"),
    (20, "*bold* and _italic_ <b>not html</b> & 'quotes' \"too\" a_b_c 2*3*4"),
    (40, "پہلا جملہ۔ دوسرا جملہ۔ تیسرا\n\nনতুন অনুচ্ছেদ। আরেকটি বাক্য।"),
    (0, "x"),
    (1, "a b"),
]:
    put("telegram_render", struct.pack("<H", limit) + text.encode("utf-8"))
for path in files("knowledge-base/articles/*.md")[:6]:
    body = read(path).split("---", 2)[-1]
    put("telegram_render", struct.pack("<H", 700) + body.encode("utf-8"))
