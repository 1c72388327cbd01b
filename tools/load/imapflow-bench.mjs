// imapflow doing the same find-and-fetch pass as mailpipe-imap-load, over the
// accounts that tool created (its manifest), for comparison.
//
//   source /tmp/<name>-state/env
//   node tools/load/imapflow-bench.mjs --accounts 1000 --parallel 4,16 [--tls]
//
// Per account: connect, log in, LIST to find the \Junk folder, EXAMINE INBOX and
// the junk folder, UID SEARCH for the test id (both headers), UID FETCH the
// header block of the hits, LOGOUT. Checks that the message is in the right folder.

import { ImapFlow } from 'imapflow';
import fs from 'node:fs';
import path from 'node:path';

const args = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
};
const env = process.env;
const accountsWanted = Number(opt('accounts', '1000'));
const levels = opt('parallel', '4,16').split(',').map(Number);
const tls = args.includes('--tls');
const host = opt('host', env.MAILPIPE_TEST_IMAP_HOST || '127.0.0.1');
const port = Number(tls ? opt('port', env.MAILPIPE_TEST_IMAPS_PORT)
                        : opt('port', env.MAILPIPE_TEST_IMAP_PORT));
const prefix = opt('prefix', 'load');
const rounds = Number(opt('rounds', '1'));
const manifest = path.join(opt('mail-dir', env.MAILPIPE_TEST_IMAP_MAIL_DIR),
                           `${prefix}-manifest.tsv`);
const ca = tls ? fs.readFileSync(opt('ca', env.MAILPIPE_TEST_IMAP_CA)) : undefined;

const accounts = fs.readFileSync(manifest, 'utf8').trim().split('\n')
  .map((line) => {
    const [user, pass, testId, folder] = line.split('\t');
    return { user, pass, testId, folder };
  })
  .slice(0, accountsWanted);

async function pass(account) {
  const client = new ImapFlow({
    host, port, secure: tls, auth: { user: account.user, pass: account.pass },
    logger: false, tls: tls ? { ca } : undefined, doSTARTTLS: tls ? undefined : false,
    disableAutoIdle: true,
  });
  await client.connect();
  const boxes = await client.list();
  const junk = boxes.find((b) => b.specialUse === '\\Junk');
  const found = [];
  for (const folder of ['INBOX', ...(junk ? [junk.path] : [])]) {
    await client.mailboxOpen(folder, { readOnly: true }); // EXAMINE
    const uids = await client.search({
      or: [
        { header: { 'X-Mailpipe-Test-Id': account.testId } },
        { header: { 'X-Test-ID': account.testId } },
      ],
    }, { uid: true });
    if (uids && uids.length) {
      for await (const msg of client.fetch(uids, { uid: true, headers: true },
                                           { uid: true })) {
        if (msg.headers.toString().includes(account.testId))
          found.push(folder);
      }
    }
  }
  await client.logout();
  return found;
}

async function run(parallel) {
  let next = 0;
  let ok = 0;
  let wrong = 0;
  let failed = 0;
  let firstProblem = '';
  const latencies = [];
  const worker = async () => {
    while (next < accounts.length) {
      const account = accounts[next++];
      const t0 = performance.now();
      try {
        const found = await pass(account);
        if (found.length === 1 && found[0] === account.folder) ok++;
        else {
          wrong++;
          firstProblem ||= `${account.user}: expected ${account.folder}, found ${found}`;
        }
      } catch (err) {
        failed++;
        firstProblem ||= `${account.user}: ${err.message}`;
      }
      latencies.push(performance.now() - t0);
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: parallel }, worker));
  const seconds = (performance.now() - t0) / 1000;
  latencies.sort((a, b) => a - b);
  const pct = (p) => latencies[Math.floor(p * (latencies.length - 1))];
  console.log(`${'imapflow'.padEnd(12)} ${String(parallel).padStart(8)} ` +
              `${(accounts.length / seconds).toFixed(0).padStart(10)} ` +
              `${pct(0.5).toFixed(2).padStart(9)} ${pct(0.99).toFixed(2).padStart(9)} ` +
              `${String(wrong).padStart(6)} ${String(failed).padStart(6)}`);
  if (firstProblem) console.log(`  first problem: ${firstProblem}`);
  return wrong + failed;
}

console.log(`accounts: ${accounts.length} (${tls ? 'IMAPS' : 'plain IMAP'} ${host}:${port})`);
console.log(`${'mode'.padEnd(12)} ${'parallel'.padStart(8)} ${'accounts/s'.padStart(10)} ` +
            `${'p50 ms'.padStart(9)} ${'p99 ms'.padStart(9)} ${'wrong'.padStart(6)} ${'fail'.padStart(6)}`);
let problems = 0;
for (let r = 0; r < rounds; r++)
  for (const p of levels) problems += await run(p);
process.exit(problems ? 1 : 0);
