// Who an env belongs to, and where its Lease lives, read from the env's own objects (docs/DESIGN.md "Objects we
// own" and "Concurrency"). Pure.
//
// An env is found by name, and names can collide: the action's default `pr-{pr}` is the same for PR #42 of two
// repositories sharing a cluster. Each clone and DestinationRule records its owner (`dynamic-env.io/repo`
// annotation, the label-safe `dynamic-env.io/repo` label, `dynamic-env.io/pr` label), so open and close can
// refuse to touch objects that another repository or PR opened.

import { isEnvObject } from './deployment.js';
import { PR_LABEL, REPO_ANNOTATION, REPO_LABEL, labelSafe } from './names.js';
import type { KubeObject, OwnerInfo, PlanProblem } from './types.js';

/**
 * On every clone: the namespace of the env's Lease, so close, sweep and status (which have no config) take the
 * Lease the open took. Kept here rather than in names.ts until that file's next edit.
 */
export const LOCK_NAMESPACE_ANNOTATION = 'dynamic-env.io/lock-namespace';

/** The owner recorded on one object of an env; both null for an env opened by hand (the CLI without --repo). */
export interface RecordedOwner {
  repo: string | null;
  pr: number | null;
}


/** The owner an object records: the annotation's `owner/repo` (else the label-safe label), and the PR label. */
export function ownerOf(o: KubeObject): RecordedOwner {
  const repo = o.metadata.annotations?.[REPO_ANNOTATION] || o.metadata.labels?.[REPO_LABEL] || null;
  const pr = o.metadata.labels?.[PR_LABEL];
  return { repo, pr: pr && /^\d+$/.test(pr) ? Number(pr) : null };
}

export const describeOwner = (o: RecordedOwner | OwnerInfo): string => {
  const repo = 'repo' in o && o.repo ? o.repo : null;
  const pr = o.pr ?? null;
  if (!repo) return pr !== null ? `PR #${pr} (no repository recorded)` : 'no repository (opened by hand, without --repo)';
  return pr !== null ? `${repo} PR #${pr}` : `${repo} (no PR recorded)`;
};

/** Repository names compare case-insensitively (GitHub's are), and the label's `owner.repo` form matches too. */
const sameRepo = (recorded: string, wanted: string): boolean =>
  recorded.toLowerCase() === wanted.toLowerCase() || recorded.toLowerCase() === labelSafe(wanted).toLowerCase();

/**
 * Whether `requester` may write to an object that records `recorded`:
 * - both name a repository: the same one, and the same PR where both record one;
 * - the object records a repository, the requester none (the CLI without --repo): open no (it would strip the
 *   owner, and the repository's close and sweep would lose the env); close yes (a person closing an env by name);
 * - the object records none (opened by hand), the requester one: no, for open and close alike (the action must not
 *   take over or tear down an env a person made); neither records one: yes.
 */
export function mayTouch(recorded: RecordedOwner, requester: OwnerInfo, command: 'open' | 'close'): boolean {
  const wanted = requester.repo || null;
  if (recorded.repo && wanted) {
    if (!sameRepo(recorded.repo, wanted)) return false;
    return recorded.pr === null || requester.pr === undefined || recorded.pr === requester.pr;
  }
  if (recorded.repo && !wanted) return command === 'close';
  if (!recorded.repo && wanted) return false;
  return recorded.pr === null || requester.pr === undefined || recorded.pr === requester.pr;
}

/** Distinct owners recorded on the env's clones and DestinationRules, with the objects recording each. */
export function recordedOwners(objects: KubeObject[], env: string): { owner: RecordedOwner; objects: string[] }[] {
  const byKey = new Map<string, { owner: RecordedOwner; objects: string[] }>();
  for (const o of objects.filter((x) => isEnvObject(x, env))) {
    const owner = ownerOf(o);
    // An object recording the repository by label only (`owner.repo`) is the same owner as one with the annotation.
    const key = `${owner.repo ? labelSafe(owner.repo).toLowerCase() : ''}#${owner.pr ?? ''}`;
    const entry = byKey.get(key) ?? { owner, objects: [] };
    if (owner.repo?.includes('/')) entry.owner = owner;
    entry.objects.push(`${o.kind} ${o.metadata.namespace}/${o.metadata.name}`);
    byKey.set(key, entry);
  }
  return [...byKey.values()];
}

/**
 * The refusal when the env's objects belong to someone else: one problem per foreign owner, naming it, the
 * objects, and the fix. Empty when every object may be touched.
 */
export function ownershipProblems(objects: KubeObject[], env: string, requester: OwnerInfo, command: 'open' | 'close'): PlanProblem[] {
  const me = describeOwner(requester);
  return recordedOwners(objects, env)
    .filter((r) => !mayTouch(r.owner, requester, command))
    .map((r) => {
      const shown = r.objects.slice(0, 3).join(', ') + (r.objects.length > 3 ? ` and ${r.objects.length - 3} more` : '');
      const adopt = r.owner.repo
        ? `pass --repo ${r.owner.repo}${r.owner.pr !== null ? ` --pr ${r.owner.pr}` : ''} if this is that env`
        : `close it by hand first (dynamic-env close --env ${env}) if it is no longer needed`;
      return {
        kind: 'cluster' as const,
        subject: `env ${env}`,
        message: `belongs to ${describeOwner(r.owner)} (recorded on ${shown}), not to ${me}; ${command} would ` +
          (command === 'open' ? 'overwrite and delete its objects and routes' : 'tear it down'),
        fix: `give this env a name of its own: set the action's env-name input to include {repo} (e.g. "{repo}-pr-{pr}", ` +
          `the setting for a cluster shared by several repositories) or pass another --env; or ${adopt}`,
      };
    });
}

/**
 * The Lease namespaces recorded on the env's clones (`dynamic-env.io/lock-namespace`), sorted: one for an env
 * opened by this version, none for an env with no clones (or clones from before the annotation existed).
 */
export function recordedLockNamespaces(objects: KubeObject[], env: string): string[] {
  return [...new Set(objects.filter((o) => isEnvObject(o, env)).map((o) => o.metadata.annotations?.[LOCK_NAMESPACE_ANNOTATION]).filter((x): x is string => !!x))].sort();
}
