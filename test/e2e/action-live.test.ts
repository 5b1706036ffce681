// The PR comment is live, run as a runner runs it: posted in state deploying (with its commit) as soon as the clones
// are written, before the rollout wait ends, then updated with the outcome; a rollout that times out fails the
// step, the GitHub Deployment and the comment, with the reasons; the log is grouped by phase.
import { describe, expect, test } from 'vitest';
import { readFileSync } from 'node:fs';
import { useCluster, waitFor } from '../harness/cluster.js';
import type { FakeGitHub } from '../github/fake-github.js';
import {
  botComments, commentWrites, envObjects, installWeb, logGroups, payload, prNumber, repoName, runAction, sha,
  succeeded, type EventFixture,
  useFakeGitHub,
} from './fixtures/action.js';

const cluster = useCluster();
const TOKEN = 'ghs_liveTokenQWERTY0123456789abcdef';
let fake: FakeGitHub;
useFakeGitHub(TOKEN, (f) => (fake = f));

async function setup(o: { neverReady?: boolean } = {}) {
  const ns = await cluster.namespace('live');
  await installWeb(cluster, ns, 'web', o);
  const id = await cluster.identity([ns]);
  const { owner, repo, full } = repoName();
  const number = prNumber();
  const head = sha();
  fake.seedPull({ owner, repo, number, headSha: head });
  const kubeconfig = readFileSync(id.kubeconfig, 'utf8');
  const pr = { owner, repo, full, number, head, env: `pr-${number}` };
  const run = (fixture: EventFixture, inputs: Record<string, string> = {}) =>
    runAction({
      event: 'pull_request',
      payload: payload(fixture, { repo: full, number, sha: head }),
      repo: full,
      githubUrl: fake.url,
      inputs: { 'github-token': TOKEN, kubeconfig, 'lock-namespace': ns, namespace: ns, deployment: 'web', image: `example.com/web:${head.slice(0, 7)}`, ...inputs },
    });
  return { ns, id, pr, run };
}

/** The state in a comment's title line. */
const stateOf = (body: string) => /^### \S+ Dynamic environment `[^`]+`: (\w+)$/m.exec(body)?.[1];

describe('the comment is live', () => {
  test('deploying with its commit once the clones are written, before the routes; then ready, with a row per service', async () => {
    const { ns, id, pr, run } = await setup();
    const r = succeeded(await run('pull_request.opened', { timeout: '60s' }));

    const writes = commentWrites(fake, pr.full, pr.number);
    expect(writes.map((w) => `${w.op} ${stateOf(w.body)}`)).toEqual(['create deploying', 'update ready']);
    const [deploying, ready] = writes as [typeof writes[0], typeof writes[0]];
    expect(deploying.body).toContain(`Deploying commit \`${pr.head.slice(0, 7)}\`. The clones are written and rolling out`);
    expect(deploying.body).toMatch(new RegExp(`<!-- dynamic-env-state \\{"sha":"${pr.head}",`));
    expect(deploying.body).not.toContain('curl');

    // Posted after the clone was written and before the route that only goes in once the rollout wait is over.
    const audit = cluster.writes(id.username);
    const at = (verb: string, resource: string, name: string) => {
      const e = audit.find((x) => x.verb === verb && x.objectRef?.resource === resource && x.objectRef?.name === name);
      expect(e, `${verb} ${resource} ${name}`).toBeDefined();
      return Date.parse(e!.stageTimestamp);
    };
    expect(at('create', 'deployments', `web-${pr.env}`)).toBeLessThan(deploying.at);
    expect(deploying.at).toBeLessThan(at('update', 'virtualservices', 'dynamic-env-web'));
    // kwok's pod is ready at once: the routes go in within the default lock-hold, one hold of the Lease.
    expect(audit.filter((e) => e.verb === 'create' && e.objectRef?.resource === 'leases')).toHaveLength(1);

    // The final comment: a row per service with its URL and a copy-paste line, the response header, the footer.
    const url = `http://web.${ns}.svc.cluster.local/`;
    expect(ready.body).toContain(`| ${ns}/web | \`${url}\` | \`curl -i -H 'x-override: ${pr.env}' ${url}\` |`);
    expect(ready.body).toContain(`The response header \`x-dynamic-env: ${pr.env}\` confirms that the env's version answered`);
    expect(ready.body).toMatch(new RegExp(
      `<sub>Commit \\[\`${pr.head.slice(0, 7)}\`\\]\\(https://github\\.com/${pr.full}/commit/${pr.head}\\) · updated \\d{1,2} [A-Z][a-z]{2} \\d{4}, \\d{2}:\\d{2} UTC · \\[run\\]`));
    expect(ready.body).not.toContain('This describes commit');
    expect(r.outputs['comment-id']).toBe(String(botComments(fake, pr.full, pr.number)[0]!.id));

    // The log, grouped by phase.
    expect(logGroups(r.stdout)).toEqual([`plan: ${pr.env}`, `writes: ${pr.env}`, `comment: ${pr.env} deploying`, `rollout: ${pr.env}`, `comment: ${pr.env} ready`]);
  });

  test('lock-hold: 0 gives the Lease back before the rollout wait, and it is taken again for the routes', async () => {
    const { id, run } = await setup();
    succeeded(await run('pull_request.opened', { timeout: '60s', 'lock-hold': '0' }));
    const writes = cluster.writes(id.username).map((e) => `${e.verb} ${e.objectRef?.resource}`);
    expect(writes.filter((w) => w.endsWith(' leases'))).toEqual(['create leases', 'delete leases', 'create leases', 'delete leases']);
    // The routes go in under the second hold.
    expect(writes.lastIndexOf('update virtualservices')).toBeGreaterThan(writes.lastIndexOf('create leases'));
  });

  test('a rollout that times out: exit 1, deployment failure, the comment says why and that the PR moved on, a failure summary', async () => {
    const { ns, pr, run } = await setup({ neverReady: true });
    const running = run('pull_request.opened', { timeout: '5s', 'github-deployment': 'true' });
    // A push lands while the run waits for the rollout.
    await waitFor('the deploying comment', 60_000, async () => commentWrites(fake, pr.full, pr.number).length > 0);
    const next = sha();
    fake.updatePull(pr.owner, pr.repo, pr.number, { headSha: next });
    const r = await running;

    expect(r.code, r.stdout).toBe(1);
    expect(r.outputs).toMatchObject({ env: pr.env, state: 'failed' });
    expect(r.stdout).toMatch(new RegExp(`^::error::.*env ${pr.env} is failed`, 'm'));
    const writes = commentWrites(fake, pr.full, pr.number);
    expect(writes.map((w) => `${w.op} ${stateOf(w.body)}`)).toEqual(['create deploying', 'update failed']);
    const body = writes[1]!.body;
    expect(body).toContain('The environment failed to start');
    expect(body).toMatch(new RegExp(`\\*\\*Not ready\\*\\*\\n\\n- 🔴 \`${ns}/web-${pr.env}\` \\(failed\\): [^\\n]*5s`));
    expect(body).toContain(`This describes commit \`${pr.head.slice(0, 7)}\`, not the pull request's head \`${next.slice(0, 7)}\`: a newer run updates it.`);
    expect((await envObjects(cluster, ns, pr.env)).routes).toEqual([]);

    const [d] = fake.deployments(pr.owner, pr.repo);
    expect(d!.statuses.map((s) => s.state)).toEqual(['in_progress', 'failure']);
    expect(d!.statuses[1]!.description).toMatch(new RegExp(`^Dynamic environment ${pr.env} is failed: ${ns}/web-${pr.env}: `));
    expect(r.outputs['deployment-id']).toBe(String(d!.id));

    // The job summary: the report, then the short failure summary.
    expect(r.summary).toContain(`Dynamic environment \`${pr.env}\`: failed`);
    expect(r.summary).toMatch(new RegExp(`### ❌ dynamic-env failed \\(exit 1\\)\\n\\nThe cluster refused a step or the environment failed\\.\\n\\n- env ${pr.env} is failed\\n- ${ns}/web-${pr.env}: [^\\n]*5s`));
    expect(r.summary.indexOf('dynamic-env failed')).toBeGreaterThan(r.summary.indexOf(': failed'));
  });
});
