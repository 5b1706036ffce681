// What the mesh pays per env: with 1, 50 and 200 envs on one host, the route configuration (RDS) istiod serves a
// posed sidecar, and the time from the write of one more env's routes to istiod's push carrying them reaching that
// sidecar. Next to it, the same number of hosts without envs (each its own Service, DestinationRule and
// VirtualService with the same two user routes), and the time from the write of one more host's VirtualService to
// its push. The posed sidecar (test/harness/proxy.ts, xds-probe) is scoped to its namespace by a Sidecar resource
// that selects only it, so the other measurements' namespaces are not in its configuration.
import { auditTime } from '../lib/audit.mjs';
import { measureCli } from '../lib/command.mjs';
import { meshNamespace, openArgs, seedEnvs, seedObjects, seedRoutes, waitEnvSettled, writeConfig } from '../lib/envs.mjs';
import { harness, log } from '../lib/plane.mjs';
import { median, ms, round } from '../lib/stats.mjs';
import { configSize, watchPushes } from '../lib/xds.mjs';

export const title = 'what the mesh pays per env: route configuration size and write-to-push time at 1, 50, 200 envs vs hosts';

export const LEVELS = [1, 50, 200];
const SAMPLES = 3;
const PROBE = { app: 'bench-probe' };
const { envsIn, getVs, pool, proxyConfig, request, routeProblems, settle, userRoutes } = harness;

/** Only the posed proxy (labels PROBE) is scoped to its own namespace; every other workload is untouched. */
async function scopeProbe(cluster, ns) {
  await request(cluster.admin, 'POST', `/apis/networking.istio.io/v1/namespaces/${ns}/sidecars`, {
    apiVersion: 'networking.istio.io/v1', kind: 'Sidecar', metadata: { name: 'bench-probe', namespace: ns },
    spec: { workloadSelector: { labels: PROBE }, egress: [{ hosts: ['./*'] }] },
  });
}

const probeIn = (ns) => ({ namespace: ns, labels: PROBE, name: `bench-probe-${ns}` });

/**
 * What istiod serves the posed sidecar once its configuration has everything written: istiod's config store has
 * caught up (settle), and `complete(routesJson)` holds (a push can be debounced for seconds while the controllers
 * still write EndpointSlices for new Services, so the store alone is not enough).
 */
async function sizeAt(ctx, ns, complete) {
  await settle(ctx.cluster.info, ctx.cluster.admin, [ns], 120_000);
  const deadline = Date.now() + 120_000;
  for (;;) {
    const snap = await proxyConfig(ctx.cluster.info, probeIn(ns));
    if (complete(JSON.stringify(snap.routes))) return configSize(snap);
    if (Date.now() > deadline) throw new Error(`mesh: the posed sidecar in ${ns} did not get the whole configuration within 120 s`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

const countOf = (text, re) => (text.match(re) ?? []).length;

/** One host, `n` envs on it: the envs but the samples' are copies of a real open's routes and DestinationRule. */
async function envSide(ctx) {
  const apps = ['svc00'];
  const where = await meshNamespace(ctx.cluster, 'bench-mesh', apps);
  const { ns, identity } = where;
  await scopeProbe(ctx.cluster, ns);
  const seed = 'ms000';
  await measureCli(ctx, openArgs(seed, writeConfig(ctx.cluster, ns, apps, seed), ns), { identity, namespaces: [ns] });
  await waitEnvSettled(ctx.cluster, ns, seed);
  const present = [seed];
  const out = [];
  for (const level of LEVELS) {
    const add = Array.from({ length: level - present.length }, (_, i) => `ms${String(present.length + i).padStart(3, '0')}`);
    if (add.length) await seedEnvs(ctx.cluster, ns, seed, add, { clones: false });
    present.push(...add);
    const vs = await getVs(ctx.cluster.admin, ns, 'mesh');
    const problems = routeProblems(vs, new Map(present.map((e) => [e, apps])));
    if (problems.length || envsIn(vs).length !== present.length) throw new Error(`mesh: seeding ${level} envs: ${problems.join('; ')}`);
    const size = await sizeAt(ctx, ns, (routes) => present.every((env) => routes.includes(`"name":"dynamic-env/${env}/`)));
    // One more env, written as the hosts' side below is: its DestinationRule first (until the sidecar has its
    // cluster), then the write measured, its routes in the VirtualService, to the first state the posed sidecar
    // holds with them.
    const pushes = [];
    for (let i = 0; i < SAMPLES; i++) {
      const env = `mp${level}-${i}`;
      const watch = await watchPushes(ctx.plane.istiod, probeIn(ns));
      try {
        const known = watch.next(`"name":"outbound|9080|${env}|svc00.${ns}.svc.cluster.local"`);
        await seedObjects(ctx.cluster, ns, seed, [env], { clones: false });
        await known;
        const arrived = watch.next(`"name":"dynamic-env/${env}/`);
        const mark = await ctx.audit.mark();
        await seedRoutes(ctx.cluster, ns, seed, [env]);
        const write = (await ctx.audit.matching(mark, (e) => e.objectRef?.resource === 'virtualservices' && e.objectRef?.name === 'mesh' &&
          e.verb === 'update' && e.responseStatus?.code === 200))[0];
        pushes.push(round((await arrived) - auditTime(write.stageTimestamp)));
      } finally {
        await watch.stop();
      }
      present.push(env);
    }
    out.push({ envs: level, vsBytes: JSON.stringify(vs).length, ...size, pushMs: round(median(pushes)), pushRuns: pushes });
    log(`  one host, ${level} env(s): RDS ${size.rdsBytes} B (${size.routes} routes), ${size.clusters} clusters; write to push ${ms(median(pushes))}`);
  }
  return out;
}

const host = (ns, app) => [
  { apiVersion: 'v1', kind: 'Service', metadata: { name: app, namespace: ns, labels: { app } }, spec: { selector: { app }, ports: [{ name: 'http', port: 9080 }] } },
  { apiVersion: 'networking.istio.io/v1', kind: 'DestinationRule', metadata: { name: app, namespace: ns }, spec: { host: app, subsets: [{ name: 'v1', labels: { version: 'v1' } }] } },
];
const hostVs = (ns, app) => ({ apiVersion: 'networking.istio.io/v1', kind: 'VirtualService', metadata: { name: app, namespace: ns }, spec: { hosts: [app], http: userRoutes(app) } });

/** `n` hosts, no env: each a Service, a DestinationRule with subset v1, a VirtualService with the same two user routes. */
async function hostSide(ctx) {
  const ns = await ctx.cluster.namespace('bench-hosts');
  await scopeProbe(ctx.cluster, ns);
  let count = 0;
  const out = [];
  const name = (i) => `h${String(i).padStart(3, '0')}`;
  for (const level of LEVELS) {
    const add = Array.from({ length: level - count }, (_, i) => name(count + i));
    await pool(add, 8, async (app) => {
      for (const o of [...host(ns, app), hostVs(ns, app)]) await ctx.cluster.apply(o);
    });
    count = level;
    const size = await sizeAt(ctx, ns, (routes) => countOf(routes, /"name":"h\d{3}-default"/g) === count);
    const pushes = [];
    for (let i = 0; i < SAMPLES; i++) {
      const app = name(count++);
      const watch = await watchPushes(ctx.plane.istiod, probeIn(ns));
      try {
        // The host first (its Service and DestinationRule, pushed), then the write measured: its VirtualService.
        const known = watch.next(`"name":"outbound|9080||${app}.${ns}.svc.cluster.local"`);
        for (const o of host(ns, app)) await ctx.cluster.apply(o);
        await known;
        const arrived = watch.next(`"name":"${app}-default"`);
        const mark = await ctx.audit.mark();
        await ctx.cluster.apply(hostVs(ns, app));
        const write = (await ctx.audit.matching(mark, (e) => e.objectRef?.resource === 'virtualservices' && e.objectRef?.name === app && e.verb === 'create'))[0];
        pushes.push(round((await arrived) - auditTime(write.stageTimestamp)));
      } finally {
        await watch.stop();
      }
    }
    out.push({ hosts: level, ...size, pushMs: round(median(pushes)), pushRuns: pushes });
    log(`  ${level} host(s), no env: RDS ${size.rdsBytes} B (${size.routes} routes), ${size.clusters} clusters; write to push ${ms(median(pushes))}`);
  }
  return out;
}

export async function run(ctx) {
  log('mesh: envs on one host');
  const envs = await envSide(ctx);
  log('mesh: hosts without envs');
  const hosts = await hostSide(ctx);
  const perEnv = (k) => round((envs.at(-1)[k] - envs[0][k]) / (envs.at(-1).envs - envs[0].envs), 0);
  const perHost = (k) => round((hosts.at(-1)[k] - hosts[0][k]) / (hosts.at(-1).hosts - hosts[0].hosts), 0);
  return {
    levels: LEVELS.map((n, i) => ({ n, env: envs[i], host: hosts[i] })),
    perEnv: { rdsBytes: perEnv('rdsBytes'), routes: perEnv('routes'), cdsBytes: perEnv('cdsBytes'), clusters: perEnv('clusters') },
    perHost: { rdsBytes: perHost('rdsBytes'), routes: perHost('routes'), cdsBytes: perHost('cdsBytes'), clusters: perHost('clusters') },
    samples: SAMPLES,
  };
}
