// What the action must NOT do, run as a runner runs it: open envs for forks, drafts or stale runs, touch the cluster
// on bad inputs, or leak a credential anywhere a person can read.
import { describe, expect, test } from 'vitest';
import { readdirSync, readFileSync } from 'node:fs';
import { useCluster } from '../harness/cluster.js';
import type { FakeGitHub } from '../github/fake-github.js';
import {
  botComments, clusterWrites, envObjects, installWeb, payload, prNumber, repoName, runAction, sha,
  succeeded, type ActionRun, type EventFixture,
  useFakeGitHub, NOT_WAITED,
} from './fixtures/action.js';

const cluster = useCluster();
const TOKEN = 'ghs_guardsTokenZYXWVU9876543210abcd';
let fake: FakeGitHub;
useFakeGitHub(TOKEN, (f) => (fake = f));

async function setup(o: { draft?: boolean } = {}) {
  const ns = await cluster.namespace('guard');
  await installWeb(cluster, ns);
  const id = await cluster.identity([ns]);
  const { owner, repo, full } = repoName();
  const number = prNumber();
  const head = sha();
  fake.seedPull({ owner, repo, number, headSha: head, draft: o.draft ?? false });
  const kubeconfig = readFileSync(id.kubeconfig, 'utf8');
  const pr = { owner, repo, full, number, head, env: `pr-${number}` };
  const run = (fixture: EventFixture, inputs: Record<string, string> = {}, extra: { sha?: string; env?: Record<string, string> } = {}) =>
    runAction({
      event: 'pull_request',
      payload: payload(fixture, { repo: full, number, sha: extra.sha ?? head }),
      repo: full,
      githubUrl: fake.url,
      inputs: { 'github-token': TOKEN, kubeconfig, 'lock-namespace': ns, namespace: ns, deployment: 'web', image: 'example.com/web:pr', wait: 'false', ...inputs },
      ...(extra.env ? { env: extra.env } : {}),
    });
  return { ns, id, pr, kubeconfig, run };
}

const requestsSince = (n: number) => fake.requests.slice(n);

describe('skipped events', () => {
  test('fork PR: skipped with a notice, state=skipped, zero requests to the cluster and to GitHub', async () => {
    const { ns, id, pr, run } = await setup();
    const before = fake.requests.length;
    const opened = succeeded(await run('pull_request.opened.fork'));
    expect(opened.stdout).toMatch(new RegExp(`^::notice::dynamic-env: skipped: pull request #${pr.number} comes from a fork \\(mallory/shop\\)`, 'm'));
    expect(opened.outputs).toMatchObject({ env: pr.env, state: 'skipped', 'comment-id': '' });
    expect(opened.summary).toMatch(new RegExp(`^### ⏭️ Dynamic environment \`${pr.env}\`: skipped\n\nSkipped: pull request \#\u200b${pr.number} comes from a fork`));

    // Its close is skipped as well: forks never get an env, and their runs have no kubeconfig.
    const closedPayload = payload('pull_request.opened.fork', { repo: pr.full, number: pr.number, sha: pr.head });
    Object.assign(closedPayload, { action: 'closed' });
    closedPayload.pull_request.state = 'closed';
    const closed = succeeded(await runAction({
      event: 'pull_request', payload: closedPayload, repo: pr.full, githubUrl: fake.url, inputs: { 'github-token': TOKEN, kubeconfig: '' },
    }));
    expect(closed.outputs.state).toBe('skipped');

    expect(cluster.audit({ username: id.username })).toEqual([]);
    expect(requestsSince(before)).toEqual([]);
    expect((await envObjects(cluster, ns, pr.env)).deployments).toEqual([]);
  });

  test('draft PR with skip-drafts: skipped; without skip-drafts it opens', async () => {
    const { ns, id, pr, run } = await setup({ draft: true });
    const skipped = succeeded(await run('pull_request.opened.draft', { 'skip-drafts': 'true' }));
    expect(skipped.outputs.state).toBe('skipped');
    expect(skipped.stdout).toContain(`skipped: pull request #${pr.number} is a draft (skip-drafts is on)`);
    expect(cluster.audit({ username: id.username })).toEqual([]);
    expect(botComments(fake, pr.full, pr.number)).toEqual([]);

    const opened = succeeded(await run('pull_request.opened.draft'));
    expect(opened.outputs.state).toMatch(NOT_WAITED); // wait: false
    expect(cluster.audit({ username: id.username }).length).toBeGreaterThan(0); // the audit log does see this identity
    expect((await envObjects(cluster, ns, pr.env)).deployments).toHaveLength(1);
  });
});

describe('freshness guard', () => {
  test('an opened run for a PR that has a newer head does not create the env', async () => {
    const { ns, id, pr, run } = await setup();
    fake.updatePull(pr.owner, pr.repo, pr.number, { headSha: sha() });
    const r = succeeded(await run('pull_request.opened'));
    expect(r.outputs).toMatchObject({ env: pr.env, state: 'skipped' });
    expect(r.stdout).toContain(`has a newer head than ${pr.head.slice(0, 12)}`);
    expect(clusterWrites(cluster, id.username)).toEqual([]);
    expect((await envObjects(cluster, ns, pr.env)).deployments).toEqual([]);
    expect(botComments(fake, pr.full, pr.number)).toEqual([]);
  });

  test('an opened run for a PR closed meanwhile creates nothing and does not comment', async () => {
    const { ns, id, pr, run } = await setup();
    fake.updatePull(pr.owner, pr.repo, pr.number, { state: 'closed' });
    const r = succeeded(await run('pull_request.opened'));
    expect(r.outputs).toMatchObject({ env: pr.env, state: 'absent' });
    expect(clusterWrites(cluster, id.username)).toEqual([]);
    expect((await envObjects(cluster, ns, pr.env)).deployments).toEqual([]);
    expect(botComments(fake, pr.full, pr.number)).toEqual([]);
  });

  test('a queued opened run for a PR merged meanwhile closes the env it finds, and says so', async () => {
    const { ns, pr, run } = await setup();
    succeeded(await run('pull_request.opened'));
    expect((await envObjects(cluster, ns, pr.env)).deployments).toHaveLength(1);
    fake.updatePull(pr.owner, pr.repo, pr.number, { state: 'closed', merged: true });
    const r = succeeded(await run('pull_request.synchronize'));
    expect(r.outputs).toMatchObject({ env: pr.env, state: 'closed' });
    expect(await envObjects(cluster, ns, pr.env)).toEqual({ deployments: [], destinationRules: [], routes: [] });
    const comments = botComments(fake, pr.full, pr.number);
    expect(comments).toHaveLength(1);
    expect(comments[0]!.body).toContain('torn down');
    expect(comments[0]!.body).toContain('because the pull request was merged');
  });

  test('closing a PR that never had an env writes nothing and does not comment', async () => {
    const { id, pr, run } = await setup();
    fake.updatePull(pr.owner, pr.repo, pr.number, { state: 'closed' });
    const r = succeeded(await run('pull_request.closed.unmerged', { label: 'preview' }));
    expect(r.outputs).toMatchObject({ env: pr.env, state: 'absent', 'comment-id': '' });
    expect(clusterWrites(cluster, id.username)).toEqual([]);
    expect(botComments(fake, pr.full, pr.number)).toEqual([]);
  });
});

describe('dry run', () => {
  test('open and close in dry-run: the plan in the job summary only; no cluster write, no comment, no deployment', async () => {
    const { ns, id, pr, run } = await setup();
    const dry = { 'dry-run': 'true', 'github-deployment': 'true' };
    const opened = succeeded(await run('pull_request.opened', dry));
    expect(opened.summary).toMatch(/^> \*\*Dry run\*\*: nothing was written to the cluster/);
    expect(opened.summary).toContain(`| service | ${ns} | web |`);
    expect(opened.outputs).toMatchObject({ env: pr.env, 'comment-id': '', 'deployment-id': '' });
    fake.updatePull(pr.owner, pr.repo, pr.number, { state: 'closed' });
    const closed = succeeded(await run('pull_request.closed.unmerged', dry));
    expect(closed.summary).toMatch(/^> \*\*Dry run\*\*/);
    expect(clusterWrites(cluster, id.username)).toEqual([]);
    expect(await cluster.list('Lease', ns)).toEqual([]);
    expect(botComments(fake, pr.full, pr.number)).toEqual([]);
    expect(fake.deployments(pr.owner, pr.repo)).toEqual([]);
  });
});

describe('bad inputs', () => {
  const expectUsage = (r: ActionRun, input: string) => {
    expect(r.code, r.stdout + r.stderr).toBe(2);
    expect(r.stdout).toMatch(new RegExp(`^::error::.*input "${input}"`, 'm'));
  };

  test('timeout: banana, garbage kubeconfig, unknown context, broken env-name: exit 2 naming the input, nothing written', async () => {
    const { ns, id, pr, run } = await setup();
    const before = fake.requests.length;
    const banana = await run('pull_request.opened', { timeout: 'banana' });
    expectUsage(banana, 'timeout');
    expect(banana.stdout).toContain('got "banana"');
    expect(banana.outputs).toMatchObject({ state: 'failed', env: '' }); // later steps can still branch on it

    expectUsage(await run('pull_request.opened', { kubeconfig: 'certainly not a kubeconfig' }), 'kubeconfig');
    expectUsage(await run('pull_request.opened', { kubeconfig: 'apiVersion: v1\nclusters: [\n' }), 'kubeconfig');
    expectUsage(await run('pull_request.opened', { context: 'nope' }), 'context');
    expectUsage(await run('pull_request.opened', { 'env-name': 'PR {pr}' }), 'env-name');
    expectUsage(await run('pull_request.opened', { deployment: '', image: '' }), 'namespace');

    expect(cluster.audit({ username: id.username })).toEqual([]);
    expect(requestsSince(before).filter((r) => r.method !== 'GET')).toEqual([]);
    expect((await envObjects(cluster, ns, pr.env)).deployments).toEqual([]);
  });
});

describe('no kubeconfig', () => {
  test('an empty kubeconfig input without $KUBECONFIG: exit 2 in the workflow\'s words (the secret, forks, Dependabot), nothing written', async () => {
    const { id, run } = await setup();
    const r = await run('pull_request.opened', { kubeconfig: '' });
    expect(r.code, r.stdout + r.stderr).toBe(2);
    const error = r.stdout.split('\n').find((l) => l.startsWith('::error::'))!;
    expect(error).toContain('input "kubeconfig" is empty and $KUBECONFIG is not set');
    expect(error).toContain('secret KUBECONFIG is not set');
    expect(error).toMatch(/forks and from Dependabot/);
    expect(error).not.toContain('--kubeconfig');
    expect(r.outputs.state).toBe('failed');
    expect(r.summary).toMatch(/### ❌ dynamic-env failed \(exit 2\)\n\nThe inputs or the config are wrong; nothing was written to the cluster\.\n\n- input "kubeconfig" is empty/);
    expect(clusterWrites(cluster, id.username)).toEqual([]);
  });
});

describe('secrets', () => {
  test('no credential in the log, GITHUB_OUTPUT, the job summary or any comment; both are masked', async () => {
    const { ns, pr, kubeconfig, run } = await setup();
    const kubeToken = /^\s*token:\s*(\S+)/m.exec(kubeconfig)![1]!;
    const b64 = Buffer.from(kubeconfig).toString('base64');
    const secrets = { github: TOKEN, kube: kubeToken, kubeconfigB64: b64 };

    const runs = [
      succeeded(await run('pull_request.opened', { kubeconfig: b64, 'github-deployment': 'true' })),
      // A failing run on a cluster fact: the Deployment to clone does not exist. (A lock namespace the identity may not
      // write no longer fails: the env's own recorded lock namespace wins.)
      await run('pull_request.synchronize', { deployment: 'missing' }),
      await run('pull_request.opened', { context: 'nope' }),
    ];
    expect(runs.map((r) => r.code)).toEqual([0, 1, 2]);
    expect(runs.map((r) => r.outputs.state)).toEqual([expect.stringMatching(NOT_WAITED), 'failed', 'failed']);
    fake.updatePull(pr.owner, pr.repo, pr.number, { state: 'closed' });
    runs.push(succeeded(await run('pull_request.closed.unmerged')));
    expect((await envObjects(cluster, ns, pr.env)).deployments).toEqual([]);

    for (const r of runs) {
      // What the runner would show has the masks applied; what the action printed itself (add-mask commands
      // aside) must not contain a credential even before masking.
      const printed = r.stdout.split('\n').filter((l) => !l.startsWith('::add-mask::')).join('\n');
      for (const [name, value] of Object.entries(secrets)) {
        for (const [where, text] of Object.entries({ stdout: printed, stderr: r.stderr, log: r.log, outputs: r.outputFile, summary: r.summary })) {
          expect(text.includes(value), `${name} in ${where}`).toBe(false);
        }
      }
      expect(r.masks).toContain(TOKEN);
      // The kubeconfig file the action wrote (0600, under RUNNER_TEMP) is gone when it ends, even after a failure.
      expect(readdirSync(r.runnerTemp).filter((n) => n.startsWith('dynamic-env-'))).toEqual([]);
    }
    expect(runs[0]!.masks).toEqual(expect.arrayContaining([kubeToken, b64.trim()]));
    expect(runs[3]!.masks).toContain(kubeToken);
    const comments = botComments(fake, pr.full, pr.number);
    expect(comments).toHaveLength(1);
    const [owner, repo] = pr.full.split('/') as [string, string];
    const texts = [
      ...fake.comments(owner, repo, pr.number).map((c) => c.body),
      ...fake.deployments(owner, repo).flatMap((d) => [JSON.stringify(d)]),
      ...fake.requests.map((q) => JSON.stringify(q.body ?? '')),
    ];
    for (const text of texts) for (const [name, value] of Object.entries(secrets)) expect(text.includes(value), `${name} sent to GitHub`).toBe(false);
  });
});
