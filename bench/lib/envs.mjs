// The bench's view of envs in the cluster (admin rights): a namespace with the harness's mesh, config files, one
// measured open/close pair, and seeding many envs as copies of one a real open made.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { measureCli } from './command.mjs';
import { harness } from './plane.mjs';
import { median, round } from './stats.mjs';

const { ENV_LABEL, MANAGED, configFor, createMesh, getVs, pool, request, waitFor, waitSettled } = harness;

export const envSelector = (env) => `${MANAGED},${ENV_LABEL}=${env}`;

/** Every clone of `env` is rolled out and settled: the controllers have nothing left to do for it. */
export async function waitEnvSettled(cluster, ns, env) {
  const clones = await cluster.list('Deployment', ns, envSelector(env));
  await pool(clones, 10, (d) => waitSettled(cluster, ns, d.metadata.name, 120_000));
}

/** After close: the env's ReplicaSets and Pods are gone too (the garbage collector has finished). */
export async function waitEnvGone(cluster, ns, env) {
  await waitFor(`env ${env} gone from ${ns}`, 120_000, async () =>
    (await cluster.list('ReplicaSet', ns, `${ENV_LABEL}=${env}`)).length === 0 &&
    (await cluster.list('Pod', ns, `${ENV_LABEL}=${env}`)).length === 0);
}

/** A namespace with `apps` behind one shared VirtualService `mesh`, its originals settled, and an identity. */
export async function meshNamespace(cluster, prefix, apps) {
  const ns = await cluster.namespace(prefix);
  await createMesh(cluster.admin, ns, { shared: apps });
  await pool(apps, 10, (app) => waitSettled(cluster, ns, `${app}-v1`, 120_000));
  const identity = await cluster.identity([ns]);
  return { ns, identity };
}

export const appNames = (n) => Array.from({ length: n }, (_, i) => `svc${String(i).padStart(2, "0")}`);

export function writeConfig(cluster, ns, apps, name) {
  const file = join(cluster.tmp, `${ns}-${name}.yaml`);
  writeFileSync(file, configFor(ns, apps, name));
  return file;
}

export const openArgs = (env, file, ns, { wait = false } = {}) =>
  ['open', '--env', env, '--config', file, wait ? '--wait' : '--no-wait', '--lock-namespace', ns, '--output', 'json'];
export const closeArgs = (env, ns) => ['close', '--env', env, '--lock-namespace', ns, '--output', 'json'];

/** One open and one close of `env`, the clones settled in between and gone afterwards (so no run feeds the next). */
export async function openClose(ctx, env, file, { ns, identity }, opts = {}) {
  const open = await measureCli(ctx, openArgs(env, file, ns, opts), { identity, namespaces: [ns] });
  await waitEnvSettled(ctx.cluster, ns, env);
  const close = await measureCli(ctx, closeArgs(env, ns), { identity, namespaces: [ns] });
  await waitEnvGone(ctx.cluster, ns, env);
  return { open, close };
}

const stripServerFields = (o) => {
  const { uid: _u, resourceVersion: _r, creationTimestamp: _c, managedFields: _m, generation: _g, ...metadata } = o.metadata;
  const annotations = Object.fromEntries(Object.entries(metadata.annotations ?? {}).filter(([k]) => !k.startsWith('deployment.kubernetes.io/')));
  const { status: _s, ...rest } = o;
  return { ...rest, metadata: { ...metadata, annotations } };
};
const renamed = (o, from, to) => JSON.parse(JSON.stringify(o).replaceAll(from, to));
const byteOrder = (a, b) => (a < b ? -1 : a > b ? 1 : 0);

/**
 * Makes envs `names` look exactly as if each had been opened like `seed` (which a real CLI open made): its
 * DestinationRule (and, with `clones`, its clone Deployment) copied under the env's name, then its routes copied
 * into VirtualService `mesh` (seedRoutes).
 */
export async function seedEnvs(cluster, ns, seed, names, { clones = true } = {}) {
  await seedObjects(cluster, ns, seed, names, { clones });
  await seedRoutes(cluster, ns, seed, names);
}

/** The env's DestinationRule (and, with `clones`, its clone Deployment), copies of `seed`'s under each name. */
export async function seedObjects(cluster, ns, seed, names, { clones = true } = {}) {
  // (Items of a list carry no apiVersion/kind.)
  const objects = [
    ...(clones ? (await cluster.list('Deployment', ns, envSelector(seed))).map((o) => ({ ...o, apiVersion: 'apps/v1', kind: 'Deployment' })) : []),
    ...(await cluster.list('DestinationRule', ns, envSelector(seed))).map((o) => ({ ...o, apiVersion: 'networking.istio.io/v1', kind: 'DestinationRule' })),
  ].map(stripServerFields);
  if (objects.length !== (clones ? 2 : 1)) throw new Error(`seeding: ${seed} has ${objects.length} objects, expected its DestinationRule${clones ? ' and its clone' : ''}`);
  await pool(names, 8, async (env) => {
    for (const o of objects) await cluster.apply(renamed(o, seed, env));
  });
}

/**
 * `seed`'s routes copied into VirtualService `mesh` for each of `names` (one PUT), each env's block before the user
 * route it copies, in env-name order: what open itself produces (callers check it with routeProblems).
 */
export async function seedRoutes(cluster, ns, seed, names) {
  for (let attempt = 0; ; attempt++) {
    const vs = await getVs(cluster.admin, ns, 'mesh');
    const http = vs.spec.http;
    const seedRoutes = http.filter((r) => r.name?.startsWith(`dynamic-env/${seed}/`));
    const envRoutes = [...http.filter((r) => r.name?.startsWith('dynamic-env/')), ...names.flatMap((env) => seedRoutes.map((r) => renamed(r, seed, env)))];
    const next = [];
    for (const r of http.filter((x) => !x.name?.startsWith('dynamic-env/'))) {
      const target = r.name ?? r.route[0].destination.host;
      next.push(...envRoutes.filter((x) => x.name.split('/')[2] === target).sort((a, b) => byteOrder(a.name.split('/')[1], b.name.split('/')[1])), r);
    }
    if (next.length !== http.length + names.length * seedRoutes.length) throw new Error('seeding: the routes do not add up');
    try {
      await request(cluster.admin, 'PUT', `/apis/networking.istio.io/v1/namespaces/${ns}/virtualservices/mesh`, { ...vs, spec: { ...vs.spec, http: next } });
      break;
    } catch (e) {
      if (e.status !== 409 || attempt > 5) throw e;
    }
  }
}

/**
 * What the API server itself takes to accept the VirtualService as it is now, whoever sends it: the admin PUTs it
 * back unchanged (a no-op: validated, istiod's webhook asked, nothing stored) a few times; and, for comparison, a
 * ConfigMap holding the same bytes as one string (no schema, no webhook). Median ms each.
 */
export async function putCost(cluster, ns, vs) {
  const path = `/apis/networking.istio.io/v1/namespaces/${ns}/virtualservices/${vs.metadata.name}`;
  const cmName = `bench-size-${JSON.stringify(vs).length}`;
  const cmPath = `/api/v1/namespaces/${ns}/configmaps`;
  const text = JSON.stringify(vs.spec);
  await request(cluster.admin, 'POST', cmPath, { metadata: { name: cmName }, data: { spec: text } });
  const vsTimes = [];
  const cmTimes = [];
  for (let i = 0; i < 5; i++) {
    let t0 = performance.now();
    await request(cluster.admin, 'PUT', path, vs);
    vsTimes.push(performance.now() - t0);
    const cm = await request(cluster.admin, 'GET', `${cmPath}/${cmName}`);
    t0 = performance.now();
    await request(cluster.admin, 'PUT', `${cmPath}/${cmName}`, { ...cm, data: { spec: `${text}${i}` } });
    cmTimes.push(performance.now() - t0);
  }
  await request(cluster.admin, 'DELETE', `${cmPath}/${cmName}`);
  return { vsNoopPutMs: round(median(vsTimes)), configMapPutMs: round(median(cmTimes)) };
}
