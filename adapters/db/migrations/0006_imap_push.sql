-- IMAP push: an account with `push` on is watched by one node at a time through an IDLE
-- connection; new mail in INBOX or the junk folder becomes a fetch_emails job at once.
-- A row of `push_watches` is a node's lease on the watch of one account, renewed while
-- it watches, so a node that dies hands its watches to another when the lease ends. The
-- leases live in a table of their own: taking and renewing them never writes an
-- account's row, which a run's claim (SKIP LOCKED) would then skip.
ALTER TABLE email_accounts ADD COLUMN push BOOLEAN NOT NULL DEFAULT FALSE;
CREATE TABLE push_watches (
  email_account_id BIGINT PRIMARY KEY REFERENCES email_accounts (id) ON DELETE CASCADE,
  owner            TEXT NOT NULL,
  until            TIMESTAMPTZ NOT NULL
);
