// Which DestinationRule istiod gives a proxy for a host. A pure model of istiod's lookup, so the planner can see
// what its own rules change before writing them (docs/DESIGN.md "DestinationRules: what istiod does"). It follows
// istio/istio pilot/pkg/model:
// - push_context.go `setDestinationRules`: rules sorted (workloadSelector first, then creation time, name,
//   namespace) go into three indexes: per namespace for that namespace's proxies (exportTo empty, `*`, `.` or the
//   namespace), per namespace for export (all but private-only ones), and the root namespace's private ones.
// - destination_rule.go `mergeDestinationRule` (ENABLE_ENHANCED_DESTINATIONRULE_MERGE, on by default): a rule joins
//   an entry for its host only when their exportTo sets are equal (or it is a superset of a non-empty one);
//   otherwise it becomes an entry of its own. Joining adds subsets not yet defined and a top-level trafficPolicy
//   only where the entry has none.
// - push_context.go `destinationRule`: the proxy's own namespace first (the root namespace's private rules for a
//   proxy there), then the Service's namespace, then the root namespace, the last two filtered by exportTo; within
//   one index the exact host beats the longest wildcard (config.go `MostSpecificHostMatch`), and a namespace that
//   matches ends the search even when nothing in it applies to the proxy.
// - sidecar.go `SidecarScope.DestinationRule`: of the entries found, a workloadSelector entry of the proxy's own
//   namespace that selects it wins; otherwise the last entry without a selector (the newest one).
// The mesh-wide `defaultDestinationRuleExportTo` is assumed unset (`*`), as it is unless an operator changes it.

import { isDeepStrictEqual } from 'node:util';
import { hostCovers } from './hosts.js';
import type { DestinationRule, Labels, Subset } from './types.js';

export interface MeshScope {
  clusterDomain: string;
  /** MeshConfig `rootNamespace`: its exported rules are every proxy's last resort. */
  rootNamespace: string;
}

/** A proxy as the lookup sees it; its labels matter only for rules with a workloadSelector. */
export interface ProxyRef {
  namespace: string;
  labels?: Labels;
}

/** The rule a proxy uses for a host: one rule, or several istiod merged (first one first). */
export interface AppliedRule {
  namespace: string;
  /** The host that matched: the FQDN itself, or a wildcard. */
  host: string;
  /** The exportTo of the entry's first rule, as written ([]: none). */
  exportTo: string[];
  rules: DestinationRule[];
  trafficPolicy?: unknown;
  subsets: Subset[];
  workloadSelector?: Labels;
}

/** A rule sorted as if created after every existing one (our rules not written yet). */
export const NOT_YET_CREATED = '9999-12-31T23:59:59Z';

/** The rule's host as istiod resolves it: only a name without dots is short (`ResolveShortnameToFQDN`). */
export function ruleHost(rule: DestinationRule, clusterDomain: string): string {
  const h = rule.spec.host;
  if (h === '*' || h.includes('.') || h.includes(':')) return h;
  return `${h}.${rule.metadata.namespace ?? ''}.svc.${clusterDomain}`;
}

export function workloadSelectorOf(rule: DestinationRule): Labels | undefined {
  const selector = rule.spec.workloadSelector as { matchLabels?: Labels } | undefined | null;
  return selector ? (selector.matchLabels ?? {}) : undefined;
}

/** istiod's exportTo set for a rule: a rule with a workloadSelector is never exported. */
export function exportToSet(rule: DestinationRule): Set<string> {
  return workloadSelectorOf(rule) ? new Set(['.']) : new Set(rule.spec.exportTo ?? []);
}

export const sameSet = (a: Set<string>, b: Set<string>): boolean => a.size === b.size && [...a].every((x) => b.has(x));
const supersetOf = (a: Set<string>, b: Set<string>): boolean => [...b].every((x) => a.has(x));

/** The order istiod merges rules in (`sortConfigBySelectorAndCreationTime`). */
export function istiodOrder(a: DestinationRule, b: DestinationRule): number {
  const sa = workloadSelectorOf(a) !== undefined;
  const sb = workloadSelectorOf(b) !== undefined;
  if (sa !== sb) return sa ? -1 : 1;
  for (const [x, y] of [
    [a.metadata.creationTimestamp ?? NOT_YET_CREATED, b.metadata.creationTimestamp ?? NOT_YET_CREATED],
    [a.metadata.name, b.metadata.name],
    [a.metadata.namespace ?? '', b.metadata.namespace ?? ''],
  ] as const) {
    if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}

interface Entry extends AppliedRule {
  exportToSet: Set<string>;
}

/** Host -> entries, as `consolidatedDestRules` (only hosts that cover the one looked up are ever added). */
type Index = Map<string, Entry[]>;

function newEntry(rule: DestinationRule, host: string, set: Set<string>): Entry {
  const selector = workloadSelectorOf(rule);
  return {
    namespace: rule.metadata.namespace ?? '',
    host,
    exportTo: [...(rule.spec.exportTo ?? [])],
    exportToSet: set,
    rules: [rule],
    ...(rule.spec.trafficPolicy != null ? { trafficPolicy: rule.spec.trafficPolicy } : {}),
    subsets: [...(rule.spec.subsets ?? [])],
    ...(selector ? { workloadSelector: selector } : {}),
  };
}

function joinEntry(entry: Entry, rule: DestinationRule): void {
  entry.rules.push(rule);
  for (const s of rule.spec.subsets ?? []) if (!entry.subsets.some((x) => x.name === s.name)) entry.subsets.push(s);
  if (entry.trafficPolicy == null && rule.spec.trafficPolicy != null) entry.trafficPolicy = rule.spec.trafficPolicy;
}

/** `mergeDestinationRule`, line for line: which entries the rule joins, and whether it also stands alone. */
function mergeInto(index: Index, rule: DestinationRule, host: string, set: Set<string>): void {
  const entries = index.get(host);
  if (!entries) {
    index.set(host, [newEntry(rule, host, set)]);
    return;
  }
  const selector = workloadSelectorOf(rule);
  let appendSeparately = true;
  for (const entry of [...entries]) {
    if (sameSet(set, entry.exportToSet)) appendSeparately = false;
    else if (entry.exportToSet.size > 0 && supersetOf(set, entry.exportToSet)) appendSeparately = true;
    else {
      appendSeparately = true;
      continue;
    }
    const bothWith = selector !== undefined && entry.workloadSelector !== undefined;
    const bothWithout = selector === undefined && entry.workloadSelector === undefined;
    if (bothWith && !isDeepStrictEqual(selector, entry.workloadSelector)) {
      appendSeparately = true;
      continue;
    }
    if (bothWithout || bothWith) appendSeparately = false;
    joinEntry(entry, rule);
  }
  if (appendSeparately) entries.push(newEntry(rule, host, set));
}

/** `MostSpecificHostMatch`: the exact host, else the longest wildcard. */
function mostSpecific(index: Index | undefined, fqdn: string): Entry[] | undefined {
  if (!index) return undefined;
  const exact = index.get(fqdn);
  if (exact) return exact;
  const wildcards = [...index.keys()].filter((h) => h.startsWith('*')).sort((a, b) => b.length - a.length);
  return wildcards[0] === undefined ? undefined : index.get(wildcards[0]);
}

const visibleTo = (entry: Entry, namespace: string): boolean =>
  entry.exportToSet.size === 0 || entry.exportToSet.has('*') || entry.exportToSet.has(namespace);

const selects = (selector: Labels, labels: Labels | undefined): boolean =>
  Object.entries(selector).every(([k, v]) => labels?.[k] === v);

/** `SidecarScope.DestinationRule` for outbound traffic. */
function pick(entries: Entry[], proxy: ProxyRef): Entry | null {
  let catchAll: Entry | null = null;
  for (const entry of entries) {
    if (!entry.workloadSelector) catchAll = entry;
    else if (entry.namespace === proxy.namespace && selects(entry.workloadSelector, proxy.labels)) return entry;
  }
  return catchAll;
}

const publicView = (e: Entry | null): AppliedRule | null => {
  if (!e) return null;
  const { exportToSet: _set, ...rest } = e;
  return { ...rest, rules: [...rest.rules], subsets: [...rest.subsets] };
};

/** How istiod sees the rules for one host: built once, asked for many proxies. */
export interface HostRuleView {
  /** The rule a proxy uses for the host, or null (no DestinationRule: default policy, no subsets). */
  applied(serviceNamespace: string, proxy: ProxyRef): AppliedRule | null;
  /** What a proxy finds in its own namespace's index (the first place istiod looks), or null. */
  own(proxy: ProxyRef): AppliedRule | null;
}

export function hostRuleView(fqdn: string, rules: DestinationRule[], mesh: MeshScope): HostRuleView {
  const local = new Map<string, Index>();
  const exported = new Map<string, Index>();
  const rootLocal: Index = new Map();
  const indexOf = (m: Map<string, Index>, ns: string): Index => m.get(ns) ?? m.set(ns, new Map()).get(ns)!;
  const relevant = rules.filter((r) => hostCovers(ruleHost(r, mesh.clusterDomain), fqdn)).sort(istiodOrder);
  for (const rule of relevant) {
    const ns = rule.metadata.namespace ?? '';
    const host = ruleHost(rule, mesh.clusterDomain);
    const set = exportToSet(rule);
    if (set.size === 0 || set.has('*') || set.has('.') || set.has(ns)) mergeInto(indexOf(local, ns), rule, host, set);
    const privateOnly = set.size === 1 && (set.has('.') || set.has(ns));
    if (!privateOnly) mergeInto(indexOf(exported, ns), rule, host, set);
    else if (ns === mesh.rootNamespace) mergeInto(rootLocal, rule, host, set);
  }
  const ownEntries = (proxy: ProxyRef): Entry[] | undefined =>
    mostSpecific(proxy.namespace === mesh.rootNamespace ? rootLocal : local.get(proxy.namespace), fqdn);
  return {
    own: (proxy) => {
      const entries = ownEntries(proxy);
      return entries ? publicView(pick(entries, proxy)) : null;
    },
    applied: (serviceNamespace, proxy) => {
      const entries = ownEntries(proxy);
      if (entries) return publicView(pick(entries, proxy));
      for (const ns of [serviceNamespace, mesh.rootNamespace]) {
        const visible = mostSpecific(exported.get(ns), fqdn)?.filter((e) => visibleTo(e, proxy.namespace));
        if (visible && visible.length > 0) return publicView(pick(visible, proxy));
      }
      return null;
    },
  };
}
