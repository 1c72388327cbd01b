// Durable job queues compared in one run, for mailpipe's docs: BullMQ on a local Redis,
// pg-boss and graphile-worker on the same PostgreSQL that mailpipe's job store uses.
//
//   tools/load/queues/setup                              # redis-server + npm ci, once
//   MAILPIPE_PG_FSYNC=on tools/dev-services start /tmp/qbench   # PostgreSQL 15, fsync on
//   tools/load/queues/redis start /tmp/qbench            # private Redis (DIR/redis.env)
//   source /tmp/qbench/env; source /tmp/qbench/redis.env
//   node tools/load/queues/bench.mjs --system bullmq|pgboss|graphile \
//        --jobs 20000 --concurrency 8,32 [--pg URL] [--redis redis://127.0.0.1:PORT] [--batch 100]
//
// --pg defaults to $MAILPIPE_TEST_DATABASE_URL (then $DATABASE_URL), --redis to $REDIS_URL.
// Only loopback servers are accepted unless --allow-remote is given.
//
// Phases, each on a queue emptied first (the duplicates phase reuses the bulk phase's jobs):
//   enqueue_one   N no-op jobs with unique ids, one call at a time, each awaited
//   enqueue_bulk  N no-op jobs with unique ids through the system's bulk API, one call
//   duplicates    the N ids of enqueue_bulk again, one bulk call, while those jobs still wait;
//                 "rejected" = N minus the jobs that call added (counted in the store)
//   process       per concurrency C: N jobs enqueued in bulk (not timed), then a worker with
//                 concurrency C and a no-op handler is started; timed from starting the worker
//                 (connecting included) until the store says all N are completed;
//                 handlers_done_seconds is when the last handler had run (pg-boss 10 does
//                 not await its completion UPDATEs, so the two can differ much there)
//
// What a duplicate id means in each system (the dedupe each gives):
//   bullmq   opts.jobId: an add whose jobId exists in the queue in any state (waiting, active,
//            delayed, completed, failed) adds nothing and returns the existing job (a
//            "duplicated" event); the id is free again once the job is removed
//            (removeOnComplete / removeOnFail / clean / obliterate).
//   pgboss   the job's own id (a UUID; ours is derived from the string id): the primary key
//            (name, id) of pgboss.job with INSERT ... ON CONFLICT DO NOTHING, in any state,
//            until maintenance archives the job (completed jobs after archiveCompletedAfter-
//            Seconds, 12 h by default); then the id can be inserted again. (singletonKey is
//            only unique under a queue policy (short, singleton, stately) or with
//            singletonSeconds, so it is not a plain idempotency key in pg-boss 10.)
//   graphile job_key with job_key_mode 'preserve_run_at' (add_jobs(specs, true) in bulk): an
//            add whose key matches a job that is waiting (not locked) adds no job but
//            *updates* that one (payload replaced, attempts reset, revision + 1, run_at kept);
//            when the matching job is running (locked) its key is cleared and a NEW job is
//            added, so the work runs again; a completed job is deleted, so its key is free.
//            (job_key_mode 'unsafe_dedupe', single add_job only, leaves the existing job as
//            it is.) "rejected" therefore counts "no new job", and "updated_existing" says
//            how many waiting jobs were rewritten.
//   (mailpipe: the id is the primary key; an id that is queued, running or succeeded adds
//            nothing, a dead one is queued again; see docs/jobs.md.)
//
// Every handler run is counted per job (the payload carries its index): the script fails
// unless each of the N jobs ran exactly once, still once 0.5 s after the store said "done",
// and the store agrees (nothing waiting, running or failed). One JSON line per measurement
// goes to stdout; progress and errors to stderr. Exit 1 on any failure (server unreachable
// included), 2 on bad usage.

import crypto from 'node:crypto';
import os from 'node:os';
import { performance } from 'node:perf_hooks';

const args = process.argv.slice(2);
const usage = (msg) => {
  if (msg) console.error(`bench: ${msg}`);
  console.error('usage: node bench.mjs --system bullmq|pgboss|graphile --jobs N --concurrency C1,C2 ' +
                '[--pg URL] [--redis redis://127.0.0.1:PORT] [--batch B] [--remove-completed] [--allow-remote]');
  process.exit(2);
};
const flag = (name) => args.includes(`--${name}`);
const opt = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  if (i < 0) return fallback;
  if (i + 1 >= args.length) usage(`--${name} needs a value`);
  return args[i + 1];
};
const known = new Set(['system', 'jobs', 'concurrency', 'pg', 'redis', 'batch', 'remove-completed',
                       'allow-remote', 'help']);
for (const a of args) {
  if (a.startsWith('--') && !known.has(a.slice(2))) usage(`unknown option ${a}`);
}
if (flag('help')) usage();

const system = opt('system');
if (!['bullmq', 'pgboss', 'graphile'].includes(system ?? '')) usage('--system must be bullmq, pgboss or graphile');
const N = Number(opt('jobs', '20000'));
if (!Number.isInteger(N) || N < 1 || N > 1_000_000) usage('--jobs must be an integer from 1 to 1000000');
const levels = opt('concurrency', '8,32').split(',').map(Number);
if (levels.some((c) => !Number.isInteger(c) || c < 1 || c > 1000)) usage('--concurrency must be integers from 1 to 1000');
// Jobs taken per fetch where the library fetches in batches: pg-boss work() batchSize (per
// worker loop), graphile-worker's local queue (per worker pool). BullMQ fetches one by one.
const batch = Number(opt('batch', '100'));
if (!Number.isInteger(batch) || batch < 1) usage('--batch must be a positive integer');
const removeCompleted = flag('remove-completed');
const pgUrl = opt('pg', process.env.MAILPIPE_TEST_DATABASE_URL || process.env.DATABASE_URL);
const redisUrl = opt('redis', process.env.REDIS_URL);

const log = (...a) => console.error(`[${system}]`, ...a);
// load1: the machine's 1-minute load average when the line is written (2 cores here; a
// higher value means the numbers were taken on a busy machine).
const emit = (o) => process.stdout.write(`${JSON.stringify({ system, ...o, load1: round(os.loadavg()[0], 2) })}\n`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const now = () => performance.now() / 1000;
const round = (x, d = 3) => Number(x.toFixed(d));
const rate = (n, s) => Math.round(n / s);

class Failure extends Error {}
const fail = (msg) => { throw new Failure(msg); };

function checkLoopback(url, what) {
  let host;
  try {
    host = new URL(url).hostname;
  } catch {
    usage(`${what} URL is not a URL: ${url}`);
  }
  if (!['127.0.0.1', 'localhost', '[::1]', '::1'].includes(host) && !flag('allow-remote')) {
    usage(`${what} host ${host} is not loopback (pass --allow-remote to allow it)`);
  }
}

const pgIdent = (x) => `"${String(x).replaceAll('"', '""')}"`;

// A UUID derived from a string id (SHA-1, shaped as a version 5 UUID), for pg-boss's id.
function uuidOf(id) {
  const h = crypto.createHash('sha1').update(`mailpipe-queue-bench:${id}`).digest();
  h[6] = (h[6] & 0x0f) | 0x50;
  h[8] = (h[8] & 0x3f) | 0x80;
  const x = h.subarray(0, 16).toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

// Polls cond() every `every` ms until it is true; fails when `progress()` has not changed
// for `stallSeconds`.
async function waitFor(what, cond, progress, every = 10, stallSeconds = 60) {
  let last = progress();
  let lastChange = now();
  for (;;) {
    if (await cond()) return;
    await sleep(every);
    const p = progress();
    if (p !== last) {
      last = p;
      lastChange = now();
    } else if (now() - lastChange > stallSeconds) {
      fail(`${what}: no progress for ${stallSeconds} s (at ${p})`);
    }
  }
}

async function pgConnect(url) {
  const { default: pg } = await import('pg');
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  try {
    await client.connect();
  } catch (err) {
    fail(`cannot reach PostgreSQL at ${url}: ${err.message || err.code || err}`);
  }
  client.on('error', (err) => log('PostgreSQL connection error:', err.message));
  const s = await client.query(
    "SELECT current_setting('server_version') v, current_setting('fsync') f, " +
    "current_setting('synchronous_commit') sc");
  const { f, sc } = s.rows[0];
  const v = s.rows[0].v.split(' ')[0];
  log(`PostgreSQL ${v}, fsync=${f}, synchronous_commit=${sc}`);
  if (f !== 'on' || sc === 'off') {
    log('warning: not a durable PostgreSQL (start it with MAILPIPE_PG_FSYNC=on tools/dev-services start DIR)');
  }
  return { client, durability: `postgresql ${v} fsync=${f} synchronous_commit=${sc}` };
}

// ---------------------------------------------------------------------------------- BullMQ

async function bullmqAdapter() {
  if (!redisUrl) usage('--redis (or $REDIS_URL) is needed for bullmq');
  checkLoopback(redisUrl, 'Redis');
  const { default: IORedis } = await import('ioredis');
  const { Queue, Worker } = await import('bullmq');
  const u = new URL(redisUrl);
  const conn = { host: u.hostname, port: Number(u.port || 6379), db: Number(u.pathname.slice(1) || 0) };

  const probe = new IORedis({ ...conn, lazyConnect: true, connectTimeout: 5000,
                              maxRetriesPerRequest: 0, retryStrategy: () => null });
  let cause;
  probe.on('error', (err) => { cause = err; });
  try {
    await probe.connect();
    await probe.ping();
  } catch (err) {
    probe.disconnect();
    fail(`cannot reach Redis at ${redisUrl}: ${(cause || err).message || err}`);
  }
  const info = await probe.info();
  const field = (k) => (info.match(new RegExp(`^${k}:(.*)$`, 'm')) || [])[1]?.trim();
  const [, fsyncMode] = await probe.config('GET', 'appendfsync');
  const [, policy] = await probe.config('GET', 'maxmemory-policy');
  probe.disconnect();
  const durability = `redis ${field('redis_version')} aof=${field('aof_enabled') === '1' ? 'on' : 'off'} ` +
                     `appendfsync=${fsyncMode}`;
  log(`Redis ${field('redis_version')}, ${durability}, maxmemory-policy=${policy}`);
  if (policy !== 'noeviction') log('warning: BullMQ needs maxmemory-policy noeviction');
  if (field('aof_enabled') !== '1') log('warning: Redis runs without AOF (start it with tools/load/queues/redis)');

  const name = 'mailpipe-queue-bench';
  // Producers fail fast rather than queue commands while Redis is away.
  const queue = new Queue(name, { connection: { ...conn, enableOfflineQueue: false } });
  queue.on('error', (err) => log('queue error:', err.message));
  await queue.waitUntilReady();

  const states = ['wait', 'active', 'delayed', 'prioritized', 'paused', 'waiting-children',
                  'completed', 'failed'];
  const counts = () => queue.getJobCounts(...states);
  const total = async () => Object.values(await counts()).reduce((a, b) => a + b, 0);

  return {
    durability,
    completed: removeCompleted ? 'removed on completion (removeOnComplete)'
                               : 'kept (BullMQ default; removeOnComplete not set)',
    reset: () => queue.obliterate({ force: true }),
    addOne: async (id, i) => { await queue.add('noop', { i }, { jobId: id }); },
    addBulk: async (items) => {
      await queue.addBulk(items.map(({ id, i }) => ({ name: 'noop', data: { i }, opts: { jobId: id } })));
    },
    total,
    extraDuplicates: async () => ({}),
    settings: (c) => ({ concurrency: c, removeOnComplete: removeCompleted }),
    startWorker: async (c, onJob) => {
      const worker = new Worker(name, async (job) => { onJob(job.data.i); }, {
        connection: { ...conn, maxRetriesPerRequest: null },
        concurrency: c,
        ...(removeCompleted ? { removeOnComplete: { count: 0 } } : {}),
      });
      worker.on('error', (err) => log('worker error:', err.message));
      return { stop: () => worker.close() };
    },
    // All N completed: nothing left waiting or running; with completed jobs kept, N of them.
    doneState: async (n) => {
      const c = await counts();
      const pending = c.wait + c.active + c.delayed + c.prioritized + c.paused + c['waiting-children'];
      return { done: pending === 0 && (removeCompleted || c.completed === n), failed: c.failed,
               detail: c };
    },
    close: () => queue.close(),
  };
}

// ---------------------------------------------------------------------------------- pg-boss

async function pgbossAdapter() {
  if (!pgUrl) usage('--pg (or $MAILPIPE_TEST_DATABASE_URL) is needed for pgboss');
  checkLoopback(pgUrl, 'PostgreSQL');
  const { client, durability } = await pgConnect(pgUrl);
  const { default: PgBoss } = await import('pg-boss');
  const schema = 'pgboss';
  const name = 'mailpipe-queue-bench';
  // Repeatable runs: pg-boss's whole schema goes first.
  await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  const boss = new PgBoss({ connectionString: pgUrl, schema });
  boss.on('error', (err) => log('pg-boss error:', err.message));
  await boss.start();

  const total = async () =>
    Number((await client.query(`SELECT count(*) n FROM ${schema}.job WHERE name = $1`, [name])).rows[0].n);
  const byState = async () => {
    const r = await client.query(
      `SELECT state, count(*)::int n FROM ${schema}.job WHERE name = $1 GROUP BY state`, [name]);
    return Object.fromEntries(r.rows.map((x) => [x.state, x.n]));
  };

  return {
    durability,
    completed: 'kept (pg-boss default: completed rows stay in pgboss.job, archived after 12 h)',
    // A fresh partition per phase. deleteQueue() of pg-boss 10.4 fails on a queue that still
    // holds jobs (its deferred foreign key q_fkey), so the partition is emptied first.
    reset: async () => {
      const q = await client.query(`SELECT partition_name FROM ${schema}.queue WHERE name = $1`, [name]);
      if (q.rows.length) {
        await client.query(`TRUNCATE ${schema}.${pgIdent(q.rows[0].partition_name)}`);
        await boss.deleteQueue(name);
      }
      await boss.createQueue(name); // policy 'standard'
    },
    addOne: async (id, i) => {
      const got = await boss.send(name, { i }, { id: uuidOf(id) });
      if (got === null) fail(`send of a new id ${id} was rejected`);
    },
    addBulk: async (items) => {
      await boss.insert(items.map(({ id, i }) => ({ id: uuidOf(id), name, data: { i } })));
    },
    total,
    extraDuplicates: async () => ({}),
    settings: (c) => ({ workers: c, batchSize: batch, pollingIntervalSeconds: 0.5, poolMax: Math.max(10, c + 2) }),
    // Concurrency C = C work() loops (each call to work() adds one polling worker), each
    // fetching up to --batch jobs, at the smallest polling interval pg-boss allows (0.5 s).
    startWorker: async (c, onJob) => {
      const wb = new PgBoss({ connectionString: pgUrl, schema, max: Math.max(10, c + 2),
                              supervise: false, schedule: false, migrate: false });
      wb.on('error', (err) => log('pg-boss worker error:', err.message));
      await wb.start();
      for (let k = 0; k < c; k++) {
        await wb.work(name, { batchSize: batch, pollingIntervalSeconds: 0.5 }, async (jobs) => {
          for (const job of jobs) onJob(job.data.i);
        });
      }
      return { stop: () => wb.stop({ graceful: true, wait: true, timeout: 5000 }) };
    },
    doneState: async (n) => {
      const s = await byState();
      return { done: (s.completed ?? 0) === n, failed: s.failed ?? 0, detail: s };
    },
    close: async () => {
      await boss.stop({ graceful: true, wait: true, timeout: 5000 });
      await client.end();
    },
  };
}

// -------------------------------------------------------------------------- graphile-worker

async function graphileAdapter() {
  if (!pgUrl) usage('--pg (or $MAILPIPE_TEST_DATABASE_URL) is needed for graphile');
  checkLoopback(pgUrl, 'PostgreSQL');
  const { client, durability } = await pgConnect(pgUrl);
  const { run, makeWorkerUtils, Logger } = await import('graphile-worker');
  const schema = 'graphile_worker';
  const task = 'mailpipe_queue_bench_noop';
  // graphile-worker logs to stdout by default; stdout is for the JSON lines here.
  const logger = new Logger(() => (level, message) => {
    if (level === 'error' || level === 'warning') log(`graphile-worker ${level}: ${message}`);
  });
  await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  const utils = await makeWorkerUtils({ connectionString: pgUrl, schema, logger });
  await utils.migrate();

  const total = async () => Number((await client.query(
    `SELECT count(*) n FROM ${schema}.jobs WHERE task_identifier = $1`, [task])).rows[0].n);

  return {
    durability,
    completed: 'deleted on completion (graphile-worker always deletes completed jobs)',
    reset: async () => {
      await client.query(`DELETE FROM ${schema}._private_jobs`);
      await client.query(`DELETE FROM ${schema}._private_job_queues`);
    },
    addOne: async (id, i) => {
      await utils.addJob(task, { i }, { jobKey: id, jobKeyMode: 'preserve_run_at' });
    },
    addBulk: async (items) => {
      await utils.addJobs(items.map(({ id, i }) => ({ identifier: task, payload: { i }, jobKey: id })),
                          true /* job_key_preserve_run_at */);
    },
    total,
    extraDuplicates: async () => ({
      updated_existing: Number((await client.query(
        `SELECT count(*) n FROM ${schema}.jobs WHERE task_identifier = $1 AND revision > 0`,
        [task])).rows[0].n),
    }),
    settings: (c) => ({ concurrency: c, localQueueSize: batch, completeJobBatchDelay: 0,
                        pollInterval: 2000, maxPoolSize: Math.max(10, c + 2) }),
    // Concurrency C = concurrentJobs of one worker pool. Jobs are announced by LISTEN/NOTIFY
    // and fetched (locked) --batch at a time into the local queue; completions are batched
    // (completeJobBatchDelay 0). Both are graphile-worker's documented batching options: a
    // crash can then re-run a job that had completed (at-least-once, as without them).
    startWorker: async (c, onJob) => {
      const runner = await run({
        connectionString: pgUrl, schema, logger, concurrency: c, noHandleSignals: true,
        maxPoolSize: Math.max(10, c + 2), pollInterval: 2000,
        taskList: { [task]: async (payload) => { onJob(payload.i); } },
        preset: { worker: { localQueue: { size: batch }, completeJobBatchDelay: 0 } },
      });
      return { stop: () => runner.stop() };
    },
    // Completed jobs are deleted; a failed one would stay with last_error set.
    doneState: async () => {
      const r = (await client.query(
        `SELECT count(*)::int n, count(*) FILTER (WHERE last_error IS NOT NULL)::int failed
           FROM ${schema}.jobs WHERE task_identifier = $1`, [task])).rows[0];
      return { done: r.n === 0, failed: r.failed, detail: { remaining: r.n } };
    },
    close: async () => {
      await utils.release();
      await client.end();
    },
  };
}

// ---------------------------------------------------------------------------------- phases

const items = (prefix) => Array.from({ length: N }, (_, i) => ({ id: `${prefix}-${i}`, i }));

async function expectTotal(a, want, what) {
  const got = await a.total();
  if (got !== want) fail(`${what}: the store holds ${got} jobs, expected ${want}`);
}

async function main() {
  const make = { bullmq: bullmqAdapter, pgboss: pgbossAdapter, graphile: graphileAdapter }[system];
  const a = await make();
  const base = { jobs: N };
  let bad = 0;
  try {
    // enqueue_one
    await a.reset();
    log(`enqueue_one: ${N} jobs, one awaited call each`);
    let t = now();
    for (const { id, i } of items('one')) await a.addOne(id, i);
    let s = now() - t;
    await expectTotal(a, N, 'enqueue_one');
    emit({ phase: 'enqueue_one', ...base, seconds: round(s), per_second: rate(N, s), durability: a.durability });

    // enqueue_bulk
    await a.reset();
    log(`enqueue_bulk: ${N} jobs, one bulk call`);
    const bulk = items('bulk');
    t = now();
    await a.addBulk(bulk);
    s = now() - t;
    await expectTotal(a, N, 'enqueue_bulk');
    emit({ phase: 'enqueue_bulk', ...base, seconds: round(s), per_second: rate(N, s), durability: a.durability });

    // duplicates: the same N ids again while those jobs wait
    log(`duplicates: the ${N} ids of enqueue_bulk again, one bulk call`);
    t = now();
    await a.addBulk(bulk);
    s = now() - t;
    const after = await a.total();
    const rejected = N - (after - N);
    const extra = await a.extraDuplicates();
    emit({ phase: 'duplicates', ...base, rejected, seconds: round(s), per_second: rate(N, s), ...extra });
    if (rejected !== N) {
      log(`FAILED duplicates: ${N - rejected} of ${N} duplicate ids added a job`);
      bad++;
    }

    // process
    for (const c of levels) {
      await a.reset();
      await a.addBulk(items(`p${c}`));
      await expectTotal(a, N, `process ${c}: enqueue`);
      log(`process: ${N} jobs, concurrency ${c}`);
      const runs = new Uint32Array(N);
      let handled = 0;
      const onJob = (i) => {
        runs[i]++;
        handled++;
      };
      t = now();
      const worker = await a.startWorker(c, onJob);
      let state;
      let handlerSeconds;
      try {
        await waitFor(`process ${c}: handler`, () => handled >= N, () => handled, 5);
        handlerSeconds = now() - t;
        await waitFor(`process ${c}: completion`, async () => (state = await a.doneState(N)).done,
                      () => JSON.stringify(state?.detail), 10);
        s = now() - t;
        await sleep(500); // a job run twice shows up here
      } finally {
        await worker.stop();
      }
      let once = 0;
      let twice = 0;
      let never = 0;
      for (const r of runs) {
        if (r === 1) once++;
        else if (r === 0) never++;
        else twice++;
      }
      const final = await a.doneState(N);
      const ok = once === N && final.done && final.failed === 0;
      emit({ phase: 'process', ...base, concurrency: c, seconds: round(s), per_second: rate(N, s),
             handlers_done_seconds: round(handlerSeconds), ran_once: once, ran_more_than_once: twice, never_ran: never, failed: final.failed,
             completed_jobs: a.completed, settings: a.settings(c), durability: a.durability });
      if (!ok) {
        log(`FAILED process ${c}: once=${once} more=${twice} never=${never} store=${JSON.stringify(final.detail)}`);
        bad++;
      }
    }
    await a.reset();
  } finally {
    await a.close();
  }
  if (bad) fail(`${bad} check(s) failed`);
  log('done: all checks passed');
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(`bench: ${system}: ${err instanceof Failure ? err.message : err.stack || err}`);
    process.exit(1);
  },
);
