// Our DestinationRule per (env, host) (docs/DESIGN.md "Keeping baseline traffic off the PR's pods").

import { deepCopy, isManaged, ownershipLabels } from './deployment.js';
import { normalizeHost } from './hosts.js';
import { BASELINE_SUBSET, ISTIO_API_VERSION, destinationRuleName } from './names.js';
import type { DestinationRule, EnvSpec, Subset } from './types.js';

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

export interface DestinationRuleInput {
  /** The Service's FQDN. */
  host: string;
  serviceName: string;
  namespace: string;
  /** The baseline pods' version label value, when the host needs the baseline subset. */
  baselineVersion?: string;
  /** The user's DestinationRule for the host (the first by creation), lending its top-level traffic policy. */
  userRule?: DestinationRule;
}

/**
 * Our DestinationRule for (env, host): subset `<env>` selecting `{<versionLabel>: <env>}`, plus the baseline
 * subset when asked. The user's top-level traffic policy goes on each subset; ours has none at top level, so the
 * user's stays in force when Istio merges DestinationRules for the host.
 */
export function buildDestinationRule(spec: EnvSpec, input: DestinationRuleInput): DestinationRule {
  const versionLabel = spec.routing.versionLabel;
  const policy = input.userRule?.spec.trafficPolicy;
  const subset = (name: string, version: string): Subset => ({
    name,
    labels: { [versionLabel]: version },
    ...(policy !== undefined ? { trafficPolicy: deepCopy(policy) } : {}),
  });
  const subsets = [subset(spec.name, spec.name)];
  if (input.baselineVersion !== undefined) subsets.push(subset(BASELINE_SUBSET, input.baselineVersion));
  return {
    apiVersion: ISTIO_API_VERSION,
    kind: 'DestinationRule',
    metadata: {
      name: destinationRuleName(spec.name, input.serviceName),
      namespace: input.namespace,
      labels: ownershipLabels(spec),
    },
    spec: { host: input.host, subsets },
  };
}
