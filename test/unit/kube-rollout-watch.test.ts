// The rollout wait follows watches: a clone counts as ready the moment the API server says so, a watch that ends,
// expires (410 Gone) or loses its API server is resumed, and the deadline fails what is not ready. Against a tiny
// fake API server that lists and streams watch events as each test scripts them.
import { mkdtempSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { deployment } from '../../src/demo/builders.js';
import { KubeClient } from '../../src/kube/client.js';
import { waitForRollout } from '../../src/kube/rollout.js';
import type { Deployment, Pod } from '../../src/plan/types.js';

type Watcher = (res: http.ServerResponse, url: URL, n: number) => void;

/** The fake's state: what lists return, what each watch of a kind does (by how many of that kind came before). */
let clone: Deployment;
let pods: Pod[];
let watchers: Record<string, Watcher>;
let log: string[];
let down = false;
let server: http.Server;
let port: number;
let kubeconfig: string;
const open = new Set<http.ServerResponse>();

const kindOf = (path: string) => /\/(deployments|pods|events)$/.exec(path)?.[1] ?? 'other';

function handle(req: http.IncomingMessage, res: http.ServerResponse): void {
  const url = new URL(req.url!, 'http://x');
  const kind = kindOf(url.pathname);
  if (down) {
    req.socket.destroy();
    return;
  }
  if (url.searchParams.get('watch') === '1') {
    const n = log.filter((l) => l.startsWith(`watch ${kind}`)).length;
    log.push(`watch ${kind} rv=${url.searchParams.get('resourceVersion')}`);
    res.writeHead(200, { 'content-type': 'application/json' });
    open.add(res);
    res.on('close', () => open.delete(res));
    (watchers[kind] ?? (() => {}))(res, url, n);
    return;
  }
  log.push(`list ${kind}`);
  const items = kind === 'deployments' ? [clone] : kind === 'pods' ? pods : [];
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ metadata: { resourceVersion: String(100 + log.length) }, items }));
}

const send = (res: http.ServerResponse, type: string, object: unknown) => res.write(`${JSON.stringify({ type, object })}\n`);
const ready = (d: Deployment, rv: string): Deployment => ({
  ...d,
  metadata: { ...d.metadata, resourceVersion: rv },
  status: { observedGeneration: d.metadata.generation, replicas: 1, readyReplicas: 1, availableReplicas: 1, updatedReplicas: 1 },
});

beforeAll(async () => {
  server = http.createServer(handle);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  port = (server.address() as AddressInfo).port;
  const dir = mkdtempSync(join(tmpdir(), 'kube-watch-'));
  kubeconfig = join(dir, 'kubeconfig');
  writeFileSync(kubeconfig, [
    'apiVersion: v1', 'kind: Config', 'current-context: t',
    `clusters: [{name: t, cluster: {server: "http://127.0.0.1:${port}", insecure-skip-tls-verify: true}}]`,
    'users: [{name: t, user: {}}]', 'contexts: [{name: t, context: {cluster: t, user: t}}]', '',
  ].join('\n'));
});
afterEach(() => {
  for (const r of open) r.destroy();
  down = false;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

const setup = (w: Record<string, Watcher>) => {
  clone = deployment('web-pr-1', { labels: { app: 'web', version: 'pr-1' }, replicas: 1 });
  clone.status = { observedGeneration: 2, replicas: 1, readyReplicas: 0, availableReplicas: 0, updatedReplicas: 1 };
  pods = [];
  watchers = w;
  log = [];
};
const wait = async (timeoutSeconds = 10) => {
  const client = KubeClient.load({ kubeconfig, retries: 1, retryWindowMs: 5_000 });
  const started = Date.now();
  try {
    const result = await waitForRollout(client, 'pr-1', [{ namespace: 'default', name: 'web-pr-1' }], timeoutSeconds);
    return { a: result.get('default/web-pr-1')!, ms: Date.now() - started };
  } finally {
    client.close();
  }
};

describe('waitForRollout follows watches', () => {
  test('ready the moment the watch says so, not on a one-second poll', async () => {
    setup({ deployments: (res) => setTimeout(() => send(res, 'MODIFIED', ready(clone, '300')), 30) });
    const { a, ms } = await wait();
    expect(a).toMatchObject({ state: 'ready', ready: 1, desired: 1 });
    expect(ms).toBeLessThan(600);
    expect(log.filter((l) => l.startsWith('list')).sort()).toEqual(['list deployments', 'list events', 'list pods']);
  });

  test('a diagnosis from a Pod event: a crash loop fails the wait at once', async () => {
    setup({
      pods: (res) => setTimeout(() => send(res, 'ADDED', {
        metadata: { name: 'web-pr-1-abc', namespace: 'default', labels: { app: 'web', version: 'pr-1' }, resourceVersion: '301' },
        status: { containerStatuses: [{ name: 'web', state: { waiting: { reason: 'CrashLoopBackOff', message: 'back-off' } } }] },
      }), 30),
    });
    const { a, ms } = await wait();
    expect(a).toMatchObject({ state: 'failed', reason: 'pod web-pr-1-abc: container web: CrashLoopBackOff: back-off' });
    expect(ms).toBeLessThan(600);
  });

  test('a watch the server ends is resumed from the last version it delivered, without a new list', async () => {
    setup({
      deployments: (res, _url, n) => {
        if (n === 0) {
          send(res, 'BOOKMARK', { kind: 'Deployment', metadata: { resourceVersion: '250' } });
          setTimeout(() => res.end(), 20);
        } else setTimeout(() => send(res, 'MODIFIED', ready(clone, '300')), 20);
      },
    });
    const { a } = await wait();
    expect(a.state).toBe('ready');
    const deploymentRequests = log.filter((l) => l.includes('deployments'));
    expect(deploymentRequests).toEqual(['list deployments', expect.stringMatching(/^watch deployments rv=\d+$/), 'watch deployments rv=250']);
  });

  test('410 Gone (the version expired): listed again, then watched from the new list', async () => {
    setup({
      deployments: (res, _url, n) => {
        if (n === 0) {
          send(res, 'ERROR', { kind: 'Status', code: 410, reason: 'Expired', message: 'too old resource version' });
          setTimeout(() => res.end(), 10);
          clone = ready(clone, '400'); // what the next list shows
        }
      },
    });
    const { a } = await wait();
    expect(a.state).toBe('ready');
    expect(log.filter((l) => l.includes('deployments')).map((l) => l.split(' rv=')[0])).toEqual(['list deployments', 'watch deployments', 'list deployments']);
  });

  test('an API server that goes away and comes back: reconnects with backoff and sees the clone ready', async () => {
    setup({
      deployments: (res, _url, n) => {
        if (n > 0) return;
        // The API server stops: streams cut, then connections refused, for 700 ms.
        down = true;
        server.close();
        for (const r of open) r.destroy();
        setTimeout(() => {
          clone = ready(clone, '500');
          down = false;
          server.listen(port, '127.0.0.1');
        }, 700);
      },
    });
    const { a, ms } = await wait();
    expect(a.state).toBe('ready');
    expect(ms).toBeGreaterThanOrEqual(650);
    expect(ms).toBeLessThan(4_000);
  });

  test('at the deadline a clone not ready is failed, with what was last seen', async () => {
    setup({});
    const { a, ms } = await wait(1);
    expect(a).toEqual({ state: 'failed', reason: 'timed out after 1s: 0/1 ready', ready: 0, desired: 1 });
    expect(ms).toBeGreaterThanOrEqual(950);
    expect(ms).toBeLessThan(2_000);
  });
});
