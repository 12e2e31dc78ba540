-- Recurring issues: each question keeps the signature that groups it with similar ones
-- (`insights::Signature` as JSON, computed with the knowledge base when it was asked), so a
-- report clusters 100,000 questions without searching the knowledge base again. NULL for
-- questions logged before this migration: the report computes theirs when it needs them.
ALTER TABLE questions ADD COLUMN signature TEXT;
