// The sticky PR comment: one per env per PR, edited in place.
//
// Found by BOTH a hidden marker on its first line (`<!-- dynamic-env:<env> -->`) AND the token's own login, so a
// comment somebody else wrote (or quoted) with the same marker is never touched. A hidden state block at the end
// (`<!-- dynamic-env-state {...} -->`) records which run wrote it; an update from an older run (lower
// (runId, runAttempt)) than the stored one is skipped, so a slow old run never overwrites a newer result.
//
// Races: two runs that both find no comment both create one. After creating, a run lists again; if its comment
// is not the OLDEST it deletes its own and updates the oldest. Each non-oldest comment is deleted by its own
// creator, which lists after its create and so sees the older one: exactly one survives. A run that finds
// several comments (e.g. left by a run that died between create and clean-up) keeps the oldest and deletes the
// rest (a 404 on a delete means another run was faster). GitHub has no conditional update for comments, so the stale check reads the comment again right
// before the PATCH to keep the read-to-write window to one round trip; two updates landing inside that window can
// still reorder. Serialise runs per PR with a workflow `concurrency` group to close it completely.

import type { GitHubClient } from './client.js';
import type { RepoRef } from './repo.js';
import { statusOf } from './status.js';

/**
 * The login GITHUB_TOKEN comments as. GET /user is refused (403 "Resource not accessible by integration") for
 * installation tokens, which is what the workflow's GITHUB_TOKEN is, so we cannot ask; its comments are authored
 * by `github-actions[bot]`. A token of another GitHub App comments as `<app-slug>[bot]`: pass `login` explicitly.
 */
export const ACTIONS_BOT_LOGIN = 'github-actions[bot]';

/** GitHub refuses comment bodies over 65536 characters. */
const MAX_BODY = 65_536;

export interface CommentState {
  sha: string;
  runId: number;
  runAttempt: number;
  updatedAt: string;
}

export type CommentAction = 'created' | 'updated' | 'unchanged' | 'stale';

export interface UpsertResult {
  id: number;
  action: CommentAction;
  /** Duplicate comments this run deleted. */
  deleted: number[];
}

export interface UpsertOptions {
  repo: RepoRef;
  /** The PR number (comments live on the PR's issue). */
  issueNumber: number;
  env: string;
  /** The visible markdown (renderMarkdown's output); marker and state block are added here. */
  body: string;
  state: CommentState;
  /** The token's login, when known; otherwise resolved with resolveLogin(). */
  login?: string;
}

export interface StickyComment {
  id: number;
  body: string;
  createdAt: string;
  state: CommentState | null;
}

export function commentMarker(env: string): string {
  return `<!-- dynamic-env:${env} -->`;
}

const STATE_RE = /\n?<!-- dynamic-env-state (\{[^\n]*?\}) -->\s*$/;

export function composeCommentBody(env: string, body: string, state: CommentState): string {
  const marker = commentMarker(env);
  // `<`/`>` escaped so no value can end the HTML comment early.
  const json = JSON.stringify({ sha: state.sha, runId: state.runId, runAttempt: state.runAttempt, updatedAt: state.updatedAt })
    .replaceAll('<', '\\u003c')
    .replaceAll('>', '\\u003e');
  const stateBlock = `<!-- dynamic-env-state ${json} -->`;
  let visible = body.trimEnd();
  const room = MAX_BODY - marker.length - stateBlock.length - 200;
  if (visible.length > room) visible = `${visible.slice(0, room)}\n\n…(truncated: see the job summary for the full report)`;
  return `${marker}\n${visible}\n${stateBlock}\n`;
}

export function parseCommentState(body: string): CommentState | null {
  const m = STATE_RE.exec(body);
  if (!m) return null;
  try {
    const v = JSON.parse(m[1]!) as Partial<CommentState>;
    if (typeof v.runId !== 'number' || typeof v.runAttempt !== 'number') return null;
    return { sha: String(v.sha ?? ''), runId: v.runId, runAttempt: v.runAttempt, updatedAt: String(v.updatedAt ?? '') };
  } catch {
    return null;
  }
}

/** Orders runs: by runId, then runAttempt. Negative when `a` is older. */
export function compareState(a: Pick<CommentState, 'runId' | 'runAttempt'>, b: Pick<CommentState, 'runId' | 'runAttempt'>): number {
  return a.runId !== b.runId ? a.runId - b.runId : a.runAttempt - b.runAttempt;
}

/** The body without the state block, for "unchanged" comparisons (the state block changes every run). */
function visiblePart(body: string): string {
  return body.replace(/\r\n/g, '\n').replace(STATE_RE, '').trimEnd();
}

/** The token's login (GET /user), or `github-actions[bot]` when the token may not ask (installation token: 403). */
export async function resolveLogin(octokit: GitHubClient): Promise<string> {
  try {
    const { data } = await octokit.rest.users.getAuthenticated();
    return data.login;
  } catch (error) {
    if (statusOf(error) === 403) return ACTIONS_BOT_LOGIN;
    throw error;
  }
}

/** Our comments for `env` on the PR, oldest first. */
export async function findStickyComments(
  octokit: GitHubClient,
  repo: RepoRef,
  issueNumber: number,
  env: string,
  login: string,
): Promise<StickyComment[]> {
  const marker = commentMarker(env);
  const all = await octokit.paginate(octokit.rest.issues.listComments, {
    owner: repo.owner,
    repo: repo.repo,
    issue_number: issueNumber,
    per_page: 100,
  });
  return all
    .filter((c) => c.user?.login.toLowerCase() === login.toLowerCase() && (c.body ?? '').startsWith(marker))
    .map((c) => ({ id: c.id, body: c.body ?? '', createdAt: c.created_at, state: parseCommentState(c.body ?? '') }))
    .sort((a, b) => Date.parse(a.createdAt) - Date.parse(b.createdAt) || a.id - b.id);
}

/** Creates or updates the env's sticky comment; see the file header for the rules. */
export async function upsertStickyComment(octokit: GitHubClient, options: UpsertOptions): Promise<UpsertResult> {
  const { repo, issueNumber, env, state } = options;
  const login = options.login ?? (await resolveLogin(octokit));
  const body = composeCommentBody(env, options.body, state);
  const deleted: number[] = [];

  let mine = await findStickyComments(octokit, repo, issueNumber, env, login);
  if (mine.length === 0) {
    const { data } = await octokit.rest.issues.createComment({ owner: repo.owner, repo: repo.repo, issue_number: issueNumber, body });
    // A racing run may have created one too: list again and converge on the oldest.
    // Here only our own comment is deleted (if it is not the oldest): every other racer does the same with its
    // own, and leftovers of a run that died in between are cleaned by the next run's normal path below.
    mine = await findStickyComments(octokit, repo, issueNumber, env, login);
    const keep = mine[0];
    if (!keep || keep.id === data.id) return { id: data.id, action: 'created', deleted };
    deleted.push(...(await deleteAll(octokit, repo, [{ id: data.id }])));
    return { ...(await update(octokit, repo, issueNumber, keep.id, body, state)), deleted };
  }
  deleted.push(...(await deleteAll(octokit, repo, mine.slice(1))));
  return { ...(await update(octokit, repo, issueNumber, mine[0]!.id, body, state)), deleted };
}

async function update(
  octokit: GitHubClient,
  repo: RepoRef,
  issueNumber: number,
  id: number,
  body: string,
  state: CommentState,
): Promise<{ id: number; action: CommentAction }> {
  // Fresh read right before the write (see the file header).
  let current;
  try {
    ({ data: current } = await octokit.rest.issues.getComment({ owner: repo.owner, repo: repo.repo, comment_id: id }));
  } catch (error) {
    if (statusOf(error) !== 404) throw error;
    // Deleted by hand between our list and now: write a new one.
    const { data } = await octokit.rest.issues.createComment({ owner: repo.owner, repo: repo.repo, issue_number: issueNumber, body });
    return { id: data.id, action: 'created' };
  }
  const stored = parseCommentState(current.body ?? '');
  if (stored && compareState(state, stored) < 0) return { id, action: 'stale' };
  if (visiblePart(current.body ?? '') === visiblePart(body)) return { id, action: 'unchanged' };
  await octokit.rest.issues.updateComment({ owner: repo.owner, repo: repo.repo, comment_id: id, body });
  return { id, action: 'updated' };
}

async function deleteAll(octokit: GitHubClient, repo: RepoRef, comments: Pick<StickyComment, 'id'>[]): Promise<number[]> {
  const deleted: number[] = [];
  for (const c of comments) {
    try {
      await octokit.rest.issues.deleteComment({ owner: repo.owner, repo: repo.repo, comment_id: c.id });
      deleted.push(c.id);
    } catch (error) {
      if (statusOf(error) !== 404) throw error; // another run deleted it first
    }
  }
  return deleted;
}
