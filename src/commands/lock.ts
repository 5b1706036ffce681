// Runs a command body while holding the env's Lease, and always lets go of it.
//
// Which Lease: the one the env's clones record (`dynamic-env.io/lock-namespace`, written by open), so every command
// on an env takes the same Lease whatever its own flags or config say (close and sweep jobs have no config file).
// The command's own setting (flag, input, config `lockNamespace`, default `default`) applies only to an env that
// records none: a new env, or one without clones. Under the Lease the record is read again: an open with another
// setting may have written the env's first clones meanwhile, and then that Lease is taken instead.
import type { RunOptions } from '../config/spec.js';
import type { KubeClient } from '../kube/client.js';
import { acquireLease, readClones, readLockNamespaces, type LeaseLock } from '../kube/lease.js';
import type { Deployment } from '../plan/types.js';
import { leaseName } from '../plan/names.js';
import { LOCK_NAMESPACE_ANNOTATION, recordedLockNamespaces } from '../plan/ownership.js';
import { DynamicEnvError, clusterError } from '../errors.js';

/**
 * The Lease namespace of an env: the one its clones record, else `fallback`. Clones recording different ones (only
 * by hand edits) are refused, naming them.
 */
export function pickLockNamespace(recorded: string[], fallback: string, env: string, log?: (line: string) => void): string {
  if (recorded.length > 1) {
    throw clusterError(`env ${env}: its clones record different Lease namespaces (${LOCK_NAMESPACE_ANNOTATION}: ${recorded.join(', ')}); ` +
      `set the annotation on every clone of the env to one of them (the one holding Lease ${leaseName(env)}, if any)`);
  }
  const [one] = recorded;
  if (one === undefined) return fallback;
  if (one !== fallback) log?.(`env ${env}: its Lease lives in namespace ${one}, as its clones record (this run's lock namespace, ${fallback}, applies to new envs only)`);
  return one;
}

/** What withLease reads, and what it can be spared. */
export interface LeaseReads<R> {
  /** The env's clones as the caller just read them (where the Lease is recorded), saving that read before the Lease. */
  known?: Deployment[];
  /** More the body reads under the Lease, read in parallel with the env's clones (one round trip, not two). */
  readAlongside?: () => Promise<R>;
  /**
   * Reads the env's clones under the first Lease taken instead of a list (open's rollout watch, whose first list is
   * this read). Called once, after the Lease is taken; a Lease taken again elsewhere lists.
   */
  readClonesOnce?: () => Promise<Deployment[]>;
}

export async function withLease<T, R = undefined>(
  client: KubeClient,
  env: string,
  run: Pick<RunOptions, 'lockNamespace'> & { lockTimeoutSeconds?: number },
  log: (line: string) => void,
  body: (lock: LeaseLock, namespace: string, clones: Deployment[], alongside: R) => Promise<T>,
  reads: LeaseReads<R> = {},
): Promise<T> {
  const { known, readAlongside, readClonesOnce } = reads;
  let recorded = known ? recordedLockNamespaces(known, env) : await readLockNamespaces(client, env);
  for (let attempt = 0; ; attempt++) {
    const namespace = pickLockNamespace(recorded, run.lockNamespace, env, attempt === 0 ? log : undefined);
    const lock = await acquireLease(client, {
      namespace,
      env,
      timeoutMs: (run.lockTimeoutSeconds ?? 300) * 1000,
      onWait: (holder) => log(`env ${env}: waiting for the lock held by ${holder} (Lease ${namespace}/${leaseName(env)})`),
    }).catch((e: unknown) => {
      // A Lease refused in the fallback namespace: say where that namespace came from, not only that RBAC said no.
      if (recorded.length === 0 && e instanceof DynamicEnvError && /forbidden/.test(e.message)) {
        throw clusterError([...e.problems, `env ${env} has no clone recording its Lease namespace (${LOCK_NAMESPACE_ANNOTATION}), so this run ` +
          `used its own lock namespace, ${namespace} (--lock-namespace / the lock-namespace input / the config file's lockNamespace / default); ` +
          'pass the namespace the env was opened with'], e);
      }
      throw e;
    });
    let moved = false;
    try {
      // Read again under the Lease: the body gets the env's clones as they are now.
      const [clones, alongside] = await Promise.all([
        attempt === 0 && readClonesOnce ? readClonesOnce() : readClones(client, env), readAlongside?.() as Promise<R>,
      ]);
      recorded = recordedLockNamespaces(clones, env);
      const now = pickLockNamespace(recorded, namespace, env);
      moved = now !== namespace && attempt < 3;
      if (!moved) return await body(lock, namespace, clones, alongside);
    } finally {
      await lock.release();
    }
    log(`env ${env}: its clones now record the Lease in namespace ${recorded[0]}; taking that one instead`);
  }
}
