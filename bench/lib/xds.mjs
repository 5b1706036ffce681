// A posed sidecar following istiod's pushes (the harness's xds-probe with --watch), kept light: a state can be
// megabytes of JSON with hundreds of envs, so lines are not kept; callers register what they wait for (a string a
// state will contain) before the write, and get the time the probe received that state. And the sizes of what
// istiod serves a proxy (one complete configuration, test/harness/proxy.ts proxyConfig).
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { auditTime } from './audit.mjs';
import { onStop, track } from './plane.mjs';

const TIME_RE = /"time":"([^"]+)"/;

/** Starts following istiod's pushes to `proxy` ({namespace, labels, name}); resolves after the first complete state. */
export async function watchPushes(istiod, proxy) {
  const child = spawn(join(istiod.bin, 'xds-probe'), [
    `--addr=${istiod.grpcAddr}`, '--kind=sidecar', `--namespace=${proxy.namespace}`, `--name=${proxy.name}`,
    `--labels=${JSON.stringify(proxy.labels)}`, '--watch', '--timeout=120s',
  ], { stdio: ['pipe', 'pipe', 'pipe'] });
  track(child);
  let stderr = '';
  child.stderr.on('data', (c) => { stderr += c.toString(); });
  const waiters = new Set();
  let states = 0;
  let firstState;
  const first = new Promise((resolve, reject) => {
    firstState = resolve;
    child.on('exit', (code) => reject(new Error(`xds-probe --watch exited (${code}): ${stderr}`)));
  });
  createInterface({ input: child.stdout, crlfDelay: Infinity }).on('line', (line) => {
    states++;
    // The keys of a state are sorted: seq, time and type come after the resources.
    const time = auditTime(TIME_RE.exec(line.slice(-200))?.[1]);
    for (const w of waiters) {
      if (line.includes(w.text)) {
        waiters.delete(w);
        w.resolve(time);
      }
    }
    firstState();
  });
  await first;
  const stop = () => new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.stdin.end();
  });
  onStop(stop);
  return {
    get states() { return states; },
    /** The time (epoch ms, the probe's clock) of the first state from now on that contains `text`. */
    next(text, timeoutMs = 60_000) {
      return new Promise((resolve, reject) => {
        const w = { text, resolve };
        waiters.add(w);
        setTimeout(() => { if (waiters.delete(w)) reject(new Error(`no push with ${text} within ${timeoutMs} ms`)); }, timeoutMs).unref();
      });
    },
    stop,
  };
}

/** What a proxy holds, measured: route configurations (RDS), virtual hosts, Envoy routes, clusters (CDS); bytes as protojson. */
export function configSize(snap) {
  const size = (xs) => xs.reduce((n, x) => n + JSON.stringify(x).length, 0);
  const vhosts = snap.routes.flatMap((rc) => rc.virtual_hosts ?? []);
  return {
    rdsBytes: size(snap.routes),
    routeConfigs: snap.routes.length,
    virtualHosts: vhosts.length,
    routes: vhosts.reduce((n, v) => n + (v.routes?.length ?? 0), 0),
    cdsBytes: size(snap.clusters),
    clusters: snap.clusters.length,
    edsBytes: size(snap.endpoints),
    ldsBytes: size(snap.listeners),
  };
}
