// The report every command produces. `status --output json` prints EnvReport as is: other tools rely on it, so
// fields are only ever added, never renamed.

import type { ObjectRef } from '../plan/types.js';

export type WorkloadState = 'ready' | 'progressing' | 'degraded' | 'failed';
export type EnvState = WorkloadState | 'absent' | 'closed' | 'skipped';

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
    runUrl?: string;
    updatedAt?: string;
    closeReason?: 'merged' | 'closed' | 'swept' | 'unlabeled' | 'draft' | 'manual';
    /** An example URL for the curl line, e.g. from the `environment-url` input. */
    exampleUrl?: string;
    /** Why nothing was done (state `skipped`), e.g. "pull request #42 is a draft". */
    skipReason?: string;
  };
  warnings?: string[];
}

/** Worst state wins: failed > degraded > progressing > ready. */
export function overallState(states: WorkloadState[]): WorkloadState {
  const order: WorkloadState[] = ['ready', 'progressing', 'degraded', 'failed'];
  return states.reduce<WorkloadState>((worst, s) => (order.indexOf(s) > order.indexOf(worst) ? s : worst), 'ready');
}
