//! End-to-end tests through the HTTP front door, each on SQLite and on PostgreSQL.

#[path = "../common/fs.rs"]
mod fs;
mod support;

mod broadcasts;
mod calendar;
mod certificates;
mod console;
mod console_ticket;
mod cpd;
mod health;
mod helpdesk;
mod insights;
mod instances;
mod leaders;
mod metrics;
mod practices;
mod privacy;
mod reminders;
mod scheduler;
mod telegram;
mod web_chat;
mod whatsapp;
mod whatsapp_chat;
