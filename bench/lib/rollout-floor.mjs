// The cluster's own time to roll out a clone, without dynamic-env: the admin creates a Deployment like a clone and
// follows it with a watch until it is Available. On kwok the Pod is "ready" as soon as it is scheduled, so this is
// the controllers' and the scheduler's time: the floor of any `open --wait`.
import https from 'node:https';
import { now } from './plane.mjs';
import { harness } from './plane.mjs';

const available = (d) => {
  const want = d.spec?.replicas ?? 1;
  const st = d.status ?? {};
  return st.observedGeneration >= d.metadata.generation && (st.updatedReplicas ?? 0) === want && (st.availableReplicas ?? 0) === want &&
    (st.conditions ?? []).some((c) => c.type === 'Available' && c.status === 'True');
};

/** Opens a watch on one Deployment by name; resolves once the API server answered (the stream is open). */
function watchDeployment(ep, ns, name, onObject) {
  const url = new URL(`/apis/apps/v1/namespaces/${ns}/deployments?watch=1&fieldSelector=${encodeURIComponent(`metadata.name=${name}`)}`, ep.server);
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

/** Create -> Available of a one-replica Deployment made from `template` (a Deployment of the namespace), in ms. */
export async function rolloutMs(cluster, ns, template, name) {
  let done;
  const became = new Promise((r) => { done = r; });
  const stop = await watchDeployment(cluster.admin, ns, name, (d) => { if (available(d)) done(now()); });
  try {
    const labels = { app: name, version: 'floor' };
    const t0 = now();
    await cluster.apply({
      apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name, namespace: ns, labels },
      spec: { replicas: 1, selector: { matchLabels: labels }, template: { ...template.spec.template, metadata: { labels } } },
    });
    const t1 = await Promise.race([became, new Promise((_, rej) => setTimeout(() => rej(new Error(`${ns}/${name} not Available in 60 s`)), 60_000))]);
    return t1 - t0;
  } finally {
    stop();
    await harness.request(cluster.admin, 'DELETE', `/apis/apps/v1/namespaces/${ns}/deployments/${name}?propagationPolicy=Background`).catch(() => {});
  }
}
