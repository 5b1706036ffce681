// The clone of a Deployment: labels, selector, ownership, containers, GitOps stripping, purity.

import { describe, expect, test } from 'vitest';
import { deployment, envSpec, workload } from '../../src/demo/builders.js';
import { buildClone } from '../../src/plan/deployment.js';
import type { Deployment } from '../../src/plan/types.js';

const spec = envSpec('pr-42', { owner: { repo: 'acme/shop', pr: 42, commit: 'abc123' }, now: '2026-03-01T10:00:00Z' });

function original(): Deployment {
  const d = deployment('reviews-v1', {
    namespace: 'bookinfo',
    labels: { app: 'reviews', version: 'v1' },
    metaLabels: {
      'app.kubernetes.io/instance': 'bookinfo',
      'kustomize.toolkit.fluxcd.io/name': 'apps',
      'app.kubernetes.io/managed-by': 'Helm',
      team: 'books',
    },
    annotations: {
      'argocd.argoproj.io/tracking-id': 'bookinfo:apps/Deployment:bookinfo/reviews-v1',
      'meta.helm.sh/release-name': 'bookinfo',
      'kubectl.kubernetes.io/last-applied-configuration': '{}',
      'example.com/keep': 'yes',
    },
    containers: [
      {
        name: 'reviews',
        image: 'example.com/reviews:1.0',
        env: [
          { name: 'A', value: '1' },
          { name: 'SECRET', valueFrom: { secretKeyRef: { name: 's', key: 'k' } } },
        ],
        command: ['/app'],
        args: ['--old'],
      },
      { name: 'sidecar', image: 'example.com/proxy:2' },
    ],
  });
  d.spec.selector.matchExpressions = [
    { key: 'version', operator: 'In', values: ['v1'] },
    { key: 'tier', operator: 'Exists' },
  ];
  d.spec.template.metadata!.labels!['app.kubernetes.io/instance'] = 'bookinfo';
  d.metadata.ownerReferences = [{ kind: 'Rollout', name: 'x' }];
  d.metadata.selfLink = '/apis/apps/v1/x';
  return d;
}

describe('buildClone', () => {
  test('name, labels, selector, template labels, ownership, replicas', () => {
    const { clone, problems } = buildClone(original(), workload('bookinfo', 'reviews-v1', { replicas: 3, labels: { extra: 'x' } }), spec, 'service');
    expect(problems).toEqual([]);
    expect(clone.metadata.name).toBe('reviews-v1-pr-42');
    expect(clone.metadata.namespace).toBe('bookinfo');
    expect(clone.metadata.labels).toEqual({
      app: 'reviews',
      version: 'pr-42',
      team: 'books',
      'app.kubernetes.io/managed-by': 'dynamic-env',
      'dynamic-env.io/env': 'pr-42',
      'dynamic-env.io/role': 'service',
      'dynamic-env.io/repo': 'acme.shop',
      'dynamic-env.io/pr': '42',
    });
    expect(clone.metadata.annotations).toEqual({
      'example.com/keep': 'yes',
      'dynamic-env.io/source': 'bookinfo/reviews-v1',
      'dynamic-env.io/opened-at': '2026-03-01T10:00:00Z',
      'dynamic-env.io/commit': 'abc123',
      'dynamic-env.io/repo': 'acme/shop',
    });
    expect(clone.spec.selector).toEqual({
      matchLabels: { app: 'reviews', version: 'pr-42' },
      matchExpressions: [{ key: 'tier', operator: 'Exists' }],
    });
    // GitOps labels stay on the pod template (they are often part of selectors).
    expect(clone.spec.template.metadata!.labels).toEqual({
      app: 'reviews',
      version: 'pr-42',
      'dynamic-env.io/env': 'pr-42',
      'app.kubernetes.io/instance': 'bookinfo',
      extra: 'x',
    });
    expect(clone.spec.replicas).toBe(3);
  });

  test('drops server-managed fields and status', () => {
    const { clone } = buildClone(original(), workload('bookinfo', 'reviews-v1'), spec, 'service');
    for (const k of ['uid', 'resourceVersion', 'generation', 'creationTimestamp', 'managedFields', 'ownerReferences', 'selfLink']) {
      expect(clone.metadata).not.toHaveProperty(k);
    }
    expect(clone).not.toHaveProperty('status');
    expect(clone.metadata.annotations).not.toHaveProperty('deployment.kubernetes.io/revision');
  });

  test('configured GitOps lists replace the defaults; revision and last-applied always go', () => {
    const custom = { ...spec, gitops: { stripLabels: ['team'], stripAnnotations: ['example.com/keep'] } };
    const { clone } = buildClone(original(), workload('bookinfo', 'reviews-v1'), custom, 'worker');
    expect(clone.metadata.labels).not.toHaveProperty('team');
    expect(clone.metadata.labels).toHaveProperty('app.kubernetes.io/instance', 'bookinfo');
    expect(clone.metadata.labels!['dynamic-env.io/role']).toBe('worker');
    expect(clone.metadata.annotations).not.toHaveProperty('example.com/keep');
    expect(clone.metadata.annotations).not.toHaveProperty('kubectl.kubernetes.io/last-applied-configuration');
    expect(clone.metadata.annotations).not.toHaveProperty('deployment.kubernetes.io/revision');
    expect(clone.metadata.annotations).toHaveProperty('argocd.argoproj.io/tracking-id');
  });

  test('container overrides: image, env merged by name (valueFrom replaced), command, args', () => {
    const { clone, images } = buildClone(
      original(),
      workload('bookinfo', 'reviews-v1', {
        containers: [
          {
            name: 'reviews',
            image: 'ghcr.io/acme/reviews:pr-42',
            env: [
              { name: 'SECRET', value: 'plain' },
              { name: 'NEW', value: 'n' },
            ],
            command: ['/new'],
            args: ['--a', '--b'],
          },
          { name: 'sidecar', image: 'example.com/proxy:3' },
        ],
      }),
      spec,
      'service',
    );
    const [reviews, sidecar] = clone.spec.template.spec.containers;
    expect(reviews).toEqual({
      name: 'reviews',
      image: 'ghcr.io/acme/reviews:pr-42',
      env: [
        { name: 'A', value: '1' },
        { name: 'SECRET', value: 'plain' },
        { name: 'NEW', value: 'n' },
      ],
      command: ['/new'],
      args: ['--a', '--b'],
    });
    expect(sidecar).toEqual({ name: 'sidecar', image: 'example.com/proxy:3' });
    expect(images).toEqual(['ghcr.io/acme/reviews:pr-42', 'example.com/proxy:3']);
  });

  test('an unnamed override applies to the only container', () => {
    const single = deployment('api', { containers: [{ name: 'api', image: 'a:1' }] });
    const { clone, problems } = buildClone(single, workload('default', 'api', { containers: [{ image: 'a:2' }] }), spec, 'service');
    expect(problems).toEqual([]);
    expect(clone.spec.template.spec.containers[0]!.image).toBe('a:2');
  });

  test('an unnamed override with several containers, and an unknown container, are problems naming the real ones', () => {
    const { problems } = buildClone(
      original(),
      workload('bookinfo', 'reviews-v1', { containers: [{ image: 'x:1' }, { name: 'nope', image: 'y:1' }] }),
      spec,
      'service',
    );
    expect(problems).toHaveLength(2);
    expect(problems[0]!.message).toContain('reviews, sidecar');
    expect(problems[0]!.fix).toContain('name');
    expect(problems[1]!.subject).toBe('Deployment bookinfo/reviews-v1 container "nope"');
    expect(problems[1]!.message).toContain('reviews, sidecar');
  });

  test('a paused original gives a clone that is not paused (else its pods never come and open waits out its timeout)', () => {
    const paused = deployment('reviews-v1', { namespace: 'bookinfo', labels: { app: 'reviews', version: 'v1' }, paused: true });
    const { clone, problems } = buildClone(paused, workload('bookinfo', 'reviews-v1'), spec, 'service');
    expect(problems).toEqual([]);
    expect(clone.spec).not.toHaveProperty('paused');
    expect(paused.spec.paused).toBe(true);
    // An existing clone that an older version left paused is updated to an unpaused one.
    const existing = structuredClone(clone);
    existing.spec.paused = true;
    expect(buildClone(paused, workload('bookinfo', 'reviews-v1'), spec, 'service', existing).clone.spec).not.toHaveProperty('paused');
  });

  test('keeps opened-at from the existing clone; never mutates the original', () => {
    const o = original();
    const before = structuredClone(o);
    const existing = buildClone(o, workload('bookinfo', 'reviews-v1'), spec, 'service').clone;
    const later = { ...spec, now: '2026-03-09T00:00:00Z' };
    const again = buildClone(o, workload('bookinfo', 'reviews-v1', { containers: [{ name: 'reviews', image: 'new:2' }] }), later, 'service', existing);
    expect(again.clone.metadata.annotations!['dynamic-env.io/opened-at']).toBe('2026-03-01T10:00:00Z');
    expect(o).toEqual(before);
    // Mutating the clone does not reach the original either.
    again.clone.spec.template.spec.containers[0]!.env!.push({ name: 'Z', value: 'z' });
    expect(o).toEqual(before);
  });
});
