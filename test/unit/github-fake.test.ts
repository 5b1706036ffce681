// The stand-in itself: it must refuse what GitHub's description does not have, validate requests, answer with
// bodies that match the description, paginate like GitHub and inject faults the client survives.

import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { FakeGitHub } from '../github/fake-github.js';
import { clientFor } from '../github/clients.js';
import { createGitHubClient, USER_AGENT } from '../../src/github/client.js';

let fake: FakeGitHub;
beforeAll(async () => {
  fake = await FakeGitHub.start();
  fake.addToken('pat', 'octocat');
  fake.seedPull({ owner: 'acme', repo: 'shop', number: 7, headSha: 'b'.repeat(40), labels: ['preview'] });
});
afterAll(() => fake.close());
afterEach(() => {
  // Whatever a test provoked, the fake's own answers must match the description.
  expect(fake.violations.filter((v) => v.kind === 'response')).toEqual([]);
  fake.setFaults(undefined);
  fake.violations.length = 0;
});

describe('description checks', () => {
  test('an endpoint GitHub does not have is a violation and a 404', async () => {
    const gh = clientFor(fake, 'pat');
    await expect(gh.request('GET /repos/{owner}/{repo}/dynamic-envs', { owner: 'acme', repo: 'shop' })).rejects.toMatchObject({ status: 404 });
    expect(fake.violations).toEqual([expect.objectContaining({ kind: 'undocumented', path: '/repos/acme/shop/dynamic-envs' })]);
  });

  test('a method the path does not have is a violation', async () => {
    const gh = clientFor(fake, 'pat');
    await expect(gh.request('DELETE /repos/{owner}/{repo}/pulls/{pull_number}', { owner: 'acme', repo: 'shop', pull_number: 7 })).rejects.toMatchObject({
      status: 404,
    });
    expect(fake.violations).toEqual([expect.objectContaining({ kind: 'undocumented', message: expect.stringContaining('DELETE is not an operation') })]);
  });

  test('a body that violates the schema is a violation and a 422', async () => {
    const gh = clientFor(fake, 'pat');
    await expect(
      gh.request('POST /repos/{owner}/{repo}/deployments', { owner: 'acme', repo: 'shop', ref: 123, auto_merge: 'no' } as never),
    ).rejects.toMatchObject({ status: 422 });
    expect(fake.violations.map((v) => v.message)).toEqual([
      '$body.ref: expected string, got integer',
      '$body.auto_merge: expected boolean, got string',
    ]);
    expect(fake.deployments('acme', 'shop')).toEqual([]);
  });

  test('a misspelt body field is a violation (GitHub would silently ignore it)', async () => {
    const gh = clientFor(fake, 'pat');
    await expect(
      gh.request('POST /repos/{owner}/{repo}/deployments', { owner: 'acme', repo: 'shop', ref: 'main', transient_enviroment: true } as never),
    ).rejects.toMatchObject({ status: 422 });
    expect(fake.violations).toEqual([expect.objectContaining({ kind: 'body', message: '$body.transient_enviroment: not in the description' })]);
  });

  test('a missing required body field and an enum violation', async () => {
    const gh = clientFor(fake, 'pat');
    await expect(gh.request('POST /repos/{owner}/{repo}/issues/{issue_number}/comments', { owner: 'acme', repo: 'shop', issue_number: 7, bdy: 'x' } as never)).rejects.toMatchObject({ status: 422 });
    expect(fake.violations.map((v) => v.message)).toContain('$body.body: required');
  });

  test('path and query parameters are checked', async () => {
    const gh = clientFor(fake, 'pat');
    await expect(gh.request('GET /repos/{owner}/{repo}/pulls/{pull_number}', { owner: 'acme', repo: 'shop', pull_number: 'seven' as unknown as number })).rejects.toMatchObject({ status: 422 });
    await expect(gh.request('GET /repos/{owner}/{repo}/issues/{issue_number}/comments', { owner: 'acme', repo: 'shop', issue_number: 7, perpage: 100 })).rejects.toMatchObject({
      status: 422,
    });
    expect(fake.violations.map((v) => v.message)).toEqual([
      'path parameter "pull_number": "seven" is not a integer',
      'query parameter "perpage" is not in the description',
    ]);
  });

  test('answers validate against the response schemas (the fake checks itself)', async () => {
    const gh = clientFor(fake, 'pat');
    const pr = await gh.rest.pulls.get({ owner: 'acme', repo: 'shop', pull_number: 7 });
    expect(pr.data.head.sha).toBe('b'.repeat(40));
    expect(pr.data.labels.map((l) => l.name)).toEqual(['preview']);
    const me = await gh.rest.users.getAuthenticated();
    expect(me.data.login).toBe('octocat');
    const c = await gh.rest.issues.createComment({ owner: 'acme', repo: 'shop', issue_number: 7, body: 'hi' });
    await gh.rest.issues.getComment({ owner: 'acme', repo: 'shop', comment_id: c.data.id });
    const d = await gh.rest.repos.createDeployment({ owner: 'acme', repo: 'shop', ref: 'main', environment: 'pr-7', required_contexts: [] });
    const id = (d.data as { id: number }).id;
    await gh.rest.repos.createDeploymentStatus({ owner: 'acme', repo: 'shop', deployment_id: id, state: 'success', environment_url: 'https://x.test/' });
    await gh.rest.repos.listDeploymentStatuses({ owner: 'acme', repo: 'shop', deployment_id: id });
    await gh.rest.pulls.list({ owner: 'acme', repo: 'shop', state: 'all' });
    await expect(gh.rest.pulls.get({ owner: 'acme', repo: 'shop', pull_number: 999 })).rejects.toMatchObject({ status: 404 });
    expect(fake.violations.map((v) => v.message)).toEqual([]);
    await gh.rest.issues.deleteComment({ owner: 'acme', repo: 'shop', comment_id: c.data.id });
  });

  test('the response validator catches a bad answer', () => {
    const schema = fake.api.schema('issue-comment');
    const good = fake.api.synthesize(schema) as Record<string, unknown>;
    expect(fake.api.validate(schema, good)).toEqual([]);
    const { id: _id, ...noId } = good;
    expect(fake.api.validate(schema, noId)).toEqual(['$.id: required']);
    expect(fake.api.validate(schema, { ...good, created_at: 'yesterday' })).toEqual(['$.created_at: "yesterday" is not a date-time']);
    expect(fake.api.validate(schema, { ...good, author_association: 'FRIEND' })).toEqual([expect.stringContaining('"FRIEND" is not one of')]);
  });

  test('unknown tokens get 401', async () => {
    await expect(clientFor(fake, 'nope').rest.users.getAuthenticated()).rejects.toMatchObject({ status: 401 });
  });

  test('installation tokens get 403 on GET /user', async () => {
    fake.addInstallationToken('ghs_install');
    await expect(clientFor(fake, 'ghs_install').rest.users.getAuthenticated()).rejects.toMatchObject({ status: 403 });
    expect(fake.violations).toEqual([]);
  });
});

describe('client', () => {
  test('takes its base URL from GITHUB_API_URL and sends our user agent', async () => {
    const gh = createGitHubClient({ token: 'pat', env: { GITHUB_API_URL: `${fake.url}/` } });
    await gh.rest.pulls.get({ owner: 'acme', repo: 'shop', pull_number: 7 });
    expect(fake.requests.at(-1)!.userAgent).toMatch(new RegExp(`^${USER_AGENT}`));
  });
});

describe('pagination', () => {
  test('per_page is capped at 100 and Link headers lead through every page', async () => {
    fake.seedPull({ owner: 'acme', repo: 'shop', number: 8, headSha: 'c'.repeat(40) });
    for (let i = 0; i < 230; i++) fake.seedComment({ owner: 'acme', repo: 'shop', issueNumber: 8, body: `c${i}`, login: 'someone' });
    const gh = clientFor(fake, 'pat');
    const first = await gh.rest.issues.listComments({ owner: 'acme', repo: 'shop', issue_number: 8, per_page: 500 });
    expect(first.data).toHaveLength(100);
    expect(first.headers.link).toMatch(/page=2>; rel="next"/);
    const before = fake.requests.length;
    const all = await gh.paginate(gh.rest.issues.listComments, { owner: 'acme', repo: 'shop', issue_number: 8, per_page: 100 });
    expect(all.map((c) => c.body)).toEqual(Array.from({ length: 230 }, (_, i) => `c${i}`));
    expect(fake.requests.length - before).toBe(3);
  });
});

describe('faults', () => {
  test('500s are retried by the client', async () => {
    fake.failNext(2, '500');
    const gh = clientFor(fake, 'pat');
    const pr = await gh.rest.pulls.get({ owner: 'acme', repo: 'shop', pull_number: 7 });
    expect(pr.status).toBe(200);
    expect(fake.requests.slice(-3).map((r) => r.status)).toEqual([500, 500, 200]);
  });

  test('secondary rate limits (403 + retry-after) are retried by the throttling plugin', async () => {
    fake.failNext(2, 'secondary');
    const gh = clientFor(fake, 'pat');
    await gh.rest.pulls.get({ owner: 'acme', repo: 'shop', pull_number: 7 });
    expect(fake.requests.slice(-3).map((r) => [r.status, r.fault])).toEqual([
      [403, 'secondary'],
      [403, 'secondary'],
      [200, undefined],
    ]);
  });

  test('primary rate limits are retried', async () => {
    fake.failNext(1, 'primary');
    await clientFor(fake, 'pat').rest.pulls.get({ owner: 'acme', repo: 'shop', pull_number: 7 });
    expect(fake.requests.slice(-2).map((r) => r.status)).toEqual([403, 200]);
  });

  test('retries are bounded', async () => {
    fake.failNext(10, '500');
    await expect(clientFor(fake, 'pat', { maxRetries: 2 }).rest.pulls.get({ owner: 'acme', repo: 'shop', pull_number: 7 })).rejects.toMatchObject({ status: 500 });
    expect(fake.requests.slice(-3).map((r) => r.status)).toEqual([500, 500, 500]);
    fake.setFaults(undefined);
    fake.failNext(10, 'secondary');
    await expect(clientFor(fake, 'pat', { maxRetries: 2 }).rest.pulls.get({ owner: 'acme', repo: 'shop', pull_number: 7 })).rejects.toMatchObject({ status: 403 });
    expect(fake.requests.slice(-3).map((r) => r.fault)).toEqual(['secondary', 'secondary', 'secondary']);
  });

  test('a share of faults: every call still succeeds', async () => {
    fake.setFaults({ share: 0.5, kinds: ['500', 'secondary'], seed: 7 });
    const gh = clientFor(fake, 'pat');
    for (let i = 0; i < 10; i++) await gh.rest.pulls.get({ owner: 'acme', repo: 'shop', pull_number: 7 });
    expect(fake.faultsInjected).toBeGreaterThan(0);
    expect(fake.violations).toEqual([]);
  });
});
