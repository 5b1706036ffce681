// close: removes every trace of an env, found from labels and route names alone (no config). Routes first, then
// DestinationRules, then clones; idempotent, and works on an env that was only half opened.
import { closeEditByState, isMarkedClosing, liveRulesOf, mayUnpin, planClose, withClosingMark, withoutRoutesOf } from '../plan/close.js';
import { MANAGED_BY_LABEL, MANAGED_BY_VALUE } from '../plan/names.js';
import { envsOf, isOwnVirtualService, withoutEnvRoutes } from '../plan/virtual-service.js';
import type { Deployment, DestinationRule, OwnerInfo, Snapshot, VirtualService } from '../plan/types.js';
import type { RunOptions } from '../config/spec.js';
import type { EnvReport } from '../report/model.js';
import type { KubeClient } from '../kube/client.js';
import { DEPLOYMENT, DESTINATION_RULE, VIRTUAL_SERVICE } from '../kube/resources.js';
import { checkWrites, rulesByNamespace, type RulesByNamespace } from '../kube/access.js';
import { closeSnapshotOf, readCloseRouting, readCloseSnapshot, readEnvSnapshot, type CloseRouting } from '../kube/snapshot.js';
import { editVirtualService, remove, rewrite, type WriteOutcome } from '../kube/apply.js';
import { readEnvPods } from '../kube/rollout.js';
import { hasRouteRequest, withoutRouteRequest } from '../plan/route-requests.js';
import { explainApiError } from '../kube/client.js';
import { isDeepStrictEqual } from 'node:util';
import { withLease } from './lock.js';
import { HOSTS_ANNOTATION, reportFromCluster } from './report.js';

/**
 * The edit that takes an env out of a VirtualService; our own VirtualService goes once no env is left in it. With
 * `state` (every DestinationRule of the cluster, read before the edits), pins are undone from the state of the
 * objects (src/plan/close.ts closeEditByState), not from route adjacency.
 */
export function closeEdit(env: string, state?: CloseState): (vs: VirtualService) => VirtualService | null {
  if (state) return closeEditByState(env, state.rules, state.clusterDomain);
  return (vs) => {
    const next = withoutEnvRoutes(vs, env);
    return isOwnVirtualService(next) && envsOf(next).length === 0 ? null : next;
  };
}

/**
 * How long close waits between taking an env's routes out and removing its subsets and clones. istiod debounces
 * config events (PILOT_DEBOUNCE_AFTER, 100 ms) and sends one push per batch with clusters before routes, so a route
 * removal and the DestinationRule delete landing in one batch make proxies drop the env's cluster while their routes
 * still name it: 503s until the routes arrive. Waiting puts them in separate pushes, routes first. Under constant
 * config churn istiod keeps batching up to PILOT_DEBOUNCE_MAX (10 s); raise `--drain` above that for a hard bound.
 */
export const DEFAULT_DRAIN_MS = 3_000;

const sameRef = (o: VirtualService, r: { namespace: string; name: string }) => (o.metadata.namespace ?? '') === r.namespace && o.metadata.name === r.name;

export interface CloseState {
  rules: DestinationRule[];
  clusterDomain: string;
}

/** The cluster domain from the env's hosts (`<svc>.<ns>.svc.<domain>`), else cluster.local. */
export function clusterDomainOf(snapshot: Snapshot): string {
  const hosts = [...snapshot.destinationRules.map((d) => d.spec.host), ...snapshot.deployments.flatMap((d) => (d.metadata.annotations?.[HOSTS_ANNOTATION] ?? '').split(','))];
  const m = hosts.map((h) => /^[^.]+\.[^.]+\.svc\.(.+)$/.exec(h)?.[1]).find(Boolean);
  return m ?? 'cluster.local';
}

/** The DestinationRules that back a pin (src/plan/close.ts liveRulesOf), from the clones read first, then the rules. */
async function liveRules(client: KubeClient): Promise<DestinationRule[]> {
  try {
    const clones = (await client.list<Deployment>(DEPLOYMENT, undefined, `${MANAGED_BY_LABEL}=${MANAGED_BY_VALUE}`)).items;
    return liveRulesOf((await client.list<DestinationRule>(DESTINATION_RULE)).items, clones);
  } catch (e) {
    throw explainApiError(e, 'reading the DestinationRules and clones');
  }
}

export interface CloseOptions {
  client: KubeClient;
  env: string;
  run: Pick<RunOptions, 'lockNamespace'>;
  /** Wait between route removal and subset removal (DEFAULT_DRAIN_MS); only when routes were changed. */
  drainMs?: number;
  dryRun?: boolean;
  reason?: NonNullable<EnvReport['context']>['closeReason'];
  log?: (line: string) => void;
  /**
   * Who is closing (the action: its repository and PR; the CLI: --repo/--pr). An env recorded for another
   * repository or PR is refused before any write, the Lease included. Absent: a person closing an env by name.
   */
  owner?: OwnerInfo;
}

export async function closeEnv(opts: CloseOptions): Promise<EnvReport> {
  const { client, env } = opts;
  const log = opts.log ?? (() => {});
  /** `read`: the env's clones and the routing, as read under the Lease; a dry run reads them itself. */
  const go = async (read?: { clones: Deployment[]; routing: CloseRouting; rules: Promise<RulesByNamespace> }): Promise<EnvReport> => {
    const { snapshot, rules } = read ? closeSnapshotOf(env, read.clones, read.routing) : await readCloseSnapshot(client, env);
    planClose(snapshot, env, opts.owner); // refuses another owner's env
    const state: CloseState = { rules, clusterDomain: clusterDomainOf(snapshot) };
    const plan = planClose(snapshot, env, opts.owner, { rules: state.rules, clusterDomain: state.clusterDomain });
    const toDelete = new Set(snapshot.virtualServices.filter((vs) => isOwnVirtualService(vs) && closeEdit(env, state)(vs) === null)
      .map((vs) => `${vs.metadata.namespace ?? ''}/${vs.metadata.name}`));
    const before = reportFromCluster(env, snapshot, { deployments: snapshot.deployments, pods: [], events: [] });
    const routes = snapshot.virtualServices.reduce((n, vs) => n + (vs.spec.http ?? []).filter((r) => r.name?.startsWith(`dynamic-env/${env}/`)).length, 0);
    const removedVs: { namespace: string; name: string }[] = [];
    const edited = snapshot.virtualServices.filter((vs) => plan.routeEdits.some((e) => sameRef(vs, e)));
    // Only a VirtualService of ours or one with a pin can change in a second phase (see mayUnpin).
    const secondPhase = edited.some((vs) => mayUnpin(vs, state.clusterDomain));
    // Before any route: a route request an open of this env left (it crashed while asking others to write its
    // routes; an open that read it could write them back after this close removed them) goes, and with a second
    // phase every rule gets the closing mark (other closes stop counting it as backing pins; see liveRulesOf).
    const prepared = (d: DestinationRule) => (secondPhase && !isMarkedClosing(d) ? withClosingMark(withoutRouteRequest(d), new Date().toISOString()) : withoutRouteRequest(d));
    const touched = snapshot.destinationRules.filter((d) => hasRouteRequest(d) || (secondPhase && !isMarkedClosing(d)));
    if (!opts.dryRun) {
      // Every write allowed, or none is made: a refused one would leave the env half closed.
      await checkWrites(client, [
        ...plan.routeEdits.map((r) => ({ verb: 'update' as const, type: VIRTUAL_SERVICE, ...r })),
        ...plan.routeEdits.filter((r) => toDelete.has(`${r.namespace}/${r.name}`))
          .map((r) => ({ verb: 'delete' as const, type: VIRTUAL_SERVICE, ...r })),
        ...plan.destinationRules.map((r) => ({ verb: 'delete' as const, type: DESTINATION_RULE, ...r })),
        ...touched.map((d) => ({ verb: 'update' as const, type: DESTINATION_RULE, namespace: d.metadata.namespace ?? '', name: d.metadata.name })),
        ...plan.clones.map((r) => ({ verb: 'delete' as const, type: DEPLOYMENT, ...r })),
      ], await read?.rules);
      await Promise.all(touched.map((d) => rewrite<DestinationRule>(client, DESTINATION_RULE, d.metadata, prepared)));
      log(`env ${env}: removing ${routes} route(s) from ${plan.routeEdits.length} VirtualService(s), ${plan.destinationRules.length} DestinationRule(s), ${plan.clones.length} clone(s)`);
      const drainMs = opts.drainMs ?? DEFAULT_DRAIN_MS;
      // The first phase edits what was read; the second re-reads (the first changed those objects).
      const editAll = (edit: (vs: VirtualService) => VirtualService | null, fresh = false) => Promise.all(plan.routeEdits.map(async (e) => {
        const vs = fresh ? undefined : snapshot.virtualServices.find((v) => sameRef(v, e));
        const outcome = await editVirtualService(client, e, edit, vs);
        if (outcome === 'deleted') removedVs.push(e);
        return outcome;
      }));
      // Make before break on the way out, in two phases. 1: the env's routes go, baseline pins stay (they keep
      // baseline traffic off the clones' pods); drain; the clones go. 2: once no clone pod serves, the pins and our
      // own VirtualService go; drain; the DestinationRules that defined the subsets go.
      await drainRoutes(env, await editAll(withoutRoutesOf(env)), plan.clones.length + plan.destinationRules.length, drainMs, log);
      const removeClones = () => Promise.all(plan.clones.map((d) => remove(client, DEPLOYMENT, d)));
      const removeRules = () => Promise.all(plan.destinationRules.map((d) => remove(client, DESTINATION_RULE, d)));
      if (!secondPhase) {
        // No second phase: the DestinationRules back no pin, and no route names their subsets any more. They go
        // first, then the clones: unmarked rules of an env without clones read by another close are an opening
        // env's (liveRulesOf), so these must not be seen without clones.
        await removeRules();
        await removeClones();
      } else {
        await removeClones();
        if (edited.some((vs) => !isDeepStrictEqual(closeEdit(env, state)(vs), withoutRoutesOf(env)(vs)))) {
          await waitForClonePodsGone(client, env, log);
        }
        // Read afresh: other envs may have opened or closed meanwhile (concurrent closes each see the others' rules).
        const unpin = closeEdit(env, { ...state, rules: await liveRules(client) });
        await drainRoutes(env, await editAll(unpin, true), plan.destinationRules.length, drainMs, log);
        await removeRules();
      }
    }
    // Orphans fixed on the way (another env's, or left by hand edits) do not make an absent env a closed one.
    const empty = plan.clones.length + plan.destinationRules.length + routes === 0;
    return {
      ...before,
      state: opts.dryRun ? before.state : empty ? 'absent' : 'closed',
      removed: { clones: plan.clones, destinationRules: plan.destinationRules, virtualServices: removedVs, routes },
      ...(opts.reason ? { context: { closeReason: opts.reason } } : {}),
    };
  };
  if (opts.dryRun) return go();
  // Refused before the Lease too: a close of another repository's env writes nothing at all. Under the Lease the env
  // is read and checked again, consistently; this first look is the watch cache's (listCached), so that the reads
  // under the Lease, of the same kinds moments later, need not wait for the cache to catch up. The Lease is the one
  // the env's clones record (see withLease).
  const first = await readEnvSnapshot(client, env, { routes: false, cached: true });
  planClose(first, env, opts.owner);
  // The identity's rules where the env's objects are, asked while the Lease is taken (never rejects: a review that
  // cannot be asked allows, and the write itself then reports a refusal).
  const rules = rulesByNamespace(client, [...new Set([...first.deployments, ...first.destinationRules].map((o) => o.metadata.namespace ?? ''))].sort());
  return withLease(client, env, opts.run, log, (_lock, _namespace, clones, routing) => go({ clones, routing, rules }),
    { known: first.deployments, readAlongside: () => readCloseRouting(client) });
}

/**
 * Before a pin goes (its route then reaches every pod of the Service) the env's pods must be out of the Service's
 * endpoints: gone, or terminating (istiod leaves terminating endpoints out). Bounded: a pod held by a finalizer
 * must not keep the close from finishing.
 */
async function waitForClonePodsGone(client: KubeClient, env: string, log: (line: string) => void, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const pods = await readEnvPods(client, env)
      .catch((e) => { throw explainApiError(e, 'listing the env\'s pods'); });
    const serving = pods.filter((p) => !p.metadata.deletionTimestamp);
    if (serving.length === 0) return;
    if (Date.now() > deadline) {
      log(`env ${env}: ${serving.length} clone pod(s) still not terminating after ${timeoutMs / 1000}s; un-pinning anyway`);
      return;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Make before break on the way out: proxies get the route removal in a push of its own before the subsets go. */
async function drainRoutes(env: string, outcomes: WriteOutcome[], removals: number, drainMs: number, log: (line: string) => void): Promise<void> {
  const routesChanged = outcomes.some((o) => o === 'updated' || o === 'deleted');
  if (!routesChanged || removals === 0 || drainMs <= 0) return;
  log(`env ${env}: waiting ${drainMs / 1000}s for proxies to drop the routes before removing the subsets and clones (--drain)`);
  await new Promise((r) => setTimeout(r, drainMs));
}
