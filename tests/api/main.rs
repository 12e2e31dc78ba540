//! End-to-end tests through the HTTP front door, each on SQLite and on PostgreSQL.

#[path = "../common/fs.rs"]
mod fs;
mod support;

mod console;
mod health;
mod helpdesk;
mod telegram;
mod web_chat;
mod whatsapp;
mod whatsapp_chat;
