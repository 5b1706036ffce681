// Runs a command body while holding the env's Lease, and always lets go of it.
import type { RunOptions } from '../config/spec.js';
import type { KubeClient } from '../kube/client.js';
import { acquireLease, type LeaseLock } from '../kube/lease.js';

export async function withLease<T>(
  client: KubeClient,
  env: string,
  run: Pick<RunOptions, 'lockNamespace'> & { lockTimeoutSeconds?: number },
  log: (line: string) => void,
  body: (lock: LeaseLock) => Promise<T>,
): Promise<T> {
  const lock = await acquireLease(client, {
    namespace: run.lockNamespace,
    env,
    timeoutMs: (run.lockTimeoutSeconds ?? 300) * 1000,
    onWait: (holder) => log(`env ${env}: waiting for the lock held by ${holder}`),
  });
  try {
    return await body(lock);
  } finally {
    await lock.release();
  }
}
