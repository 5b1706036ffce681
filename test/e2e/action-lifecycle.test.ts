// The action as a runner runs it (node dist/index.js, INPUT_* and GITHUB_* variables, payload file, output and
// summary files) against the real control plane and the GitHub stand-in: a PR's env from opened to closed.
import { describe, expect, test } from 'vitest';
import { readFileSync } from 'node:fs';
import { parse, stringify } from 'yaml';
import { request, useCluster, waitFor } from '../harness/cluster.js';
import type { FakeGitHub } from '../github/fake-github.js';
import {
  botComments, envObjects, installWeb, payload, prNumber, repoName, runAction, sha, succeeded, tmp,
  type EventFixture,
  useFakeGitHub, NOT_WAITED,
} from './fixtures/action.js';

const cluster = useCluster();
const TOKEN = 'ghs_lifecycleTokenABCDEF0123456789';
let fake: FakeGitHub;
useFakeGitHub(TOKEN, (f) => (fake = f));

/** A namespace with the app, an identity writing only there, a repo and a PR seeded open in the stand-in. */
async function setup(o: { labels?: string[] } = {}) {
  const ns = await cluster.namespace('act');
  await installWeb(cluster, ns);
  const id = await cluster.identity([ns]);
  const { owner, repo, full } = repoName();
  const number = prNumber();
  const head = sha();
  fake.seedPull({ owner, repo, number, headSha: head, labels: o.labels ?? [] });
  const env = `pr-${number}`;
  const kubeconfig = readFileSync(id.kubeconfig, 'utf8');
  const pr = { owner, repo, full, number, head, env };
  const run = (fixture: EventFixture, inputs: Record<string, string> = {}, extra: { sha?: string; env?: Record<string, string>; labels?: string[] } = {}) =>
    runAction({
      event: 'pull_request',
      payload: payload(fixture, { repo: full, number, sha: extra.sha ?? pr.head, ...(extra.labels ? { labels: extra.labels } : {}) }),
      repo: full,
      githubUrl: fake.url,
      inputs: {
        'github-token': TOKEN, kubeconfig, 'lock-namespace': ns,
        namespace: ns, deployment: 'web', image: `example.com/web:${(extra.sha ?? pr.head).slice(0, 7)}`,
        ...inputs,
      },
      ...(extra.env ? { env: extra.env } : {}),
    });
  return { ns, id, pr, kubeconfig, run };
}

describe('a PR from opened to closed', () => {
  test('opened: env ready, one sticky comment with header, curl and table, outputs and job summary', async () => {
    const { ns, pr, run } = await setup();
    const r = succeeded(await run('pull_request.opened', { timeout: '60s' }));

    // Outputs, parsed from the GITHUB_OUTPUT file (name<<delimiter blocks).
    expect(r.outputFile).toMatch(/^env<<ghadelimiter_[0-9a-f-]+\n/);
    const comments = botComments(fake, pr.full, pr.number);
    expect(comments).toHaveLength(1);
    expect(r.outputs).toMatchObject({
      env: pr.env, state: 'ready', header: 'x-override', 'header-value': pr.env, 'comment-id': String(comments[0]!.id), 'deployment-id': '',
    });
    expect(JSON.parse(r.outputs.resources!)).toEqual({
      clones: [{ namespace: ns, name: `web-${pr.env}` }],
      destinationRules: [{ namespace: ns, name: `dynamic-env-${pr.env}-web` }],
      virtualServices: [{ namespace: ns, name: 'dynamic-env-web' }],
    });

    // The cluster.
    const objs = await envObjects(cluster, ns, pr.env);
    expect(objs.deployments.map((d) => d.metadata.name)).toEqual([`web-${pr.env}`]);
    expect(objs.deployments[0].spec.template.spec.containers[0].image).toBe(`example.com/web:${pr.head.slice(0, 7)}`);
    expect(objs.deployments[0].metadata.labels).toMatchObject({ 'dynamic-env.io/pr': String(pr.number) });
    expect(objs.deployments[0].metadata.annotations).toMatchObject({ 'dynamic-env.io/repo': pr.full, 'dynamic-env.io/commit': pr.head });
    expect(objs.destinationRules).toHaveLength(1);
    expect(objs.routes).toEqual([`dynamic-env/${pr.env}/baseline`]);

    // The comment: marker, title, header, curl, table; the job summary shows the same report.
    const body = comments[0]!.body;
    expect(body.startsWith(`<!-- dynamic-env:${pr.env} -->\n### 🟢 Dynamic environment \`${pr.env}\`: ready`)).toBe(true);
    expect(body).toContain(`\`x-override: ${pr.env}\``);
    expect(body).toContain(`curl -i -H 'x-override: ${pr.env}' http://web.${ns}.svc.cluster.local/`);
    expect(body).toContain(`baggage: override=${pr.env}`);
    expect(body).toContain('| Role | Namespace | Deployment | Image | Clone | Ready | State |');
    expect(body).toContain(`| service | ${ns} | web | \`example.com/web:${pr.head.slice(0, 7)}\` | web-${pr.env} | 1/1 | 🟢 ready |`);
    expect(body).toContain(`Commit [\`${pr.head.slice(0, 7)}\`](https://github.com/${pr.full}/commit/${pr.head})`);
    expect(body).toMatch(/\[run\]\(https:\/\/github\.com\/acme\/shop-[0-9a-f]+\/actions\/runs\/\d+\)/);
    expect(body).toMatch(/<!-- dynamic-env-state \{"sha":"[0-9a-f]{40}","runId":\d+,"runAttempt":1,/);
    expect(r.summary).toContain(`### 🟢 Dynamic environment \`${pr.env}\`: ready`);
    expect(r.summary).toContain(`curl -i -H 'x-override: ${pr.env}'`);

    // command: status from a workflow_dispatch run describes the same env from the cluster alone.
    const status = succeeded(await runAction({
      event: 'workflow_dispatch', payload: { inputs: {}, ref: 'refs/heads/main' }, repo: pr.full, githubUrl: fake.url,
      inputs: { command: 'status', 'env-name': pr.env, kubeconfig: readFileSync((await cluster.identity([ns])).kubeconfig, 'utf8') },
    }));
    expect(status.outputs).toMatchObject({ env: pr.env, state: 'ready', header: 'x-override', 'header-value': pr.env });
    expect(JSON.parse(status.outputs.resources!)).toEqual(JSON.parse(r.outputs.resources!));
    expect(status.summary).toContain(`### 🟢 Dynamic environment \`${pr.env}\`: ready`);
  });

  test('synchronize with a new image: the same comment is updated, the clone gets the image', async () => {
    const { ns, pr, run } = await setup();
    const first = succeeded(await run('pull_request.opened', { wait: 'false' }));
    const id = first.outputs['comment-id'];
    const next = sha();
    fake.updatePull(pr.owner, pr.repo, pr.number, { headSha: next });
    const second = succeeded(await run('pull_request.synchronize', { wait: 'false' }, { sha: next }));

    expect(second.outputs['comment-id']).toBe(id);
    const comments = botComments(fake, pr.full, pr.number);
    expect(comments.map((c) => String(c.id))).toEqual([id]);
    expect(comments[0]!.body).toContain(`example.com/web:${next.slice(0, 7)}`);
    expect(comments[0]!.body).toContain(`Commit [\`${next.slice(0, 7)}\`]`);
    const objs = await envObjects(cluster, ns, pr.env);
    expect(objs.deployments).toHaveLength(1);
    expect(objs.deployments[0].spec.template.spec.containers[0].image).toBe(`example.com/web:${next.slice(0, 7)}`);
    expect(objs.deployments[0].metadata.annotations['dynamic-env.io/commit']).toBe(next);
  });

  for (const [fixture, why] of [
    ['pull_request.closed.merged', 'the pull request was merged'],
    ['pull_request.closed.unmerged', 'the pull request was closed without merging'],
  ] as const) {
    test(`${fixture.replace('pull_request.', '')}: env removed, comment says torn down and why`, async () => {
      const { ns, pr, run } = await setup();
      succeeded(await run('pull_request.opened', { wait: 'false' }));
      fake.updatePull(pr.owner, pr.repo, pr.number, { state: 'closed', merged: fixture.endsWith('.merged') });
      const r = succeeded(await run(fixture));

      expect(r.outputs).toMatchObject({ env: pr.env, state: 'closed' });
      expect(await envObjects(cluster, ns, pr.env)).toEqual({ deployments: [], destinationRules: [], routes: [] });
      expect(await cluster.getOrNull('VirtualService', ns, 'dynamic-env-web')).toBeNull();
      expect(await cluster.list('Lease', ns)).toEqual([]);
      const comments = botComments(fake, pr.full, pr.number);
      expect(comments).toHaveLength(1);
      expect(String(comments[0]!.id)).toBe(r.outputs['comment-id']);
      expect(comments[0]!.body).toContain(`Dynamic environment \`${pr.env}\`: closed`);
      expect(comments[0]!.body).toContain(`torn down`);
      expect(comments[0]!.body).toContain(`because ${why}`);
      expect(comments[0]!.body).toContain(`1 clone: \`${ns}/web-${pr.env}\``);
      expect(r.summary).toContain(`because ${why}`);
    });
  }

  test('labeled with the gate label opens, unlabeled closes; other labels change nothing', async () => {
    const { ns, pr, run } = await setup();
    const gate = { label: 'preview', wait: 'false' };
    // opened without the label: skipped, nothing in the cluster
    const skipped = succeeded(await run('pull_request.opened', gate));
    expect(skipped.outputs.state).toBe('skipped');
    expect(skipped.stdout).toContain(`::notice::dynamic-env: skipped: pull request #${pr.number} does not carry the gate label "preview"`);
    expect((await envObjects(cluster, ns, pr.env)).deployments).toEqual([]);

    fake.updatePull(pr.owner, pr.repo, pr.number, { labels: ['preview'] });
    const opened = succeeded(await run('pull_request.labeled', gate, { labels: ['preview'] }));
    expect(opened.outputs.state).toMatch(NOT_WAITED); // wait: false
    expect((await envObjects(cluster, ns, pr.env)).deployments).toHaveLength(1);

    // a label that is not the gate
    const other = payload('pull_request.unlabeled', { repo: pr.full, number: pr.number, sha: pr.head, labels: ['preview'] });
    other.label.name = 'bug';
    const ignored = succeeded(await runAction({
      event: 'pull_request', payload: other, repo: pr.full, githubUrl: fake.url,
      inputs: { 'github-token': TOKEN, kubeconfig: 'unused', ...gate },
    }));
    expect(ignored.outputs.state).toBe('skipped');
    expect((await envObjects(cluster, ns, pr.env)).deployments).toHaveLength(1);

    fake.updatePull(pr.owner, pr.repo, pr.number, { labels: [] });
    const closed = succeeded(await run('pull_request.unlabeled', gate, { labels: [] }));
    expect(closed.outputs.state).toBe('closed');
    expect(await envObjects(cluster, ns, pr.env)).toEqual({ deployments: [], destinationRules: [], routes: [] });
    const comments = botComments(fake, pr.full, pr.number);
    expect(comments).toHaveLength(1);
    expect(comments[0]!.body).toContain('because the gate label was removed from the pull request');
  });
});

describe('drafts', () => {
  test('converted_to_draft closes the env under skip-drafts, and says why', async () => {
    const { ns, pr, run } = await setup();
    const inputs = { 'skip-drafts': 'true', wait: 'false' };
    succeeded(await run('pull_request.opened', inputs));
    expect((await envObjects(cluster, ns, pr.env)).deployments).toHaveLength(1);
    fake.updatePull(pr.owner, pr.repo, pr.number, { draft: true });
    const r = succeeded(await run('pull_request.converted_to_draft', inputs));
    expect(r.outputs).toMatchObject({ env: pr.env, state: 'closed' });
    expect(await envObjects(cluster, ns, pr.env)).toEqual({ deployments: [], destinationRules: [], routes: [] });
    const comments = botComments(fake, pr.full, pr.number);
    expect(comments).toHaveLength(1);
    expect(comments[0]!.body).toContain('because the pull request was converted to a draft (skip-drafts is on)');
  });
});

describe('kubeconfig and config file', () => {
  test('kubeconfig as base64, as JSON, and through $KUBECONFIG without the input; the config file\'s lockNamespace applies', async () => {
    const { ns, id, pr, kubeconfig, run } = await setup();
    const b64 = succeeded(await run('pull_request.opened', { wait: 'false', kubeconfig: Buffer.from(kubeconfig).toString('base64') }));
    expect(b64.outputs.state).toMatch(NOT_WAITED); // wait: false
    expect((await envObjects(cluster, ns, pr.env)).deployments).toHaveLength(1);

    // A config file instead of the shorthand; its lockNamespace (the identity may not write Leases in "default")
    // and timeout apply because no input overrides them.
    const config = tmp(cluster, 'dynamic-env.yaml', stringify({
      lockNamespace: ns, timeout: '60s', services: [{ namespace: ns, deployment: 'web', image: 'example.com/web:from-config' }],
    }));
    const next = sha();
    fake.updatePull(pr.owner, pr.repo, pr.number, { headSha: next });
    const json = succeeded(await run('pull_request.synchronize', {
      kubeconfig: JSON.stringify(parse(kubeconfig)), config, 'lock-namespace': '', namespace: '', deployment: '', image: '',
    }, { sha: next }));
    expect(json.outputs.state).toBe('ready');
    const objs = await envObjects(cluster, ns, pr.env);
    expect(objs.deployments[0].spec.template.spec.containers[0].image).toBe('example.com/web:from-config');
    expect(cluster.writes(id.username).filter((e) => e.objectRef?.resource === 'leases').every((e) => e.objectRef?.namespace === ns)).toBe(true);

    fake.updatePull(pr.owner, pr.repo, pr.number, { state: 'closed' });
    const path = tmp(cluster, 'kubeconfig', kubeconfig);
    const viaEnv = succeeded(await run('pull_request.closed.unmerged', { kubeconfig: '', config, 'lock-namespace': '' }, { env: { KUBECONFIG: path }, sha: next }));
    expect(viaEnv.outputs.state).toBe('closed');
    expect((await envObjects(cluster, ns, pr.env)).deployments).toEqual([]);
    expect(await cluster.list('Lease', ns)).toEqual([]);
  });
});

describe('GitHub Deployment', () => {
  test('a clone that cannot start: exit 1, state failed, the comment says why, no routes, deployment failure', async () => {
    const { ns, pr, run } = await setup();
    // The original's Pod is running; a quota of one Pod leaves none for the clone (FailedCreate, ReplicaFailure).
    const quotas = `/api/v1/namespaces/${ns}/resourcequotas`;
    await request(cluster.admin, 'POST', quotas, { apiVersion: 'v1', kind: 'ResourceQuota', metadata: { name: 'one-pod', namespace: ns }, spec: { hard: { pods: '1' } } });
    await waitFor('quota counts the running Pod', 30_000, async () => (await request(cluster.admin, 'GET', `${quotas}/one-pod`)).status?.used?.pods === '1');
    const r = await run('pull_request.opened', { 'github-deployment': 'true', timeout: '60s' });
    expect(r.code, r.stdout).toBe(1);
    expect(r.outputs).toMatchObject({ env: pr.env, state: 'failed' });
    expect(r.stdout).toMatch(new RegExp(`^::error::.*env ${pr.env} is failed`, 'm'));
    const body = botComments(fake, pr.full, pr.number)[0]!.body;
    expect(body).toContain(`Dynamic environment \`${pr.env}\`: failed`);
    expect(body).toContain('The environment failed to start');
    expect(body).not.toContain('curl'); // it has no routes: nothing to reach
    expect(body).toMatch(/\*\*Not ready\*\*\n\n- 🔴 `[^`]+` \(failed\): .*quota/);
    expect((await envObjects(cluster, ns, pr.env)).routes).toEqual([]);
    const [d] = fake.deployments(pr.owner, pr.repo);
    expect(d!.statuses.map((s) => s.state)).toEqual(['in_progress', 'failure']);
    expect(r.outputs['deployment-id']).toBe(String(d!.id));
  });

  test('created for the head SHA, in_progress then success; the previous push\'s goes inactive; close marks all inactive, then deletes them', async () => {
    const { pr, run } = await setup();
    const inputs = { wait: 'false', 'github-deployment': 'true', 'environment-url': 'https://{env}.preview.example.com/' };
    const first = succeeded(await run('pull_request.opened', inputs));
    let deployments = fake.deployments(pr.owner, pr.repo);
    expect(deployments).toHaveLength(1);
    const d1 = deployments[0]!;
    expect(first.outputs['deployment-id']).toBe(String(d1.id));
    expect(d1).toMatchObject({ sha: pr.head, ref: pr.head, environment: pr.env, transient: true, production: false, autoMerge: false, requiredContexts: [] });
    expect(d1.statuses.map((s) => s.state)).toEqual(['in_progress', 'success']);
    expect(d1.statuses[1]!.environmentUrl).toBe(`https://${pr.env}.preview.example.com/`);
    expect(d1.statuses[1]!.logUrl).toMatch(/^https:\/\/github\.com\/acme\/shop-[0-9a-f]+\/actions\/runs\/\d+$/);

    const next = sha();
    fake.updatePull(pr.owner, pr.repo, pr.number, { headSha: next });
    const second = succeeded(await run('pull_request.synchronize', inputs, { sha: next }));
    deployments = fake.deployments(pr.owner, pr.repo);
    expect(deployments).toHaveLength(2);
    const d2 = deployments.find((d) => d.sha === next)!;
    expect(second.outputs['deployment-id']).toBe(String(d2.id));
    expect(d2.statuses.map((s) => s.state)).toEqual(['in_progress', 'success']);
    expect(deployments.find((d) => d.id === d1.id)!.statuses.map((s) => s.state)).toEqual(['in_progress', 'success', 'inactive']);

    fake.updatePull(pr.owner, pr.repo, pr.number, { state: 'closed', merged: true });
    const before = fake.requests.length;
    const closed = succeeded(await run('pull_request.closed.merged', inputs, { sha: next }));
    expect(fake.deployments(pr.owner, pr.repo)).toEqual([]);
    // The one still active was marked inactive before its DELETE (GitHub refuses to delete an active one, 422).
    const writes = fake.requests.slice(before)
      .filter((q) => q.operationId === 'repos/create-deployment-status' || q.operationId === 'repos/delete-deployment')
      .map((q) => `${q.operationId} ${q.path.split('/')[5]} ${(q.body as { state?: string } | undefined)?.state ?? ''} ${q.status}`.replace('  ', ' '));
    expect(writes).toEqual([
      `repos/create-deployment-status ${d2.id} inactive 201`,
      `repos/delete-deployment ${d2.id} 204`,
      `repos/delete-deployment ${d1.id} 204`,
    ]);
    expect(closed.stdout).toContain(`GitHub deployments of ${pr.env}: 2 deleted`);
  });
});

describe('images per pull request', () => {
  test('the images input with {sha}: the clone runs the event\'s head commit; a push moves it and the updated-at stamp on', async () => {
    const { ns, pr, run } = await setup();
    // No config file and no shorthand: one images line names the Deployment (with its namespace) and its image.
    const inputs = { wait: 'false', namespace: '', deployment: '', image: '', images: `${ns}/web=example.com/web:{sha}\n` };
    succeeded(await run('pull_request.opened', inputs));
    const first = (await envObjects(cluster, ns, pr.env)).deployments[0];
    expect(first.spec.template.spec.containers[0].image).toBe(`example.com/web:${pr.head}`);
    const stamped = first.metadata.annotations['dynamic-env.io/updated-at'];
    expect(Date.parse(stamped)).toBeGreaterThan(Date.now() - 120_000);

    const next = sha();
    fake.updatePull(pr.owner, pr.repo, pr.number, { headSha: next });
    succeeded(await run('pull_request.synchronize', inputs, { sha: next }));
    const pushed = (await envObjects(cluster, ns, pr.env)).deployments[0];
    expect(pushed.spec.template.spec.containers[0].image).toBe(`example.com/web:${next}`);
    expect(Date.parse(pushed.metadata.annotations['dynamic-env.io/updated-at'])).toBeGreaterThan(Date.parse(stamped));
    expect(pushed.metadata.annotations['dynamic-env.io/opened-at']).toBe(first.metadata.annotations['dynamic-env.io/opened-at']);

    fake.updatePull(pr.owner, pr.repo, pr.number, { state: 'closed' });
    expect(succeeded(await run('pull_request.closed.unmerged', inputs, { sha: next })).outputs.state).toBe('closed');
  });
});
