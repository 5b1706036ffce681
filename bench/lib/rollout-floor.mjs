// The cluster's own time to roll out clones, without dynamic-env: the admin creates Deployments like the clones (at
// once, as open does) and follows them with a watch until all are Available. On kwok the Pod is "ready" as soon as it is scheduled, so this is
// the controllers' and the scheduler's time: the floor of any `open --wait`.
import https from 'node:https';
import { harness, now } from './plane.mjs';

const available = (d) => {
  const want = d.spec?.replicas ?? 1;
  const st = d.status ?? {};
  return st.observedGeneration >= d.metadata.generation && (st.updatedReplicas ?? 0) === want && (st.availableReplicas ?? 0) === want &&
    (st.conditions ?? []).some((c) => c.type === 'Available' && c.status === 'True');
};

/** Opens a watch on the Deployments of `ns` with `selector`; resolves once the API server answered (the stream is open). */
function watchDeployments(ep, ns, selector, onObject) {
  const url = new URL(`/apis/apps/v1/namespaces/${ns}/deployments?watch=1&labelSelector=${encodeURIComponent(selector)}`, ep.server);
  return new Promise((resolve, reject) => {
    const req = https.request(url, { ca: ep.ca, cert: ep.cert, key: ep.key, headers: ep.token ? { authorization: `Bearer ${ep.token}` } : {} }, (res) => {
      if (res.statusCode !== 200) return reject(new Error(`watch ${url.pathname}: ${res.statusCode}`));
      let buf = '';
      res.on('data', (c) => {
        buf += c.toString();
        for (let i; (i = buf.indexOf('\n')) >= 0;) {
          const line = buf.slice(0, i);
          buf = buf.slice(i + 1);
          if (line) onObject(JSON.parse(line).object);
        }
      });
      resolve(() => req.destroy());
    });
    req.on('error', reject);
    req.end();
  });
}

/**
 * Create -> all Available of one one-replica Deployment per template (Deployments of the namespace), created at
 * once as open creates its clones, in ms.
 */
export async function rolloutMs(cluster, ns, templates, batch) {
  const names = templates.map((t, i) => `${batch}-${i}`);
  const pending = new Set(names);
  let done;
  const became = new Promise((r) => { done = r; });
  const stop = await watchDeployments(cluster.admin, ns, `bench-floor=${batch}`, (d) => {
    if (available(d) && pending.delete(d.metadata.name) && pending.size === 0) done(now());
  });
  try {
    const t0 = now();
    await Promise.all(templates.map((template, i) => {
      const labels = { app: names[i], version: 'floor', 'bench-floor': batch };
      return cluster.apply({
        apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: names[i], namespace: ns, labels },
        spec: { replicas: 1, selector: { matchLabels: labels }, template: { ...template.spec.template, metadata: { labels } } },
      });
    }));
    const t1 = await Promise.race([became, new Promise((_, rej) => setTimeout(() => rej(new Error(`${ns}/${batch}-*: not Available in 60 s`)), 60_000))]);
    return t1 - t0;
  } finally {
    stop();
    await Promise.all(names.map((name) => harness.request(cluster.admin, 'DELETE', `/apis/apps/v1/namespaces/${ns}/deployments/${name}?propagationPolicy=Background`).catch(() => {})));
  }
}
