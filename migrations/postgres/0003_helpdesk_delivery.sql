-- The helpdesk, continued. A reopened ticket starts its SLA clock again (`waiting_since`; NULL
-- means since it was created). An outbox row that carries an expert's answer names its ticket:
-- when the teacher cannot be reached it is held (status `held`) instead of failing, and sent
-- once the teacher writes again (copied as a new row, the held one becoming `released`).
ALTER TABLE tickets ADD COLUMN waiting_since BIGINT;
ALTER TABLE outbox ADD COLUMN ticket TEXT;
CREATE INDEX outbox_held ON outbox (teacher_id) WHERE status = 'held';
CREATE INDEX outbox_by_ticket ON outbox (ticket, id) WHERE ticket IS NOT NULL;
