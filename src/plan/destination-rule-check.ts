// What refuses our DestinationRules for a host. First what leaves them no place: user rules of one namespace that
// istiod keeps apart, user subsets named like ours, objects at our names. Then: does every proxy keep the host's
// baseline while the env is open? The model of istiod (destination-rule-scope.ts) says which rule each kind of
// proxy uses for the host with the user's rules alone, and with other envs' and this env's rules added. A changed
// top-level policy or a lost subset is refused (baseline traffic would change), as is a missing baseline subset
// where routes get pinned to it (503); a proxy that cannot see the env's subset only gets a warning (its
// header-routed requests get 503, its baseline is untouched).

import { isDeepStrictEqual } from 'node:util';
import { isEnvObject, isManaged } from './deployment.js';
import {
  type AppliedRule,
  type MeshScope,
  type ProxyRef,
  exportToSet,
  hostRuleView,
  ruleHost,
  sameSet,
  workloadSelectorOf,
} from './destination-rule-scope.js';
import { hostCovers } from './hosts.js';
import { BASELINE_SUBSET, ENV_LABEL } from './names.js';
import type { DestinationRule, Labels, PlanProblem } from './types.js';

/** Stands for every namespace no rule names: its proxies have no rule of their own and are named by no exportTo. */
export const OTHER_NAMESPACES = '(other namespaces)';

export interface BaselineCheckInput {
  env: string;
  host: string;
  serviceNamespace: string;
  baselineVersion?: string;
  mesh: MeshScope;
  clusterRules: DestinationRule[];
  /** This env's rules for the host, as planned. */
  planned: DestinationRule[];
  callerNamespaces: string[];
}

const refText = (r: DestinationRule): string => `${r.metadata.namespace ?? ''}/${r.metadata.name}`;
const exportToText = (r: DestinationRule): string => `[${(r.spec.exportTo ?? []).join(', ')}]`;
const labelsText = (l: Labels): string => `{${Object.entries(l).map(([k, v]) => `${k}: ${v}`).join(', ')}}`;
const ruleText = (a: AppliedRule | null): string =>
  !a ? 'no DestinationRule' : a.rules.length === 1 ? `DestinationRule ${refText(a.rules[0]!)}` : `DestinationRules ${a.rules.map(refText).join(' + ')} (merged)`;

/**
 * The proxies whose view can differ: the namespaces involved (the Service's, the root, those holding or named by a
 * rule for the host, the callers'), one namespace that none of them is, and the workloads a rule selects.
 */
function proxiesToCheck(input: BaselineCheckInput, covering: DestinationRule[]): ProxyRef[] {
  const named = covering.flatMap((r) => r.spec.exportTo ?? []).filter((e) => !['.', '*', '~'].includes(e));
  const namespaces = new Set([
    input.serviceNamespace,
    input.mesh.rootNamespace,
    ...input.planned.map((r) => r.metadata.namespace ?? ''),
    ...covering.map((r) => r.metadata.namespace ?? ''),
    ...named,
    ...input.callerNamespaces,
  ]);
  const selected = covering.flatMap((r): ProxyRef[] => {
    const labels = workloadSelectorOf(r);
    return labels ? [{ namespace: r.metadata.namespace ?? '', labels }] : [];
  });
  return [...[...namespaces].sort().map((namespace) => ({ namespace })), { namespace: OTHER_NAMESPACES }, ...selected];
}

function whoText(proxies: ProxyRef[]): string {
  const plain = proxies.filter((p) => !p.labels && p.namespace !== OTHER_NAMESPACES).map((p) => p.namespace);
  const parts = plain.length > 0 ? [`proxies in namespace${plain.length > 1 ? 's' : ''} ${plain.join(', ')}`] : [];
  if (proxies.some((p) => !p.labels && p.namespace === OTHER_NAMESPACES)) parts.push(plain.length > 0 ? 'in other namespaces' : 'proxies in other namespaces');
  for (const p of proxies) if (p.labels) parts.push(`workloads ${labelsText(p.labels)} in namespace ${p.namespace}`);
  return parts.join(' and ');
}

/** An existing rule keeps its creation time (istiod orders by it); a new one comes after every other. */
function asWritten(planned: DestinationRule[], clusterRules: DestinationRule[]): DestinationRule[] {
  return planned.map((dr) => {
    const cur = clusterRules.find((d) => d.metadata.namespace === dr.metadata.namespace && d.metadata.name === dr.metadata.name);
    const createdAt = cur?.metadata.creationTimestamp;
    return createdAt ? { ...dr, metadata: { ...dr.metadata, creationTimestamp: createdAt } } : dr;
  });
}

interface Finding {
  kind: 'changed' | 'baseline' | 'env';
  before: AppliedRule | null;
  after: AppliedRule | null;
  detail: string;
  proxies: ProxyRef[];
}

function changeOf(before: AppliedRule | null, after: AppliedRule | null): string | null {
  const what: string[] = [];
  if (!isDeepStrictEqual(before?.trafficPolicy, after?.trafficPolicy)) what.push('their top-level traffic policy would change');
  const lost = (before?.subsets ?? []).filter((s) => !after?.subsets.some((t) => isDeepStrictEqual(s, t))).map((s) => `"${s.name}"`);
  if (lost.length > 0) what.push(`subset${lost.length > 1 ? 's' : ''} ${lost.join(', ')} would be missing or different`);
  return what.length > 0 ? what.join(', and ') : null;
}

function toProblem(f: Finding, input: BaselineCheckInput): PlanProblem | string {
  const who = whoText(f.proxies);
  const subject = `DestinationRules for ${input.host}`;
  if (f.kind === 'env') {
    return `env ${input.env}: ${who} use ${ruleText(f.after)} for ${input.host}, which has no subset "${input.env}", so their requests for env ${input.env} get 503`;
  }
  if (f.kind === 'baseline') {
    return {
      kind: 'cluster',
      subject,
      message: `${who} would use ${ruleText(f.after)}, which has no subset "${BASELINE_SUBSET}", so routes pinned to it would answer their baseline requests with 503`,
      fix: `export the DestinationRule for ${input.host} to them (exportTo), or name subsets in the routes to ${input.host} so that dynamic-env need not pin them`,
    };
  }
  const stale = staleEnvs(input);
  return {
    kind: 'cluster',
    subject,
    message: `with env ${input.env}'s DestinationRules, ${who} would use ${ruleText(f.after)} instead of ${ruleText(f.before)}, so ${f.detail}`,
    fix: stale.length > 0
      ? `re-run open (or close) for env ${stale.join(', ')}, whose DestinationRules no longer follow the user's`
      : `give ${input.host} an exact-host DestinationRule in namespace ${input.serviceNamespace} (or theirs) that reaches them, which dynamic-env's rule joins, or make the DestinationRules that apply to them agree`,
  };
}

/** istiod keeps rules of one host apart unless their exportTo sets are equal; ours can then join only one. */
export function exportToConflict(fqdn: string, namespace: string, exact: DestinationRule[]): PlanProblem | null {
  const first = exportToSet(exact[0]!);
  if (exact.every((r) => sameSet(exportToSet(r), first))) return null;
  return {
    kind: 'cluster',
    subject: `DestinationRules ${exact.map(refText).join(', ')}`,
    message:
      `are all for ${fqdn} in namespace ${namespace} but their exportTo differ (${exact.map((r) => `${r.metadata.name}: ${exportToText(r)}`).join('; ')}), ` +
      `so istiod does not merge them (the newest is used alone) and dynamic-env's DestinationRule could join only one of them`,
    fix: 'give them the same exportTo, or merge them into one DestinationRule',
  };
}

export function subsetNameProblems(env: string, names: string[], basis: DestinationRule[]): PlanProblem[] {
  const seen = new Set<string>();
  const problems: PlanProblem[] = [];
  for (const rule of basis) {
    for (const s of rule.spec.subsets ?? []) {
      const key = `${refText(rule)}#${s.name}`;
      if (!names.includes(s.name) || seen.has(key)) continue;
      seen.add(key);
      problems.push({
        kind: 'cluster',
        subject: `DestinationRule ${refText(rule)} subset "${s.name}"`,
        message:
          s.name === env
            ? `has the env's name; Istio keeps the first definition of a subset, so env ${env}'s subset would be ignored`
            : `has the name of dynamic-env's baseline subset; Istio keeps the first definition of a subset, so routes pinned to it would use this one`,
        fix: s.name === env ? 'rename the subset, or choose another env name' : 'rename the subset',
      });
    }
  }
  return problems;
}

export function nameProblems(env: string, rules: DestinationRule[], clusterRules: DestinationRule[]): PlanProblem[] {
  return rules.flatMap((dr): PlanProblem[] => {
    const existing = clusterRules.find((d) => d.metadata.namespace === dr.metadata.namespace && d.metadata.name === dr.metadata.name);
    if (!existing || isEnvObject(existing, env)) return [];
    return [{
      kind: 'cluster',
      subject: `DestinationRule ${refText(dr)}`,
      message: `already exists and is not env ${env}'s`,
      fix: 'rename or remove it, or choose another env name',
    }];
  });
}

/**
 * Other envs whose rule for the host sits beside one of ours with another exportTo: written before the user's rule
 * changed (or by an older dynamic-env). istiod keeps such rules apart, and the newest then hides the rest.
 */
function staleEnvs(input: BaselineCheckInput): string[] {
  const envs = input.clusterRules
    .filter((r) => isManaged(r.metadata.labels) && r.metadata.labels?.[ENV_LABEL] !== input.env)
    .filter((r) => ruleHost(r, input.mesh.clusterDomain) === input.host)
    .filter((r) => input.planned.some((p) => p.metadata.namespace === r.metadata.namespace && !sameSet(exportToSet(p), exportToSet(r))))
    .map((r) => r.metadata.labels?.[ENV_LABEL] ?? '');
  return [...new Set(envs)].sort();
}

export function checkBaselineKept(input: BaselineCheckInput): { problems: PlanProblem[]; warnings: string[] } {
  const { host, mesh, clusterRules } = input;
  const userRules = clusterRules.filter((r) => !isManaged(r.metadata.labels));
  const otherEnvs = clusterRules.filter((r) => isManaged(r.metadata.labels) && r.metadata.labels?.[ENV_LABEL] !== input.env);
  const before = hostRuleView(host, userRules, mesh);
  const after = hostRuleView(host, [...userRules, ...otherEnvs, ...asWritten(input.planned, clusterRules)], mesh);
  const covering = userRules.filter((r) => hostCovers(ruleHost(r, mesh.clusterDomain), host));
  const findings = new Map<string, Finding>();
  const add = (kind: Finding['kind'], b: AppliedRule | null, a: AppliedRule | null, detail: string, proxy: ProxyRef): void => {
    const key = [kind, kind === 'changed' ? ruleText(b) : '', ruleText(a), detail].join('|');
    const f = findings.get(key) ?? { kind, before: b, after: a, detail, proxies: [] };
    f.proxies.push(proxy);
    findings.set(key, f);
  };
  for (const proxy of proxiesToCheck(input, covering)) {
    const b = before.applied(input.serviceNamespace, proxy);
    const a = after.applied(input.serviceNamespace, proxy);
    const change = changeOf(b, a);
    if (change) add('changed', b, a, change, proxy);
    const has = (name: string): boolean => a?.subsets.some((s) => s.name === name) ?? false;
    if (input.baselineVersion !== undefined && !has(BASELINE_SUBSET)) add('baseline', b, a, '', proxy);
    else if (!has(input.env)) add('env', b, a, '', proxy);
  }
  const out = [...findings.values()].map((f) => toProblem(f, input));
  return {
    problems: out.filter((p): p is PlanProblem => typeof p !== 'string'),
    warnings: out.filter((p): p is string => typeof p === 'string'),
  };
}
