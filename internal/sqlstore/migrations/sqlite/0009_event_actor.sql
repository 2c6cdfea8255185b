-- Events carry who caused them (CloudEvents extension attributes actorkind,
-- actorid, actorname), so that the audit log can record every committed
-- change from the outbox, in the same transaction as the change.
ALTER TABLE outbox ADD COLUMN actor_kind TEXT NOT NULL DEFAULT '';
ALTER TABLE outbox ADD COLUMN actor_id TEXT NOT NULL DEFAULT '';
ALTER TABLE outbox ADD COLUMN actor_name TEXT NOT NULL DEFAULT '';
