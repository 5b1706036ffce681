// Deployments lifecycle and PR look-ups against the GitHub stand-in.

import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { FakeGitHub } from '../github/fake-github.js';
import { clientFor } from '../github/clients.js';
import { createDeployment, deactivateEnvironment, removeEnvironmentDeployments, setDeploymentStatus, startDeployment } from '../../src/github/deployments.js';
import { checkFresh, checkRunFresh, getPull } from '../../src/github/pulls.js';

const repo = { owner: 'acme', repo: 'shop' };
const SHA1 = '1'.repeat(40);
const SHA2 = '2'.repeat(40);
let fake: FakeGitHub;

beforeAll(async () => {
  fake = await FakeGitHub.start();
  fake.addInstallationToken('ghs_install');
});
afterAll(() => fake.close());
afterEach(() => expect(fake.violations).toEqual([]));

describe('deployments', () => {
  test('open: transient deployment for the head SHA, in_progress -> success; close: inactive', async () => {
    const gh = clientFor(fake, 'ghs_install', { paceWrites: false });
    const id = await createDeployment(gh, { repo, sha: SHA1, env: 'pr-42' });
    const [created] = fake.deployments('acme', 'shop').filter((d) => d.id === id);
    expect(created).toMatchObject({
      sha: SHA1,
      ref: SHA1,
      environment: 'pr-42',
      transient: true,
      production: false,
      autoMerge: false,
      requiredContexts: [],
    });
    await setDeploymentStatus(gh, { repo, deploymentId: id, state: 'in_progress', logUrl: 'https://github.com/acme/shop/actions/runs/1' });
    await setDeploymentStatus(gh, {
      repo,
      deploymentId: id,
      state: 'success',
      environmentUrl: 'https://pr-42.preview.acme.dev/',
      logUrl: 'https://github.com/acme/shop/actions/runs/1',
    });
    let statuses = fake.deployments('acme', 'shop').find((d) => d.id === id)!.statuses;
    expect(statuses.map((s) => [s.state, s.environmentUrl, s.logUrl])).toEqual([
      ['in_progress', '', 'https://github.com/acme/shop/actions/runs/1'],
      ['success', 'https://pr-42.preview.acme.dev/', 'https://github.com/acme/shop/actions/runs/1'],
    ]);

    // A second push: a second deployment of the same environment; another env is left alone.
    const id2 = await createDeployment(gh, { repo, sha: SHA2, env: 'pr-42' });
    await setDeploymentStatus(gh, { repo, deploymentId: id2, state: 'failure', logUrl: 'https://github.com/acme/shop/actions/runs/2' });
    const other = await createDeployment(gh, { repo, sha: SHA2, env: 'pr-7' });

    const marked = await deactivateEnvironment(gh, { repo, env: 'pr-42', logUrl: 'https://github.com/acme/shop/actions/runs/3' });
    expect(marked.sort()).toEqual([id, id2].sort());
    for (const d of fake.deployments('acme', 'shop')) {
      const latest = d.statuses.at(-1)?.state;
      expect(latest).toBe(d.id === other ? undefined : 'inactive');
    }
    statuses = fake.deployments('acme', 'shop').find((d) => d.id === id)!.statuses;
    expect(statuses).toHaveLength(3);

    // Closing again writes nothing.
    const before = fake.requests.length;
    expect(await deactivateEnvironment(gh, { repo, env: 'pr-42' })).toEqual([]);
    expect(fake.requests.slice(before).every((r) => r.method === 'GET')).toBe(true);
    expect(fake.requests.filter((r) => r.operationId?.startsWith('repos/list-deployment')).every((r) => r.query.per_page === '100')).toBe(true);
  });

  test('deactivation pages through more than 100 deployments', async () => {
    const gh = clientFor(fake, 'ghs_install', { paceWrites: false });
    const ids: number[] = [];
    for (let i = 0; i < 105; i++) ids.push(await createDeployment(gh, { repo: { owner: 'acme', repo: 'big' }, sha: SHA1, env: 'pr-9' }));
    const marked = await deactivateEnvironment(gh, { repo: { owner: 'acme', repo: 'big' }, env: 'pr-9' });
    expect(marked.sort((a, b) => a - b)).toEqual(ids);
  }, 60_000);

  test('open can retire the previous pushes\' deployments and keep the new one', async () => {
    const gh = clientFor(fake, 'ghs_install', { paceWrites: false });
    const old = await createDeployment(gh, { repo, sha: SHA1, env: 'pr-keep' });
    await setDeploymentStatus(gh, { repo, deploymentId: old, state: 'success' });
    const current = await createDeployment(gh, { repo, sha: SHA2, env: 'pr-keep' });
    await setDeploymentStatus(gh, { repo, deploymentId: current, state: 'success' });
    expect(await deactivateEnvironment(gh, { repo, env: 'pr-keep', keep: [current] })).toEqual([old]);
    const latest = Object.fromEntries(fake.deployments('acme', 'shop').filter((d) => d.environment === 'pr-keep').map((d) => [d.id, d.statuses.at(-1)?.state]));
    expect(latest).toEqual({ [old]: 'inactive', [current]: 'success' });
  });

  test('the fake refuses to delete an active deployment when the repository has others (422), as GitHub does', async () => {
    const gh = clientFor(fake, 'ghs_install', { paceWrites: false });
    const solo = { owner: 'acme', repo: 'solo' };
    const only = await createDeployment(gh, { repo: solo, sha: SHA1, env: 'pr-1' });
    await setDeploymentStatus(gh, { repo: solo, deploymentId: only, state: 'success' });
    const active = await createDeployment(gh, { repo, sha: SHA1, env: 'pr-active' });
    await setDeploymentStatus(gh, { repo, deploymentId: active, state: 'success' });
    await expect(gh.rest.repos.deleteDeployment({ ...repo, deployment_id: active })).rejects.toMatchObject({ status: 422 });
    await setDeploymentStatus(gh, { repo, deploymentId: active, state: 'inactive' });
    await gh.rest.repos.deleteDeployment({ ...repo, deployment_id: active });
    // A repository's only deployment goes whatever its status.
    await gh.rest.repos.deleteDeployment({ ...solo, deployment_id: only });
    expect(fake.deployments('acme', 'solo')).toEqual([]);
    expect(fake.deployments('acme', 'shop').map((d) => d.id)).not.toContain(active);
    await expect(gh.rest.repos.deleteDeployment({ ...repo, deployment_id: active })).rejects.toMatchObject({ status: 404 });
  });

  test('close: every deployment of the env marked inactive, then deleted; other envs\' stay; a second close does nothing', async () => {
    const gh = clientFor(fake, 'ghs_install', { paceWrites: false });
    const other = await createDeployment(gh, { repo, sha: SHA1, env: 'pr-other' });
    await setDeploymentStatus(gh, { repo, deploymentId: other, state: 'success' });
    const ids: number[] = [];
    for (const [sha, state] of [[SHA1, 'success'], [SHA2, 'in_progress']] as const) {
      const id = await createDeployment(gh, { repo, sha, env: 'pr-gone' });
      await setDeploymentStatus(gh, { repo, deploymentId: id, state });
      ids.push(id);
    }
    const before = fake.requests.length;
    const removed = await removeEnvironmentDeployments(gh, { repo, env: 'pr-gone' });
    expect(removed).toEqual({ deleted: [...ids].reverse(), kept: [] });
    expect(fake.deployments('acme', 'shop').filter((d) => d.environment === 'pr-gone')).toEqual([]);
    expect(fake.deployments('acme', 'shop').find((d) => d.id === other)!.statuses.at(-1)!.state).toBe('success');
    // Each one marked inactive before its delete.
    const writes = fake.requests.slice(before).filter((r) => r.method !== 'GET').map((r) => `${r.operationId} ${r.path.split('/')[5]} ${r.status}`);
    for (const id of ids) expect(writes.indexOf(`repos/create-deployment-status ${id} 201`)).toBeLessThan(writes.indexOf(`repos/delete-deployment ${id} 204`));
    expect(await removeEnvironmentDeployments(gh, { repo, env: 'pr-gone' })).toEqual({ deleted: [], kept: [] });
  });

  test('long descriptions are cut to GitHub\'s 140 characters', async () => {
    const gh = clientFor(fake, 'ghs_install', { paceWrites: false });
    const id = await createDeployment(gh, { repo, sha: SHA1, env: 'pr-long', description: 'd'.repeat(300) });
    await setDeploymentStatus(gh, { repo, deploymentId: id, state: 'failure', description: 'e'.repeat(300) });
    const d = fake.deployments('acme', 'shop').find((x) => x.id === id)!;
    expect(d.description).toHaveLength(140);
    expect(d.statuses[0]!.description).toHaveLength(140);
  });
});

describe('pull requests', () => {
  test('checkFresh: fresh, superseded, closed, missing', async () => {
    const gh = clientFor(fake, 'ghs_install', { paceWrites: false });
    fake.seedPull({ owner: 'acme', repo: 'shop', number: 42, headSha: SHA1 });
    expect(await checkFresh(gh, repo, 42, SHA1)).toBe('fresh');
    fake.updatePull('acme', 'shop', 42, { headSha: SHA2 });
    expect(await checkFresh(gh, repo, 42, SHA1)).toBe('superseded');
    expect(await checkFresh(gh, repo, 42, SHA2)).toBe('fresh');
    fake.updatePull('acme', 'shop', 42, { state: 'closed' });
    expect(await checkFresh(gh, repo, 42, SHA2)).toBe('closed');
    expect(await checkFresh(gh, repo, 4242, SHA2)).toBe('closed');
  });

  test('checkRunFresh: the reason a stale run must not write, and whether a closed PR was merged', async () => {
    const gh = clientFor(fake, 'ghs_install', { paceWrites: false });
    fake.seedPull({ owner: 'acme', repo: 'shop', number: 43, headSha: SHA1 });
    expect(await checkRunFresh(gh, repo, 43, SHA1)).toEqual({ freshness: 'fresh', merged: false, reason: null });
    fake.updatePull('acme', 'shop', 43, { headSha: SHA2 });
    expect(await checkRunFresh(gh, repo, 43, SHA1)).toEqual({
      freshness: 'superseded', merged: false, reason: `pull request #43 has a newer head than ${SHA1.slice(0, 12)}; a newer run will update the env`,
    });
    fake.updatePull('acme', 'shop', 43, { state: 'closed', merged: true });
    expect(await checkRunFresh(gh, repo, 43, SHA2)).toEqual({ freshness: 'closed', merged: true, reason: 'pull request #43 is merged' });
    expect(await checkRunFresh(gh, repo, 4343, SHA2)).toEqual({ freshness: 'closed', merged: false, reason: 'pull request #4343 is gone' });
  });

  test('startDeployment: created for the head SHA, then in_progress linked to the run', async () => {
    const gh = clientFor(fake, 'ghs_install', { paceWrites: false });
    const id = await startDeployment(gh, { repo, sha: SHA2, env: 'pr-start', logUrl: 'https://github.com/acme/shop/actions/runs/5' });
    const d = fake.deployments('acme', 'shop').find((x) => x.id === id)!;
    expect(d).toMatchObject({ sha: SHA2, environment: 'pr-start' });
    expect(d.statuses.map((st) => [st.state, st.logUrl])).toEqual([['in_progress', 'https://github.com/acme/shop/actions/runs/5']]);
  });

  test('getPull summarises the PR, null when it does not exist', async () => {
    const gh = clientFor(fake, 'ghs_install', { paceWrites: false });
    fake.seedPull({ owner: 'acme', repo: 'shop', number: 43, headSha: SHA1, labels: ['preview'], draft: true, state: 'closed', merged: true, headRef: 'feat/x' });
    expect(await getPull(gh, repo, 43)).toMatchObject({
      number: 43,
      state: 'closed',
      merged: true,
      draft: true,
      headSha: SHA1,
      headRef: 'feat/x',
      labels: ['preview'],
      mergedAt: expect.any(String),
    });
    expect(await getPull(gh, repo, 999)).toBeNull();
  });
});
