-- Newsletters: the messages whose content the process_mails queue analyses with Mistral
-- and index_news makes searchable (PostgreSQL full-text search, the embedded default, or
-- MeiliSearch). A newsletter whose job went dead after its attempts is 'invalid', with
-- the job's last error.

CREATE TABLE newsletters (
  id               BIGSERIAL PRIMARY KEY,
  -- RFC 5322 Message-ID (or a digest of the message when it has none): the key that
  -- makes adding the same message twice add one row
  message_key      TEXT NOT NULL UNIQUE,
  email_account_id BIGINT REFERENCES email_accounts (id) ON DELETE SET NULL,
  sender           TEXT NOT NULL DEFAULT '',
  subject          TEXT NOT NULL DEFAULT '',
  sent_at          TEXT NOT NULL DEFAULT '',
  body_text        TEXT NOT NULL DEFAULT '',
  status           TEXT NOT NULL DEFAULT 'new'
                     CHECK (status IN ('new', 'analysed', 'indexed', 'invalid')),
  invalid_reason   TEXT,
  -- Mistral's reply, checked field by field
  analysis         JSONB,
  -- the full-text document index_news writes (subject A, summary and topics B, body C)
  search           TSVECTOR,
  indexed_at       TIMESTAMPTZ,
  created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
  updated_at       TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX newsletters_search_idx ON newsletters USING GIN (search);
CREATE INDEX newsletters_status_idx ON newsletters (status, created_at);
