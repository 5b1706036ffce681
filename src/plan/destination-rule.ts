// Our DestinationRules per (env, host) (docs/DESIGN.md "DestinationRules"): in which namespaces they go, and what
// they carry so that istiod merges them with the user's rule there or uses them in its place without a change for
// any proxy. destination-rule-scope.ts models istiod; destination-rule-check.ts holds what refuses a plan.

import { deepCopy, isManaged, ownershipLabels } from './deployment.js';
import { checkBaselineKept, exportToConflict, nameProblems, subsetNameProblems } from './destination-rule-check.js';
import {
  type AppliedRule,
  type HostRuleView,
  type MeshScope,
  hostRuleView,
  istiodOrder,
  ruleHost,
  workloadSelectorOf,
} from './destination-rule-scope.js';
import { hostCovers, normalizeHost } from './hosts.js';
import { BASELINE_SUBSET, ISTIO_API_VERSION, destinationRuleCopyName, destinationRuleName } from './names.js';
import type { DestinationRule, EnvSpec, PlanProblem, Subset } from './types.js';

const byCreation = (a: DestinationRule, b: DestinationRule): number => {
  const ta = a.metadata.creationTimestamp ?? '';
  const tb = b.metadata.creationTimestamp ?? '';
  if (ta !== tb) return ta < tb ? -1 : 1;
  const ka = `${a.metadata.namespace ?? ''}/${a.metadata.name}`;
  const kb = `${b.metadata.namespace ?? ''}/${b.metadata.name}`;
  return ka < kb ? -1 : ka > kb ? 1 : 0;
};

/** The user's (not ours) DestinationRules for a host, in any namespace, oldest first (the order Istio merges them). */
export function userDestinationRulesFor(
  fqdn: string,
  destinationRules: DestinationRule[],
  clusterDomain: string,
): DestinationRule[] {
  return destinationRules
    .filter((dr) => !isManaged(dr.metadata.labels))
    .filter((dr) => normalizeHost(dr.spec.host, dr.metadata.namespace ?? 'default', clusterDomain) === fqdn)
    .sort(byCreation);
}

/** The first definition of a subset for a host among the user's DestinationRules (first one wins, like Istio). */
export function findUserSubset(
  fqdn: string,
  subset: string,
  destinationRules: DestinationRule[],
  clusterDomain: string,
): { rule: DestinationRule; subset: Subset } | null {
  for (const rule of userDestinationRulesFor(fqdn, destinationRules, clusterDomain)) {
    const s = rule.spec.subsets?.find((x) => x.name === subset);
    if (s) return { rule, subset: s };
  }
  return null;
}

/** What our rule in one namespace carries, and which of the user's rules it sits beside or stands in for. */
export interface RuleCopy {
  namespace: string;
  /**
   * `merge`: beside the user's exact-host rule(s) of the namespace, with their exportTo, so istiod merges them.
   * `replace`: no exact-host user rule there; ours (exact) now wins over the wildcard or root-namespace rule that
   * applied, so it carries that rule's top-level policy, subsets and reach.
   */
  mode: 'merge' | 'replace';
  exportTo?: string[];
  /** Top-level policy: only when replacing; when merging, the user's rule keeps the top level. */
  trafficPolicy?: unknown;
  /** Put on our subsets: the policy the host's baseline has there. */
  subsetPolicy?: unknown;
  /** The replaced rule's subsets, which routes may name. */
  subsets: Subset[];
  /** The user's rules this one merges with or replaces. */
  basis: DestinationRule[];
}

const uniqueOrNone = (list: string[]): string[] | undefined => (list.length > 0 ? [...new Set(list)] : undefined);

/**
 * Where ours goes: the Service's namespace, and every other namespace whose own user rule for the host (exact or
 * wildcard) applies to its proxies, since istiod would look no further for them and never see ours.
 */
function copyNamespaces(fqdn: string, serviceNamespace: string, userRules: DestinationRule[], view: HostRuleView, mesh: MeshScope): string[] {
  const others = userRules
    .filter((r) => r.metadata.namespace !== serviceNamespace && !workloadSelectorOf(r))
    .filter((r) => hostCovers(ruleHost(r, mesh.clusterDomain), fqdn))
    .map((r) => r.metadata.namespace ?? '')
    .filter((ns) => view.own({ namespace: ns }) !== null);
  return [serviceNamespace, ...[...new Set(others)].sort()];
}

function mergeCopy(namespace: string, exact: DestinationRule[]): RuleCopy {
  const exportTo = uniqueOrNone(exact[0]!.spec.exportTo ?? []);
  const policy = exact.find((r) => r.spec.trafficPolicy != null)?.spec.trafficPolicy;
  return {
    namespace,
    mode: 'merge',
    ...(exportTo ? { exportTo } : {}),
    ...(policy !== undefined ? { subsetPolicy: policy } : {}),
    subsets: [],
    basis: exact,
  };
}

/**
 * The replaced rule's reach, written in `namespace`. From the same namespace it is kept as is. From the root
 * namespace `.` is dropped: istiod never counts it for anyone there but the root namespace's private index, which
 * a rule exported elsewhere is not in.
 */
function exportToFor(applied: AppliedRule, namespace: string): string[] | undefined {
  if (applied.namespace === namespace) return uniqueOrNone(applied.exportTo);
  if (applied.exportTo.length === 0 || applied.exportTo.includes('*')) return undefined;
  return uniqueOrNone(applied.exportTo.filter((e) => e !== '.'));
}

function replaceCopy(namespace: string, applied: AppliedRule | null): RuleCopy {
  if (!applied) return { namespace, mode: 'replace', subsets: [], basis: [] };
  const exportTo = exportToFor(applied, namespace);
  return {
    namespace,
    mode: 'replace',
    ...(exportTo ? { exportTo } : {}),
    ...(applied.trafficPolicy !== undefined ? { trafficPolicy: applied.trafficPolicy, subsetPolicy: applied.trafficPolicy } : {}),
    subsets: applied.subsets,
    basis: applied.rules,
  };
}

/** Our rule per namespace for one host, from the user's rules only (ours and other envs' play no part). */
export function planRuleCopies(
  fqdn: string,
  serviceNamespace: string,
  userRules: DestinationRule[],
  mesh: MeshScope,
): { copies: RuleCopy[]; problems: PlanProblem[] } {
  const view = hostRuleView(fqdn, userRules, mesh);
  const copies: RuleCopy[] = [];
  const problems: PlanProblem[] = [];
  for (const ns of copyNamespaces(fqdn, serviceNamespace, userRules, view, mesh)) {
    const exact = userRules
      .filter((r) => r.metadata.namespace === ns && !workloadSelectorOf(r) && ruleHost(r, mesh.clusterDomain) === fqdn)
      .sort(istiodOrder);
    const own = ns === serviceNamespace ? view.applied(serviceNamespace, { namespace: ns }) : view.own({ namespace: ns });
    if (exact.length > 0 && (ns === serviceNamespace || own?.host === fqdn)) {
      const conflict = exportToConflict(fqdn, ns, exact);
      if (conflict) problems.push(conflict);
      else copies.push(mergeCopy(ns, exact));
    } else {
      copies.push(replaceCopy(ns, own));
    }
  }
  return { copies, problems };
}

export interface DestinationRuleInput {
  /** The Service's FQDN. */
  host: string;
  serviceName: string;
  serviceNamespace: string;
  /** The baseline pods' version label value, when the host needs the baseline subset. */
  baselineVersion?: string;
  copy: RuleCopy;
}

/** Subset names of ours; a user subset of the same name would shadow ours or be dropped. */
const ourSubsetNames = (env: string, input: { baselineVersion?: string }): string[] =>
  input.baselineVersion !== undefined ? [env, BASELINE_SUBSET] : [env];

/**
 * Our DestinationRule for (env, host) in `copy.namespace`: subset `<env>` selecting `{<versionLabel>: <env>}`,
 * plus the baseline subset when asked, each with the baseline's policy; when replacing, also the replaced rule's
 * top-level policy and subsets.
 */
export function buildDestinationRule(spec: EnvSpec, input: DestinationRuleInput): DestinationRule {
  const { copy } = input;
  const subset = (name: string, version: string): Subset => ({
    name,
    labels: { [spec.routing.versionLabel]: version },
    ...(copy.subsetPolicy !== undefined ? { trafficPolicy: deepCopy(copy.subsetPolicy) } : {}),
  });
  const ours = [subset(spec.name, spec.name)];
  if (input.baselineVersion !== undefined) ours.push(subset(BASELINE_SUBSET, input.baselineVersion));
  const names = ourSubsetNames(spec.name, input);
  const copied = copy.subsets.filter((s) => !names.includes(s.name)).map((s) => deepCopy(s));
  return {
    apiVersion: ISTIO_API_VERSION,
    kind: 'DestinationRule',
    metadata: {
      name:
        copy.namespace === input.serviceNamespace
          ? destinationRuleName(spec.name, input.serviceName)
          : destinationRuleCopyName(spec.name, input.serviceName, input.serviceNamespace),
      namespace: copy.namespace,
      labels: ownershipLabels(spec),
    },
    spec: {
      host: input.host,
      ...(copy.exportTo ? { exportTo: [...copy.exportTo] } : {}),
      ...(copy.trafficPolicy !== undefined ? { trafficPolicy: deepCopy(copy.trafficPolicy) } : {}),
      subsets: [...ours, ...copied],
    },
  };
}

export interface HostRulesInput extends Omit<DestinationRuleInput, 'copy'> {
  /** Every DestinationRule in the cluster (users', ours, other envs'). */
  clusterRules: DestinationRule[];
  /** Namespaces known to call the host (the config's), checked besides those the rules name. */
  callerNamespaces: string[];
}

export interface HostRulesPlan {
  rules: DestinationRule[];
  problems: PlanProblem[];
  warnings: string[];
}

/** Our DestinationRules for one host of an env, with what would go wrong for some proxies if they were written. */
export function planHostDestinationRules(spec: EnvSpec, input: HostRulesInput): HostRulesPlan {
  const mesh: MeshScope = { clusterDomain: spec.clusterDomain, rootNamespace: spec.istioRootNamespace };
  const userRules = input.clusterRules.filter((r) => !isManaged(r.metadata.labels));
  const planned = planRuleCopies(input.host, input.serviceNamespace, userRules, mesh);
  const { clusterRules, callerNamespaces, ...common } = input;
  const rules = planned.copies.map((copy) => buildDestinationRule(spec, { ...common, copy }));
  const problems = [
    ...planned.problems,
    ...subsetNameProblems(spec.name, ourSubsetNames(spec.name, input), planned.copies.flatMap((c) => c.basis)),
    ...nameProblems(spec.name, rules, clusterRules),
  ];
  // The check reads what istiod would make of the planned rules; with a problem above they are not the plan.
  if (problems.length > 0) return { rules, problems, warnings: [] };
  const checked = checkBaselineKept({ env: spec.name, ...common, mesh, clusterRules, planned: rules, callerNamespaces });
  return { rules, problems: checked.problems, warnings: checked.warnings };
}
