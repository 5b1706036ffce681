// Cold start of the action: `node dist/index.js` as a runner runs it, on a pull_request opened event (dry run: the
// first request is the same as in a real run, nothing is written), from spawning to the API server receiving its
// first request. Under it: Node alone (`node -e 0`), and the bundle loaded on no event (it decides "skip", exits).
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { summarize } from '../lib/audit.mjs';
import { harness, log, now, onStop } from '../lib/plane.mjs';
import { max, median, min, round } from '../lib/stats.mjs';

export const title = 'cold start of the action (node dist/index.js) to its first API request';

export async function run(ctx) {
  const { installWeb, payload, runAction, succeeded, ACTION } = await import('../../test/e2e/fixtures/action.ts');
  const { FakeGitHub } = await import('../../test/github/fake-github.ts');
  const reps = ctx.reps + 2;
  const { cluster, audit } = ctx;
  const ns = await cluster.namespace('bench-cold');
  await installWeb(cluster, ns);
  await harness.waitSettled(cluster, ns, 'web', 120_000);
  const identity = await cluster.identity([ns]);
  const kubeconfig = readFileSync(identity.kubeconfig, 'utf8');
  const TOKEN = 'ghs_benchColdStartToken0123456789abcdef';
  const fake = await FakeGitHub.start();
  onStop(() => fake.close());
  fake.addInstallationToken(TOKEN);
  const repo = { owner: 'acme', repo: 'shop', full: 'acme/shop' };
  const number = 4242;
  const head = 'a'.repeat(40);
  fake.seedPull({ owner: repo.owner, repo: repo.repo, number, headSha: head });
  log(`cold start of node dist/index.js: 1 warm-up + ${reps} runs (a pull_request opened event, dry run)`);
  const runs = [];
  for (let i = -1; i < reps; i++) {
    const mark = await audit.mark();
    const started = now();
    const r = succeeded(await runAction({
      event: 'pull_request',
      payload: payload('pull_request.opened', { repo: repo.full, number, sha: head }),
      repo: repo.full,
      githubUrl: fake.url,
      inputs: {
        'github-token': TOKEN, kubeconfig, 'lock-namespace': ns, namespace: ns, deployment: 'web',
        image: 'example.com/web:pr', 'dry-run': 'true',
      },
    }));
    rmSync(r.runnerTemp, { recursive: true, force: true });
    const s = summarize(await audit.since(mark, [identity.username]));
    if (!s.requests) throw new Error('the action sent no API request');
    if (i >= 0) runs.push({ toFirstRequestMs: round(s.firstRequestAt - started), totalMs: round(r.ms), requests: s.requests, userAgents: s.userAgents });
  }
  const bare = [];
  const load = [];
  const dir = join(cluster.tmp, 'load-only');
  mkdirSync(dir, { recursive: true });
  for (let i = 0; i < reps; i++) {
    // The same environment as the action's runs: a variable like NODE_EXTRA_CA_CERTS (set on some machines) makes
    // every Node start load a CA bundle, which would count in this floor and in none of the runs measured against it.
    let t0 = performance.now();
    execFileSync(process.execPath, ['-e', '0'], { env: { PATH: process.env.PATH } });
    bare.push(performance.now() - t0);
    writeFileSync(join(dir, 'out'), '');
    writeFileSync(join(dir, 'summary'), '');
    t0 = performance.now();
    execFileSync(process.execPath, [ACTION], {
      cwd: dir, stdio: 'ignore',
      env: { PATH: process.env.PATH, HOME: dir, RUNNER_TEMP: dir, GITHUB_OUTPUT: join(dir, 'out'), GITHUB_STEP_SUMMARY: join(dir, 'summary') },
    });
    load.push(performance.now() - t0);
  }
  return {
    toFirstRequestMs: round(median(runs.map((r) => r.toFirstRequestMs))),
    toFirstRequestMin: round(min(runs.map((r) => r.toFirstRequestMs))),
    toFirstRequestMax: round(max(runs.map((r) => r.toFirstRequestMs))),
    nodeBareMs: round(median(bare)),
    bundleLoadMs: round(median(load)),
    runs,
  };
}
