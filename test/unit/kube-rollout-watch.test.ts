// The rollout wait follows watches: a clone counts as ready the moment the API server says so, a watch that ends,
// expires (410 Gone) or loses its API server is resumed, and the deadline fails what is not ready. Against a tiny
// fake API server that lists and streams watch events as each test scripts them, and answers a streaming list
// (sendInitialEvents) as Kubernetes 1.34 does, as 1.33 does (refused) or as a server before 1.27 does (ignored).
// The real API server's streaming lists are exercised by every e2e open with a wait (engine-requests counts them).
import { mkdtempSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { deployment } from '../../src/demo/builders.js';
import { KubeClient } from '../../src/kube/client.js';
import { EVENTS_AFTER_MS, LISTED_WITHIN_MS, watchEnv, type CloneRef } from '../../src/kube/rollout.js';
import type { Deployment, KubeEvent, Pod } from '../../src/plan/types.js';

/** One wait from a watch started for it (as open's, started under the Lease just before the writes). */
async function waitForRollout(client: KubeClient, env: string, clones: CloneRef[], timeoutSeconds: number, silentMs?: number) {
  const watch = watchEnv(client, env, timeoutSeconds, silentMs === undefined ? {} : { silentMs });
  try {
    return await watch.rollout(clones);
  } finally {
    watch.stop();
  }
}

type Watcher = (res: http.ServerResponse, url: URL, n: number) => void;

/** The fake's state: what lists return, what each watch of a kind does (by how many of that kind came before). */
let clone: Deployment;
let pods: Pod[];
let events: KubeEvent[];
let watchers: Record<string, Watcher>;
let log: string[];
let down = false;
/** How the fake answers a streaming list: 'yes' (1.34), 'refused' (1.33's default, 422), 'ignored' (before 1.27). */
let streaming: 'yes' | 'refused' | 'ignored' = 'yes';
/**
 * Watches of a kind answered 403 before the fake serves them; with `restarting`, /readyz fails when asked after each
 * (the authorizer's caches are being filled), else it says ready (the 403 is an answer).
 */
let forbidden: Record<string, number> = {};
let restarting = false;
let refusedSinceProbe = false;
let server: http.Server;
let port: number;
let kubeconfig: string;
const open = new Set<http.ServerResponse>();

const kindOf = (path: string) => /\/(deployments|pods|events)$/.exec(path)?.[1] ?? 'other';

/**
 * The user agent of this test's client: a request an earlier test's wait sent just before it stopped can reach the
 * fake after the next test set it up, and must neither be logged nor spend that test's scripted refusals.
 */
let agent = '';
let agents = 0;

function handle(req: http.IncomingMessage, res: http.ServerResponse): void {
  const url = new URL(req.url!, 'http://x');
  const kind = kindOf(url.pathname);
  if (down) {
    req.socket.destroy();
    return;
  }
  if (req.headers['user-agent'] !== agent) {
    res.writeHead(503, { 'content-type': 'text/plain' });
    res.end('an earlier test\'s client');
    return;
  }
  const items = kind === 'deployments' ? [clone] : kind === 'pods' ? pods : kind === 'events' ? events : [];
  if (url.pathname === '/readyz') {
    const ready = !(restarting && refusedSinceProbe);
    refusedSinceProbe = false;
    log.push(`readyz ${ready ? 'ok' : 'not ready'}`);
    res.writeHead(ready ? 200 : 500, { 'content-type': 'text/plain' });
    res.end(ready ? 'ok' : '[-]poststarthook/rbac/bootstrap-roles failed: not finished');
    return;
  }
  if (url.searchParams.get('watch') === '1' && (forbidden[kind] ?? 0) > 0) {
    forbidden[kind]!--;
    log.push(`forbidden ${kind}`);
    res.writeHead(403, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ kind: 'Status', status: 'Failure', reason: 'Forbidden', code: 403,
      message: `${kind} is forbidden: User "system:serviceaccount:dynamic-env:dynamic-env" cannot watch resource "${kind}": RBAC: clusterrole.rbac.authorization.k8s.io "dynamic-env-read" not found` }));
    refusedSinceProbe = true;
    return;
  }
  if (url.searchParams.get('watch') === '1') {
    const n = log.filter((l) => l.startsWith(`watch ${kind}`) || l === `stream ${kind}`).length;
    const stream = url.searchParams.get('sendInitialEvents') === 'true';
    log.push(stream ? `stream ${kind}` : `watch ${kind} rv=${url.searchParams.get('resourceVersion')}`);
    if (stream && streaming === 'refused') {
      res.writeHead(422, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ kind: 'Status', status: 'Failure', reason: 'Invalid', code: 422,
        message: 'sendInitialEvents: Forbidden: sendInitialEvents is forbidden for watch unless the WatchList feature gate is enabled' }));
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    open.add(res);
    res.on('close', () => open.delete(res));
    if (stream || !url.searchParams.get('resourceVersion')) for (const o of items) send(res, 'ADDED', o);
    if (stream && streaming === 'yes') {
      send(res, 'BOOKMARK', { kind: 'Deployment', metadata: { resourceVersion: String(100 + log.length), annotations: { 'k8s.io/initial-events-end': 'true' } } });
    }
    (watchers[kind] ?? (() => {}))(res, url, n);
    return;
  }
  log.push(`list ${kind}`);
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
  streaming = 'yes';
  forbidden = {};
  restarting = false;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

const setup = (w: Record<string, Watcher>) => {
  clone = deployment('web-pr-1', { labels: { app: 'web', version: 'pr-1' }, replicas: 1 });
  clone.status = { observedGeneration: 2, replicas: 1, readyReplicas: 0, availableReplicas: 0, updatedReplicas: 1 };
  pods = [];
  events = [];
  watchers = w;
  log = [];
};
const wait = async (timeoutSeconds = 10, silentMs?: number) => {
  agent = `rollout-watch-test-${++agents}`;
  const client = KubeClient.load({ kubeconfig, retries: 1, retryWindowMs: 5_000, userAgent: agent });
  const started = Date.now();
  try {
    const result = await waitForRollout(client, 'pr-1', [{ namespace: 'default', name: 'web-pr-1' }], timeoutSeconds, silentMs);
    return { a: result.assessments.get('default/web-pr-1')!, seen: result.seen, ms: Date.now() - started };
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
    // One streaming list per kind: the current state and the changes in one request each, no list. The Warning
    // events are not asked for: the clone was ready before EVENTS_AFTER_MS.
    expect(log.sort(), log.join(', ')).toEqual(['stream deployments', 'stream pods']);
  });

  test('a rollout not done after EVENTS_AFTER_MS follows the Warning events too, from before they were asked for', async () => {
    // A Pod not ready, with nothing wrong in its own status; only its FailedScheduling event says why.
    const pending: Pod = { apiVersion: 'v1', kind: 'Pod',
      metadata: { name: 'web-pr-1-abc', namespace: 'default', labels: { app: 'web', version: 'pr-1' }, resourceVersion: '201' },
      status: { conditions: [{ type: 'Ready', status: 'False' }] } };
    setup({});
    pods = [pending];
    events = [{ apiVersion: 'v1', kind: 'Event', metadata: { name: 'web-pr-1-abc.1', namespace: 'default', resourceVersion: '202' }, type: 'Warning', reason: 'FailedScheduling',
      message: '0/3 nodes are available: 3 Insufficient cpu.', involvedObject: { kind: 'Pod', namespace: 'default', name: 'web-pr-1-abc' } }];
    const { a, ms } = await wait();
    expect(a).toMatchObject({ state: 'failed', reason: 'pod web-pr-1-abc: unschedulable: 0/3 nodes are available: 3 Insufficient cpu.' });
    expect(ms).toBeGreaterThanOrEqual(EVENTS_AFTER_MS);
    expect(ms).toBeLessThan(EVENTS_AFTER_MS + 600);
    expect(log.sort()).toEqual(['stream deployments', 'stream events', 'stream pods']);
  });

  test('Kubernetes 1.33 (WatchList off) refuses the streaming list: a list and a watch instead, still ready at once', async () => {
    setup({ deployments: (res, url) => {
      if (url.searchParams.get('resourceVersion')) setTimeout(() => send(res, 'MODIFIED', ready(clone, '300')), 30);
    } });
    streaming = 'refused';
    const { a, ms } = await wait();
    expect(a).toMatchObject({ state: 'ready', ready: 1, desired: 1 });
    expect(ms).toBeLessThan(600);
    expect(log.filter((l) => l.includes('deployments')).map((l) => l.split(' rv=')[0])).toEqual(['stream deployments', 'list deployments', 'watch deployments']);
    // Refused once, not asked again by the other kinds' restarts.
    expect(log.filter((l) => l.startsWith('stream')).length).toBeLessThanOrEqual(3);
  });

  test('a server before 1.27 ignores the streaming list (no closing bookmark): the clone seen is enough', async () => {
    setup({ deployments: (res) => setTimeout(() => send(res, 'MODIFIED', ready(clone, '300')), 30) });
    streaming = 'ignored';
    const { a, seen } = await wait();
    expect(a).toMatchObject({ state: 'ready', ready: 1, desired: 1 });
    expect(seen.deployments.map((d) => d.metadata.name)).toEqual(['web-pr-1']);
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

  test('a watch the server ends is resumed from the last version it delivered, without the state again', async () => {
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
    expect(deploymentRequests).toEqual(['stream deployments', 'watch deployments rv=250']);
  });

  test('410 Gone (the version expired): the current state streamed again', async () => {
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
    expect(log.filter((l) => l.includes('deployments'))).toEqual(['stream deployments', 'stream deployments']);
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
    // Back, the server is read with a list (which shows the clone ready), not a streaming list.
    expect(log.filter((l) => l.includes('deployments')).map((l) => l.split(' rv=')[0])).toEqual(['stream deployments', 'list deployments']);
    expect(ms).toBeGreaterThanOrEqual(650);
    expect(ms).toBeLessThan(4_000);
  });

  test('a watch left open and silent when the API server went away (a proxy in between) is resumed when another watch loses the server', async () => {
    setup({
      // The Deployments' stream: its initial state, then nothing, and it stays open (relayed by a proxy whose
      // server died). Resumed from its version, it shows the clone ready.
      deployments: (res, url, n) => {
        if (n > 0) setTimeout(() => send(res, 'MODIFIED', ready(clone, '300')), 20);
        else expect(url.searchParams.get('sendInitialEvents')).toBe('true');
      },
      // The Pods' stream is cut, as a direct connection to a dying server is.
      pods: (res, _url, n) => {
        if (n === 0) setTimeout(() => res.socket?.destroy(), 50);
      },
    });
    const { a, ms } = await wait(20);
    expect(a).toMatchObject({ state: 'ready', ready: 1, desired: 1 });
    expect(ms).toBeLessThan(10_000);
    const deploymentRequests = log.filter((l) => l.includes('deployments'));
    expect(deploymentRequests[0]).toBe('stream deployments');
    expect(deploymentRequests[1]).toMatch(/^watch deployments rv=1\d\d$/);
  });

  test('every watch left open and silent when the API server went away (a proxy in between), no request of the wait failing: all resumed after SILENT_MS without a word', async () => {
    // Both streams send their initial state, then nothing, and stay open. Meanwhile the clone became ready: resumed
    // from their versions, the Deployments' watch shows it.
    setup({
      deployments: (res, _url, n) => {
        if (n > 0) setTimeout(() => send(res, 'MODIFIED', ready(clone, '300')), 20);
      },
    });
    const { a, ms } = await wait(20, 800);
    expect(a).toMatchObject({ state: 'ready', ready: 1, desired: 1 });
    expect(ms).toBeGreaterThanOrEqual(800);
    expect(ms).toBeLessThan(5_000);
    // The Deployments' watch resumed from its version (no list, no state again); the Pods' is resumed too, but the
    // wait may be over before its request (after its backoff) is sent. (The Warning events, asked for after 1 s,
    // are listed and watched: a wait that resumed its watches asks for no more streaming lists.)
    expect(log.filter((l) => l.includes('deployments')).map((l) => l.split(' rv=')[0])).toEqual(['stream deployments', 'watch deployments']);
    expect(log.filter((l) => l.includes('pods')).map((l) => l.split(' rv=')[0])).not.toContain('list pods');
  });

  test('a restarted API server refuses while its authorizer fills its caches (403, /readyz failing): retried, then ready', async () => {
    // The clone becomes ready after the Pods watch got through: the wait was still on when the 403s came.
    setup({ deployments: (res) => setTimeout(() => send(res, 'MODIFIED', ready(clone, '300')), 600) });
    forbidden = { pods: 2 };
    restarting = true;
    const { a } = await wait();
    expect(a).toMatchObject({ state: 'ready' });
    // After the first refusal the wait lists and watches (no streaming list to a server just back).
    expect(log.filter((l) => l.includes('pods') || l.startsWith('readyz')).map((l) => l.split(' rv=')[0]))
      .toEqual(['forbidden pods', 'readyz not ready', 'list pods', 'forbidden pods', 'readyz not ready', 'watch pods']);
  });

  test('a 403 from a ready API server is an answer: the wait fails at once, naming it', async () => {
    setup({});
    forbidden = { pods: 1 };
    await expect(wait()).rejects.toThrow(/pods is forbidden/);
    expect(log.filter((l) => l.includes('pods') || l.startsWith('readyz'))).toEqual(['forbidden pods', 'readyz ok']);
  });

  test('at the deadline a clone not ready is failed, with what was last seen', async () => {
    setup({});
    const { a, ms } = await wait(1);
    expect(a).toEqual({ state: 'failed', reason: 'timed out after 1s: 0/1 ready', ready: 0, desired: 1 });
    expect(ms).toBeGreaterThanOrEqual(950);
    expect(ms).toBeLessThan(2_000);
  });
});

describe('watchEnv: started under the Lease, before the writes', () => {
  const started = async <T>(use: (client: KubeClient) => Promise<T>): Promise<T> => {
    agent = `rollout-watch-test-${++agents}`;
    const client = KubeClient.load({ kubeconfig, retries: 1, retryWindowMs: 5_000, userAgent: agent });
    try {
      return await use(client);
    } finally {
      client.close();
    }
  };

  test('its first list is the read of the env\'s clones; a clone this run updates counts only once the watch shows that write', async () => {
    // Ready at generation 2 before the write; the write makes generation 3, shown (not yet ready, then ready) later.
    setup({ deployments: (res) => {
      setTimeout(() => send(res, 'MODIFIED', { ...clone, metadata: { ...clone.metadata, generation: 3, resourceVersion: '301' } }), 100);
      setTimeout(() => send(res, 'MODIFIED', ready({ ...clone, metadata: { ...clone.metadata, generation: 3 } }, '302')), 200);
    } });
    clone = ready(clone, '200');
    const { listed, a, seen, ms } = await started(async (client) => {
      const watch = watchEnv(client, 'pr-1', 10);
      try {
        const listed = await watch.listed;
        const t = Date.now();
        const result = await watch.rollout([{ namespace: 'default', name: 'web-pr-1' }], new Map([['default/web-pr-1', 3]]));
        return { listed, a: result.assessments.get('default/web-pr-1')!, seen: result.seen, ms: Date.now() - t };
      } finally {
        watch.stop();
      }
    });
    expect(listed.map((d) => `${d.metadata.name}@${d.metadata.resourceVersion}`)).toEqual(['web-pr-1@200']);
    // The copy from before the write looked ready; the wait went on until generation 3 was ready.
    expect(a).toMatchObject({ state: 'ready', ready: 1, desired: 1 });
    expect(seen.deployments[0]?.metadata.generation).toBe(3);
    expect(ms).toBeGreaterThanOrEqual(150);
    // One request per kind: the first list and the wait are the same streaming list.
    expect(log.sort()).toEqual(['stream deployments', 'stream pods']);
  });

  test('a server that never ends a streaming list\'s state (before 1.27): the first read is a list after LISTED_WITHIN_MS', async () => {
    setup({});
    streaming = 'ignored';
    const { names, ms } = await started(async (client) => {
      const watch = watchEnv(client, 'pr-1', 10);
      const t = Date.now();
      try {
        return { names: (await watch.listed).map((d) => d.metadata.name), ms: Date.now() - t };
      } finally {
        watch.stop();
      }
    });
    expect(names).toEqual(['web-pr-1']);
    expect(ms).toBeGreaterThanOrEqual(LISTED_WITHIN_MS - 50);
    expect(log).toContain('list deployments');
  });

  test('a watch refused for good fails the first read, naming it', async () => {
    setup({});
    forbidden = { deployments: 1 };
    await expect(started(async (client) => {
      const watch = watchEnv(client, 'pr-1', 10);
      try {
        return await watch.listed;
      } finally {
        watch.stop();
      }
    })).rejects.toThrow(/deployments is forbidden/);
  });
});
