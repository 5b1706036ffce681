// VirtualServices that GitOps tools re-apply (issue 10, items 3 and 4). spec.http is an atomic list: a sync or a
// no-op `kubectl apply` of the user's manifest replaces it, removing every env route and pin. Open warns on such a
// VirtualService, refuses to pin routes in it without routing.allowPinningGitOpsManaged, and `sweep --heal` puts
// every open env's routes back from what its clones record. Also: a close started while an open waits for a slow
// rollout does not wait behind it (the open released the Lease for its wait), and the open then stops cleanly.
import { describe, expect, it } from 'vitest';
import { useCluster, waitFor } from '../harness/cluster.js';
import { envPodIps, expectNoFailures, meshView, requestMatrix, routingFailures, type Caller } from '../harness/routing.js';
import {
  actor, cli, deployment, destinationRule, envName, expectRestored, install, ok, routeNames, service, userObjects, virtualService, writeConfig,
} from './fixtures/engine.js';

const cluster = useCluster();
const skip = !!cluster.info.skipped;

const ARGO = { 'argocd.argoproj.io/tracking-id': 'shop:networking.istio.io/VirtualService:shop/web' };

describe.skipIf(skip)('GitOps-managed VirtualServices', () => {
  it('warned in the report; pinning on one refused without the opt-in (zero writes), allowed with it', async () => {
    const ns = await cluster.namespace('gitops');
    const managed = (name: string, http: any[], annotations: Record<string, string>, labels: Record<string, string> = {}) => {
      const vs = virtualService(ns, name, { hosts: [name], http });
      return { ...vs, metadata: { ...vs.metadata, annotations, labels } };
    };
    await install(cluster, [
      deployment(ns, 'web-v1', { labels: { app: 'web', version: 'v1' } }),
      service(ns, 'web', { app: 'web' }),
      destinationRule(ns, 'web', 'web', ['v1']),
      managed('web', [{ name: 'default', route: [{ destination: { host: 'web', subset: 'v1' } }] }], ARGO),
      deployment(ns, 'api-v1', { labels: { app: 'api', version: 'v1' } }),
      service(ns, 'api', { app: 'api' }),
      managed('api', [{ name: 'all', route: [{ destination: { host: 'api' } }] }], {}, { 'kustomize.toolkit.fluxcd.io/name': 'apps', 'kustomize.toolkit.fluxcd.io/namespace': 'flux-system' }),
    ]);
    const who = await actor(cluster, [ns]);
    const before = await userObjects(cluster, [ns]);

    // A warning names the VirtualService, the tool and the heal; the open goes ahead.
    const env = envName();
    const opened = ok(await who.open(writeConfig(cluster, { env, services: [{ namespace: ns, deployment: 'web-v1', image: 'ghcr.io/acme/web:pr' }] })));
    expect(opened.json.warnings).toEqual([expect.stringContaining(`VirtualService ${ns}/web looks managed by Argo CD (annotation argocd.argoproj.io/tracking-id)`)]);
    expect(opened.json.warnings[0]).toContain('sweep --heal');
    ok(await who.close(env));

    // Pinning in the Flux-managed one: refused before any write, naming the opt-in.
    const pinEnv = envName();
    const pinConfig = (allow: boolean) => writeConfig(cluster, {
      env: pinEnv, routing: { pinUnsubsetRoutes: true, ...(allow ? { allowPinningGitOpsManaged: true } : {}) },
      services: [{ namespace: ns, deployment: 'api-v1', image: 'ghcr.io/acme/api:pr' }],
    });
    const n = who.writes({ leases: true }).length;
    const refused = await who.open(pinConfig(false));
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(`VirtualService ${ns}/api: looks managed by Flux (label kustomize.toolkit.fluxcd.io/name)`);
    expect(refused.stderr).toContain('routing.allowPinningGitOpsManaged: true');
    expect(who.writes({ leases: true }).slice(n)).toEqual([]);

    const allowed = ok(await who.open(pinConfig(true)));
    expect(allowed.json.warnings).toEqual([expect.stringContaining(`VirtualService ${ns}/api looks managed by Flux`)]);
    expect(await routeNames(cluster, ns, 'api')).toEqual([`dynamic-env/${pinEnv}/all`, 'all']);
    ok(await who.close(pinEnv));
    await expectRestored(cluster, [ns], before, [`${ns}/web`, `${ns}/api`]);
  });

  it('a re-apply of the user\'s VirtualService wipes the env routes; sweep --heal restores them (the env header reaches the clone again)', async () => {
    const ns = await cluster.namespace('heal');
    const fqdn = `web.${ns}.svc.cluster.local`;
    const userVs = virtualService(ns, 'web', { hosts: ['web'], http: [{ name: 'default', route: [{ destination: { host: 'web', subset: 'v1', port: { number: 9080 } } }] }] });
    const manifest = { ...userVs, metadata: { ...userVs.metadata, annotations: ARGO } };
    await install(cluster, [
      deployment(ns, 'web-v1', { labels: { app: 'web', version: 'v1' } }),
      service(ns, 'web', { app: 'web' }),
      destinationRule(ns, 'web', 'web', ['v1']),
      manifest,
    ]);
    const who = await actor(cluster, [ns]);
    const before = await userObjects(cluster, [ns]);
    const callers: Caller[] = [{ label: 'sidecar in the namespace', proxy: { namespace: ns, labels: { app: 'client' } } }];
    const meshBefore = await meshView(cluster, [ns], callers);
    const env = envName();
    const routed = async () => routingFailures(meshBefore, await meshView(cluster, [ns], callers), callers,
      { request: { authority: fqdn, port: 9080 }, envPodIps: await envPodIps(cluster, ns, env) }, requestMatrix(env), env);

    ok(await who.open(writeConfig(cluster, { env, services: [{ namespace: ns, deployment: 'web-v1', image: 'ghcr.io/acme/web:pr' }] })));
    expectNoFailures(await routed());

    // Argo CD syncs (or someone runs kubectl apply): the manifest's spec.http replaces ours.
    await cluster.apply(manifest);
    expect(await routeNames(cluster, ns, 'web')).toEqual(['default']);
    expect((await routed()).length).toBeGreaterThan(0); // the env header no longer reaches the clone

    // Narrowed to this test's env: other files' envs on the shared control plane are not this identity's to write.
    const heal = ['sweep', '--heal', '--env', env, '--kubeconfig', who.kubeconfig, '--lock-namespace', ns, '--output', 'json'];
    const dry = ok(await cli([...heal, '--dry-run']));
    expect(dry.json.healed.find((r: any) => r.env === env)).toMatchObject({ healed: [{ namespace: ns, name: 'web' }] });
    expect(await routeNames(cluster, ns, 'web')).toEqual(['default']);
    const healed = ok(await cli(heal));
    expect(healed.json.healed.find((r: any) => r.env === env)).toMatchObject({ healed: [{ namespace: ns, name: 'web' }] });
    expect(await routeNames(cluster, ns, 'web')).toEqual([`dynamic-env/${env}/default`, 'default']);
    expectNoFailures(await routed());
    // Healed: a second heal writes nothing. It lists the env's clones twice: before the Lease from the watch cache
    // as it stands (where the Lease lives), under it as a consistent read (what it heals from), not a third time.
    const n = who.writes().length;
    const seen = cluster.audit({ username: who.username }).length;
    const again = ok(await cli(heal));
    expect(again.json.healed.find((r: any) => r.env === env)).toMatchObject({ healed: [], reason: 'routes in place' });
    expect(who.writes().slice(n)).toEqual([]);
    const cloneLists = cluster.audit({ username: who.username }).slice(seen)
      .filter((e) => e.verb === 'list' && e.objectRef?.resource === 'deployments' && decodeURIComponent(e.requestURI).includes(`dynamic-env.io/env=${env}`))
      .map((e) => String(new URL(e.requestURI, 'https://x').searchParams.get('resourceVersion')));
    expect(cloneLists.sort()).toEqual(['0', 'null']);

    ok(await who.close(env));
    await expectRestored(cluster, [ns], before, [`${ns}/web`]);
  });
});

describe.skipIf(skip)('a close during an open\'s rollout wait', () => {
  it('does not wait behind the rollout: the close completes in seconds, the open stops non-zero and nothing of the env is left', async () => {
    const ns = await cluster.namespace('slow');
    // kwok marks pods ready at once; minReadySeconds keeps the clone from becoming available for an hour.
    const slow = deployment(ns, 'web-v1', { labels: { app: 'web', version: 'v1' } });
    slow.spec.minReadySeconds = 3600;
    slow.spec.progressDeadlineSeconds = 7200;
    await cluster.apply(slow); // never settles: install() would wait for it
    await install(cluster, [
      service(ns, 'web', { app: 'web' }),
      destinationRule(ns, 'web', 'web', ['v1']),
      virtualService(ns, 'web', { hosts: ['web'], http: [{ name: 'default', route: [{ destination: { host: 'web', subset: 'v1' } }] }] }),
    ]);
    // The "before" view must not be taken while the Deployment controller still writes the original's status: it
    // writes readyReplicas once kwok marks the pod ready, then nothing until minReadySeconds has passed.
    await waitFor('web-v1 to have its ready pod in its status', 30_000, async () => {
      const d = await cluster.get('Deployment', ns, 'web-v1');
      return d.status?.observedGeneration === d.metadata.generation && d.status?.readyReplicas === 1;
    });
    const who = await actor(cluster, [ns]);
    const before = await userObjects(cluster, [ns]);
    const env = envName();
    const config = writeConfig(cluster, { env, services: [{ namespace: ns, deployment: 'web-v1', image: 'ghcr.io/acme/web:pr' }] });
    const opening = cli(['open', '--config', config, '--kubeconfig', who.kubeconfig, '--lock-namespace', ns, '--timeout', '600s', '--output', 'json']);
    // The open is waiting once its clone and DestinationRule are written.
    const t0 = Date.now();
    while (!(await cluster.getOrNull('DestinationRule', ns, `dynamic-env-${env}-web`)) || !(await cluster.getOrNull('Deployment', ns, `web-v1-${env}`))) {
      if (Date.now() - t0 > 60_000) throw new Error('the open wrote no clone and DestinationRule within 60s');
      await new Promise((r) => setTimeout(r, 200));
    }
    await new Promise((r) => setTimeout(r, 1_500));

    const closed = ok(await who.close(env));
    expect(closed.ms).toBeLessThan(15_000);
    expect(closed.json.removed).toMatchObject({ clones: [{ namespace: ns, name: `web-v1-${env}` }], routes: 0 });

    const opened = await opening;
    expect(opened.code, opened.stderr).toBe(1);
    expect(opened.ms).toBeLessThan(60_000);
    expect(opened.stderr).toContain(`env ${env} was closed while this open waited for its rollout`);
    expect(await cluster.list('Deployment', ns, `dynamic-env.io/env=${env}`)).toEqual([]);
    expect(await cluster.list('DestinationRule', ns, `dynamic-env.io/env=${env}`)).toEqual([]);
    expect(await cluster.list('Lease', ns, `dynamic-env.io/env=${env}`)).toEqual([]);
    expect(await routeNames(cluster, ns, 'web')).toEqual(['default']);
    await expectRestored(cluster, [ns], before);
  });
});
