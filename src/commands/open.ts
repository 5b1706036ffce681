// open: read -> plan -> apply -> report. Idempotent: running it again with a new image updates in place, and a
// re-run after a crash converges. Nothing is written until the whole plan has been validated.
import { isDeepStrictEqual } from 'node:util';
import type { EnvSpec, OpenPlan, Snapshot, VirtualService } from '../plan/types.js';
import { planOpen } from '../plan/open.js';
import { isOwnVirtualService, ownVirtualService, withBaselinePins, withEnvRoutes, withoutEnvRoutes } from '../plan/virtual-service.js';
import { isEnvObject, isManaged } from '../plan/deployment.js';
import { UPDATED_AT_ANNOTATION, isRouteOf, leaseName, parseOwnVirtualServiceName, shortHash } from '../plan/names.js';
import { envsOf } from '../plan/virtual-service.js';
import { envSelector } from '../kube/snapshot.js';
import type { DestinationRule, Deployment, KubeObject, Service } from '../plan/types.js';
import type { RunOptions } from '../config/spec.js';
import type { EnvReport } from '../report/model.js';
import type { KubeClient } from '../kube/client.js';
import { DEPLOYMENT, DESTINATION_RULE, LEASE, VIRTUAL_SERVICE, type ResourceType } from '../kube/resources.js';
import { checkWrites, rulesByNamespace, type WriteIntent } from '../kube/access.js';
import { readOpenSnapshot } from '../kube/snapshot.js';
import { routeSharing, type RouteSharing } from '../kube/route-requests.js';
import { createVirtualService, editVirtualService, ensureObject, remove, type WriteOutcome } from '../kube/apply.js';
import { observeEnv, watchEnv, assessRollout, type EnvWatch, type RolloutAssessment } from '../kube/rollout.js';
import { waitForEndpoints } from '../kube/endpoints.js';
import { pickLockNamespace, withLease } from './lock.js';
import { LOCK_NAMESPACE_ANNOTATION, ownershipProblems, recordedLockNamespaces } from '../plan/ownership.js';
import { throwIfProblems } from '../plan/problems.js';
import { BAGGAGE_KEY_ANNOTATION, HEADER_ANNOTATION, HOSTS_ANNOTATION, URL_ANNOTATION, reportFromPlan, type RoutingKeys } from './report.js';
import { DEFAULT_DRAIN_MS, closeEdit } from './close.js';
import { clusterError } from '../errors.js';

export interface OpenOptions {
  client: KubeClient;
  spec: EnvSpec;
  run: RunOptions;
  dryRun?: boolean;
  log?: (line: string) => void;
  /**
   * Asked right before the first write; returning a reason skips the open (the action's freshness guard: the PR
   * closed or its head moved on while this run waited).
   */
  beforeWrite?: () => Promise<string | null>;
  /**
   * Told once the clones and DestinationRules are written, before the rollout wait (the action posts the PR comment
   * in state `deploying` here). Its time counts in the Lease's hold into the wait (`lockHoldMs`): a slow call does not
   * keep the Lease longer. Not called without a wait (`run.wait` false): the result follows at once. The report's
   * workloads are `progressing`: nothing was waited for yet.
   */
  onApplied?: (report: EnvReport) => Promise<void>;
  /** Wait after a change before what depends on it (close.ts DEFAULT_DRAIN_MS); only when pins are written. */
  drainMs?: number;
  /** How long the env's Lease is kept into the rollout wait (LOCK_HOLD_MS); 0: given back before it. */
  lockHoldMs?: number;
}

/**
 * How long an open with a wait keeps the env's Lease after writing the clones, for `onApplied` and the rollout. A
 * rollout done by then (instant pods, a re-run with nothing new, a small cached image) is routed in the same hold:
 * no Lease given back and taken again, no clones read again, two to five requests fewer. A longer one goes on
 * without the Lease, so a close or another open of the env never waits more than this behind a rollout.
 */
export const LOCK_HOLD_MS = 5_000;

/** The value of `work` if it settles within `ms`, else undefined (it goes on; a later failure is the caller's). */
async function within<T>(work: Promise<T>, ms: number): Promise<T | undefined> {
  if (ms <= 0) return undefined;
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<undefined>((r) => { timer = setTimeout(r, ms, undefined); });
  try {
    return await Promise.race([work, late]);
  } finally {
    clearTimeout(timer);
  }
}

export interface Change {
  action: 'create' | 'update' | 'delete' | 'unchanged';
  kind: string;
  namespace: string;
  name: string;
  detail?: string;
}

export interface OpenResult {
  report: EnvReport;
  plan: OpenPlan;
  changes: Change[];
  skipped?: string;
}

const namespacesOf = (spec: EnvSpec) => [...new Set([...spec.services, ...spec.workers].map((w) => w.namespace))].sort();
const ref = (o: { metadata: { namespace?: string; name: string } }) => ({ namespace: o.metadata.namespace ?? '', name: o.metadata.name });
const keyOf = (o: { metadata: { namespace?: string; name: string } }) => `${o.metadata.namespace}/${o.metadata.name}`;

/**
 * The plan, with the annotations status/list need to describe the env later without its config, and the namespace
 * of the env's Lease (`lockNamespace`) so that close and sweep find it without the config. Refused first when the
 * env's objects belong to another repository or PR (docs/DESIGN.md "Objects we own").
 */
export function planWithAnnotations(snapshot: Snapshot, spec: EnvSpec, lockNamespace?: string): OpenPlan {
  throwIfProblems(ownershipProblems([...snapshot.deployments, ...snapshot.destinationRules], spec.name, spec.owner, 'open'));
  const plan = planOpen(snapshot, spec);
  for (const clone of plan.clones) {
    const w = plan.workloads.find((x) => x.namespace === clone.metadata.namespace && x.clone === clone.metadata.name);
    const existing = snapshot.deployments.find((d) => keyOf(d) === keyOf(clone) && isManaged(d.metadata.labels));
    const failing = existing?.status?.conditions?.some((c) => c.type === 'ReplicaFailure' && c.status === 'True');
    const retried = failing ? spec.now : existing?.metadata.annotations?.[RETRY_ANNOTATION];
    clone.metadata.annotations = {
      ...clone.metadata.annotations,
      [HEADER_ANNOTATION]: spec.routing.header,
      [BAGGAGE_KEY_ANNOTATION]: spec.routing.baggageKey ?? '',
      ...(w && w.hosts.length ? { [HOSTS_ANNOTATION]: w.hosts.join(',') } : {}),
      ...(w?.url ? { [URL_ANNOTATION]: w.url } : {}),
      ...(retried ? { [RETRY_ANNOTATION]: retried } : {}),
      ...(lockNamespace ? { [LOCK_NAMESPACE_ANNOTATION]: lockNamespace } : {}),
    };
  }
  // When the env last changed: this open's time on a clone it changes (a push: new image or commit), else the time
  // the clone records, so a re-run with nothing new still writes nothing (docs/DESIGN.md "Lifecycle").
  for (const clone of plan.clones) {
    const existing = snapshot.deployments.find((d) => keyOf(d) === keyOf(clone) && isManaged(d.metadata.labels));
    const recorded = existing?.metadata.annotations?.[UPDATED_AT_ANNOTATION];
    const changed = !existing || !isDeepStrictEqual(desiredState(withoutStamps(existing)), desiredState(withoutStamps(clone)));
    const updatedAt = changed ? spec.now : recorded;
    if (updatedAt) clone.metadata.annotations = { ...clone.metadata.annotations, [UPDATED_AT_ANNOTATION]: updatedAt };
  }
  // Which open wrote each clone: a hash of what it writes there, so a re-run with nothing new for a clone keeps it
  // (and writes nothing), while an open with other content, or a close, shows in the clones when this open comes
  // back from its rollout wait (see docs/DESIGN.md "Concurrency").
  for (const clone of plan.clones) {
    const id = shortHash(JSON.stringify([clone.metadata.namespace, clone.metadata.name, clone.metadata.labels, clone.metadata.annotations, clone.spec]));
    clone.metadata.annotations = { ...clone.metadata.annotations, [OPEN_ID_ANNOTATION]: id };
  }
  return plan;
}

type Written = { outcome: WriteOutcome; object: Deployment };

/** The read and plan made before the Lease, with the Lease namespace they chose. */
interface Validated {
  snapshot: Snapshot;
  lockNamespace: string;
  plan: OpenPlan;
  changes: Change[];
}

/** The env's own clones in a snapshot (its Deployments also hold the user's, and other envs' read by name). */
const envClones = (snapshot: Snapshot, env: string) =>
  snapshot.deployments.filter((d) => isEnvObject(d, env));

/**
 * DestinationRules of the env without clones: a close between removing the clones and the rules (or an open between
 * writing the rules and the clones) was running when the snapshot was read, so the clones alone cannot tell whether
 * it finished since.
 */
const hasEnvRules = (snapshot: Snapshot, env: string) =>
  snapshot.destinationRules.some((d) => isEnvObject(d, env));

/** Whether `clones` (read now) are the env's clones of `snapshot`, each at the same resourceVersion. */
function sameClones(snapshot: Snapshot, clones: Deployment[], env: string): boolean {
  const version = (list: Deployment[]) => list.map((d) => `${keyOf(d)}@${d.metadata.resourceVersion}`).sort();
  return isDeepStrictEqual(version(envClones(snapshot, env)), version(clones));
}

/** On every clone: the id of the open that wrote it (a hash of the clone as that open wrote it). */
export const OPEN_ID_ANNOTATION = 'dynamic-env.io/open-id';

/**
 * Under the Lease again after the rollout wait: are the env's clones still the ones this open wrote? A close (clones
 * gone) or another open of the env (another open id) ran meanwhile: this open stops without routing, saying why.
 * When a close ran, what this open alone left (its clones, and the env's DestinationRules when no clone and no
 * route of the env is left) is removed, so nothing of the env remains.
 */
export async function checkStillOurs(client: KubeClient, plan: OpenPlan, log: (line: string) => void, clones?: Deployment[]): Promise<void> {
  const env = plan.env;
  const idOf = (o: { metadata: { annotations?: Record<string, string> } }) => o.metadata.annotations?.[OPEN_ID_ANNOTATION];
  const now = clones ?? (await client.list<Deployment>(DEPLOYMENT, undefined, envSelector(env))).items;
  const pairs = plan.clones.map((c) => ({ want: c, found: now.find((d) => keyOf(d) === keyOf(c)) }));
  const other = pairs.find((p) => p.found && idOf(p.found) !== idOf(p.want));
  if (other) {
    throw clusterError(`env ${env}: another open of the env changed clone ${keyOf(other.want)} while this open waited for its rollout ` +
      `(open id ${idOf(other.found!) ?? 'none'}, this open's ${idOf(other.want)}); this open stops without routing, the newer one routes the env`);
  }
  if (pairs.every((p) => p.found)) return;
  // A close ran while we waited (or the clones were deleted): leave nothing of ours behind.
  const ours = pairs.flatMap((p) => (p.found ? [p.found] : []));
  await Promise.all(ours.map((d) => remove(client, DEPLOYMENT, ref(d))));
  const routed = (await client.list<VirtualService>(VIRTUAL_SERVICE).then((r) => r.items)).some((vs) => envsOf(vs).includes(env));
  if (now.length === ours.length && !routed) {
    const rules = await client.list<KubeObject>(DESTINATION_RULE, undefined, envSelector(env)).then((r) => r.items);
    await Promise.all(rules.map((d) => remove(client, DESTINATION_RULE, ref(d))));
  }
  log(`env ${env}: closed while this open waited for its rollout; removed ${ours.length} clone(s) of this open`);
  throw clusterError(`env ${env} was closed while this open waited for its rollout (its clones are gone); this open stopped without ` +
    'routing and left nothing behind. Re-run open to open the env again');
}

/**
 * Set on a clone whose ReplicaSet could not create Pods (ReplicaFailure: a missing ServiceAccount, quota) when
 * open runs again: the changed annotation is copied to the ReplicaSet by the Deployment controller, which makes
 * the ReplicaSet controller retry now instead of after its back-off (minutes, after a while). So a re-run after
 * the cause is fixed converges.
 */
export const RETRY_ANNOTATION = 'dynamic-env.io/retried-at';

/** A clone without the stamps every open computes afresh (which open wrote it, when it last changed). */
const withoutStamps = (d: Deployment): Deployment => {
  const { [OPEN_ID_ANNOTATION]: _id, [UPDATED_AT_ANNOTATION]: _at, ...annotations } = d.metadata.annotations ?? {};
  return { ...d, metadata: { ...d.metadata, annotations } };
};

/** What `ensure` compares: the spec, and our labels and annotations (controllers' own annotations aside). */
const desiredState = (o: { metadata: { labels?: Record<string, string>; annotations?: Record<string, string> }; spec?: unknown }) => ({
  spec: o.spec,
  labels: o.metadata.labels ?? {},
  annotations: Object.fromEntries(Object.entries(o.metadata.annotations ?? {}).filter(([k]) => !k.startsWith('deployment.kubernetes.io/'))),
});

/** What the plan would change against the snapshot; `--dry-run` prints this. */
export function diffPlan(plan: OpenPlan, snapshot: Snapshot): Change[] {
  const changes: Change[] = [];
  const find = <T extends { metadata: { namespace?: string; name: string } }>(list: T[], o: { metadata: { namespace?: string; name: string } }) =>
    list.find((x) => keyOf(x) === keyOf(o));
  for (const c of plan.clones) {
    const cur = find(snapshot.deployments, c);
    changes.push({ action: !cur ? 'create' : isDeepStrictEqual(desiredState(cur), desiredState(c)) ? 'unchanged' : 'update', kind: 'Deployment', ...ref(c) });
  }
  for (const d of plan.destinationRules) {
    const cur = find(snapshot.destinationRules, d);
    changes.push({ action: !cur ? 'create' : isDeepStrictEqual(desiredState(cur), desiredState(d)) ? 'unchanged' : 'update', kind: 'DestinationRule', ...ref(d) });
  }
  for (const e of plan.routeEdits) {
    const cur = snapshot.virtualServices.find((v) => v.metadata.namespace === e.namespace && v.metadata.name === e.name)!;
    const next = withEnvRoutes(cur, e, plan.routing);
    changes.push({ action: isDeepStrictEqual(next.spec, cur.spec) ? 'unchanged' : 'update', kind: 'VirtualService', namespace: e.namespace, name: e.name, detail: 'routes' });
  }
  for (const v of plan.createVirtualServices) changes.push({ action: 'create', kind: 'VirtualService', ...ref(v) });
  changes.push(...stale(plan, snapshot));
  return changes;
}

/** Objects of this env left from an earlier open that the new plan no longer has (a service dropped from the config). */
function stale(plan: OpenPlan, snapshot: Snapshot): Change[] {
  const ours = (o: { metadata: { labels?: Record<string, string> } }) => isEnvObject(o, plan.env);
  const wanted = new Set([...plan.clones, ...plan.destinationRules].map(keyOf));
  const edited = new Set(plan.routeEdits.map((e) => `${e.namespace}/${e.name}`));
  return [
    ...snapshot.virtualServices
      .filter((vs) => !edited.has(keyOf(vs)) && (vs.spec.http ?? []).some((r) => isRouteOf(r.name, plan.env)))
      .map((vs) => ({ action: 'update' as const, kind: 'VirtualService', ...ref(vs), detail: 'remove stale routes' })),
    ...snapshot.destinationRules.filter((d) => ours(d) && !wanted.has(keyOf(d))).map((d) => ({ action: 'delete' as const, kind: 'DestinationRule', ...ref(d) })),
    ...snapshot.deployments.filter((d) => ours(d) && !wanted.has(keyOf(d))).map((d) => ({ action: 'delete' as const, kind: 'Deployment', ...ref(d) })),
  ];
}

const TYPES: Record<string, ResourceType> = { Deployment: DEPLOYMENT, DestinationRule: DESTINATION_RULE, VirtualService: VIRTUAL_SERVICE };

/** The write a change needs permission for (none when unchanged). */
function writeIntent(c: Change): WriteIntent[] {
  const type = TYPES[c.kind];
  return c.action === 'unchanged' || !type ? [] : [{ verb: c.action, type, namespace: c.namespace, name: c.name }];
}

/** Taking and giving back the env's Lease. */
export const leaseIntents = (namespace: string, env: string): WriteIntent[] =>
  (['create', 'update', 'delete'] as const).map((verb) => ({ verb, type: LEASE, namespace, name: leaseName(env) }));

/** What every step of one open shares: its options, and what is worked out once from them. */
interface OpenRun extends OpenOptions {
  log: (line: string) => void;
  keys: RoutingKeys;
  /** Our own VirtualServices made with their baseline route before the clones: the routes then edit them. */
  ownMadeEarly: Set<string>;
}

/** What the first hold of the Lease wrote: the open goes on from here. */
interface Workloads {
  snapshot: Snapshot;
  plan: OpenPlan;
  changes: Change[];
  written: Map<string, Written>;
  rules: DestinationRule[];
}

/**
 * Opens (or updates) an env: validate, then under the env's Lease write the DestinationRules and clones, wait for
 * the rollout (with `run.wait`), and write the routes (docs/DESIGN.md "Order of writes" and "Concurrency").
 */
export async function openEnv(opts: OpenOptions): Promise<OpenResult> {
  const { client, spec, run } = opts;
  const r: OpenRun = {
    ...opts, log: opts.log ?? (() => {}), ownMadeEarly: new Set(),
    keys: { header: spec.routing.header, baggageKey: spec.routing.baggageKey },
  };
  if (opts.dryRun) return routeAfterRollout(r, await writeWorkloads(r));
  const validated = await validate(r);
  const known = envClones(validated.snapshot, spec.name);
  if (!run.wait) {
    return withLease(client, spec.name, run, r.log, async (lock, held, clones) => {
      const result = await routeAfterRollout(r, await writeWorkloads(r, held, clones, validated));
      throwIfLost(r, lock);
      return result;
    }, { known });
  }
  return openWithWait(r, validated, known);
}

/**
 * Validation before the first write, the Lease included: a plan with problems, or writes this identity may not
 * make, fail here with nothing written. The identity's rules in the namespaces it will most likely write are asked
 * while the cluster is read (one round trip less); a namespace only the plan brings in is asked after it.
 */
async function validate(r: OpenRun): Promise<Validated> {
  const { client, spec, run } = r;
  const [snapshot, rules] = await Promise.all([
    readOpenSnapshot(client, namespacesOf(spec), spec.name, [...spec.services, ...spec.workers]),
    rulesByNamespace(client, [...new Set([...namespacesOf(spec), run.lockNamespace])].sort()),
  ]);
  const lockNamespace = lockNamespaceOf(r, snapshot);
  const plan = planWithAnnotations(snapshot, spec, lockNamespace);
  const changes = diffPlan(plan, snapshot);
  await checkWrites(client, [...changes.flatMap(writeIntent), ...leaseIntents(lockNamespace, spec.name)], rules);
  return { snapshot, lockNamespace, plan, changes };
}

function throwIfLost(r: OpenRun, lock: { lost: boolean }): void {
  if (lock.lost) throw clusterError(`env ${r.spec.name}: the Lease was taken over while this open ran; re-run open to converge`);
}

/**
 * With a rollout wait (up to 24 h) the Lease is kept into it for `lockHoldMs` (LOCK_HOLD_MS) at most: a rollout done
 * by then is routed in the same hold; a longer one goes on without the Lease, so a close of the env never waits
 * behind it, and then under the Lease again a check that the clones are still this open's (a close or another open
 * may have run meanwhile) comes before the routes.
 */
async function openWithWait(r: OpenRun, validated: Validated, known: Deployment[]): Promise<OpenResult> {
  const { client, spec, run, log } = r;
  const holdMs = r.lockHoldMs ?? LOCK_HOLD_MS;
  // Started under the Lease, before the writes: its first list is the read of the env's clones under the Lease.
  let watch: EnvWatch | undefined;
  const envWatch = () => (watch ??= watchEnv(client, spec.name, run.timeoutSeconds));
  try {
    const first = await withLease(client, spec.name, run, log, async (lock, held, clones) => {
      const w = await writeWorkloads(r, held, clones, validated);
      throwIfLost(r, lock);
      if ('done' in w) return w;
      const waited = announceApplied(r, w.plan).then(() => waitForClones(r, w, envWatch()));
      const quick = await within(waited, holdMs);
      if (!quick) return { ...w, waited };
      // Held since the clones were written: no other run of the env came in between, and the DestinationRules are as
      // this hold wrote them.
      const done = await writeRoutes(r, w, quick.assessments, true, w.rules);
      throwIfLost(r, lock);
      return { done };
    }, { known, readClonesOnce: () => envWatch().listed });
    if ('done' in first) return first.done;
    if (holdMs > 0) log(`env ${spec.name}: the rollout takes longer than ${holdMs / 1000}s; waiting for it without the Lease`);
    const { assessments, clones: seen } = await first.waited;
    watch?.stop();
    return await withLease(client, spec.name, run, log, async (lock, _held, clones) => {
      await checkStillOurs(client, first.plan, log, clones);
      const result = await writeRoutes(r, first, assessments, false, first.plan.destinationRules);
      throwIfLost(r, lock);
      return result;
    }, { known: seen });
  } finally {
    watch?.stop();
  }
}

/** Without a wait, or a dry run: the rollout as it stands, then the routes, in the same hold. */
async function routeAfterRollout(r: OpenRun, w: { done: OpenResult } | Workloads): Promise<OpenResult> {
  if ('done' in w) return w.done;
  return writeRoutes(r, w, await rolloutAsItStands(r, w.plan, w.written), true, w.rules);
}

/** The Lease namespace of the env: the one its clones record (an open follows it), else this run's. */
const lockNamespaceOf = (r: OpenRun, snapshot: Snapshot, say?: (line: string) => void) =>
  pickLockNamespace(recordedLockNamespaces(snapshot.deployments, r.spec.name), r.run.lockNamespace, r.spec.name, say);

/**
 * Clones and DestinationRules (under the Lease). A result ends the open here (dry run, skipped). `validated`: the
 * read and plan made before the Lease, which stand when the env's clones read under the Lease (`clones`) are
 * exactly those it saw: every open and close of the env changes its clones, so no other run of the env came in
 * between (unless the snapshot caught one halfway: rules without clones), and its plan is used as it is (planning
 * is pure: the same snapshot gives the same plan). Otherwise the cluster is read and planned again.
 */
async function writeWorkloads(r: OpenRun, held?: string, clones?: Deployment[], validated?: Validated): Promise<{ done: OpenResult } | Workloads> {
  const { client, spec, keys, log } = r;
  const standing = validated && clones && held === validated.lockNamespace && sameClones(validated.snapshot, clones, spec.name)
    && (clones.length > 0 || !hasEnvRules(validated.snapshot, spec.name));
  const snapshot = standing ? validated.snapshot
    : await readOpenSnapshot(client, namespacesOf(spec), spec.name, [...spec.services, ...spec.workers]);
  // throws, listing every problem, before any write
  const plan = standing ? validated.plan : planWithAnnotations(snapshot, spec, held ?? lockNamespaceOf(r, snapshot));
  const changes = standing ? validated.changes : diffPlan(plan, snapshot);
  const pending = (): RolloutAssessment => ({ state: 'progressing', reason: 'not applied (dry run)', ready: 0, desired: 0 });
  if (r.dryRun) return { done: { report: reportFromPlan(plan, keys, pending), plan, changes } };

  const skip = await r.beforeWrite?.();
  if (skip) return { done: { report: { ...reportFromPlan(plan, keys, pending), state: 'skipped' }, plan, changes: [], skipped: skip } };

  const current = <T extends { metadata: { namespace?: string; name: string } }>(list: T[], o: T) => list.find((x) => keyOf(x) === keyOf(o)) ?? null;
  // Make before break: 1. the DestinationRules (their subsets select nothing yet); 2. where routes to the env's
  // hosts have no subset, or a host has no VirtualService, the baseline pins and our own VirtualService (with its
  // baseline route only), each a drain after what it names, so no baseline request can reach a clone pod;
  // 3. the clones (with 1. when there is no 2.). The env's routes come last, after the rollout.
  log(`env ${spec.name}: ${plan.clones.length} clone(s), ${plan.destinationRules.length} DestinationRule(s)`);
  const rules = () => Promise.all(plan.destinationRules.map(async (d) => (await ensureObject(client, DESTINATION_RULE, d, current(snapshot.destinationRules, d))).object));
  const workloads = async () => new Map(await Promise.all(plan.clones.map(async (c) =>
    [keyOf(c), await ensureObject(client, DEPLOYMENT, c, current(snapshot.deployments, c))] as const)));
  const early = baselineWork(r, snapshot, plan);
  if (early.pins.length + early.own.length === 0) {
    // Nothing to pin: every route to the env's hosts names a subset already, so the clones' pods take no baseline
    // request whenever they appear, and the env's subsets are named by no route before step 4. Both at once.
    const [written, rulesWritten] = await Promise.all([workloads(), rules()]);
    return { snapshot, plan, changes, written, rules: rulesWritten };
  }
  const rulesWritten = await rules();
  await writeBaselinePins(r, plan, early);
  return { snapshot, plan, changes, written: await workloads(), rules: rulesWritten };
}

async function drain(r: OpenRun, why: string): Promise<void> {
  const ms = r.drainMs ?? DEFAULT_DRAIN_MS;
  if (ms <= 0) return;
  r.log(`env ${r.spec.name}: waiting ${ms / 1000}s for proxies to get ${why} (--drain)`);
  await new Promise((resolve) => setTimeout(resolve, ms));
}

/** The pins and our own VirtualServices (with their baseline route only) to write before any clone pod exists. */
function baselineWork(r: OpenRun, snapshot: Snapshot, plan: OpenPlan) {
  const known = (e: { namespace: string; name: string }) => snapshot.virtualServices.find((v) => v.metadata.namespace === e.namespace && v.metadata.name === e.name);
  const pins = plan.routeEdits.filter((e) => {
    const vs = known(e);
    return vs && !isDeepStrictEqual(withBaselinePins(vs, e, plan.routing), vs);
  });
  const own = plan.createVirtualServices.filter((v) => !known(ref(v))).map((v) => withoutEnvRoutes(v, r.spec.name));
  return { pins, own };
}

/** Pins (and our own VirtualServices' baseline routes) before any clone pod exists. */
async function writeBaselinePins(r: OpenRun, plan: OpenPlan, { pins, own }: ReturnType<typeof baselineWork>): Promise<void> {
  for (const v of own) r.ownMadeEarly.add(keyOf(v));
  await drain(r, 'the baseline subset before routes name it');
  await Promise.all([
    ...pins.map((e) => editVirtualService(r.client, e, (vs) => withBaselinePins(vs, e, plan.routing))),
    ...own.map((v) => createVirtualService(r.client, v, (cur) => cur)),
  ]);
  await drain(r, 'the baseline pins before the env\'s pods exist');
}

/**
 * 3. Rollout: routes go in only once the clones can answer, so the header never leads to a 503. With a wait: from the
 * watch started under the Lease, until the clones are ready (or one failed) and their pods are in their Services'
 * EndpointSlices. `clones`: the env's clones as the wait last saw them (where the env's Lease is recorded, for taking
 * it again).
 */
async function waitForClones(r: OpenRun, w: Workloads, watch: EnvWatch):
Promise<{ assessments: Map<string, RolloutAssessment>; clones: Deployment[] }> {
  const { client, spec, run, log } = r;
  const clones = w.plan.clones.map(ref);
  log(`env ${spec.name}: waiting up to ${run.timeoutSeconds}s for ${clones.length} clone(s) to become available`);
  const deadline = Date.now() + run.timeoutSeconds * 1000;
  const generations = new Map([...w.written].filter(([, x]) => x.outcome !== 'unchanged').map(([k, x]) => [k, x.object.metadata.generation ?? 1]));
  const { assessments, seen } = await watch.rollout(clones, generations);
  if ([...assessments.values()].every((a) => a.state === 'ready')) {
    const missing = await waitForEndpoints(client, spec.name, w.snapshot.services, deadline, seen);
    if (missing) log(`env ${spec.name}: ${missing} did not list every ready clone pod before the timeout; routing anyway`);
    // istiod learns of the listed endpoints by its own watch and may push a route change first (seen under load:
    // the env route naming a cluster with no endpoints). Only a clone made now has no endpoints yet; an updated
    // one keeps its old pods until the new are ready, and its routes are in place already.
    if ([...w.written.values()].some((x) => x.outcome === 'created')) await drain(r, "the new clones' endpoints before their routes");
  }
  return { assessments, clones: seen.deployments };
}

/**
 * 3. Without a wait: the rollout as it stands. A clone written now has no Pods of its new spec to diagnose yet, and
 * one left as it was is described by its Deployment when ready; only an unchanged clone not ready needs its Pods and
 * events read.
 */
async function rolloutAsItStands(r: OpenRun, plan: OpenPlan, written: Map<string, Written>): Promise<Map<string, RolloutAssessment>> {
  const clones = plan.clones.map(ref);
  const own = new Map([...written].map(([k, w]) => [k, assessRollout(w.object, [], [])]));
  const unclear = [...written].some(([k, w]) => w.outcome === 'unchanged' && own.get(k)!.state !== 'ready');
  if (!unclear && own.size === clones.length) return own;
  const seen = await observeEnv(r.client, r.spec.name, [...new Set(clones.map((c) => c.namespace))]);
  return new Map(clones.map((c) => [`${c.namespace}/${c.name}`, assessRollout(
    seen.deployments.find((d) => d.metadata.namespace === c.namespace && d.metadata.name === c.name), seen.pods, seen.events)]));
}

/**
 * 4. and 5. (under the Lease): routes, then what an earlier open left that this plan no longer wants. `fresh`: the
 * snapshot's VirtualServices may be written as read (a 409 reads them again); after a wait without the Lease they
 * are stale and read again first. `rules`: the env's DestinationRules as written in this hold of the Lease, or as
 * planned (read again where needed).
 */
async function writeRoutes(r: OpenRun, { snapshot, plan, changes }: Pick<Workloads, 'snapshot' | 'plan' | 'changes'>,
  assessments: Map<string, RolloutAssessment>, fresh: boolean, rules: DestinationRule[]): Promise<OpenResult> {
  const { client, spec, keys, log } = r;
  const assess = (ns: string, name: string) => assessments.get(`${ns}/${name}`)!;
  const failed = [...assessments.values()].some((a) => a.state === 'failed');
  if (failed) {
    // Leave the routes as they were: a broken clone must not receive header traffic.
    return { report: reportFromPlan(plan, keys, assess), plan, changes };
  }
  const known = (e: { namespace: string; name: string }) => snapshot.virtualServices.find((v) => v.metadata.namespace === e.namespace && v.metadata.name === e.name);

  // 4. Routes, in every VirtualService in front of the hosts; our own VirtualService where a host had none. An
  // edit that loses a round to another open asks the others to write its routes and writes theirs (route requests).
  const sharing = routeSharing(client, spec.name, rules, plan.routeEdits, plan.routing, log);
  try {
    await writeEnvRoutes(r, plan, known, fresh, sharing);
  } finally {
    await sharing.withdraw();
  }

  // 5. What an earlier open of this env left that the plan no longer wants: routes first, then DRs, clones.
  const leftovers = stale(plan, snapshot);
  await Promise.all(leftovers.filter((s) => s.kind === 'VirtualService').map((s) => editVirtualService(client, s, closeEdit(spec.name))));
  await Promise.all(leftovers.filter((s) => s.kind === 'DestinationRule').map((s) => remove(client, DESTINATION_RULE, s)));
  await Promise.all(leftovers.filter((s) => s.kind === 'Deployment').map((s) => remove(client, DEPLOYMENT, s)));
  return { report: reportFromPlan(plan, keys, assess), plan, changes };
}

async function writeEnvRoutes(r: OpenRun, plan: OpenPlan, known: (e: { namespace: string; name: string }) => VirtualService | undefined,
  fresh: boolean, sharing: RouteSharing): Promise<void> {
  const { client, spec } = r;
  await Promise.all([
    ...plan.routeEdits.map(async (e) => {
      const vs = known(e);
      const edit = (cur: VirtualService) => withEnvRoutes(cur, e, plan.routing);
      const shared = sharing.edit(edit);
      if ((await editVirtualService(client, e, shared.edit, fresh ? vs : undefined, shared.hooks)) !== 'absent') return;
      // Gone since the snapshot. Ours: the close of the last other env in it deleted it; make it again.
      const service = vs && isOwnVirtualService(vs) ? parseOwnVirtualServiceName(vs.metadata.name) : null;
      if (service) {
        await createVirtualService(client, edit(ownVirtualService(service, e.namespace, spec.clusterDomain)), edit);
        return;
      }
      throw clusterError(`VirtualService ${e.namespace}/${e.name} was deleted while open ran; env ${spec.name} has no routes there. Re-run open to plan against the VirtualServices that exist now`);
    }),
    ...plan.createVirtualServices.map(async (v) => {
      const edit = (cur: VirtualService) => withEnvRoutes(cur, { ...ref(v), meshApplies: true }, plan.routing);
      if (r.ownMadeEarly.has(keyOf(v)) && (await editVirtualService(client, ref(v), edit)) !== 'absent') return;
      await createVirtualService(client, edit(v), edit);
    }),
  ]);
}

/** `onApplied`, with the report of clones that are written and rolling out. */
async function announceApplied(r: OpenRun, plan: OpenPlan): Promise<void> {
  if (!r.onApplied) return;
  const rolling = (): RolloutAssessment => ({ state: 'progressing', reason: 'rolling out', ready: 0, desired: 0 });
  await r.onApplied({ ...reportFromPlan(plan, r.keys, rolling), state: 'deploying' });
}
