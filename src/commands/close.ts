// close: removes every trace of an env, found from labels and route names alone (no config). Routes first, then
// DestinationRules, then clones; idempotent, and works on an env that was only half opened.
import { planClose } from '../plan/close.js';
import { envsOf, isOwnVirtualService, withoutEnvRoutes } from '../plan/virtual-service.js';
import type { OwnerInfo, VirtualService } from '../plan/types.js';
import type { RunOptions } from '../config/spec.js';
import type { EnvReport } from '../report/model.js';
import type { KubeClient } from '../kube/client.js';
import { DEPLOYMENT, DESTINATION_RULE, VIRTUAL_SERVICE } from '../kube/resources.js';
import { checkWrites } from '../kube/access.js';
import { readEnvSnapshot } from '../kube/snapshot.js';
import { editVirtualService, remove, type WriteOutcome } from '../kube/apply.js';
import { withLease } from './lock.js';
import { reportFromCluster } from './report.js';

/** The edit that takes an env out of a VirtualService; our own VirtualService goes once no env is left in it. */
export function closeEdit(env: string): (vs: VirtualService) => VirtualService | null {
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
  const go = async (): Promise<EnvReport> => {
    const snapshot = await readEnvSnapshot(client, env);
    const plan = planClose(snapshot, env, opts.owner); // refuses another owner's env
    const before = reportFromCluster(env, snapshot, { deployments: snapshot.deployments, pods: [], events: [] });
    const routes = snapshot.virtualServices.reduce((n, vs) => n + (vs.spec.http ?? []).filter((r) => r.name?.startsWith(`dynamic-env/${env}/`)).length, 0);
    const removedVs: { namespace: string; name: string }[] = [];
    if (!opts.dryRun) {
      // Every write allowed, or none is made: a refused one would leave the env half closed.
      await checkWrites(client, [
        ...plan.routeEdits.map((r) => ({ verb: 'update' as const, type: VIRTUAL_SERVICE, ...r })),
        ...snapshot.virtualServices.filter((vs) => isOwnVirtualService(vs) && envsOf(vs).includes(env))
          .map((vs) => ({ verb: 'delete' as const, type: VIRTUAL_SERVICE, namespace: vs.metadata.namespace ?? '', name: vs.metadata.name })),
        ...plan.destinationRules.map((r) => ({ verb: 'delete' as const, type: DESTINATION_RULE, ...r })),
        ...plan.clones.map((r) => ({ verb: 'delete' as const, type: DEPLOYMENT, ...r })),
      ]);
      log(`env ${env}: removing ${routes} route(s) from ${plan.routeEdits.length} VirtualService(s), ${plan.destinationRules.length} DestinationRule(s), ${plan.clones.length} clone(s)`);
      const outcomes = await Promise.all(plan.routeEdits.map(async (e) => {
        const vs = snapshot.virtualServices.find((v) => v.metadata.namespace === e.namespace && v.metadata.name === e.name);
        const outcome = await editVirtualService(client, e, closeEdit(env), vs);
        if (outcome === 'deleted') removedVs.push(e);
        return outcome;
      }));
      await drainRoutes(outcomes, plan.destinationRules.length + plan.clones.length, opts.drainMs ?? DEFAULT_DRAIN_MS, log);
      await Promise.all(plan.destinationRules.map((d) => remove(client, DESTINATION_RULE, d)));
      await Promise.all(plan.clones.map((d) => remove(client, DEPLOYMENT, d)));
    }
    const empty = plan.clones.length + plan.destinationRules.length + plan.routeEdits.length === 0;
    return {
      ...before,
      state: opts.dryRun ? before.state : empty ? 'absent' : 'closed',
      removed: { clones: plan.clones, destinationRules: plan.destinationRules, virtualServices: removedVs, routes },
      ...(opts.reason ? { context: { closeReason: opts.reason } } : {}),
    };
  };
  if (opts.dryRun) return go();
  // Refused before the Lease too: a close of another repository's env writes nothing at all. Under the Lease the env
  // is read and checked again. The Lease is the one the env's clones record (see withLease).
  planClose(await readEnvSnapshot(client, env), env, opts.owner);
  return withLease(client, env, opts.run, log, () => go());
}

/** Make before break on the way out: proxies get the route removal in a push of its own before the subsets go. */
async function drainRoutes(outcomes: WriteOutcome[], removals: number, drainMs: number, log: (line: string) => void): Promise<void> {
  const routesChanged = outcomes.some((o) => o === 'updated' || o === 'deleted');
  if (!routesChanged || removals === 0 || drainMs <= 0) return;
  log(`waiting ${drainMs / 1000}s for proxies to drop the routes before removing the subsets and clones (--drain)`);
  await new Promise((r) => setTimeout(r, drainMs));
}
