// Rollout status of the clones: wait until each is Available with updated replicas, and when something is wrong
// say why from the Deployment's conditions, its Pods and events, instead of waiting out the timeout.
import type { Deployment, KubeEvent, KubeObject, Pod } from '../plan/types.js';
import type { WorkloadState } from '../report/model.js';
import { ApiStatusError, INITIAL_EVENTS_END, explainApiError, isRefusal, isTransient, retryDelayMs, sleep, type KubeClient } from './client.js';
import { DEPLOYMENT, EVENT, POD, type ResourceType } from './resources.js';
import { envSelector } from './snapshot.js';
import { ENV_LABEL } from '../plan/names.js';

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

/** Whether a Deployment's matchLabels select a Pod's labels. */
export const selects = (selector: Record<string, string> | undefined, labels: Record<string, string> | undefined) =>
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
  // A terminating pod (an old pod a push replaced) is on its way out: its troubles are not the clone's.
  const mine = pods.filter((p) => selects(d.spec.selector.matchLabels, p.metadata.labels) && !p.metadata.deletionTimestamp);
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
  if (timedOutAfter !== undefined) {
    // Whatever was last seen, a clone not Available by the deadline is failed: the env is not routed to it.
    return { state: 'failed', reason: `timed out after ${timedOutAfter}s: ${problem ?? failure ?? `${ready}/${desired} ready`}`, ready, desired };
  }
  if (problem) return { state: ready > 0 ? 'degraded' : 'failed', reason: problem, ready, desired };
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
  // Said as the Pod's own condition says it: with watches the event may arrive before the Pod's status.
  const reason = last?.reason === 'FailedScheduling' ? 'unschedulable' : last?.reason;
  return last ? `pod ${last.involvedObject.name}: ${reason}: ${last.message ?? ''}`.trim() : null;
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
      readEnvPods(client, env),
      readWarningEvents(client, namespaces),
    ]);
    return { deployments: deployments.items, pods, events };
  } catch (e) {
    throw explainApiError(e, `reading the clones and pods of env ${env}`);
  }
}

/** The env's pods, wherever they are. */
export async function readEnvPods(client: KubeClient, env: string): Promise<Pod[]> {
  return (await client.list<Pod>(POD, undefined, `${ENV_LABEL}=${env}`)).items;
}

/** Warning events in `namespaces`; a namespace whose events cannot be read has none (they only explain). */
export async function readWarningEvents(client: KubeClient, namespaces: string[]): Promise<KubeEvent[]> {
  const lists = await Promise.all(namespaces.map((ns) => client.list<KubeEvent>(EVENT, ns, undefined, 'type=Warning').catch(() => ({ items: [] as KubeEvent[] }))));
  return lists.flatMap((e) => e.items);
}

export interface CloneRef {
  namespace: string;
  name: string;
}

/**
 * How long the wait follows the clones and their Pods before it follows Warning events too. Events only explain a
 * rollout that is slow or stuck, and the Pods' own status says most of that already (a waiting reason, Unschedulable),
 * so a quick rollout (instant pods, a re-run with nothing new) costs one request less. A streaming list started
 * later still sends the events from before it.
 */
export const EVENTS_AFTER_MS = 1_000;

/** How long a watch runs before the API server ends it and it is started again (from the last version seen). */
const WATCH_SECONDS = 300;

/** Why a watch was stopped to be resumed: another watch of the wait lost the API server, or all were silent. */
const RESUMED = Symbol('resumed: another watch lost the API server, or all were silent');

/**
 * How long the wait goes without a word from any of its watches (an event, a bookmark, a list) before it resumes
 * them all, each from its last version. A watch relayed by a proxy or load balancer can stay open, silent, after the
 * API server behind it died; when none of the wait's own requests meets the dead server, nothing else notices (the
 * restart test met it: the clone's create was retried through the restart, and both watches said nothing more until
 * the 300 s deadline). client-go's HTTP/2 connections ping after 30 s without a read for the same reason. A healthy
 * wait with nothing changing (a long image pull) pays one watch request per kind each time.
 */
export const SILENT_MS = 30_000;

interface Source {
  type: ResourceType;
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  store: Map<string, KubeObject>;
  /** A list that fails for good (events this identity may not read) leaves it empty instead of failing the wait. */
  optional?: boolean;
  synced?: boolean;
}

/** `namespace/name` of an object. */
export const keyOf = (o: { metadata: { namespace?: string; name: string } }) => `${o.metadata.namespace ?? ''}/${o.metadata.name}`;
const refKey = (c: CloneRef) => `${c.namespace}/${c.name}`;

export interface Rollout {
  /** Each clone's state, by `namespace/name`. */
  assessments: Map<string, RolloutAssessment>;
  /** The env's Deployments, Pods and Warning events as the watches last showed them. */
  seen: Observed;
}

/**
 * The env's Deployments and Pods, followed from the moment it is started: an open starts it under the env's Lease,
 * before it writes, so that the watch's first list is the read of the env's clones under the Lease (one request for
 * both) and the rollout wait then goes on from what the watch already holds.
 */
export interface EnvWatch {
  /**
   * The env's Deployments as the watch's first list showed them (a server that never says where a streaming list's
   * state ends, one before Kubernetes 1.27, is asked by a list after LISTED_WITHIN_MS).
   */
  listed: Promise<Deployment[]>;
  /**
   * Waits until every clone is ready or one has failed for good. `written`: the generation each clone this run wrote
   * has from that write (by `namespace/name`); the watch's copies from before it are not assessed.
   */
  rollout(clones: CloneRef[], written?: Map<string, number>): Promise<Rollout>;
  stop(): void;
}

/** How long `EnvWatch.listed` waits for a streaming list's closing bookmark before it lists. */
export const LISTED_WITHIN_MS = 2_000;

/**
 * Follows the env's Deployments and Pods, and once a rollout is waited for for `eventsAfterMs`, the Warning events of
 * its namespaces, each by a streaming list (one request for the current state and the changes; a list and a watch
 * where the server refuses it). The clones are assessed again on every change, so a clone counts as ready the moment
 * the API server says so. A watch that ends is resumed from the last version it delivered; one whose version expired
 * (410 Gone) or whose connection failed (a restarting API server) starts again from the current state, with backoff,
 * until the deadline (`timeoutSeconds` from now). At the deadline every clone not ready is failed: "timed out after
 * Ns", with what was last seen wrong.
 */
export function watchEnv(
  client: KubeClient,
  env: string,
  timeoutSeconds: number,
  { eventsAfterMs = EVENTS_AFTER_MS, silentMs = SILENT_MS }: { eventsAfterMs?: number; silentMs?: number } = {},
): EnvWatch {
  const deadline = Date.now() + timeoutSeconds * 1000;
  const deployments: Source = { type: DEPLOYMENT, labelSelector: envSelector(env), store: new Map() };
  const pods: Source = { type: POD, labelSelector: `${ENV_LABEL}=${env}`, store: new Map() };
  let events: Source[] = [];
  const stop = new AbortController();
  /** Told of every change; the rollout wait's assessment once one is waited for. */
  let changed = () => {};
  let listedDone!: (d: Deployment[]) => void;
  const listed = new Promise<Deployment[]>((resolve) => { listedDone = resolve; });
  const synced = () => {
    if (deployments.synced) listedDone([...deployments.store.values()] as Deployment[]);
  };
  // One streaming list per source where the server has the WatchList feature; where it refuses, a list and a watch.
  let streaming = true;
  /**
   * The watches in progress. One that loses the API server (connection refused or reset) resumes the others too:
   * theirs went to the same server, and one relayed by a proxy or load balancer can stay open, silent, after the
   * server behind it died (the restart test met it: the Deployments' watch sent nothing more until its timeout).
   */
  const watching = new Map<Source, AbortController>();
  const resumeOthers = (self: Source) => {
    for (const [src, ctl] of watching) if (src !== self) ctl.abort(RESUMED);
  };
  /** When any watch or list last said something: all silent for silentMs, every watch is resumed. */
  let heard = Date.now();
  const silence = setInterval(() => {
    if (Date.now() - heard < silentMs) return;
    heard = Date.now();
    for (const ctl of watching.values()) ctl.abort(RESUMED);
  }, Math.max(10, silentMs / 4));
  silence.unref();
  const follow = async (src: Source): Promise<void> => {
    // The version to resume from; none: start again from the current state.
    let version: string | undefined;
    for (let attempt = 0; !stop.signal.aborted; attempt++) {
      const stream = version === undefined && streaming;
      try {
        if (version === undefined && !stream) {
          const listed = await client.list<KubeObject>(src.type, src.namespace, src.labelSelector, src.fieldSelector);
          heard = Date.now();
          src.store = new Map(listed.items.map((o) => [keyOf(o), o]));
          src.synced = true;
          attempt = 0;
          synced();
          changed();
          version = listed.resourceVersion;
        }
        for (;;) {
          if (version === undefined) {
            // A streaming list sends the whole state again: what it does not send is gone.
            src.store = new Map();
            src.synced = false;
          }
          const left = (deadline - Date.now()) / 1000;
          const began = Date.now();
          let events = 0;
          const resumed = new AbortController();
          watching.set(src, resumed);
          await client.watch<KubeObject>(src.type, src.namespace, {
            labelSelector: src.labelSelector, fieldSelector: src.fieldSelector, resourceVersion: version,
            initialEvents: version === undefined, timeoutSeconds: Math.min(WATCH_SECONDS, left + 1),
            signal: AbortSignal.any([stop.signal, resumed.signal]),
          }, (e) => {
            events++;
            heard = Date.now();
            // The initial events come in no order of version: resume from the bookmark that ends them, not before.
            const initial = version === undefined;
            if (e.type === 'BOOKMARK') {
              if (initial && e.object.metadata.annotations?.[INITIAL_EVENTS_END] !== 'true') return;
              version = e.object.metadata.resourceVersion ?? version;
              if (initial) {
                src.synced = true;
                attempt = 0;
                synced();
                changed();
              }
              return;
            }
            if (!initial) version = e.object.metadata.resourceVersion ?? version;
            if (e.type === 'DELETED') src.store.delete(keyOf(e.object));
            else src.store.set(keyOf(e.object), e.object);
            changed();
          });
          // A stream that ends at once with nothing in it (a proxy cutting watches) is not resumed in a tight loop.
          if (events === 0 && Date.now() - began < 1_000) await sleep(250);
        }
      } catch (e) {
        watching.delete(src);
        if (stop.signal.aborted) return;
        // Another watch lost the API server, or all were silent: this one resumes, from its version, with backoff.
        if (e === RESUMED) {
          streaming = false;
          await sleep(retryDelayMs(attempt));
          continue;
        }
        // 410 Gone: the version is no longer kept; start again from the current state at once.
        if (e instanceof ApiStatusError && e.code === 410) {
          version = undefined;
          continue;
        }
        // A server without the WatchList feature (Kubernetes 1.33 by default) refuses a streaming list: list and watch.
        if (stream && e instanceof ApiStatusError && (e.code === 422 || e.code === 400)) {
          streaming = false;
          continue;
        }
        // A restarted API server refuses (401/403) until its authorizer's caches are filled: while it is not ready,
        // a refusal is retried like a lost connection (as KubeClient.request does for every other request).
        const restarting = isRefusal(e) && await client.starting();
        if (!isTransient(e) && !restarting) {
          if (src.optional) {
            src.store.clear();
            return;
          }
          return fail(explainApiError(e, `watching the clones and pods of env ${env}`));
        }
        // The API server is away (restarting) or failing: try again, with backoff, until the deadline. From then on
        // the wait starts each kind again with a list (KubeClient.request carries it through a restart) and a watch:
        // a server just back is not asked for streaming lists while its watch cache fills.
        streaming = false;
        resumeOthers(src);
        await sleep(retryDelayMs(attempt));
      }
    }
  };

  // A watch that fails for good fails what waits on it: the first list, the rollout (also one asked for later).
  let failure: { error: unknown } | undefined;
  const rejecters = new Set<(e: unknown) => void>();
  const fail = (error: unknown) => {
    failure ??= { error };
    for (const reject of rejecters) reject(error);
  };
  const failing = <T>(work: Promise<T>) => new Promise<T>((resolve, reject) => {
    if (failure) reject(failure.error);
    rejecters.add(reject);
    work.then(resolve, reject);
  });
  for (const src of [deployments, pods]) void follow(src);
  const listedTimer = setTimeout(() => {
    if (!deployments.synced && !stop.signal.aborted) {
      client.list<Deployment>(DEPLOYMENT, undefined, envSelector(env)).then((l) => listedDone(l.items), (e: unknown) => fail(e));
    }
  }, LISTED_WITHIN_MS);

  return {
    listed: failing(listed),
    rollout: (clones, written) => {
      const started = Date.now();
      let settle!: (r: Rollout) => void;
      const result = failing(new Promise<Rollout>((resolve) => { settle = resolve; }));
      /** Clones whose version of this run's write the watch has shown. */
      const arrived = new Set<string>();
      const assess = (timedOut?: number) => {
        // Until the clones have been listed once, a clone not seen yet is not known to be missing. (A server before
        // Kubernetes 1.27 ignores a streaming list's request and never closes its initial events: seeing every clone is
        // enough.) A clone this run wrote is not known until the watch shows its write.
        const at = (c: CloneRef) => deployments.store.get(refKey(c)) as Deployment | undefined;
        for (const c of clones) {
          const want = written?.get(refKey(c));
          if (want === undefined || (at(c)?.metadata.generation ?? 0) >= want) arrived.add(refKey(c));
        }
        const seen = (deployments.synced || clones.every((c) => at(c))) && clones.every((c) => arrived.has(refKey(c)));
        if (!seen && timedOut === undefined) return;
        // Failures already reported before this wait (lastTransitionTime has whole seconds) get a grace period.
        const unconfirmedBefore = Date.now() < started + STALE_FAILURE_GRACE_MS ? started - 1_000 : undefined;
        const seenPods = [...pods.store.values()] as Pod[];
        const seenEvents = events.flatMap((s) => [...s.store.values()]) as KubeEvent[];
        const out = new Map<string, RolloutAssessment>();
        for (const c of clones) out.set(refKey(c), assessRollout(at(c), seenPods, seenEvents, timedOut, unconfirmedBefore));
        const states = [...out.values()].map((a) => a.state);
        if (states.every((s) => s === 'ready') || states.some((s) => s === 'failed') || timedOut !== undefined) {
          settle({ assessments: out, seen: { deployments: [...deployments.store.values()] as Deployment[], pods: seenPods, events: seenEvents } });
        }
      };
      changed = assess;
      const namespaces = [...new Set(clones.map((c) => c.namespace))];
      const timers = [
        setTimeout(() => assess(timeoutSeconds), Math.max(0, deadline - Date.now())),
        // The grace for a ReplicaFailure from before the wait ends even when nothing changes.
        setTimeout(() => assess(), STALE_FAILURE_GRACE_MS + 10),
        setTimeout(() => {
          events = namespaces.map((namespace) => ({ type: EVENT, namespace, fieldSelector: 'type=Warning', store: new Map(), optional: true }));
          for (const src of events) void follow(src);
        }, eventsAfterMs),
      ];
      assess();
      return result.finally(() => { for (const t of timers) clearTimeout(t); });
    },
    stop: () => {
      clearTimeout(listedTimer);
      clearInterval(silence);
      stop.abort();
    },
  };
}
