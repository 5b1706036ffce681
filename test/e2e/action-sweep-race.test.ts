// The scheduled sweep and racing runs, as a runner runs the action: the sweep reclaims the envs of this repository
// whose PR is closed (and, with a ttl, the old ones) and keeps everything else; concurrent runs for one PR leave one
// env and one comment.
import { describe, expect, test } from 'vitest';
import { readFileSync } from 'node:fs';
import { useCluster } from '../harness/cluster.js';
import type { FakeGitHub } from '../github/fake-github.js';
import { parseCommentState } from '../../src/github/comment.js';
import {
  botComments, envObjects, installWeb, payload, prNumber, repoName, runAction, sha, succeeded,
  useFakeGitHub,
} from './fixtures/action.js';

const cluster = useCluster();
const TOKEN = 'ghs_sweepRaceToken0123456789ABCDEF';
let fake: FakeGitHub;
useFakeGitHub(TOKEN, (f) => (fake = f));

async function setup() {
  const ns = await cluster.namespace('sweep');
  await installWeb(cluster, ns);
  const id = await cluster.identity([ns]);
  const kubeconfig = readFileSync(id.kubeconfig, 'utf8');
  const common = { 'github-token': TOKEN, kubeconfig, 'lock-namespace': ns };
  /** A PR of `repo`, seeded open, and its env opened by an `opened` run. */
  const openPr = async (repo: ReturnType<typeof repoName>, inputs: Record<string, string> = {}) => {
    const number = prNumber();
    const head = sha();
    fake.seedPull({ owner: repo.owner, repo: repo.repo, number, headSha: head });
    succeeded(await runAction({
      event: 'pull_request', payload: payload('pull_request.opened', { repo: repo.full, number, sha: head }), repo: repo.full, githubUrl: fake.url,
      inputs: { ...common, namespace: ns, deployment: 'web', image: 'example.com/web:pr', wait: 'false', ...inputs },
    }));
    return { ...repo, number, head, env: `pr-${number}` };
  };
  const sweep = (repo: ReturnType<typeof repoName>, inputs: Record<string, string> = {}) => runAction({
    event: 'schedule', payload: payload('schedule'), repo: repo.full, githubUrl: fake.url, inputs: { ...common, ...inputs },
  });
  return { ns, id, openPr, sweep, kubeconfig };
}

describe('schedule: sweep', () => {
  test('closes the envs whose PR is closed or merged; keeps open PRs and other repositories; ttl reclaims old ones', async () => {
    const { ns, openPr, sweep } = await setup();
    const mine = repoName();
    const other = repoName();
    const withDeployment = { 'github-deployment': 'true' };
    const open = await openPr(mine);
    const closed = await openPr(mine, withDeployment);
    const merged = await openPr(mine);
    const foreign = await openPr(other);
    fake.updatePull(mine.owner, mine.repo, closed.number, { state: 'closed' });
    fake.updatePull(mine.owner, mine.repo, merged.number, { state: 'closed', merged: true });
    fake.updatePull(other.owner, other.repo, foreign.number, { state: 'closed' }); // not ours to sweep

    const r = succeeded(await sweep(mine, withDeployment));
    expect(r.outputs).toMatchObject({ env: '', state: 'swept', header: '', 'comment-id': '' });
    const resources = JSON.parse(r.outputs.resources!);
    expect(resources.reclaimed.sort()).toEqual([closed.env, merged.env].sort());
    expect(resources.kept).toEqual(expect.arrayContaining([open.env, foreign.env]));
    // (`#` is followed by a zero-width space in the summary so it never links an issue.)
    const summary = r.summary.replaceAll('#\u200b', '#');
    expect(summary).toMatch(/^### Dynamic environments: sweep\n\n\| Env \| Result \| Why \|\n/);
    expect(summary).toContain(`| ${closed.env} | closed | pull request #${closed.number} is closed |`);
    expect(summary).toContain(`| ${merged.env} | closed | pull request #${merged.number} is merged |`);
    expect(summary).toContain(`| ${open.env} | kept | pull request #${open.number} is open |`);
    expect(summary).toContain(`| ${foreign.env} | kept | belongs to ${other.full} |`);

    for (const gone of [closed, merged]) {
      expect(await envObjects(cluster, ns, gone.env)).toEqual({ deployments: [], destinationRules: [], routes: [] });
      const comments = botComments(fake, mine.full, gone.number);
      expect(comments).toHaveLength(1);
      expect(comments[0]!.body).toContain(`Dynamic environment \`${gone.env}\`: closed`);
      expect(comments[0]!.body).toContain('because the sweep found it stale');
    }
    for (const kept of [open, foreign]) expect((await envObjects(cluster, ns, kept.env)).deployments).toHaveLength(1);
    expect(botComments(fake, mine.full, open.number)[0]!.body).toMatch(/: (progressing|ready)\n/); // wait: false
    // The swept env's deployment record: marked inactive, then deleted.
    expect(fake.deployments(mine.owner, mine.repo).filter((d) => d.environment === closed.env)).toEqual([]);
    const swept = fake.requests.filter((q) => q.path.startsWith(`/repos/${mine.full}/deployments/`) && q.method !== 'GET')
      .map((q) => `${q.operationId} ${(q.body as { state?: string } | undefined)?.state ?? ''} ${q.status}`);
    expect(swept.slice(-2)).toEqual(['repos/create-deployment-status inactive 201', 'repos/delete-deployment  204']);

    // ttl: the open PR's env is old enough now; the other repository's still is not ours.
    await new Promise((res) => setTimeout(res, 1100));
    const aged = succeeded(await sweep(mine, { ttl: '1s' }));
    expect(JSON.parse(aged.outputs.resources!).reclaimed).toEqual([open.env]);
    expect(aged.summary.replaceAll('#\u200b', '#')).toMatch(new RegExp(`\\| ${open.env} \\| closed \\| older than 1s since its last update \\(\\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z\\) \\|`));
    expect((await envObjects(cluster, ns, open.env)).deployments).toEqual([]);
    expect((await envObjects(cluster, ns, foreign.env)).deployments).toHaveLength(1);

    // dry-run says what it would do and does nothing
    const dry = succeeded(await sweep(other, { 'dry-run': 'true' }));
    expect(dry.summary.replaceAll('#\u200b', '#')).toContain(`| ${foreign.env} | would close | pull request #${foreign.number} is closed |`);
    expect((await envObjects(cluster, ns, foreign.env)).deployments).toHaveLength(1);
    succeeded(await sweep(other));
    expect((await envObjects(cluster, ns, foreign.env)).deployments).toEqual([]);
  });
});

describe('racing runs', () => {
  test('3 concurrent synchronize runs for one PR leave one env and exactly one comment', async () => {
    const { ns, kubeconfig } = await setup();
    const repo = repoName();
    const number = prNumber();
    const head = sha();
    fake.seedPull({ owner: repo.owner, repo: repo.repo, number, headSha: head });
    const before = fake.requests.length;
    // The opens are serialised by the env's Lease, so left alone the runs would comment one after the other. The
    // stand-in holds the three first comment lists until all three runs have asked: each sees no comment, each
    // creates one, and the race the sticky comment must survive is certain.
    fake.holdUntil(3, (op) => op === 'issues/list-comments');
    const runIds = [8_100_001, 8_100_002, 8_100_003];
    const runs = await Promise.all(runIds.map((runId) => runAction({
      event: 'pull_request', payload: payload('pull_request.synchronize', { repo: repo.full, number, sha: head }), repo: repo.full,
      githubUrl: fake.url, runId,
      inputs: { 'github-token': TOKEN, kubeconfig, 'lock-namespace': ns, namespace: ns, deployment: 'web', image: 'example.com/web:race', wait: 'false' },
    })));
    for (const r of runs) succeeded(r);

    const comments = botComments(fake, repo.full, number);
    expect(comments).toHaveLength(1);
    expect(runs.map((r) => r.outputs['comment-id'])).toEqual(runIds.map(() => String(comments[0]!.id)));
    expect(runIds).toContain(parseCommentState(comments[0]!.body)?.runId);
    const objs = await envObjects(cluster, ns, `pr-${number}`);
    expect(objs.deployments).toHaveLength(1);
    expect(objs.destinationRules).toHaveLength(1);
    expect(objs.routes).toHaveLength(1);
    expect(await cluster.list('Lease', ns)).toEqual([]);
    const creates = fake.requests.slice(before).filter((q) => q.operationId === 'issues/create-comment').length;
    const deletes = fake.requests.slice(before).filter((q) => q.operationId === 'issues/delete-comment').length;
    expect(creates).toBe(3); // they did race
    expect(deletes).toBe(2);
  });
});
