// checkWrites asks one SelfSubjectRulesReview per namespace and lets its rules allow writes; what they do not allow
// (an incomplete answer: another authorizer may allow more) is asked with SelfSubjectAccessReviews, which decide.
import { describe, expect, test } from 'vitest';
import { checkWrites, rulesAllow, type WriteIntent } from '../../src/kube/access.js';
import type { KubeClient } from '../../src/kube/client.js';
import { DEPLOYMENT, LEASE, VIRTUAL_SERVICE } from '../../src/kube/resources.js';
import type { KubeObject } from '../../src/plan/types.js';

const intent = (verb: WriteIntent['verb'], type = DEPLOYMENT, namespace = 'app', name = 'web-pr-1'): WriteIntent => ({ verb, type, namespace, name });

describe('rulesAllow', () => {
  const write = { verbs: ['create', 'update', 'delete'], apiGroups: ['apps', 'networking.istio.io'], resources: ['deployments', 'virtualservices'] };
  test('verb, group and resource must all match', () => {
    expect(rulesAllow([write], intent('create'))).toBe(true);
    expect(rulesAllow([write], intent('update', VIRTUAL_SERVICE))).toBe(true);
    expect(rulesAllow([write], intent('create', LEASE))).toBe(false);
    expect(rulesAllow([{ ...write, verbs: ['get'] }], intent('create'))).toBe(false);
  });
  test('wildcards (cluster-admin) allow everything', () => {
    expect(rulesAllow([{ verbs: ['*'], apiGroups: ['*'], resources: ['*'] }], intent('delete', LEASE))).toBe(true);
  });
  test('resourceNames narrow a rule to those names', () => {
    const named = { ...write, resourceNames: ['web-pr-1'] };
    expect(rulesAllow([named], intent('create'))).toBe(true);
    expect(rulesAllow([named], intent('create', DEPLOYMENT, 'app', 'api-pr-1'))).toBe(false);
  });
});

describe('checkWrites', () => {
  const client = (rules: unknown[], allowed: (spec: { resourceAttributes: { resource: string } }) => boolean) => {
    const asked: string[] = [];
    const c = {
      create: async (type: { kind: string }, obj: KubeObject & { spec: any }) => {
        asked.push(type.kind);
        if (type.kind === 'SelfSubjectRulesReview') return { ...obj, status: { resourceRules: rules, incomplete: false } };
        return { ...obj, status: { allowed: allowed(obj.spec) } };
      },
    };
    return { c: c as unknown as KubeClient, asked };
  };
  const intents = [intent('create'), intent('update', VIRTUAL_SERVICE, 'app', 'mesh'), intent('create', LEASE, 'app', 'dynamic-env-pr-1')];

  test('rules allowing every write: one request per namespace, no access review', async () => {
    const { c, asked } = client([{ verbs: ['*'], apiGroups: ['*'], resources: ['*'] }], () => false);
    await checkWrites(c, intents);
    expect(asked).toEqual(['SelfSubjectRulesReview']);
  });
  test('what the rules do not allow is asked with an access review, which may still allow it', async () => {
    const { c, asked } = client([{ verbs: ['create'], apiGroups: ['apps'], resources: ['deployments'] }], () => true);
    await checkWrites(c, intents);
    expect(asked.sort()).toEqual(['SelfSubjectAccessReview', 'SelfSubjectAccessReview', 'SelfSubjectRulesReview']);
  });
  test('a refusal is named, with the RoleBinding that grants it', async () => {
    const { c } = client([{ verbs: ['create'], apiGroups: ['apps'], resources: ['deployments'] }], (spec) => spec.resourceAttributes.resource !== 'leases');
    await expect(checkWrites(c, intents)).rejects.toThrow(/Lease app\/dynamic-env-pr-1: this identity may not create it \(forbidden\)/);
  });
});
