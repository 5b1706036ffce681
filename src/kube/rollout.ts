// Rollout status of the clones: wait until each is Available with updated replicas, and when something is wrong
// say why from the Deployment's conditions, its Pods and events, instead of waiting out the timeout.
import type { Deployment, KubeEvent, Pod } from '../plan/types.js';
import type { WorkloadState } from '../report/model.js';
import { explainApiError, sleep, type KubeClient } from './client.js';
import { DEPLOYMENT, EVENT, POD } from './resources.js';
import { envSelector } from './snapshot.js';

export interface RolloutAssessment {
  state: WorkloadState;
  reason: string | null;
  ready: number;
  desired: number;
}

/** Container waiting reasons that will not fix themselves. */
const FATAL_WAITING = new Set([
  'ErrImagePull', 'ImagePullBackOff', 'InvalidImageName', 'ErrImageNeverPull', 'CrashLoopBackOff',
  'CreateContainerConfigError', 'CreateContainerError', 'RunContainerError',
]);
const FATAL_EVENTS = new Set(['FailedScheduling', 'Failed', 'BackOff', 'InspectFailed', 'ErrImageNeverPull']);

const selects = (selector: Record<string, string> | undefined, labels: Record<string, string> | undefined) =>
  !!selector && Object.entries(selector).every(([k, v]) => labels?.[k] === v);

/**
 * How long a ReplicaFailure that was already there when a wait began is given to clear. Its cause may have been
 * fixed since (a ServiceAccount created, a quota raised): the condition stays until the ReplicaSet controller
 * retries, which open's write of the clone prompts (see RETRY_ANNOTATION in src/commands/open.ts).
 */
export const STALE_FAILURE_GRACE_MS = 15_000;

/**
 * Pure: the state of one clone from what the API shows about it. `unconfirmedBefore` (ms since the epoch): a
 * ReplicaFailure condition that became true before then is not taken as final yet (see STALE_FAILURE_GRACE_MS).
 */
export function assessRollout(d: Deployment | null | undefined, pods: Pod[], events: KubeEvent[], timedOutAfter?: number,
  unconfirmedBefore?: number): RolloutAssessment {
  if (!d) return { state: 'failed', reason: 'the clone Deployment does not exist', ready: 0, desired: 0 };
  const desired = d.spec.replicas ?? 1;
  const st = d.status ?? {};
  const ready = st.readyReplicas ?? 0;
  const mine = pods.filter((p) => selects(d.spec.selector.matchLabels, p.metadata.labels));
  const cond = (type: string) => st.conditions?.find((c) => c.type === type);

  const problem = podProblem(mine) ?? eventProblem(mine, events);
  const progressing = cond('Progressing');
  if (progressing?.status === 'False' && progressing.reason === 'ProgressDeadlineExceeded') {
    return { state: 'failed', reason: `progress deadline exceeded${problem ? `: ${problem}` : `: ${progressing.message ?? ''}`}`, ready, desired };
  }
  const replicaFailure = cond('ReplicaFailure');
  const failure = replicaFailure?.status === 'True'
    ? `${replicaFailure.reason ?? 'ReplicaFailure'}: ${replicaFailure.message ?? ''}`.trim() : null;
  const since = Date.parse(replicaFailure?.lastTransitionTime ?? '');
  const unconfirmed = unconfirmedBefore !== undefined && Number.isFinite(since) && since < unconfirmedBefore;
  if (failure && !unconfirmed) return { state: 'failed', reason: failure, ready, desired };
  const current = (st.observedGeneration ?? 0) >= (d.metadata.generation ?? 0);
  const done = current && (st.updatedReplicas ?? 0) === desired && (st.availableReplicas ?? 0) === desired
    && (st.replicas ?? 0) === desired && ready === desired;
  if (done) return { state: 'ready', reason: null, ready, desired };
  if (problem) return { state: ready > 0 ? 'degraded' : 'failed', reason: problem, ready, desired };
  if (timedOutAfter !== undefined) {
    return { state: ready > 0 ? 'degraded' : 'failed', reason: failure ?? `not available after ${timedOutAfter}s (${ready}/${desired} ready)`, ready, desired };
  }
  return { state: 'progressing', reason: `${ready}/${desired} ready${failure ? ` (retrying after ${failure})` : ''}`, ready, desired };
}

function podProblem(pods: Pod[]): string | null {
  for (const p of pods) {
    for (const c of p.status?.containerStatuses ?? []) {
      const w = c.state?.waiting;
      if (w?.reason && FATAL_WAITING.has(w.reason)) {
        return `pod ${p.metadata.name}: container ${c.name}: ${w.reason}${w.message ? `: ${w.message}` : ''}`;
      }
      const t = c.state?.terminated;
      if (t && (c.restartCount ?? 0) >= 3) return `pod ${p.metadata.name}: container ${c.name} keeps exiting (${t.reason ?? `exit ${t.exitCode}`})`;
    }
    const sched = p.status?.conditions?.find((c) => c.type === 'PodScheduled');
    if (sched?.status === 'False' && sched.reason === 'Unschedulable') {
      return `pod ${p.metadata.name}: unschedulable: ${sched.message ?? ''}`.trim();
    }
  }
  return null;
}

/**
 * Events outlive the trouble they report, so only events about Pods that exist now and are not ready count.
 * ReplicaSet trouble (FailedCreate: quota, admission, a missing ServiceAccount) is read from the Deployment's
 * ReplicaFailure condition instead, which the controllers clear once it is resolved.
 */
function eventProblem(pods: Pod[], events: KubeEvent[]): string | null {
  const notReady = new Set(pods
    .filter((p) => p.status?.conditions?.find((c) => c.type === 'Ready')?.status !== 'True')
    .map((p) => `${p.metadata.namespace}/${p.metadata.name}`));
  const relevant = events
    .filter((e) => e.type === 'Warning' && e.reason && FATAL_EVENTS.has(e.reason))
    .filter((e) => e.involvedObject.kind === 'Pod' && notReady.has(`${e.involvedObject.namespace}/${e.involvedObject.name}`))
    .sort((a, b) => (a.lastTimestamp ?? a.eventTime ?? '').localeCompare(b.lastTimestamp ?? b.eventTime ?? ''));
  const last = relevant.at(-1);
  return last ? `pod ${last.involvedObject.name}: ${last.reason}: ${last.message ?? ''}`.trim() : null;
}

export interface Observed {
  deployments: Deployment[];
  pods: Pod[];
  events: KubeEvent[];
}

/** One look at the env's clones, pods and warning events (three lists, whatever the number of services). */
export async function observeEnv(client: KubeClient, env: string, namespaces: string[]): Promise<Observed> {
  try {
    const [deployments, pods, events] = await Promise.all([
      client.list<Deployment>(DEPLOYMENT, undefined, envSelector(env)),
      client.list<Pod>(POD, undefined, `dynamic-env.io/env=${env}`),
      Promise.all(namespaces.map((ns) => client.list<KubeEvent>(EVENT, ns, undefined, 'type=Warning').catch(() => ({ items: [] as KubeEvent[] })))),
    ]);
    return { deployments: deployments.items, pods: pods.items, events: events.flatMap((e) => e.items) };
  } catch (e) {
    throw explainApiError(e, `reading the clones and pods of env ${env}`);
  }
}

export interface CloneRef {
  namespace: string;
  name: string;
}

/** Waits until every clone is ready or one has failed for good; returns each clone's assessment. */
export async function waitForRollout(
  client: KubeClient,
  env: string,
  clones: CloneRef[],
  timeoutSeconds: number,
  onProgress?: (a: Map<string, RolloutAssessment>) => void,
): Promise<Map<string, RolloutAssessment>> {
  const started = Date.now();
  const deadline = started + timeoutSeconds * 1000;
  const namespaces = [...new Set(clones.map((c) => c.namespace))];
  for (;;) {
    const seen = await observeEnv(client, env, namespaces);
    const timedOut = Date.now() >= deadline ? timeoutSeconds : undefined;
    // Failures already reported before this wait (lastTransitionTime has whole seconds) get a grace period.
    const unconfirmedBefore = Date.now() < started + STALE_FAILURE_GRACE_MS ? started - 1_000 : undefined;
    const result = new Map<string, RolloutAssessment>();
    for (const c of clones) {
      const d = seen.deployments.find((x) => x.metadata.namespace === c.namespace && x.metadata.name === c.name);
      result.set(`${c.namespace}/${c.name}`, assessRollout(d, seen.pods, seen.events, timedOut, unconfirmedBefore));
    }
    onProgress?.(result);
    const states = [...result.values()].map((a) => a.state);
    if (states.every((s) => s === 'ready') || states.some((s) => s === 'failed') || timedOut !== undefined) return result;
    await sleep(1_000);
  }
}
