-- The processing pipeline: a lease names its run as well as its node, so two runs on
-- one node name (cron's `mailpipe process` beside `mailpipe run`) never share an account;
-- and the index the claim's "has a pending test" join needs.

ALTER TABLE email_accounts ADD COLUMN lease_run_id UUID;

CREATE INDEX tests_pending_idx ON tests (id) WHERE status = 'pending';
CREATE INDEX tests_expiry_idx ON tests (expires_at) WHERE status = 'pending';
