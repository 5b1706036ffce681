// sweep --heal: puts back the routes of every open env after a GitOps sync or a `kubectl apply` of a user's
// VirtualService replaced its spec.http (env routes and baseline pins with it). Each env's route edits are re-run,
// under its Lease, from what its clones record (hosts, header, baggage key, version label) and its DestinationRules
// (which hosts have the baseline subset, so pins come back only where their subset exists). Idempotent: an env whose
// routes are all there writes nothing. Envs whose clones are not all ready are left alone (an open may be waiting
// for its rollout: routes come only once the clones can answer).
import { isDeepStrictEqual } from 'node:util';
import type { RunOptions } from '../config/spec.js';
import type { KubeClient } from '../kube/client.js';
import { readEnvRouting, readEnvSnapshot } from '../kube/snapshot.js';
import { editVirtualService } from '../kube/apply.js';
import { assessRollout } from '../kube/rollout.js';
import { healEdits, versionLabelOf } from '../plan/gitops.js';
import { ENV_LABEL } from '../plan/names.js';
import { formatProblem, throwIfProblems } from '../plan/problems.js';
import type { Deployment, PlanProblem, Snapshot, VirtualService } from '../plan/types.js';
import { virtualServiceSizeProblems } from '../plan/vs-size.js';
import { withEnvRoutes } from '../plan/virtual-service.js';
import { BAGGAGE_KEY_ANNOTATION, HEADER_ANNOTATION, HOSTS_ANNOTATION } from './report.js';
import { withLease } from './lock.js';
import { listEnvs } from './status.js';

export interface HealResult {
  env: string;
  /** VirtualServices whose env routes were written again. */
  healed: { namespace: string; name: string }[];
  reason: string;
  error?: string;
}

/** Heals one env; throws on API errors. */
export async function healEnv(client: KubeClient, env: string, run: Pick<RunOptions, 'lockNamespace'>, log: (line: string) => void, dryRun = false): Promise<HealResult> {
  // Under the Lease: the env's clones as withLease read them there, the rest read alongside (one round trip).
  const body = async (read?: { clones: Deployment[]; routing: Pick<Snapshot, 'destinationRules' | 'virtualServices'> }): Promise<HealResult> => {
    const snap: Snapshot = read ? { deployments: read.clones, services: [], ...read.routing } : await readEnvSnapshot(client, env);
    const clones = snap.deployments.filter((d) => d.metadata.labels?.[ENV_LABEL] === env);
    if (clones.length === 0) return { env, healed: [], reason: 'no clones (closed)' };
    const notReady = clones.filter((c) => assessRollout(c, [], []).state !== 'ready').map((c) => `${c.metadata.namespace}/${c.metadata.name}`);
    if (notReady.length > 0) return { env, healed: [], reason: `left alone: clone(s) not ready (${notReady.join(', ')}); open routes them once they are` };
    const first = clones[0]!.metadata.annotations ?? {};
    const hosts = [...new Set(clones.flatMap((c) => (c.metadata.annotations?.[HOSTS_ANNOTATION] ?? '').split(',').filter(Boolean)))].sort();
    if (hosts.length === 0) return { env, healed: [], reason: 'no routed hosts (workers only)' };
    const versionLabel = clones.map((c) => versionLabelOf(c.spec.template.metadata?.labels, env)).find(Boolean) ?? 'version';
    const clusterDomain = /^[^.]+\.[^.]+\.svc\.(.+)$/.exec(hosts[0]!)?.[1] ?? 'cluster.local';
    const { edits, problems } = healEdits(snap.virtualServices, {
      env,
      routing: {
        header: first[HEADER_ANNOTATION] ?? 'x-override',
        baggageKey: first[BAGGAGE_KEY_ANNOTATION] === undefined ? 'override' : first[BAGGAGE_KEY_ANNOTATION] || null,
        versionLabel,
      },
      hosts,
      clusterDomain,
      destinationRules: snap.destinationRules,
    });
    const healed: HealResult['healed'] = [];
    // What open refuses, heal does not write either: a VirtualService whose spec was replaced (a bigger manifest)
    // may no longer fit the env's routes (docs/DESIGN.md "Size of a shared VirtualService").
    const tooBig: PlanProblem[] = [];
    const sized = (next: VirtualService) => {
      throwIfProblems(virtualServiceSizeProblems(next, env));
      return next;
    };
    for (const { edit, routing } of edits) {
      const vs = snap.virtualServices.find((v) => v.metadata.namespace === edit.namespace && v.metadata.name === edit.name);
      const next = vs && withEnvRoutes(vs, edit, routing);
      const over = next ? virtualServiceSizeProblems(next, env) : [];
      if (over.length) {
        tooBig.push(...over);
        continue;
      }
      if (dryRun) {
        // As editVirtualService decides: by value (the API server's key order is not ours).
        if (vs && next && !isDeepStrictEqual(next.spec, vs.spec)) healed.push({ namespace: edit.namespace, name: edit.name });
        continue;
      }
      const outcome = await editVirtualService(client, edit, (cur) => sized(withEnvRoutes(cur, edit, routing)), vs);
      if (outcome === 'updated') {
        healed.push({ namespace: edit.namespace, name: edit.name });
        log(`env ${env}: routes restored in VirtualService ${edit.namespace}/${edit.name}`);
      }
    }
    const reason = healed.length ? `routes ${dryRun ? 'would be ' : ''}restored in ${healed.map((h) => `${h.namespace}/${h.name}`).join(', ')}`
      : tooBig.length ? 'routes not restored: the VirtualService would be too big' : 'routes in place';
    return problems.length + tooBig.length
      ? { env, healed, reason, error: [...problems, ...tooBig].map(formatProblem).join('; ') }
      : { env, healed, reason };
  };
  return dryRun ? body() : withLease(client, env, run, log, (_lock, _namespace, clones, routing) => body({ clones, routing }),
    { readAlongside: () => readEnvRouting(client, env) });
}

/** Heals every env with clones (`only` narrows it, e.g. the action's own repository's envs). One failure does not stop the others. */
export async function healEnvs(opts: {
  client: KubeClient;
  run: Pick<RunOptions, 'lockNamespace'>;
  log?: (line: string) => void;
  dryRun?: boolean;
  only?: (env: string) => boolean;
}): Promise<HealResult[]> {
  const log = opts.log ?? (() => {});
  const results: HealResult[] = [];
  for (const summary of await listEnvs(opts.client)) {
    if (summary.state === 'absent' || (opts.only && !opts.only(summary.env))) continue;
    try {
      results.push(await healEnv(opts.client, summary.env, opts.run, log, opts.dryRun));
    } catch (e) {
      results.push({ env: summary.env, healed: [], reason: 'heal failed', error: e instanceof Error ? e.message : String(e) });
    }
  }
  return results;
}
