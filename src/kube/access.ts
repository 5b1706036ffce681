// Permission checks before the first write. The API server answers, for this identity, whether each planned write
// is allowed (SelfSubjectAccessReview, which every authenticated user may ask), so a missing RoleBinding is
// reported before anything is written instead of leaving an env half open (clones written, routes refused).
import { clusterError } from '../errors.js';
import type { KubeObject } from '../plan/types.js';
import type { KubeClient } from './client.js';
import type { ResourceType } from './resources.js';

const ACCESS_REVIEW: ResourceType = { apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectAccessReview', plural: 'selfsubjectaccessreviews', namespaced: false };
const RULES_REVIEW: ResourceType = { apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectRulesReview', plural: 'selfsubjectrulesreviews', namespaced: false };

export interface WriteIntent {
  verb: 'create' | 'update' | 'delete';
  type: ResourceType;
  namespace: string;
  name: string;
}

interface ResourceRule {
  verbs: string[];
  apiGroups?: string[];
  resources?: string[];
  resourceNames?: string[];
}

interface RulesReview extends KubeObject {
  status?: { resourceRules?: ResourceRule[]; incomplete?: boolean };
}

interface AccessReview extends KubeObject {
  status?: { allowed?: boolean; denied?: boolean; reason?: string; evaluationError?: string };
}

const groupOf = (t: ResourceType) => (t.apiVersion.includes('/') ? t.apiVersion.split('/')[0]! : '');
const has = (list: string[] | undefined, v: string) => !!list && (list.includes('*') || list.includes(v));

/** Whether a rule of a SelfSubjectRulesReview grants the write (RBAC's own matching: `*`, resourceNames). */
export function rulesAllow(rules: ResourceRule[], i: WriteIntent): boolean {
  return rules.some((r) => has(r.verbs, i.verb) && has(r.apiGroups, groupOf(i.type)) && has(r.resources, i.type.plural)
    && (!r.resourceNames?.length || r.resourceNames.includes(i.name)));
}

export type RulesByNamespace = Map<string, ResourceRule[]>;

/**
 * The rules this identity has in each namespace: one SelfSubjectRulesReview per namespace instead of one
 * SelfSubjectAccessReview per verb, resource and namespace. The answer may be incomplete (another authorizer than
 * RBAC, a webhook, may allow more), so it only ever allows: what it does not allow is asked with access reviews.
 */
export async function rulesByNamespace(client: KubeClient, namespaces: string[]): Promise<RulesByNamespace> {
  const rules = await Promise.all(namespaces.map(async (namespace): Promise<[string, ResourceRule[]]> => {
    try {
      const review = await client.create<RulesReview>(RULES_REVIEW, {
        apiVersion: RULES_REVIEW.apiVersion, kind: RULES_REVIEW.kind, metadata: {} as KubeObject['metadata'], spec: { namespace },
      });
      return [namespace, review.status?.resourceRules ?? []];
    } catch {
      return [namespace, []];
    }
  }));
  return new Map(rules);
}

/**
 * Throws one cluster error naming every write the API server says this identity may not make, and the RoleBinding
 * that grants it. The identity's rules per namespace allow most writes at once; for the rest, one access review per
 * (verb, resource, namespace) answers for every name in it, and only where that is refused (a Role limited by
 * resourceNames may still allow some names) is each name asked about. `known`: rules the caller already asked for
 * (open and close ask while they read or take the Lease), not asked again. A review that cannot be asked (an API
 * server without the endpoint, a transient failure) does not block: the write itself would then report the refusal.
 */
export async function checkWrites(client: KubeClient, intents: WriteIntent[], known: RulesByNamespace = new Map()): Promise<void> {
  const missing = [...new Set(intents.map((i) => i.namespace))].filter((ns) => !known.has(ns)).sort();
  const rules = new Map([...known, ...(missing.length ? await rulesByNamespace(client, missing) : [])]);
  const groups = new Map<string, WriteIntent[]>();
  for (const i of intents.filter((x) => !rulesAllow(rules.get(x.namespace) ?? [], x))) {
    const key = `${i.verb} ${i.type.apiVersion} ${i.type.plural} ${i.namespace}`;
    const group = groups.get(key) ?? [];
    if (!group.some((g) => g.name === i.name)) group.push(i);
    groups.set(key, group);
  }
  const denied = (await Promise.all([...groups.values()].map(async (group) => {
    if (await allowed(client, group[0]!)) return [];
    const each = await Promise.all(group.map(async (i) => ((await allowed(client, group[0]!, i.name)) ? null : i)));
    return each.filter((i): i is WriteIntent => i !== null);
  }))).flat();
  const lines = denied
    .map((i) => `${i.type.kind} ${i.namespace}/${i.name}: this identity may not ${i.verb} it (forbidden); grant it with ` +
      `deploy/rbac.yaml (a RoleBinding to dynamic-env-write in namespace ${i.namespace})`)
    .sort();
  if (lines.length > 0) throw clusterError(lines);
}

/** Whether the API server lets this identity make the write, for one name or (no name) for any. */
async function allowed(client: KubeClient, i: WriteIntent, name?: string): Promise<boolean> {
  const group = groupOf(i.type);
  try {
    const review = await client.create<AccessReview>(ACCESS_REVIEW, {
      apiVersion: ACCESS_REVIEW.apiVersion,
      kind: ACCESS_REVIEW.kind,
      metadata: {} as KubeObject['metadata'],
      spec: { resourceAttributes: { verb: i.verb, group, resource: i.type.plural, namespace: i.namespace, ...(name ? { name } : {}) } },
    });
    return review.status?.allowed === true;
  } catch {
    return true;
  }
}
