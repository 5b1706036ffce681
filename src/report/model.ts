// The report every command produces. `status --output json` prints EnvReport as is: other tools rely on it, so
// fields are only ever added, never renamed.

import type { ObjectRef } from '../plan/types.js';

export type WorkloadState = 'ready' | 'progressing' | 'degraded' | 'failed';
/**
 * `deploying`: the clones and their DestinationRules are written and rolling out, the routes are not in yet (what
 * the PR comment says between the writes and the end of the rollout wait). Never the result of a command.
 */
export type EnvState = WorkloadState | 'deploying' | 'absent' | 'closed' | 'skipped';

export interface WorkloadReport {
  role: 'service' | 'worker';
  namespace: string;
  deployment: string;
  clone: string;
  images: string[];
  replicas: { ready: number; desired: number };
  state: WorkloadState;
  /** Why the state is not `ready`, from the Deployment's conditions, its Pods and events. */
  reason: string | null;
  hosts: string[];
  /** Services only: a URL of the first host with its Service's HTTP port, e.g. http://reviews.shop.svc.cluster.local:9080/. */
  url?: string;
  destinationRules: ObjectRef[];
  virtualServices: ObjectRef[];
}

export interface EnvReport {
  env: string;
  header: string;
  headerValue: string;
  /** The W3C baggage member to send instead of the header, e.g. `override=pr-42`; null when turned off. */
  baggage: string | null;
  state: EnvState;
  services: WorkloadReport[];
  workers: WorkloadReport[];
  /** Set by close: what was removed. */
  removed?: { clones: ObjectRef[]; destinationRules: ObjectRef[]; virtualServices: ObjectRef[]; routes: number };
  /** Free-form context the renderers show (commit, run link, why it closed). */
  context?: {
    repo?: string;
    pr?: number;
    commit?: string;
    /** The PR head when known: a report about an older commit says so. */
    headCommit?: string;
    /** The GitHub web root (GITHUB_SERVER_URL) for the commit link; default https://github.com. */
    serverUrl?: string;
    runUrl?: string;
    updatedAt?: string;
    closeReason?: 'merged' | 'closed' | 'swept' | 'unlabeled' | 'draft' | 'manual';
    /** An example URL for the curl line, e.g. from the `environment-url` input. */
    exampleUrl?: string;
    /** Why nothing was done (state `skipped`), e.g. "pull request #42 is a draft". */
    skipReason?: string;
  };
  warnings?: string[];
  /** status: the namespace of the env's Lease, as its clones record it (where a run waits for the env's lock). */
  lockNamespace?: string;
}

/** Worst state wins: failed > degraded > progressing > ready. */
export function overallState(states: WorkloadState[]): WorkloadState {
  const order: WorkloadState[] = ['ready', 'progressing', 'degraded', 'failed'];
  return states.reduce<WorkloadState>((worst, s) => (order.indexOf(s) > order.indexOf(worst) ? s : worst), 'ready');
}
