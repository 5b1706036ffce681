// The client's retry classification: transient failures are retried, an object too large to store never is.

import { mkdtempSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { virtualService } from '../../src/demo/builders.js';
import { DynamicEnvError } from '../../src/errors.js';
import { editVirtualService } from '../../src/kube/apply.js';
import { ApiStatusError, KubeClient, explainApiError, isTooLarge } from '../../src/kube/client.js';
import { DEPLOYMENT, VIRTUAL_SERVICE } from '../../src/kube/resources.js';

/** What the fake API server answers to the next requests, and how many it got. */
let answer: { code: number; message: string } = { code: 500, message: '' };
/** Lists the fake API server answers to the next GETs, one page each, before falling back to `answer`. */
let pages: { items: unknown[]; continue?: string }[] = [];
let requests: string[] = [];
let server: http.Server;
let kubeconfig: string;

beforeAll(async () => {
  server = http.createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    req.resume();
    req.on('end', () => {
      const page = req.method === 'GET' ? pages.shift() : undefined;
      if (page) {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ kind: 'DeploymentList', apiVersion: 'apps/v1', metadata: { resourceVersion: '7', continue: page.continue }, items: page.items }));
        return;
      }
      res.writeHead(answer.code, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: answer.code === 413 ? 'RequestEntityTooLarge' : 'InternalError', message: answer.message, code: answer.code }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as AddressInfo).port;
  const dir = mkdtempSync(join(tmpdir(), 'kube-client-'));
  kubeconfig = join(dir, 'kubeconfig');
  writeFileSync(kubeconfig, [
    'apiVersion: v1', 'kind: Config', 'current-context: t',
    'clusters: [{name: t, cluster: {server: "http://127.0.0.1:' + port + '", insecure-skip-tls-verify: true}}]',
    'users: [{name: t, user: {}}]',
    'contexts: [{name: t, context: {cluster: t, user: t}}]', '',
  ].join('\n'));
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

const client = () => KubeClient.load({ kubeconfig, retries: 2, retryWindowMs: 1_500 });
const vs = virtualService('web', [{ name: 'dynamic-env/pr-1/default', route: [{ destination: { host: 'web', subset: 'pr-1' } }] }, { name: 'default', route: [{ destination: { host: 'web', subset: 'v1' } }] }], { namespace: 'app' });

describe('size errors are permanent', () => {
  test.each([
    ['etcd: 500 "etcdserver: request is too large"', 500, 'etcdserver: request is too large'],
    ['the API server\'s etcd client: 500 "trying to send message larger than max"', 500, 'rpc error: code = ResourceExhausted desc = trying to send message larger than max (3145728 vs. 2097152)'],
    ['the API server\'s body limit: 413', 413, 'the request is too large'],
  ])('%s: one request, no retry, a message that does not say re-run', async (_label, code, message) => {
    answer = { code, message };
    requests = [];
    const c = client();
    const started = Date.now();
    const e = await c.replace(VIRTUAL_SERVICE, vs).catch((err) => err);
    c.close();
    expect(e).toBeInstanceOf(ApiStatusError);
    expect(isTooLarge(e)).toBe(true);
    expect(requests).toEqual(['PUT /apis/networking.istio.io/v1/namespaces/app/virtualservices/web']);
    expect(Date.now() - started).toBeLessThan(1_000);
    const explained = explainApiError(e, 'updating VirtualService app/web').message;
    expect(explained).toContain('too large for the cluster to store');
    expect(explained).toContain('re-running cannot help');
    expect(explained).not.toContain('converges');
  });

  test('editVirtualService: the size error names the VirtualService, its size and envs, after one write attempt', async () => {
    answer = { code: 500, message: 'etcdserver: request is too large' };
    requests = [];
    const c = client();
    const e = await editVirtualService(c, { namespace: 'app', name: 'web' }, (v) => ({ ...v, spec: { ...v.spec, http: [...v.spec.http!].reverse() } }), vs).catch((err) => err);
    c.close();
    expect(e).toBeInstanceOf(DynamicEnvError);
    expect(e.message).toMatch(/updating VirtualService app\/web: the cluster refused to store it, \d+ bytes with 1 envs' routes \(pr-1\), as too large/);
    expect(e.message).toContain('close stale envs, split the VirtualService');
    expect(requests.filter((r) => r.startsWith('PUT'))).toHaveLength(1);
  });

  test('a transient 500 is still retried', async () => {
    answer = { code: 500, message: 'etcdserver: leader changed' };
    requests = [];
    const c = client();
    const e = await c.replace(VIRTUAL_SERVICE, vs).catch((err) => err);
    c.close();
    expect(isTooLarge(e)).toBe(false);
    expect(requests.length).toBeGreaterThan(1);
  });
});

describe('lists', () => {
  const item = (name: string) => ({ metadata: { name, namespace: 'app' } });

  test('listCached asks for the watch cache as it stands (resourceVersion=0), and pages on by the continue token alone', async () => {
    // The API server refuses a continue token together with a resourceVersion: the token carries its own.
    pages = [{ items: [item('a')], continue: 'tok' }, { items: [item('b')] }];
    requests = [];
    const c = client();
    const got = await c.listCached(DEPLOYMENT, undefined, 'dynamic-env.io/env=pr-1');
    c.close();
    expect(got.items.map((d) => [d.kind, d.metadata.name])).toEqual([['Deployment', 'a'], ['Deployment', 'b']]);
    expect(requests.map((r) => Object.fromEntries(new URL(r.split(' ')[1]!, 'http://x').searchParams))).toEqual([
      { limit: '500', labelSelector: 'dynamic-env.io/env=pr-1', resourceVersion: '0' },
      { limit: '500', labelSelector: 'dynamic-env.io/env=pr-1', continue: 'tok' },
    ]);
  });

  test('list is a consistent read: no resourceVersion', async () => {
    pages = [{ items: [item('a')] }];
    requests = [];
    const c = client();
    await c.list(DEPLOYMENT, 'app', 'app=web');
    c.close();
    expect(requests).toEqual(['GET /apis/apps/v1/namespaces/app/deployments?limit=500&labelSelector=app%3Dweb']);
  });
});
