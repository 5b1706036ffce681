// One Lease per env serialises open and close of that env across processes and machines (coordination.k8s.io/v1).
// Taking a Lease over is an update carrying the resourceVersion we read, so two contenders cannot both win.
// Different envs have different Leases and never wait for each other.
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { ENV_LABEL, MANAGED_BY_LABEL, MANAGED_BY_VALUE, leaseName } from '../plan/names.js';
import type { Deployment, KubeObject } from '../plan/types.js';
import { clusterError } from '../errors.js';
import { explainApiError, isAlreadyExists, isConflict, sleep, type KubeClient } from './client.js';
import { DEPLOYMENT, LEASE } from './resources.js';
import { recordedLockNamespaces } from '../plan/ownership.js';
import { envSelector } from './snapshot.js';

/**
 * Where the env's Lease lives, as its clones record it (`dynamic-env.io/lock-namespace`, written by open): the
 * Lease is found from the env itself, so close and sweep jobs without the config file take the Lease the open took.
 * Empty for an env without clones (or with clones from before the annotation). Read from the watch cache as it
 * stands (KubeClient.listCached): it is the look before the Lease, and the clones are read again under it.
 */
export async function readLockNamespaces(client: KubeClient, env: string): Promise<string[]> {
  return recordedLockNamespaces(await readClones(client, env, { cached: true }), env);
}

/** The env's clones wherever they are (what the Lease namespace is read from); `cached`: see readLockNamespaces. */
export async function readClones(client: KubeClient, env: string, { cached = false } = {}): Promise<Deployment[]> {
  try {
    return (await (cached ? client.listCached<Deployment>(DEPLOYMENT, undefined, envSelector(env))
      : client.list<Deployment>(DEPLOYMENT, undefined, envSelector(env)))).items;
  } catch (e) {
    throw explainApiError(e, `reading env ${env}`);
  }
}

interface Lease extends KubeObject {
  spec: {
    holderIdentity?: string | null;
    leaseDurationSeconds?: number;
    acquireTime?: string | null;
    renewTime?: string | null;
    leaseTransitions?: number;
  };
}

export interface LeaseOptions {
  namespace: string;
  env: string;
  /** Who we are, as other runs will see it in errors. */
  holder?: string;
  durationSeconds?: number;
  /** How long to wait for another holder before giving up. */
  timeoutMs?: number;
  /** Called once while waiting, with the current holder. */
  onWait?: (holder: string) => void;
}

export interface LeaseLock {
  readonly holder: string;
  /** True once a renewal found the Lease taken by someone else; callers stop writing. */
  readonly lost: boolean;
  release(): Promise<void>;
}

export function defaultHolder(): string {
  const run = process.env.GITHUB_RUN_ID ? `github-run-${process.env.GITHUB_RUN_ID}-${process.env.GITHUB_RUN_ATTEMPT ?? '1'}@` : '';
  return `${run}${hostname()}/${process.pid}/${randomBytes(3).toString('hex')}`;
}

// Kubernetes MicroTime: RFC 3339 with microseconds.
const microTime = (d: Date) => d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');

export async function acquireLease(client: KubeClient, opts: LeaseOptions): Promise<LeaseLock> {
  const name = leaseName(opts.env);
  const ns = opts.namespace;
  const holder = opts.holder ?? defaultHolder();
  const duration = opts.durationSeconds ?? 30;
  const deadline = Date.now() + (opts.timeoutMs ?? 120_000);
  const what = `Lease ${ns}/${name}`;
  let observed: { rv: string; at: number } | undefined;
  let waited = false;
  let current: Lease | null = null;

  const desired = (base: Lease | null, transitions: number): Lease => ({
    apiVersion: LEASE.apiVersion,
    kind: LEASE.kind,
    metadata: {
      name,
      namespace: ns,
      labels: { [MANAGED_BY_LABEL]: MANAGED_BY_VALUE, [ENV_LABEL]: opts.env },
      ...(base?.metadata.resourceVersion ? { resourceVersion: base.metadata.resourceVersion } : {}),
    },
    spec: {
      holderIdentity: holder,
      leaseDurationSeconds: duration,
      acquireTime: microTime(new Date()),
      renewTime: microTime(new Date()),
      leaseTransitions: transitions,
    },
  });

  // Released Leases are deleted, so the usual case is none: create it straight away, and read it only if it exists.
  let absent = true;
  for (;;) {
    try {
      if (absent) {
        try {
          current = await client.create(LEASE, desired(null, 0));
          break;
        } catch (e) {
          if (!isAlreadyExists(e)) throw e;
        }
      }
      current = await client.get<Lease>(LEASE, ns, name);
      absent = !current;
      if (!current) continue;
      const other = current.spec.holderIdentity;
      if (!other || other === holder || expired(current, duration, observed)) {
        current = await client.replace(LEASE, desired(current, (current.spec.leaseTransitions ?? 0) + (other && other !== holder ? 1 : 0)));
        break;
      }
      if (!observed || observed.rv !== current.metadata.resourceVersion) observed = { rv: current.metadata.resourceVersion!, at: Date.now() };
      if (!waited) {
        waited = true;
        opts.onWait?.(other);
      }
    } catch (e) {
      if (!isConflict(e) && !isAlreadyExists(e)) throw explainApiError(e, `taking ${what}`);
      // Someone else moved first; look again.
    }
    if (Date.now() > deadline) {
      const renewed = current?.spec.renewTime ? `, last renewed ${current.spec.renewTime}` : '';
      throw clusterError(
        `env ${opts.env} is locked by "${current?.spec.holderIdentity}" (${what}${renewed}): another open or close of this env is running. ` +
        `Re-run when it has finished; if that run is dead, its Lease expires ${duration}s after its last renewal, or delete the Lease.`);
    }
    await sleep(250 + Math.random() * 500);
  }

  let held = current!;
  let lost = false;
  let renewing: Promise<void> | undefined;
  const timer = setInterval(() => {
    renewing = (async () => {
      try {
        held = await client.replace(LEASE, { ...held, spec: { ...held.spec, renewTime: microTime(new Date()) } });
      } catch (e) {
        if (isConflict(e)) {
          const now = await client.get<Lease>(LEASE, ns, name).catch(() => null);
          if (now?.spec.holderIdentity === holder) held = now;
          else lost = true;
        }
        // A transient failure is retried at the next tick; the Lease outlives two missed renewals.
      }
    })();
  }, Math.max(1_000, (duration * 1000) / 3));
  timer.unref();

  return {
    holder,
    get lost() {
      return lost;
    },
    async release() {
      clearInterval(timer);
      await renewing;
      if (lost) return;
      for (let attempt = 0; ; attempt++) {
        try {
          await client.delete(LEASE, ns, name, { resourceVersion: held.metadata.resourceVersion! });
          return;
        } catch (e) {
          if (!isConflict(e)) throw explainApiError(e, `releasing ${what}`);
          // 409: the Lease changed since we last wrote it. Taken over: no longer ours to delete. Still ours (a
          // renewal whose answer we missed): delete what is there now, rather than leave it to expire.
          const now = await client.get<Lease>(LEASE, ns, name).catch(() => null);
          if (!now || now.spec.holderIdentity !== holder || attempt >= 3) return;
          held = now;
        }
      }
    },
  };
}

/**
 * A Lease is expired when its renewTime is older than its duration (with slack for clock skew between machines),
 * or when we have watched it unchanged for a whole duration ourselves (immune to skew).
 */
function expired(lease: Lease, duration: number, observed?: { rv: string; at: number }): boolean {
  const d = (lease.spec.leaseDurationSeconds ?? duration) * 1000;
  const renew = Date.parse(lease.spec.renewTime ?? lease.spec.acquireTime ?? '');
  if (Number.isFinite(renew) && Date.now() - renew > d + 5_000) return true;
  return !!observed && observed.rv === lease.metadata.resourceVersion && Date.now() - observed.at > d;
}
