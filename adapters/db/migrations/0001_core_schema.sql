-- mailpipe core schema. Table and column names are the ones the operators' monitoring
-- queries of the previous system use; keep them.

CREATE TABLE email_accounts (
  id               BIGSERIAL PRIMARY KEY,
  email            TEXT NOT NULL UNIQUE,
  provider         TEXT NOT NULL CHECK (provider IN ('imap', 'gmail', 'outlook')),
  active           BOOLEAN NOT NULL DEFAULT TRUE,
  disabled_reason  TEXT,
  disabled_at      TIMESTAMPTZ,
  -- IMAP connection; NULL for API providers
  imap_host        TEXT,
  imap_port        INTEGER CHECK (imap_port BETWEEN 1 AND 65535),
  imap_security    TEXT CHECK (imap_security IN ('tls', 'starttls', 'plain')),
  username         TEXT,
  auth_method      TEXT NOT NULL DEFAULT 'password'
                     CHECK (auth_method IN ('password', 'xoauth2', 'oauth2')),
  -- password or OAuth2 refresh token, AES-256-GCM (nonce || ciphertext || tag)
  secret_encrypted BYTEA,
  -- incremental sync state (Gmail historyId, Graph delta links as JSON)
  sync_state       JSONB NOT NULL DEFAULT '{}'::jsonb,
  -- which node works on the account, until when
  lease_owner      TEXT,
  lease_until      TIMESTAMPTZ,
  last_processed_at TIMESTAMPTZ,
  created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
  updated_at       TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX email_accounts_active_idx ON email_accounts (active) WHERE active;

CREATE TABLE tests (
  id          BIGSERIAL PRIMARY KEY,
  test_id     TEXT NOT NULL UNIQUE,          -- the unique token put in the message
  name        TEXT,
  sender      TEXT,
  subject     TEXT,
  status      TEXT NOT NULL DEFAULT 'pending'
                CHECK (status IN ('pending', 'complete', 'expired')),
  expires_at  TIMESTAMPTZ,
  created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
  updated_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE test_results (
  id               BIGSERIAL PRIMARY KEY,
  test_id          BIGINT NOT NULL REFERENCES tests (id) ON DELETE CASCADE,
  email_account_id BIGINT NOT NULL REFERENCES email_accounts (id) ON DELETE CASCADE,
  status           TEXT NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'found', 'missing', 'error')),
  placement        TEXT CHECK (placement IN ('inbox', 'spam', 'promotions', 'social',
                                             'updates', 'forums', 'other', 'missing')),
  folder           TEXT,
  labels           TEXT[] NOT NULL DEFAULT '{}',
  spf_result       TEXT,
  spf_domain       TEXT,
  dkim_result      TEXT,
  dkim_domains     TEXT[] NOT NULL DEFAULT '{}',
  dmarc_result     TEXT,
  dmarc_policy     TEXT,
  arc_result       TEXT,
  filters          JSONB NOT NULL DEFAULT '[]'::jsonb,
  analysis         JSONB,                  -- the full `mailpipe analyze` document
  header_block     TEXT,
  run_id           UUID,
  found_at         TIMESTAMPTZ,
  created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
  updated_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
  UNIQUE (test_id, email_account_id)
);
CREATE INDEX test_results_pending_idx ON test_results (email_account_id)
  WHERE status = 'pending';

CREATE TABLE email_processing_metrics (
  id               BIGSERIAL PRIMARY KEY,
  run_id           UUID NOT NULL,
  email_account_id BIGINT REFERENCES email_accounts (id) ON DELETE SET NULL,
  node             TEXT,
  started_at       TIMESTAMPTZ NOT NULL,
  duration_seconds DOUBLE PRECISION NOT NULL DEFAULT 0,
  emails_found     INTEGER NOT NULL DEFAULT 0,
  errors_count     INTEGER NOT NULL DEFAULT 0,
  status           TEXT NOT NULL DEFAULT 'success'
                     CHECK (status IN ('success', 'failure', 'timeout', 'skipped')),
  error_class      TEXT,
  error_message    TEXT,
  created_at       TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX email_processing_metrics_run_idx ON email_processing_metrics (run_id);
CREATE INDEX email_processing_metrics_created_idx ON email_processing_metrics (created_at);
CREATE INDEX email_processing_metrics_account_idx
  ON email_processing_metrics (email_account_id, created_at);

CREATE TABLE email_account_failures (
  email_account_id BIGINT PRIMARY KEY REFERENCES email_accounts (id) ON DELETE CASCADE,
  failure_count    INTEGER NOT NULL DEFAULT 0,
  failure_class    TEXT,
  last_error       TEXT,
  last_failure_at  TIMESTAMPTZ,
  retry_at         TIMESTAMPTZ
);
CREATE INDEX email_account_failures_retry_idx ON email_account_failures (retry_at);

CREATE TABLE nodes (
  name            TEXT PRIMARY KEY,
  host            TEXT NOT NULL,
  pid             INTEGER NOT NULL,
  version         TEXT NOT NULL,
  inspect_endpoint TEXT,
  started_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
  heartbeat_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
  stopped_at      TIMESTAMPTZ
);

CREATE TABLE jobs (
  id            TEXT PRIMARY KEY,            -- the idempotency key
  queue         TEXT NOT NULL CHECK (queue IN ('fetch_emails', 'process_mails',
                                               'index_news', 'send_notifications')),
  priority      SMALLINT NOT NULL DEFAULT 1, -- 0 high, 1 medium
  payload       JSONB NOT NULL DEFAULT '{}'::jsonb,
  state         TEXT NOT NULL DEFAULT 'queued'
                  CHECK (state IN ('queued', 'running', 'succeeded', 'dead')),
  attempts      INTEGER NOT NULL DEFAULT 0,
  max_attempts  INTEGER NOT NULL DEFAULT 3,
  run_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
  lease_owner   TEXT,
  lease_until   TIMESTAMPTZ,
  last_error    TEXT,
  result        JSONB,
  created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
  updated_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
  finished_at   TIMESTAMPTZ
);
CREATE INDEX jobs_ready_idx ON jobs (queue, priority, run_at) WHERE state = 'queued';
CREATE INDEX jobs_running_idx ON jobs (lease_until) WHERE state = 'running';
CREATE INDEX jobs_dead_idx ON jobs (queue, updated_at) WHERE state = 'dead';

CREATE TABLE queue_settings (
  queue       TEXT PRIMARY KEY,
  paused      BOOLEAN NOT NULL DEFAULT FALSE,
  paused_at   TIMESTAMPTZ,
  paused_by   TEXT
);
INSERT INTO queue_settings (queue) VALUES
  ('fetch_emails'), ('process_mails'), ('index_news'), ('send_notifications');

CREATE TABLE alerts (
  id                BIGSERIAL PRIMARY KEY,
  kind              TEXT NOT NULL,
  severity          TEXT NOT NULL CHECK (severity IN ('warning', 'critical')),
  title             TEXT NOT NULL,
  body              TEXT NOT NULL DEFAULT '',
  node              TEXT,
  state             TEXT NOT NULL DEFAULT 'pending'
                      CHECK (state IN ('pending', 'delivered', 'failed')),
  delivery_attempts INTEGER NOT NULL DEFAULT 0,
  last_error        TEXT,
  created_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
  delivered_at      TIMESTAMPTZ
);
CREATE INDEX alerts_pending_idx ON alerts (created_at) WHERE state = 'pending';
