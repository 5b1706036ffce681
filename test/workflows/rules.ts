// What a workflow that drives dynamic-env must get right and actionlint cannot see: it checks syntax, expressions,
// event types and the inputs of actions it knows, not whether a fork PR fails for want of a secret or an open can be
// cancelled half-way. Each rule returns problems as sentences naming the workflow and job, empty when it holds.
import { parse } from 'yaml';

/**
 * The current major of every action the workflows use, checked against each action's releases (README "Workflows";
 * search the action's releases before raising one). Each runs on Node 24, like this action.
 */
export const CURRENT_MAJORS: Record<string, string> = {
  'actions/checkout': 'v7',
  'actions/setup-node': 'v7',
  'actions/setup-go': 'v7',
  'actions/cache': 'v6',
  'docker/setup-buildx-action': 'v4',
  'docker/login-action': 'v4',
  'docker/build-push-action': 'v7',
};

/** This action, as users reference it (`owner/dynamic-env@v1`) and as its own repository does (`./`). */
const isDynamicEnv = (uses: string) => /^[^/@]+\/dynamic-env@/.test(uses) || uses === './';

const FORK_GATES = [
  'github.event.pull_request.head.repo.full_name == github.repository',
  '!github.event.pull_request.head.repo.fork',
];
const DEPENDABOT_GATES = [
  "github.actor != 'dependabot[bot]'",
  "github.event.pull_request.user.login != 'dependabot[bot]'",
];
/** Every event the action acts on for an open PR: the open ones, and those that close the env (label, draft). */
export const PULL_REQUEST_TYPES = ['opened', 'reopened', 'synchronize', 'ready_for_review', 'converted_to_draft', 'labeled', 'unlabeled'];

export interface Workflow {
  name: string;
  doc: any;
}

interface Job {
  workflow: Workflow;
  id: string;
  job: any;
  steps: any[];
}

/** The ```yaml blocks of a markdown text that are workflows (they have `on:` and `jobs:`), in order. */
export function markdownWorkflows(markdown: string): { name: string; text: string }[] {
  const blocks = [...markdown.matchAll(/^```ya?ml\n([\s\S]*?)^```$/gm)].map((m) => m[1]!);
  return blocks
    .filter((text) => /^on:/m.test(text) && /^jobs:/m.test(text))
    .map((text) => ({ name: /^name:\s*(.+)$/m.exec(text)?.[1]?.trim() ?? '(unnamed)', text }));
}

export function parseWorkflow(name: string, text: string): Workflow {
  return { name, doc: parse(text) };
}

function triggers(w: Workflow): Record<string, any> {
  const on = w.doc.on;
  if (typeof on === 'string') return { [on]: {} };
  if (Array.isArray(on)) return Object.fromEntries(on.map((e: string) => [e, {}]));
  return on ?? {};
}

function jobsOf(w: Workflow): Job[] {
  return Object.entries(w.doc.jobs ?? {}).map(([id, job]: [string, any]) => ({ workflow: w, id, job, steps: job.steps ?? [] }));
}

const where = (j: Job) => `workflow "${j.workflow.name}", job "${j.id}"`;
const squash = (s: unknown) => String(s ?? '').replace(/\s+/g, ' ').replace(/"/g, "'");
const usesDynamicEnv = (j: Job) => j.steps.some((s) => typeof s.uses === 'string' && isDynamicEnv(s.uses));
const dynamicEnvStep = (j: Job) => j.steps.find((s) => typeof s.uses === 'string' && isDynamicEnv(s.uses));
const usesSecrets = (j: Job) => /\$\{\{\s*secrets\./.test(JSON.stringify(j.job));

/** The job's permissions as GitHub applies them: its own block replaces the workflow's. */
function permissionOf(j: Job, scope: string): string {
  const p = j.job.permissions ?? j.workflow.doc.permissions;
  if (p === undefined || p === 'write-all') return 'write';
  if (p === 'read-all') return 'read';
  return p?.[scope] ?? 'none';
}

function isPushStep(s: any): boolean {
  if (typeof s.uses === 'string' && s.uses.startsWith('docker/build-push-action@')) return String(s.with?.push) === 'true';
  return typeof s.run === 'string' && /\bdocker\s+(push|buildx\s+build\b[^\n]*--push)/.test(s.run);
}

function isLoginStep(s: any): boolean {
  return (typeof s.uses === 'string' && s.uses.startsWith('docker/login-action@')) ||
    (typeof s.run === 'string' && /\bdocker\s+login\b/.test(s.run));
}

/** Every `uses:` names a known action at its current major (this action and local ones aside). */
export function majorProblems(w: Workflow): string[] {
  const problems: string[] = [];
  for (const j of jobsOf(w)) {
    for (const s of j.steps) {
      if (typeof s.uses !== 'string' || s.uses.startsWith('./') || isDynamicEnv(s.uses)) continue;
      const [action, ref] = s.uses.split('@') as [string, string | undefined];
      const current = CURRENT_MAJORS[action.split('/').slice(0, 2).join('/')];
      if (!current) problems.push(`${where(j)}: ${s.uses} is not in CURRENT_MAJORS; check its releases and add its current major`);
      else if (ref !== current) problems.push(`${where(j)}: ${s.uses} is not the current major of ${action} (${current})`);
    }
  }
  return problems;
}

/** A job that pushes an image logs in to the registry first, may write packages, and tags the PR's head commit. */
export function registryProblems(w: Workflow): string[] {
  const problems: string[] = [];
  const onPullRequest = 'pull_request' in triggers(w) || 'pull_request_target' in triggers(w);
  for (const j of jobsOf(w)) {
    const push = j.steps.findIndex(isPushStep);
    if (push < 0) continue;
    const login = j.steps.findIndex(isLoginStep);
    if (login < 0 || login > push) problems.push(`${where(j)}: log in to the registry (docker/login-action) before the push`);
    if (permissionOf(j, 'packages') !== 'write') problems.push(`${where(j)}: pushing an image needs \`packages: write\``);
    const pushed = JSON.stringify(j.steps[push]);
    if (onPullRequest && !pushed.includes('github.event.pull_request.head.sha')) {
      problems.push(`${where(j)}: tag the image with the PR's head sha (github.event.pull_request.head.sha; github.sha is the merge commit)`);
    }
  }
  return problems;
}

/**
 * Fork and Dependabot PRs get no secrets on `pull_request`: every job there that needs one is gated so it skips.
 * `pull_request_target` has secrets (Dependabot's own runs aside) and runs the base branch's workflow: it never
 * checks out code.
 */
export function secretProblems(w: Workflow): string[] {
  const problems: string[] = [];
  const on = triggers(w);
  for (const j of jobsOf(w)) {
    if (!usesSecrets(j)) continue;
    const gate = squash(j.job.if);
    if ('pull_request' in on && !FORK_GATES.some((g) => gate.includes(g))) {
      problems.push(`${where(j)}: fork PRs get no secrets on pull_request; gate the job with \`if: ${FORK_GATES[0]}\``);
    }
    if (('pull_request' in on || 'pull_request_target' in on) && !DEPENDABOT_GATES.some((g) => gate.includes(g))) {
      problems.push(`${where(j)}: Dependabot PRs get no secrets; gate the job with \`if: ${DEPENDABOT_GATES[0]}\``);
    }
    if ('pull_request_target' in on && j.steps.some((s) => String(s.uses ?? '').startsWith('actions/checkout@'))) {
      problems.push(`${where(j)}: pull_request_target runs with secrets; do not check out code there`);
    }
  }
  return problems;
}

/** The user's open, close and sweep workflows together (README "Workflows"). */
export function lifecycleProblems(workflows: Workflow[]): string[] {
  const problems: string[] = [];
  const jobs = workflows.flatMap(jobsOf).filter(usesDynamicEnv);
  const open = jobs.find((j) => 'pull_request' in triggers(j.workflow));
  const close = jobs.find((j) => 'pull_request_target' in triggers(j.workflow));
  const sweep = jobs.find((j) => 'schedule' in triggers(j.workflow));
  if (!open) problems.push('no open workflow (pull_request) runs the action');
  if (!close) problems.push('no close workflow (pull_request_target: closed) runs the action');
  if (!sweep) problems.push('no sweep workflow (schedule) runs the action');

  const concurrencyOf = (j: Job) => j.job.concurrency ?? j.workflow.doc.concurrency;
  // `concurrency: <group>` is short for a group that does not cancel.
  const group = (c: any) => squash(typeof c === 'string' ? c : c?.group);
  const cancels = (c: any) => typeof c === 'object' && c !== null && String(c['cancel-in-progress'] ?? false) !== 'false';

  if (open) {
    const types: string[] = triggers(open.workflow).pull_request?.types ?? [];
    for (const t of PULL_REQUEST_TYPES.filter((t) => !types.includes(t))) {
      problems.push(`${where(open)}: pull_request types lack ${t}${t === 'unlabeled' ? ' (removing the gate label closes the env)' : t === 'converted_to_draft' ? ' (closes the env under skip-drafts)' : ''}`);
    }
    if (open.workflow.doc.concurrency) {
      problems.push(`${where(open)}: no workflow-level concurrency: a cancellable one cancels the open half-way, a queueing one holds the next build behind it; give the build and the open job their own`);
    }
    const c = open.job.concurrency;
    if (!c || !group(c).includes('github.event.pull_request.number') || cancels(c)) {
      problems.push(`${where(open)}: the open job needs concurrency keyed per PR (github.event.pull_request.number) with cancel-in-progress: false, so no open is cancelled half-way through its writes`);
    }
    if (open.steps.some(isPushStep)) problems.push(`${where(open)}: build the image in a job of its own, which a newer push may cancel`);
    for (const b of jobsOf(open.workflow).filter((b) => b.id !== open.id && b.steps.some(isPushStep))) {
      if (!cancels(b.job.concurrency)) problems.push(`${where(b)}: the build needs concurrency with cancel-in-progress: true (a newer push makes it stale)`);
      const needs = [open.job.needs ?? []].flat();
      if (!needs.includes(b.id)) problems.push(`${where(open)}: needs: ${b.id}, so the env gets the image the build pushed`);
    }
    if (close && (group(concurrencyOf(close)) !== group(c) || cancels(concurrencyOf(close)))) {
      problems.push(`${where(close)}: share the open job's concurrency group (${group(c)}) with cancel-in-progress: false, so a close never races an open of the same PR`);
    }
  }
  if (sweep) {
    const c = concurrencyOf(sweep);
    if (!c || /pull_request/.test(group(c)) || (open && group(c) === group(concurrencyOf(open))) || cancels(c)) {
      problems.push(`${where(sweep)}: the sweep needs a concurrency group of its own, with cancel-in-progress: false`);
    }
    if (permissionOf(sweep, 'pull-requests') !== 'write') problems.push(`${where(sweep)}: the sweep needs \`pull-requests: write\` (PR states, comments of swept envs)`);
  }
  for (const j of jobs) {
    if (permissionOf(j, 'pull-requests') !== 'write') problems.push(`${where(j)}: the sticky comment needs \`pull-requests: write\``);
  }
  // GitHub Deployments: on in one workflow means on in all, each with the permission to write them (and only then).
  const deploymentsOn = jobs.some((j) => String(dynamicEnvStep(j)?.with?.['github-deployment']) === 'true');
  for (const j of jobs) {
    const on = String(dynamicEnvStep(j)?.with?.['github-deployment']) === 'true';
    const canWrite = permissionOf(j, 'deployments') === 'write';
    if (deploymentsOn && !on) problems.push(`${where(j)}: set github-deployment: true here too (another workflow records deployments; this one must mark them inactive)`);
    if (on && !canWrite) problems.push(`${where(j)}: github-deployment: true needs \`deployments: write\``);
    if (!deploymentsOn && (j.job.permissions ?? j.workflow.doc.permissions)?.deployments === 'write') problems.push(`${where(j)}: \`deployments: write\` without github-deployment: true grants more than needed`);
  }
  return problems;
}

/** Every rule, for the README's workflows (a user's open, close and sweep). */
export function readmeWorkflowProblems(workflows: Workflow[]): string[] {
  return [...workflows.flatMap((w) => [...majorProblems(w), ...registryProblems(w), ...secretProblems(w)]), ...lifecycleProblems(workflows)];
}
