-- Per-queue limits, for the whole cluster: at most `concurrency` jobs of the queue running
-- at once, and at most `rate_limit` jobs claimed per second (a token bucket of one
-- second's worth, kept in the row and refilled as time passes). NULL: no limit. A claim
-- of a limited queue locks its row, so concurrent claims take turns and count right.
ALTER TABLE queue_settings
  ADD COLUMN concurrency      INTEGER CHECK (concurrency > 0),
  ADD COLUMN rate_limit       DOUBLE PRECISION CHECK (rate_limit > 0),
  ADD COLUMN rate_tokens      DOUBLE PRECISION NOT NULL DEFAULT 0,
  ADD COLUMN rate_refilled_at TIMESTAMPTZ NOT NULL DEFAULT now();

-- A claim in one round trip: up to p_limit ready jobs of p_queue, highest priority then
-- oldest first, skipping jobs other claims lock, each made running under p_owner until
-- now + p_lease_ms, its attempt counted. A limited queue's settings row is locked first,
-- and each statement after it reads a fresh snapshot (a VOLATILE function in READ
-- COMMITTED), so the running jobs counted include every claim that went before. When a
-- limit held the claim back, one more row is returned with a NULL id (the caller looks
-- again soon instead of waiting for a notification); not when the queue has no ready job
-- left.
CREATE FUNCTION mailpipe_claim_jobs(p_queue TEXT, p_owner TEXT, p_limit INTEGER,
                                    p_lease_ms BIGINT)
RETURNS TABLE (id TEXT, priority SMALLINT, payload TEXT, attempts INTEGER,
               max_attempts INTEGER)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  s queue_settings%ROWTYPE;
  allowed INTEGER := p_limit;
  tokens DOUBLE PRECISION;
  running BIGINT;
  claimed INTEGER;
  v_now TIMESTAMPTZ := clock_timestamp();
BEGIN
  SELECT * INTO s FROM queue_settings q
  WHERE q.queue = p_queue AND (q.concurrency IS NOT NULL OR q.rate_limit IS NOT NULL)
  FOR UPDATE;
  IF FOUND AND NOT s.paused THEN
    IF s.concurrency IS NOT NULL THEN
      SELECT count(*) INTO running FROM jobs j
      WHERE j.queue = p_queue AND j.state = 'running';
      allowed := LEAST(allowed, GREATEST(s.concurrency - running, 0));
    END IF;
    IF s.rate_limit IS NOT NULL THEN
      tokens := LEAST(GREATEST(s.rate_limit, 1),
                      s.rate_tokens + s.rate_limit
                        * extract(epoch FROM v_now - s.rate_refilled_at));
      allowed := LEAST(allowed, floor(tokens)::INTEGER);
    END IF;
  END IF;
  RETURN QUERY
  WITH next AS (
    SELECT j.id FROM jobs j
    WHERE j.queue = p_queue AND j.state = 'queued' AND j.run_at <= now()
      AND NOT EXISTS (SELECT 1 FROM queue_settings q
                      WHERE q.queue = p_queue AND q.paused)
    ORDER BY j.priority, j.run_at, j.id
    LIMIT allowed
    FOR UPDATE SKIP LOCKED)
  UPDATE jobs j SET state = 'running', attempts = j.attempts + 1,
    lease_owner = p_owner, lease_until = now() + p_lease_ms * interval '1 millisecond',
    updated_at = now()
  FROM next WHERE j.id = next.id
  RETURNING j.id, j.priority, j.payload::text, j.attempts, j.max_attempts;
  GET DIAGNOSTICS claimed = ROW_COUNT;
  IF tokens IS NOT NULL THEN
    UPDATE queue_settings q SET rate_tokens = tokens - claimed,
      rate_refilled_at = v_now
    WHERE q.queue = p_queue;
  END IF;
  IF allowed < p_limit AND claimed = allowed
     AND EXISTS (SELECT 1 FROM jobs j
                 WHERE j.queue = p_queue AND j.state = 'queued' AND j.run_at <= now()) THEN
    RETURN QUERY SELECT NULL::TEXT, NULL::SMALLINT, NULL::TEXT, NULL::INTEGER,
                        NULL::INTEGER;
  END IF;
END
$$;
