// Route requests on a real API server (docs/DESIGN.md "Concurrent opens on one VirtualService"): an open whose
// VirtualService write loses a round writes the routes of the envs that asked too, exactly as their own opens write
// them, and withdraws its own request; a close withdraws a request a crashed open left before it removes any route;
// an open that expects a crashed open to write (it sorts first) waits for it, then writes both envs' routes itself.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { editObject, useCluster } from '../harness/cluster.js';
import { configFor, createMesh, envsIn, getVs, routeProblems, userRoutesOf } from '../harness/mesh.js';
import { openEnv } from '../../src/commands/open.js';
import { parseConfigText } from '../../src/config/file.js';
import { resolveEnvSpec, resolveRunOptions } from '../../src/config/spec.js';
import { KubeClient } from '../../src/kube/client.js';
import { ROUTE_REQUEST_ANNOTATION, ROUTE_REQUEST_LABEL } from '../../src/plan/names.js';
import type { RouteRequest } from '../../src/plan/route-requests.js';
import { actor, envName, ok } from './fixtures/engine.js';

const cluster = useCluster();
const skip = !!cluster.info.skipped;

describe.skipIf(skip)('route requests: concurrent opens write each other\'s routes', () => {
  let ns: string;
  let who: Awaited<ReturnType<typeof actor>>;
  let before: any;
  // The opener sorts first, so it is the writer the asker's request expects (expectedWriter): it writes at once
  // rather than waiting for the asker, whose open here never writes.
  const opener = envName('pa');
  const asker = envName('pb');
  const configOf = (env: string) => {
    const file = join(cluster.tmp, `${ns}-${env}.yaml`);
    writeFileSync(file, configFor(ns, ['svc00'], env));
    return file;
  };
  const ruleOf = (env: string) => `dynamic-env-${env}-svc00`;
  /** The request `env`'s open records (its routing as planned for this mesh). */
  const requestOf = (env: string): RouteRequest => ({
    edits: [{ namespace: ns, name: 'mesh', meshApplies: true }],
    routing: {
      env, hosts: [`svc00.${ns}.svc.cluster.local`], clusterDomain: 'cluster.local',
      routing: { header: 'x-override', baggageKey: 'override', versionLabel: 'version', pinUnsubsetRoutes: false },
    },
  });
  const stamp = (env: string) => editObject(cluster.admin, 'DestinationRule', ns, ruleOf(env), (o) => {
    o.metadata.labels = { ...o.metadata.labels, [ROUTE_REQUEST_LABEL]: 'true' };
    o.metadata.annotations = { ...o.metadata.annotations, [ROUTE_REQUEST_ANNOTATION]: JSON.stringify(requestOf(env)) };
    return o;
  });
  const withoutRoutesOf = (env: string) => editObject(cluster.admin, 'VirtualService', ns, 'mesh', (o) => {
    o.spec.http = o.spec.http.filter((r: any) => !r.name?.startsWith(`dynamic-env/${env}/`));
    return o;
  });

  /**
   * `env` opened by itself (returned: its routes as its own open writes them), then its routes gone again and its
   * request recorded, as an open of it that lost a round on the VirtualService would leave them.
   */
  const asking = async (env: string) => {
    ok(await who.open(configOf(env), '--env', env, '--no-wait'));
    const own = (await getVs(cluster.admin, ns, 'mesh')).spec.http.filter((r: any) => r.name?.startsWith(`dynamic-env/${env}/`));
    await withoutRoutesOf(env);
    await stamp(env);
    return own;
  };
  /**
   * `env`'s open, in this process: right before its first write the VirtualService changes under it, so its write
   * (planned from the read before) loses with 409, as against another open.
   */
  const openLosingARound = async (env: string) => {
    const client = KubeClient.load({ kubeconfig: who.kubeconfig });
    try {
      const spec = resolveEnvSpec(parseConfigText(configFor(ns, ['svc00'], env), `${env}.yaml`), { env });
      const run = resolveRunOptions({}, { lockNamespace: ns, wait: false });
      const bump = () => editObject(cluster.admin, 'VirtualService', ns, 'mesh', (o) => {
        o.metadata.annotations = { ...o.metadata.annotations, 'test/bump': String(Date.now()) };
        return o;
      });
      return await openEnv({ client, spec, run, drainMs: 0, beforeWrite: async () => { await bump(); return null; } });
    } finally {
      client.close();
    }
  };

  beforeAll(async () => {
    ns = await cluster.namespace('requests');
    await createMesh(cluster.admin, ns, { shared: ['svc00'] });
    who = await actor(cluster, [ns]);
    before = await getVs(cluster.admin, ns, 'mesh');
  });

  it('an open that loses a round writes the routes an asking env\'s own open writes, and withdraws its own request', async () => {
    const own = await asking(asker);
    expect(own.length).toBeGreaterThan(0);

    const n = who.writes().length;
    const result = await openLosingARound(opener);
    expect(result.report.state).not.toBe('failed');
    const mesh = await getVs(cluster.admin, ns, 'mesh');
    expect(envsIn(mesh)).toEqual([asker, opener].sort());
    expect(routeProblems(mesh, new Map([[asker, ['svc00']], [opener, ['svc00']]]))).toEqual([]);
    expect(mesh.spec.http.filter((r: any) => r.name?.startsWith(`dynamic-env/${asker}/`))).toEqual(own);
    // Its writes: the lost round, its request recorded, one write with both envs' routes, the request withdrawn.
    expect(who.writes().slice(n).filter((w) => !w.includes('deployments') && !w.startsWith('create destinationrules'))).toEqual([
      `update virtualservices ${ns}/mesh 409`,
      `update destinationrules ${ns}/${ruleOf(opener)} 200`,
      `update virtualservices ${ns}/mesh 200`,
      `update destinationrules ${ns}/${ruleOf(opener)} 200`,
    ]);
    const rule = await cluster.get('DestinationRule', ns, ruleOf(opener));
    expect(rule.metadata.labels?.[ROUTE_REQUEST_LABEL]).toBeUndefined();
    expect(rule.metadata.annotations?.[ROUTE_REQUEST_ANNOTATION]).toBeUndefined();
  });

  it('a close withdraws a request its env\'s crashed open left before it removes any route; all gone, user routes as before', async () => {
    // The asker's request is still there, as a crashed open would leave it.
    expect((await cluster.get('DestinationRule', ns, ruleOf(asker))).metadata.labels?.[ROUTE_REQUEST_LABEL]).toBe('true');
    const n = who.writes().length;
    ok(await who.close(asker));
    const writes = who.writes().slice(n);
    expect(writes[0]).toBe(`update destinationrules ${ns}/${ruleOf(asker)} 200`);
    expect(writes.indexOf(`update destinationrules ${ns}/${ruleOf(asker)} 200`)).toBeLessThan(writes.findIndex((w) => w.includes('virtualservices')));
    ok(await who.close(opener));
    const mesh = await getVs(cluster.admin, ns, 'mesh');
    expect(envsIn(mesh)).toEqual([]);
    expect(userRoutesOf(mesh)).toBe(userRoutesOf(before));
    expect(await cluster.list('DestinationRule', ns, 'app.kubernetes.io/managed-by=dynamic-env')).toEqual([]);
  });

  it('an open that sorts after a request whose open crashed waits for that writer, then writes both envs\' routes itself', async () => {
    // `crashed` sorts first, so it is the writer a later open expects; its open is gone and never writes.
    const crashed = envName('p0');
    const late = envName('pz');
    const own = await asking(crashed);
    const n = cluster.audit({ username: who.username }).length;
    const result = await openLosingARound(late);
    expect(result.report.state).not.toBe('failed');
    const mesh = await getVs(cluster.admin, ns, 'mesh');
    expect(envsIn(mesh)).toEqual(expect.arrayContaining([crashed, late]));
    expect(routeProblems(mesh, new Map([[crashed, ['svc00']], [late, ['svc00']]]))).toEqual([]);
    expect(mesh.spec.http.filter((r: any) => r.name?.startsWith(`dynamic-env/${crashed}/`))).toEqual(own);
    const calls = cluster.audit({ username: who.username }).slice(n)
      .filter((e) => e.objectRef?.resource === 'virtualservices' || e.objectRef?.resource === 'destinationrules')
      .map((e) => `${e.verb} ${e.objectRef?.resource} ${e.responseStatus?.code}`);
    expect(calls.filter((c) => c.startsWith('update virtualservices'))).toEqual(['update virtualservices 409', 'update virtualservices 200']);
    // Between its lost round and its write: the VirtualService read again and again while it waited for `crashed`,
    // and the requests read after the last of those reads, which its write is based on.
    const between = calls.slice(calls.indexOf('update virtualservices 409') + 1, calls.indexOf('update virtualservices 200'));
    expect(between.filter((c) => c === 'get virtualservices 200').length).toBeGreaterThan(1);
    expect(between.slice(-2)).toEqual(['get virtualservices 200', 'list destinationrules 200']);
    ok(await who.close(crashed));
    ok(await who.close(late));
  });

  it('a re-run of open takes a request a crashed open left off its DestinationRule', async () => {
    const env = envName();
    ok(await who.open(configOf(env), '--env', env, '--no-wait'));
    await stamp(env);
    const n = who.writes().length;
    ok(await who.open(configOf(env), '--env', env, '--no-wait'));
    expect(who.writes().slice(n)).toEqual([`update destinationrules ${ns}/${ruleOf(env)} 200`]);
    expect((await cluster.get('DestinationRule', ns, ruleOf(env))).metadata.labels?.[ROUTE_REQUEST_LABEL]).toBeUndefined();
    ok(await who.close(env));
  });
});
