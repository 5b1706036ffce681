// planClose: what to remove for an env, found from labels and route names alone (docs/DESIGN.md).

import { isDeepStrictEqual } from 'node:util';
import { deepCopy, isEnvObject, isManaged } from './deployment.js';
import { normalizeHost } from './hosts.js';
import { BASELINE_SUBSET, CLOSING_ANNOTATION, ENV_LABEL, isRouteOf, parseRouteName } from './names.js';
import { ownershipProblems } from './ownership.js';
import { throwIfProblems } from './problems.js';
import type { ClosePlan, Destination, DestinationRule, KubeObject, ObjectRef, OwnerInfo, Snapshot, VirtualService } from './types.js';
import { envsOf, isOwnVirtualService, mirrorDestinations, vsRef, withRoutes } from './virtual-service.js';

const refOf = (o: KubeObject): ObjectRef => ({ name: o.metadata.name, namespace: o.metadata.namespace ?? '' });
const byRef = (a: ObjectRef, b: ObjectRef): number => {
  const ka = `${a.namespace}/${a.name}`;
  const kb = `${b.namespace}/${b.name}`;
  return ka < kb ? -1 : ka > kb ? 1 : 0;
};

/**
 * Plans closing `env`: its routes in any VirtualService (ours included), its DestinationRules and clones. With a
 * `requester` (the action's repository and PR, the CLI's --repo/--pr), an env whose objects record another owner is
 * refused (src/plan/ownership.ts); a requester naming no repository may close any env (a person, by name).
 */
export function planClose(
  snapshot: Snapshot,
  env: string,
  requester: OwnerInfo = {},
  o: { rules?: DestinationRule[]; clusterDomain?: string } = {},
): ClosePlan {
  throwIfProblems(ownershipProblems([...snapshot.deployments, ...snapshot.destinationRules], env, requester, 'close'));
  const cd = o.clusterDomain ?? 'cluster.local';
  const edit = closeEditByState(env, o.rules ?? snapshot.destinationRules, cd);
  // The hosts this env changed: its rules' and its routes'. Orphans elsewhere are sweep's (close of one env must not
  // need writes on VirtualServices it never touched).
  const affected = new Set<string>();
  for (const d of snapshot.destinationRules) if (isEnvObject(d, env)) affected.add(ruleHost(d, cd));
  for (const vs of snapshot.virtualServices) {
    for (const r of vs.spec.http ?? []) {
      if (!isRouteOf(r.name, env)) continue;
      for (const d of r.route ?? []) affected.add(normalizeHost(d.destination.host, vs.metadata.namespace ?? '', cd));
    }
  }
  // On a host this env changed, a VirtualService of ours or one with pins is edited even when `rules` keep it as
  // it is: the rules of an env that is closing too (its clones gone) still exist when this close reads them, and two
  // such closes would each leave it to the other. Close's second phase decides from the rules of envs that still
  // have clones (src/commands/close.ts liveRules); `edit` then changes only what those no longer back.
  const changed = (vs: VirtualService): boolean => {
    if (envsOf(vs).includes(env)) return true;
    if (!hostsOf(vs, cd).some((h) => affected.has(h))) return false;
    if (mayUnpin(vs, cd)) return true;
    const next = edit(vs);
    return next === null || !isDeepStrictEqual(next, vs);
  };
  return {
    env,
    routeEdits: snapshot.virtualServices.filter(changed).map(refOf).sort(byRef),
    destinationRules: snapshot.destinationRules.filter((d) => isEnvObject(d, env)).map(refOf).sort(byRef),
    clones: snapshot.deployments.filter((d) => isEnvObject(d, env)).map(refOf).sort(byRef),
  };
}

/**
 * The DestinationRules that back a pin, for close's second phase: the users', and every env's but those of envs
 * that are closing. An env is closing when its rules carry the closing mark (its close writes it before anything
 * else) or when its clones are gone while its rules were read after them (a close without a second phase deletes its
 * rules before its clones, and one with a second phase has marked them). An env whose rules have neither is opening
 * (its rules and pins come before its clones) or was left half-open: its pins stay. Counting a closing env's rules
 * would make two concurrent closes each keep the pins for the other, and leave them backed by nothing; leaving out
 * an opening env's would un-pin routes just before its pods appear. `clones` must be read before `rules`.
 */
export function liveRulesOf(rules: DestinationRule[], clones: KubeObject[]): DestinationRule[] {
  const withClones = new Set(clones.map((d) => d.metadata.labels?.[ENV_LABEL]).filter((e): e is string => !!e));
  return rules.filter((d) => !isManaged(d.metadata.labels) || withClones.has(d.metadata.labels?.[ENV_LABEL] ?? '')
    || d.metadata.annotations?.[CLOSING_ANNOTATION] === undefined);
}

/** The rule with the closing mark (see liveRulesOf). */
export function withClosingMark(rule: DestinationRule, at: string): DestinationRule {
  return { ...rule, metadata: { ...rule.metadata, annotations: { ...(rule.metadata.annotations ?? {}), [CLOSING_ANNOTATION]: at } } };
}

export const isMarkedClosing = (rule: DestinationRule): boolean => rule.metadata.annotations?.[CLOSING_ANNOTATION] !== undefined;

/** A DestinationRule's host as an FQDN: short only without dots (DESIGN.md "DestinationRules"). */
export function ruleHost(d: DestinationRule, clusterDomain: string): string {
  const h = d.spec.host.trim().toLowerCase().replace(/\.$/, '');
  return h.includes('.') ? h : normalizeHost(h, d.metadata.namespace ?? 'default', clusterDomain);
}

/** The hosts (FQDN) for which some DestinationRule, other than `exceptEnv`'s, defines the `dynamic-env-baseline` subset. */
export function baselineHosts(rules: DestinationRule[], clusterDomain: string, exceptEnv?: string): Set<string> {
  return new Set(rules
    .filter((d) => exceptEnv === undefined || !isEnvObject(d, exceptEnv))
    .filter((d) => (d.spec.subsets ?? []).some((s) => s.name === BASELINE_SUBSET))
    .map((d) => ruleHost(d, clusterDomain)));
}

/** Every host a VirtualService names: its own hosts and its routes' and mirrors' destinations, as FQDNs. */
function hostsOf(vs: VirtualService, cd: string): string[] {
  const ns = vs.metadata.namespace ?? 'default';
  const out = (vs.spec.hosts ?? []).map((h) => normalizeHost(h, ns, cd));
  for (const r of vs.spec.http ?? []) {
    for (const d of [...(r.route ?? []).map((x) => x.destination), ...mirrorDestinations(r)]) out.push(normalizeHost(d.host, ns, cd));
  }
  return out;
}

/** User-route destinations (route and mirror) pinned to `dynamic-env-baseline` on a host not in `keep`. */
function unbackedPins(vs: VirtualService, keep: ReadonlySet<string>, cd: string): { route: string; destination: Destination; host: string }[] {
  if (isOwnVirtualService(vs)) return [];
  const ns = vs.metadata.namespace ?? 'default';
  const out: { route: string; destination: Destination; host: string }[] = [];
  (vs.spec.http ?? []).forEach((r, i) => {
    if (parseRouteName(r.name)) return;
    for (const d of [...(r.route ?? []).map((x) => x.destination), ...mirrorDestinations(r)]) {
      const host = normalizeHost(d.host, ns, cd);
      if (d.subset === BASELINE_SUBSET && !keep.has(host)) out.push({ route: r.name ?? `#${i}`, destination: d, host });
    }
  });
  return out;
}

/** Our own VirtualService that no env needs: no env route in it, and no rule defines the baseline subset of its host. */
function unusedOwn(vs: VirtualService, keep: ReadonlySet<string>, cd: string): boolean {
  if (!isOwnVirtualService(vs) || envsOf(vs).length > 0) return false;
  const ns = vs.metadata.namespace ?? 'default';
  return !(vs.spec.hosts ?? []).some((h) => keep.has(normalizeHost(h, ns, cd)));
}

/**
 * Orphans, from the state of the objects: a destination pinned to `dynamic-env-baseline` whose host has no
 * DestinationRule defining that subset (in `keep`) is un-pinned (else every request it takes gets 503); our own
 * VirtualService that no env needs is deleted (null). Pure and idempotent; the input is not mutated.
 */
export function withoutOrphans(vs: VirtualService, keep: ReadonlySet<string>, clusterDomain: string): VirtualService | null {
  if (unusedOwn(vs, keep, clusterDomain)) return null;
  const out = deepCopy(vs);
  for (const p of unbackedPins(out, keep, clusterDomain)) delete p.destination.subset;
  return out;
}

/**
 * Whether close's second phase (un-pin, delete our own VirtualService) may change `vs` once the env's routes are
 * out: only a VirtualService of ours or one with a destination pinned to the baseline subset can. A pin written
 * meanwhile belongs to an env that is opening and keeps it, so a VirtualService without either as read needs no
 * second phase, and close neither re-reads the rules nor the VirtualService for it.
 */
export function mayUnpin(vs: VirtualService, clusterDomain: string): boolean {
  return isOwnVirtualService(vs) || unbackedPins(vs, new Set(), clusterDomain).length > 0;
}

/**
 * Close's first phase: only `env`'s routes go; every pin, and our own VirtualService, stays until the env's pods
 * are gone (closeEditByState then un-pins). Pure.
 */
export function withoutRoutesOf(env: string): (vs: VirtualService) => VirtualService {
  return (vs) => withRoutes(vs, vs.spec.http?.filter((r) => !isRouteOf(r.name, env)));
}

/**
 * Close's edit of one VirtualService, from the state of the objects and not from route adjacency: `env`'s routes
 * go, then every baseline pin whose host has no defining rule left (after this close: other envs' and users' rules
 * in `rules`) is un-pinned, and our own VirtualService goes when no env needs it. An env this close did not know of
 * (`rules` and the VirtualServices were read before; an open of another env may have written since) keeps the pins
 * of the hosts its routes lead to. Pure: applied to a fresh read on every write attempt.
 */
export function closeEditByState(env: string, rules: DestinationRule[], clusterDomain: string, knownEnvs?: ReadonlySet<string>):
  (vs: VirtualService) => VirtualService | null {
  const keep = baselineHosts(rules, clusterDomain, env);
  return (vs) => {
    const out = deepCopy(vs);
    const ns = out.metadata.namespace ?? 'default';
    out.spec.http = (out.spec.http ?? []).filter((r) => !isRouteOf(r.name, env));
    if (!vs.spec.http) delete out.spec.http;
    const kept = new Set(keep);
    if (knownEnvs) {
      for (const r of out.spec.http ?? []) {
        const other = parseRouteName(r.name)?.env;
        if (other && !knownEnvs.has(other)) for (const d of r.route ?? []) kept.add(normalizeHost(d.destination.host, ns, clusterDomain));
      }
    }
    return withoutOrphans(out, kept, clusterDomain);
  };
}

export interface Orphan {
  kind: 'unbacked-pin' | 'unused-virtual-service';
  namespace: string;
  /** The VirtualService. */
  name: string;
  hosts: string[];
  message: string;
}

/** Orphans in `virtualServices` given every DestinationRule of the cluster (`list`, `status` and `sweep` report them). */
export function findOrphans(virtualServices: VirtualService[], rules: DestinationRule[], clusterDomain: string): Orphan[] {
  const keep = baselineHosts(rules, clusterDomain);
  const out: Orphan[] = [];
  for (const vs of virtualServices) {
    const namespace = vs.metadata.namespace ?? '';
    if (unusedOwn(vs, keep, clusterDomain)) {
      const hosts = (vs.spec.hosts ?? []).map((h) => normalizeHost(h, namespace || 'default', clusterDomain));
      out.push({
        kind: 'unused-virtual-service', namespace, name: vs.metadata.name, hosts,
        message: `${vsRef(vs)} is dynamic-env's own, but no env routes through it any more and no DestinationRule ` +
          `defines its "${BASELINE_SUBSET}" subset (its requests get 503); sweep deletes it`,
      });
      continue;
    }
    const pins = unbackedPins(vs, keep, clusterDomain);
    if (pins.length === 0) continue;
    const hosts = [...new Set(pins.map((p) => p.host))].sort();
    const routes = [...new Set(pins.map((p) => `"${p.route}"`))];
    out.push({
      kind: 'unbacked-pin', namespace, name: vs.metadata.name, hosts,
      message: `${vsRef(vs)} route${routes.length > 1 ? 's' : ''} ${routes.join(', ')} ${routes.length > 1 ? 'are' : 'is'} pinned to ` +
        `"${BASELINE_SUBSET}" of ${hosts.join(', ')}, which no DestinationRule defines: requests there get 503; sweep un-pins ` +
        `${routes.length > 1 ? 'them' : 'it'}`,
    });
  }
  return out;
}
