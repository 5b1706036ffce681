// Routes to an env host without a subset would send baseline traffic to the PR's pods too: refused by default
// (naming the VirtualService and route, nothing written), pinned to the dynamic-env-baseline subset with
// routing.pinUnsubsetRoutes: true while envs are open, and un-pinned when the last env leaves.
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { useCluster, waitFor } from '../harness/cluster.js';
import { openEnv } from '../../src/commands/open.js';
import { parseConfigText } from '../../src/config/file.js';
import { resolveEnvSpec, resolveRunOptions } from '../../src/config/spec.js';
import { KubeClient } from '../../src/kube/client.js';
import {
  baselineInvariantFailures, envPodIps, expectNoFailures, meshView, requestMatrix, restoredFailures, routingFailures, type Caller, type MeshView,
} from '../harness/routing.js';
import {
  actor, deployment, envName, expectRestored, install, ok, routeNames, service, userObjects, virtualService, writeConfig,
} from './fixtures/engine.js';

const cluster = useCluster();
const skip = !!cluster.info.skipped;

describe.skipIf(skip)('routes without a subset', () => {
  it('refused by default, pinned on opt-in for as long as an env is open, restored when the last env leaves', async () => {
    const ns = await cluster.namespace('pin');
    const fqdn = `web.${ns}.svc.cluster.local`;
    await install(cluster, [
      deployment(ns, 'web-v1', { labels: { app: 'web', version: 'v1' } }),
      service(ns, 'web', { app: 'web' }),
      // No DestinationRule at all, and two routes that send traffic to every pod of web.
      virtualService(ns, 'web', {
        hosts: ['web'],
        http: [
          {
            name: 'canary', match: [{ headers: { 'x-canary': { exact: '1' } } }],
            route: [{ destination: { host: 'web' }, weight: 80 }, { destination: { host: 'legacy.example.com' }, weight: 20 }],
          },
          { route: [{ destination: { host: 'web', port: { number: 9080 } } }] },
        ],
      }),
    ]);
    const who = await actor(cluster, [ns]);
    const before = await userObjects(cluster, [ns]);
    const callers: Caller[] = [
      { label: 'sidecar in the namespace', proxy: { namespace: ns, labels: { app: 'client' } } },
      { label: 'sidecar in another namespace', proxy: { namespace: await cluster.namespace('caller'), labels: { app: 'client' } } },
    ];
    const meshBefore = await meshView(cluster, [ns], callers);
    // Pinned routes keep every baseline request on the baseline pods; the env's requests reach only its clone.
    const routedAsPromised = async (open: string[]): Promise<MeshView> => {
      const now = await meshView(cluster, [ns], callers);
      const failures = callers.flatMap((c) => baselineInvariantFailures(c.label, meshBefore.get(c.label)!, now.get(c.label)!));
      for (const env of open) {
        failures.push(...routingFailures(meshBefore, now, callers, { request: { authority: fqdn, port: 9080 }, envPodIps: await envPodIps(cluster, ns, env) }, requestMatrix(env), env));
      }
      expectNoFailures(failures);
      return now;
    };
    const base = envName();
    const [a, b] = [`${base}-a`, `${base}-b`];
    const config = (env: string, pin?: boolean) => writeConfig(cluster, {
      env, ...(pin === undefined ? {} : { routing: { pinUnsubsetRoutes: pin } }),
      services: [{ namespace: ns, deployment: 'web-v1', image: `ghcr.io/acme/web:${env}` }],
    });

    // Refused: both routes named, with the fix; nothing written, not even the Lease.
    const refused = await who.open(config(a));
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(`VirtualService ${ns}/web route "canary": sends traffic to web without a subset`);
    expect(refused.stderr).toContain(`VirtualService ${ns}/web route "#1": sends traffic to web without a subset`);
    expect(refused.stderr).toContain('routing.pinUnsubsetRoutes: true');
    expect((await who.open(config(a, false))).code).toBe(1);
    expect(who.writes({ leases: true })).toEqual([]);

    // Pinned: b first, then a.
    ok(await who.open(config(b, true)));
    await routedAsPromised([b]);
    let vs = await cluster.get('VirtualService', ns, 'web');
    expect(vs.spec.http.map((r: any) => r.name ?? '')).toEqual([`dynamic-env/${b}/canary`, 'canary', `dynamic-env/${b}/web`, '']);
    expect(vs.spec.http[1].route).toEqual([
      { destination: { host: 'web', subset: 'dynamic-env-baseline' }, weight: 80 },
      { destination: { host: 'legacy.example.com' }, weight: 20 },
    ]);
    expect(vs.spec.http[3].route).toEqual([{ destination: { host: 'web', port: { number: 9080 }, subset: 'dynamic-env-baseline' } }]);
    expect(vs.spec.http[0].route).toEqual([{ destination: { host: 'web', subset: b } }]);
    expect(vs.spec.http[2].route).toEqual([{ destination: { host: 'web', port: { number: 9080 }, subset: b } }]);
    expect((await cluster.get('DestinationRule', ns, `dynamic-env-${b}-web`)).spec).toEqual({
      host: fqdn, subsets: [{ name: b, labels: { version: b } }, { name: 'dynamic-env-baseline', labels: { version: 'v1' } }],
    });

    ok(await who.open(config(a, true)));
    await routedAsPromised([a, b]);
    expect(await routeNames(cluster, ns, 'web')).toEqual([
      `dynamic-env/${a}/canary`, `dynamic-env/${b}/canary`, 'canary', `dynamic-env/${a}/web`, `dynamic-env/${b}/web`, '',
    ]);
    expect((await cluster.get('DestinationRule', ns, `dynamic-env-${a}-web`)).spec.subsets.map((s: any) => s.name)).toEqual([a, 'dynamic-env-baseline']);

    // b leaves: still pinned for a.
    ok(await who.close(b));
    await routedAsPromised([a]);
    vs = await cluster.get('VirtualService', ns, 'web');
    expect(vs.spec.http.map((r: any) => r.name ?? '')).toEqual([`dynamic-env/${a}/canary`, 'canary', `dynamic-env/${a}/web`, '']);
    expect(vs.spec.http[1].route[0].destination.subset).toBe('dynamic-env-baseline');
    expect(vs.spec.http[3].route[0].destination.subset).toBe('dynamic-env-baseline');
    expect(await cluster.getOrNull('DestinationRule', ns, `dynamic-env-${b}-web`)).toBeNull();

    // The last env leaves: un-pinned, the VirtualService is the user's again. Make before break with pins: the env's
    // routes, the clones, then the pins (a second route write), then the DestinationRules that defined the subset.
    const n = who.writes().length;
    ok(await who.close(a));
    const order = who.writes().slice(n).map((w) => w.split(' ')[1]);
    const ours = ['virtualservices', 'deployments', 'destinationrules'];
    // First the closing mark on its DestinationRule (other closes stop counting it as backing the pins).
    expect(order.filter((k) => ours.includes(k!))).toEqual(['destinationrules', 'virtualservices', 'deployments', 'virtualservices', 'destinationrules']);
    expectNoFailures(restoredFailures(meshBefore, await meshView(cluster, [ns], callers)));
    await expectRestored(cluster, [ns], before, [`${ns}/web`]);
  });

  it('a close while another env is opening (its rules and pins written, no clone yet) keeps the pins', async () => {
    const ns = await cluster.namespace('pinrace');
    await install(cluster, [
      deployment(ns, 'web-v1', { labels: { app: 'web', version: 'v1' } }),
      service(ns, 'web', { app: 'web' }),
      virtualService(ns, 'web', { hosts: ['web'], http: [{ route: [{ destination: { host: 'web' } }] }] }),
    ]);
    const who = await actor(cluster, [ns]);
    const before = await userObjects(cluster, [ns]);
    const base = envName();
    const [closing, opening] = [`${base}-c`, `${base}-o`];
    const configText = (env: string) => `env: ${env}\nrouting:\n  pinUnsubsetRoutes: true\nservices:\n  - namespace: ${ns}\n    deployment: web-v1\n    image: ghcr.io/acme/web:${env}\n`;
    const pinned = async () => (await cluster.get('VirtualService', ns, 'web')).spec.http.at(-1).route[0].destination.subset;
    const clonesOf = (env: string) => cluster.list('Deployment', ns, `dynamic-env.io/env=${env}`);

    // The opening env runs in this process with a long drain: DestinationRule, drain, pins, drain, clones. The
    // other env opens during the first drain and closes during the second, when the opening env's rules and pins
    // are there and its clones are not: the close must keep the pins, or the opening env's pods would take baseline
    // requests from the moment they appear until its routes come.
    const drainMs = 6_000;
    const client = KubeClient.load({ kubeconfig: who.kubeconfig });
    try {
      const spec = resolveEnvSpec(parseConfigText(configText(opening), 'opening.yaml'), {});
      const run = resolveRunOptions({}, { lockNamespace: ns, wait: true, timeoutSeconds: 60 });
      const opened = openEnv({ client, spec, run, drainMs });
      await waitFor('the opening env\'s DestinationRule', 10_000, async () => !!(await cluster.getOrNull('DestinationRule', ns, `dynamic-env-${opening}-web`)));
      const ruleAt = Date.now();
      ok(await who.open(writeConfig(cluster, parseYaml(configText(closing))), '--no-wait'));
      expect(await pinned()).toBe('dynamic-env-baseline');
      await new Promise((r) => setTimeout(r, Math.max(0, ruleAt + drainMs + 500 - Date.now()))); // into the second drain
      expect(await clonesOf(opening)).toEqual([]);
      ok(await who.close(closing));
      expect(await clonesOf(opening)).toEqual([]); // the close ran within the window
      expect(await pinned()).toBe('dynamic-env-baseline');
      const result = await opened;
      expect(result.report.state).toBe('ready');
      expect(await pinned()).toBe('dynamic-env-baseline');
    } finally {
      client.close();
    }
    ok(await who.close(opening));
    expect(await pinned()).toBeUndefined();
    await expectRestored(cluster, [ns], before, [`${ns}/web`]);
  });
});
