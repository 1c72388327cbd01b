-- The claim reads the time once it holds the queue's settings row, not when it starts:
-- a claim that waited for that row behind another, which refilled the bucket later than
-- the waiting claim started, counted a negative time since the refill, and with it a
-- negative number of jobs to take (PostgreSQL's "LIMIT must not be negative", the claim
-- lost). The bucket never lends a negative number of jobs either. Otherwise as 0005.
CREATE OR REPLACE FUNCTION mailpipe_claim_jobs(p_queue TEXT, p_owner TEXT, p_limit INTEGER,
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
  v_now TIMESTAMPTZ;
BEGIN
  SELECT * INTO s FROM queue_settings q
  WHERE q.queue = p_queue AND (q.concurrency IS NOT NULL OR q.rate_limit IS NOT NULL)
  FOR UPDATE;
  v_now := clock_timestamp();
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
      allowed := LEAST(allowed, GREATEST(floor(tokens)::INTEGER, 0));
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
