// The sticky comment against the GitHub stand-in.

import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { FakeGitHub } from '../github/fake-github.js';
import { clientFor } from '../github/clients.js';
import {
  ACTIONS_BOT_LOGIN,
  commentMarker,
  composeCommentBody,
  parseCommentState,
  resolveLogin,
  upsertStickyComment,
  type CommentState,
} from '../../src/github/comment.js';

const repo = { owner: 'acme', repo: 'shop' };
let fake: FakeGitHub;
let pr = 100;

beforeAll(async () => {
  fake = await FakeGitHub.start();
  fake.addToken('pat', 'dynamic-env-bot');
  fake.addInstallationToken('ghs_install');
});
afterAll(() => fake.close());
afterEach(() => {
  expect(fake.violations).toEqual([]);
  fake.setFaults(undefined);
});

/** A fresh PR per test. */
function newPr(): number {
  pr += 1;
  fake.seedPull({ owner: 'acme', repo: 'shop', number: pr, headSha: 'a'.repeat(40) });
  return pr;
}

const state = (runId: number, runAttempt = 1): CommentState => ({ sha: 'a'.repeat(40), runId, runAttempt, updatedAt: '2025-01-01T00:00:00Z' });

function upsert(token: string, issueNumber: number, body: string, s: CommentState, env = 'pr-1') {
  return upsertStickyComment(clientFor(fake, token), { repo, issueNumber, env, body, state: s });
}

describe('body format', () => {
  test('marker first, state block last, round-trips', () => {
    const body = composeCommentBody('pr-42', '### hello\n', state(7, 2));
    expect(body.startsWith('<!-- dynamic-env:pr-42 -->\n### hello\n')).toBe(true);
    expect(body).toMatch(/<!-- dynamic-env-state \{"sha":"a{40}","runId":7,"runAttempt":2,"updatedAt":"2025-01-01T00:00:00Z"\} -->\n$/);
    expect(parseCommentState(body)).toEqual(state(7, 2));
  });

  test('state values cannot close the HTML comment', () => {
    const body = composeCommentBody('pr-1', 'x', { ...state(1), sha: '--> <b>' });
    expect(body.match(/-->/g)).toHaveLength(2); // the marker's and the state block's own
    expect(parseCommentState(body)?.sha).toBe('--> <b>');
  });

  test('pr-4 never matches pr-42', () => {
    expect(composeCommentBody('pr-42', 'x', state(1)).startsWith(commentMarker('pr-4'))).toBe(false);
  });

  test('an oversized body is truncated under GitHub\'s limit', () => {
    const body = composeCommentBody('pr-1', 'x'.repeat(70_000), state(1));
    expect(body.length).toBeLessThanOrEqual(65_536);
    expect(parseCommentState(body)).toEqual(state(1));
  });
});

describe('login', () => {
  test('GET /user gives the login of a personal token', async () => {
    expect(await resolveLogin(clientFor(fake, 'pat'))).toBe('dynamic-env-bot');
  });

  test('an installation token (403 on GET /user) falls back to github-actions[bot]', async () => {
    expect(await resolveLogin(clientFor(fake, 'ghs_install'))).toBe(ACTIONS_BOT_LOGIN);
  });

  test('other errors are not swallowed', async () => {
    await expect(resolveLogin(clientFor(fake, 'bad-token'))).rejects.toMatchObject({ status: 401 });
  });
});

describe('upsertStickyComment', () => {
  test('creates the comment when there is none', async () => {
    const n = newPr();
    const result = await upsert('pat', n, 'first', state(1));
    expect(result).toMatchObject({ action: 'created', deleted: [] });
    const comments = fake.comments('acme', 'shop', n);
    expect(comments).toHaveLength(1);
    expect(comments[0]).toMatchObject({ id: result.id, login: 'dynamic-env-bot' });
    expect(comments[0]!.body).toBe(composeCommentBody('pr-1', 'first', state(1)));
  });

  test('updates it in place', async () => {
    const n = newPr();
    const created = await upsert('pat', n, 'first', state(1));
    const updated = await upsert('pat', n, 'second', state(2));
    expect(updated).toEqual({ id: created.id, action: 'updated', deleted: [] });
    expect(fake.comments('acme', 'shop', n).map((c) => c.body)).toEqual([composeCommentBody('pr-1', 'second', state(2))]);
  });

  test('skips the update when the body is unchanged', async () => {
    const n = newPr();
    const created = await upsert('pat', n, 'same', state(1));
    const before = fake.requests.length;
    const again = await upsert('pat', n, 'same', state(2));
    expect(again).toEqual({ id: created.id, action: 'unchanged', deleted: [] });
    expect(fake.requests.slice(before).filter((r) => r.method !== 'GET')).toEqual([]);
  });

  test('an older run does not overwrite a newer one (stale)', async () => {
    const n = newPr();
    await upsert('pat', n, 'from run 10', state(10, 1));
    expect((await upsert('pat', n, 'from run 9', state(9, 5))).action).toBe('stale');
    expect((await upsert('pat', n, 'from run 10 attempt 0', state(10, 0))).action).toBe('stale');
    expect(fake.comments('acme', 'shop', n)[0]!.body).toContain('from run 10');
    // a re-run attempt of the same run is newer
    expect((await upsert('pat', n, 'from run 10 attempt 2', state(10, 2))).action).toBe('updated');
    expect(parseCommentState(fake.comments('acme', 'shop', n)[0]!.body)).toEqual(state(10, 2));
  });

  test('duplicates from racing runs: keeps the oldest, deletes the others', async () => {
    const n = newPr();
    const body = (run: number) => composeCommentBody('pr-1', `run ${run}`, state(run));
    const oldest = fake.seedComment({ owner: 'acme', repo: 'shop', issueNumber: n, login: 'dynamic-env-bot', body: body(1), createdAt: '2025-01-01T00:00:00Z' });
    const b = fake.seedComment({ owner: 'acme', repo: 'shop', issueNumber: n, login: 'dynamic-env-bot', body: body(2), createdAt: '2025-01-01T00:00:01Z' });
    const c = fake.seedComment({ owner: 'acme', repo: 'shop', issueNumber: n, login: 'dynamic-env-bot', body: body(3), createdAt: '2025-01-01T00:00:01Z' });
    const result = await upsert('pat', n, 'run 4', state(4));
    expect(result).toEqual({ id: oldest, action: 'updated', deleted: [b, c] });
    expect(fake.comments('acme', 'shop', n).map((x) => [x.id, x.body])).toEqual([[oldest, composeCommentBody('pr-1', 'run 4', state(4))]]);
  });

  test('a comment by someone else with the same marker is ignored', async () => {
    const n = newPr();
    const foreign = fake.seedComment({ owner: 'acme', repo: 'shop', issueNumber: n, login: 'mallory', body: composeCommentBody('pr-1', 'fake', state(999)) });
    const result = await upsert('pat', n, 'real', state(1));
    expect(result.action).toBe('created');
    expect(result.id).not.toBe(foreign);
    const comments = fake.comments('acme', 'shop', n);
    expect(comments.map((c) => c.login)).toEqual(['mallory', 'dynamic-env-bot']);
    expect(comments[0]!.body).toContain('fake');
  });

  test('other envs on the same PR are separate comments', async () => {
    const n = newPr();
    const a = await upsert('pat', n, 'a', state(1), 'pr-4');
    const b = await upsert('pat', n, 'b', state(1), 'pr-42');
    expect(a.id).not.toBe(b.id);
    expect((await upsert('pat', n, 'a2', state(2), 'pr-4')).id).toBe(a.id);
    expect(fake.comments('acme', 'shop', n)).toHaveLength(2);
  });

  test('finds its comment beyond the first 100 (pagination)', async () => {
    const n = newPr();
    for (let i = 0; i < 130; i++) fake.seedComment({ owner: 'acme', repo: 'shop', issueNumber: n, login: 'reviewer', body: `lgtm ${i}` });
    const ours = fake.seedComment({ owner: 'acme', repo: 'shop', issueNumber: n, login: 'dynamic-env-bot', body: composeCommentBody('pr-1', 'old', state(1)) });
    for (let i = 0; i < 120; i++) fake.seedComment({ owner: 'acme', repo: 'shop', issueNumber: n, login: 'reviewer', body: `nit ${i}` });
    const result = await upsert('pat', n, 'new', state(2));
    expect(result).toEqual({ id: ours, action: 'updated', deleted: [] });
    const lists = fake.requests.filter((r) => r.operationId === 'issues/list-comments' && r.path === `/repos/acme/shop/issues/${n}/comments`);
    expect(lists.length).toBeGreaterThanOrEqual(3);
    expect(lists.every((r) => r.query.per_page === '100')).toBe(true);
    expect(fake.comments('acme', 'shop', n)).toHaveLength(251);
  });

  test('with GITHUB_TOKEN (installation token) the comment is found by github-actions[bot]', async () => {
    const n = newPr();
    const first = await upsert('ghs_install', n, 'one', state(1));
    expect(fake.comments('acme', 'shop', n)[0]!.login).toBe(ACTIONS_BOT_LOGIN);
    expect(await upsert('ghs_install', n, 'two', state(2))).toEqual({ id: first.id, action: 'updated', deleted: [] });
  });

  test('5 racing upserts leave exactly one comment', async () => {
    const n = newPr();
    const results = await Promise.all([1, 2, 3, 4, 5].map((run) => upsert('pat', n, `run ${run}`, state(run))));
    const comments = fake.comments('acme', 'shop', n);
    expect(comments).toHaveLength(1);
    const survivor = comments[0]!;
    expect(results.every((r) => r.id === survivor.id)).toBe(true);
    expect(results.filter((r) => r.action === 'created').length).toBeGreaterThanOrEqual(1);
    expect(parseCommentState(survivor.body)?.runId).toBeGreaterThanOrEqual(1);
    // every run but one created a comment that then went away
    const creates = fake.requests.filter((r) => r.operationId === 'issues/create-comment' && r.path.endsWith(`/${n}/comments`)).length;
    const deletes = fake.requests.filter((r) => r.operationId === 'issues/delete-comment' && r.status === 204).length;
    expect(creates).toBeGreaterThan(1); // they did race
    expect(creates - 1).toBeLessThanOrEqual(deletes);
  }, 30_000);

  test('racing upserts survive injected 500s and secondary rate limits', async () => {
    const n = newPr();
    fake.setFaults({ share: 0.3, kinds: ['500', 'secondary'], seed: 42 });
    await Promise.all([1, 2, 3].map((run) => upsert('pat', n, `run ${run}`, state(run))));
    fake.setFaults(undefined);
    expect(fake.comments('acme', 'shop', n)).toHaveLength(1);
    expect(fake.faultsInjected).toBeGreaterThan(0);
  }, 30_000);
});
