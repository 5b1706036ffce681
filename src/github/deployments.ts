// The optional GitHub Deployment of an env (input `github-deployment`): one deployment per head SHA in the GitHub
// environment named like the env, transient (GitHub shows it as destroyed once inactive), never auto-merging the
// base and never waiting for status checks. Statuses: in_progress -> success | failure; close marks every
// deployment of the environment inactive, then deletes it.

import type { GitHubClient } from './client.js';
import type { RepoRef } from './repo.js';
import { statusOf } from './status.js';

export type DeploymentState = 'in_progress' | 'success' | 'failure' | 'inactive';

export interface CreateDeploymentOptions {
  repo: RepoRef;
  /** The PR head SHA. */
  sha: string;
  env: string;
  description?: string;
}

/** Creates the deployment and returns its id. */
export async function createDeployment(octokit: GitHubClient, options: CreateDeploymentOptions): Promise<number> {
  const response = await octokit.rest.repos.createDeployment({
    owner: options.repo.owner,
    repo: options.repo.repo,
    ref: options.sha,
    environment: options.env,
    transient_environment: true,
    production_environment: false,
    auto_merge: false,
    required_contexts: [],
    description: truncate(options.description ?? `Dynamic environment ${options.env}`),
  });
  // 202 is GitHub's "merged the base branch first" answer, which auto_merge: false rules out.
  if (response.status !== 201 || !('id' in response.data)) {
    throw new Error(`GitHub did not create a deployment for ${options.sha}: ${JSON.stringify(response.data)}`);
  }
  return response.data.id;
}

/** Open's start of a deployment: created for the head SHA and marked in_progress, linked to the run. */
export async function startDeployment(octokit: GitHubClient, options: CreateDeploymentOptions & { logUrl?: string }): Promise<number> {
  const deploymentId = await createDeployment(octokit, options);
  await setDeploymentStatus(octokit, { repo: options.repo, deploymentId, state: 'in_progress', ...(options.logUrl ? { logUrl: options.logUrl } : {}) });
  return deploymentId;
}

export interface StatusOptions {
  repo: RepoRef;
  deploymentId: number;
  state: DeploymentState;
  /** How to reach the env (the `environment-url` input, expanded). */
  environmentUrl?: string;
  /** The workflow run. */
  logUrl?: string;
  description?: string;
}

export async function setDeploymentStatus(octokit: GitHubClient, options: StatusOptions): Promise<number> {
  const { data } = await octokit.rest.repos.createDeploymentStatus({
    owner: options.repo.owner,
    repo: options.repo.repo,
    deployment_id: options.deploymentId,
    state: options.state,
    ...(options.environmentUrl ? { environment_url: options.environmentUrl } : {}),
    ...(options.logUrl ? { log_url: options.logUrl } : {}),
    ...(options.description ? { description: truncate(options.description) } : {}),
  });
  return data.id;
}

export interface DeactivateOptions {
  repo: RepoRef;
  env: string;
  logUrl?: string;
  description?: string;
  /**
   * Deployments to leave alone. Open passes the one it just created to retire the previous pushes' deployments
   * (GitHub's auto_inactive does not apply to transient environments), so close has little left to do.
   */
  keep?: number[];
}

/**
 * Marks every deployment of the environment `env` inactive; deployments whose latest status is already inactive
 * are left alone (a repeated close writes nothing). Returns the ids it marked.
 */
export async function deactivateEnvironment(octokit: GitHubClient, options: DeactivateOptions): Promise<number[]> {
  const { owner, repo } = options.repo;
  const deployments = await octokit.paginate(octokit.rest.repos.listDeployments, {
    owner,
    repo,
    environment: options.env,
    per_page: 100,
  });
  const marked: number[] = [];
  for (const d of deployments) {
    if (options.keep?.includes(d.id)) continue;
    const statuses = await octokit.paginate(octokit.rest.repos.listDeploymentStatuses, {
      owner,
      repo,
      deployment_id: d.id,
      per_page: 100,
    });
    // GitHub lists statuses newest first; compare timestamps anyway rather than trust the order.
    const latest = statuses.reduce<(typeof statuses)[number] | undefined>(
      (a, s) => (!a || Date.parse(s.created_at) > Date.parse(a.created_at) || (s.created_at === a.created_at && s.id > a.id) ? s : a),
      undefined,
    );
    if (latest?.state === 'inactive') continue;
    await setDeploymentStatus(octokit, {
      repo: options.repo,
      deploymentId: d.id,
      state: 'inactive',
      ...(options.logUrl ? { logUrl: options.logUrl } : {}),
      description: options.description ?? `Dynamic environment ${options.env} was torn down`,
    });
    marked.push(d.id);
  }
  return marked;
}

export interface RemovedDeployments {
  /** Deployments deleted. */
  deleted: number[];
  /** Deployments GitHub would not delete (422: made active meanwhile, e.g. by an open racing this close). */
  kept: number[];
}

/**
 * What close does with the env's deployment records: marks them inactive, then deletes them, so the PR's
 * Environments list does not fill up with torn-down envs. GitHub deletes only inactive deployments when a
 * repository has more than one (DELETE /repos/{owner}/{repo}/deployments/{id}: 422 otherwise), hence the order.
 * The GitHub environment itself stays: deleting one needs an admin token (repo administration), not GITHUB_TOKEN.
 */
export async function removeEnvironmentDeployments(octokit: GitHubClient, options: DeactivateOptions): Promise<RemovedDeployments> {
  await deactivateEnvironment(octokit, options);
  const { owner, repo } = options.repo;
  const deployments = await octokit.paginate(octokit.rest.repos.listDeployments, { owner, repo, environment: options.env, per_page: 100 });
  const removed: RemovedDeployments = { deleted: [], kept: [] };
  for (const d of deployments) {
    if (options.keep?.includes(d.id)) continue;
    try {
      await octokit.rest.repos.deleteDeployment({ owner, repo, deployment_id: d.id });
      removed.deleted.push(d.id);
    } catch (error) {
      const status = statusOf(error);
      if (status === 404) continue; // another close was faster
      if (status === 422) removed.kept.push(d.id);
      else throw error;
    }
  }
  return removed;
}

/** GitHub caps deployment and status descriptions at 140 characters. */
function truncate(s: string): string {
  return s.length <= 140 ? s : `${s.slice(0, 139)}…`;
}
