// Pull request look-ups. `checkFresh` re-reads the PR right before we write anything visible (comment,
// deployment status): a run that was overtaken by a newer push, or that races the PR's close, must not write.

import type { GitHubClient } from './client.js';
import type { RepoRef } from './repo.js';
import { statusOf } from './status.js';

export type Freshness = 'fresh' | 'closed' | 'superseded';

export interface PullSummary {
  number: number;
  state: 'open' | 'closed';
  merged: boolean;
  draft: boolean;
  headSha: string;
  headRef: string;
  labels: string[];
  updatedAt: string;
  closedAt: string | null;
  mergedAt: string | null;
}

/** The PR as it is now; null when it does not exist (404). */
export async function getPull(octokit: GitHubClient, repo: RepoRef, number: number): Promise<PullSummary | null> {
  try {
    const { data } = await octokit.rest.pulls.get({ owner: repo.owner, repo: repo.repo, pull_number: number });
    return {
      number: data.number,
      state: data.state === 'closed' ? 'closed' : 'open',
      merged: data.merged === true || data.merged_at !== null,
      draft: data.draft === true,
      headSha: data.head.sha,
      headRef: data.head.ref,
      labels: data.labels.map((l) => l.name),
      updatedAt: data.updated_at,
      closedAt: data.closed_at,
      mergedAt: data.merged_at,
    };
  } catch (error) {
    if (statusOf(error) === 404) return null;
    throw error;
  }
}

export interface RunFreshness {
  freshness: Freshness;
  /** `closed` only: the PR was merged. */
  merged: boolean;
  /** Why a run that is not fresh must not write, for the log and the job summary; null when fresh. */
  reason: string | null;
}

/**
 * The freshness guard of a run for `headSha`: `fresh` when the PR is open and its head is still `headSha`;
 * `closed` when it was closed (or is gone); `superseded` when a newer commit was pushed (the newer run will do
 * the work).
 */
export async function checkRunFresh(octokit: GitHubClient, repo: RepoRef, number: number, headSha: string): Promise<RunFreshness> {
  const pull = await getPull(octokit, repo, number);
  if (!pull || pull.state === 'closed') {
    return { freshness: 'closed', merged: !!pull?.merged, reason: `pull request #${number} is ${!pull ? 'gone' : pull.merged ? 'merged' : 'closed'}` };
  }
  if (pull.headSha !== headSha) {
    return { freshness: 'superseded', merged: false, reason: `pull request #${number} has a newer head than ${headSha.slice(0, 12)}; a newer run will update the env` };
  }
  return { freshness: 'fresh', merged: false, reason: null };
}

/** checkRunFresh's verdict alone. */
export async function checkFresh(octokit: GitHubClient, repo: RepoRef, number: number, headSha: string): Promise<Freshness> {
  return (await checkRunFresh(octokit, repo, number, headSha)).freshness;
}
