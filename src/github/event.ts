// Event -> command. PURE: the event name, the webhook payload and the inputs in, a Decision out. A decision to do
// nothing is a `skip` with a human reason (logged, not a failure).
//
// Identity of a PR's env is the PR head commit (`pull_request.head.sha`), never the merge commit GitHub builds for
// `pull_request` runs (GITHUB_SHA): the merge commit changes whenever the base moves and is not what the author
// pushed.

import { usageError } from '../errors.js';
import type { ActionInputs, Command } from '../config/inputs.js';
import { expandEnvName } from '../config/inputs.js';
import type { EnvReport } from '../report/model.js';

export type CloseReason = NonNullable<NonNullable<EnvReport['context']>['closeReason']>;

/** What the decision knows about the pull request the event is about. */
export interface PullInfo {
  owner: string;
  repo: string;
  number: number;
  /** The PR head commit: the env's identity. */
  headSha: string;
  headRef: string;
  /** `owner/repo` of the head; null when the head repository was deleted. */
  headRepo: string | null;
  /** `owner/repo` of the base. */
  baseRepo: string;
  isFork: boolean;
  draft: boolean;
  state: 'open' | 'closed';
  merged: boolean;
  labels: string[];
}

export type Decision =
  | { command: 'open'; env: string; pull: PullInfo | null; reason: string }
  | { command: 'close'; env: string; pull: PullInfo | null; closeReason: CloseReason; reason: string }
  | { command: 'status'; env: string; pull: PullInfo | null; reason: string }
  | { command: 'sweep'; reason: string }
  | { command: 'skip'; env: string | null; pull: PullInfo | null; reason: string };

export type DecisionInputs = Pick<ActionInputs, 'command' | 'envName' | 'label' | 'skipDrafts'> & {
  /** `owner/repo` of the workflow (GITHUB_REPOSITORY), for `{repo}` when the payload names none. */
  repository?: string;
};

const PR_EVENTS = new Set(['pull_request', 'pull_request_target']);
const OPEN_ACTIONS = new Set(['opened', 'reopened', 'synchronize', 'ready_for_review', 'labeled']);

type Json = Record<string, unknown>;
const obj = (v: unknown): Json | undefined => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : undefined);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/** Reads the pull request out of a pull_request / pull_request_target payload; undefined if there is none. */
export function pullFromPayload(payload: unknown): PullInfo | undefined {
  const p = obj(payload);
  const pr = obj(p?.pull_request);
  if (!pr) return undefined;
  const number = typeof pr.number === 'number' ? pr.number : typeof p?.number === 'number' ? (p.number as number) : undefined;
  const head = obj(pr.head);
  const base = obj(pr.base);
  const headSha = str(head?.sha);
  const baseRepo = str(obj(base?.repo)?.full_name) ?? str(obj(p?.repository)?.full_name);
  if (number === undefined || !headSha || !baseRepo) return undefined;
  const [owner, repo] = baseRepo.split('/') as [string, string];
  const headRepo = str(obj(head?.repo)?.full_name) ?? null;
  return {
    owner,
    repo,
    number,
    headSha,
    headRef: str(head?.ref) ?? '',
    headRepo,
    baseRepo,
    // A deleted head repository cannot be checked: treat it as a fork.
    isFork: headRepo === null || headRepo.toLowerCase() !== baseRepo.toLowerCase(),
    draft: pr.draft === true,
    state: pr.state === 'closed' ? 'closed' : 'open',
    merged: pr.merged === true,
    labels: Array.isArray(pr.labels) ? pr.labels.map((l) => str(obj(l)?.name) ?? str(l) ?? '').filter(Boolean) : [],
  };
}

/** The env name for a PR: the `env-name` input with `{pr}` and `{repo}` expanded, default `pr-<number>`. */
export function envNameFor(inputs: Pick<ActionInputs, 'envName'>, pr: number | undefined, repo?: string): string {
  if (inputs.envName === undefined) {
    if (pr === undefined) throw usageError('input "env-name": required when the event is not about a pull request');
    return `pr-${pr}`;
  }
  if (inputs.envName.includes('{pr}') && pr === undefined) {
    throw usageError(`input "env-name": "${inputs.envName}" uses {pr} but the event is not about a pull request`);
  }
  if (inputs.envName.includes('{repo}') && !repo) {
    throw usageError(`input "env-name": "${inputs.envName}" uses {repo} but neither the event nor GITHUB_REPOSITORY names the repository`);
  }
  return expandEnvName(inputs.envName, { pr, ...(repo ? { repo } : {}) });
}

/**
 * Decides what to do for an event. Throws a usage error only when an explicit command cannot be carried out
 * (e.g. `open` outside a PR without `env-name`).
 */
export function decide(eventName: string, payload: unknown, inputs: DecisionInputs): Decision {
  const p = obj(payload) ?? {};
  const action = str(p.action) ?? '';
  const isPrEvent = PR_EVENTS.has(eventName);
  const pull = (isPrEvent ? pullFromPayload(payload) : undefined) ?? null;
  if (isPrEvent && !pull) {
    return { command: 'skip', env: null, pull: null, reason: `the ${eventName} payload has no pull request` };
  }
  const eventLabel = str(obj(p.label)?.name);
  const repo = pull?.baseRepo ?? str(obj(p.repository)?.full_name) ?? inputs.repository;

  if (inputs.command !== 'auto') return explicit(inputs.command, eventName, action, pull, inputs, repo);

  if (eventName === 'schedule' || eventName === 'workflow_dispatch') {
    return { command: 'sweep', reason: `${eventName} event: sweep stale environments` };
  }
  if (!pull) {
    return {
      command: 'skip',
      env: null,
      pull: null,
      reason: `the ${eventName} event does not map to a command; set the "command" input (open, close, status, sweep)`,
    };
  }

  const env = envNameFor(inputs, pull.number, repo);
  const skip = (reason: string): Decision => ({ command: 'skip', env, pull, reason });
  const what = `pull request #${pull.number}`;

  // A fork PR never gets an env (open refuses it), so its close has nothing to remove; and a `pull_request` run
  // for a fork has neither the kubeconfig secret nor a token that may comment, so trying would fail the job.
  const forkClose = (): Decision =>
    skip(`${what} comes from a fork (${pull.headRepo ?? 'deleted repository'}); forks never get an environment, so there is nothing to close`);

  if (action === 'closed') {
    if (pull.isFork) return forkClose();
    const closeReason: CloseReason = pull.merged ? 'merged' : 'closed';
    return { command: 'close', env, pull, closeReason, reason: `${what} was ${pull.merged ? 'merged' : 'closed'}` };
  }
  if (action === 'labeled' || action === 'unlabeled') {
    if (inputs.label === undefined) {
      return skip(`${action} event: labels do not gate environments (the "label" input is not set)`);
    }
    if (eventLabel !== inputs.label) {
      return skip(`${action} event for label "${eventLabel ?? '?'}", not the gate label "${inputs.label}"`);
    }
    if (action === 'unlabeled') {
      if (pull.isFork) return forkClose();
      return { command: 'close', env, pull, closeReason: 'unlabeled', reason: `the gate label "${inputs.label}" was removed from ${what}` };
    }
  }
  if (action === 'converted_to_draft') {
    // A draft gets no env under skip-drafts: the one it had goes, as a label gate's does when the label goes.
    if (!inputs.skipDrafts) return skip(`${what} was converted to a draft; skip-drafts is off, so its environment stays`);
    if (pull.isFork) return forkClose();
    return { command: 'close', env, pull, closeReason: 'draft', reason: `${what} was converted to a draft (skip-drafts is on)` };
  }
  if (!OPEN_ACTIONS.has(action)) return skip(`the "${action}" action of ${eventName} does not change the environment`);

  const refusal = openRefusal(pull, inputs);
  if (refusal) return skip(refusal);
  return { command: 'open', env, pull, reason: `${what} ${action.replaceAll('_', ' ')}` };
}

/** Why an env must not be opened for this PR, or undefined. Applies to explicit `open` too. */
function openRefusal(pull: PullInfo, inputs: DecisionInputs): string | undefined {
  const what = `pull request #${pull.number}`;
  if (pull.isFork) {
    return `${what} comes from a fork (${pull.headRepo ?? 'deleted repository'}); environments run only code from ${pull.baseRepo}`;
  }
  if (pull.state === 'closed') return `${what} is closed`;
  if (pull.draft && inputs.skipDrafts) return `${what} is a draft (skip-drafts is on)`;
  if (inputs.label !== undefined && !pull.labels.includes(inputs.label)) {
    return `${what} does not carry the gate label "${inputs.label}"`;
  }
  return undefined;
}

function explicit(command: Exclude<Command, 'auto'>, eventName: string, action: string, pull: PullInfo | null, inputs: DecisionInputs, repo: string | undefined): Decision {
  const reason = `the "command" input is "${command}"`;
  if (command === 'sweep') return { command: 'sweep', reason };
  const env = envNameFor(inputs, pull?.number, repo);
  if (command === 'status') return { command: 'status', env, pull, reason };
  if (command === 'close') {
    // On a PR's own close event the reason is known; anything else is a hand-made close.
    const closeReason: CloseReason =
      pull && action === 'closed' && PR_EVENTS.has(eventName) ? (pull.merged ? 'merged' : 'closed') : 'manual';
    return { command: 'close', env, pull, closeReason, reason };
  }
  if (pull) {
    const refusal = openRefusal(pull, inputs);
    if (refusal) return { command: 'skip', env, pull, reason: refusal };
  }
  return { command: 'open', env, pull, reason };
}
