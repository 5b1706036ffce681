// Writes, each idempotent and safe to repeat after a crash: an object is created when absent, replaced (carrying
// the resourceVersion we read) when it differs, and left alone when it already is as desired. Shared objects
// (VirtualServices) are changed by read-modify-write with a pure edit, retried on 409.
import { isDeepStrictEqual } from 'node:util';
import type { KubeObject, VirtualService } from '../plan/types.js';
import { DynamicEnvError, clusterError } from '../errors.js';
import { envsOf } from '../plan/virtual-service.js';
import { objectBytes } from '../plan/vs-size.js';
import { ENV_LABEL } from '../plan/names.js';
import { isEnvObject, isManaged } from '../plan/deployment.js';
import { explainApiError, isAlreadyExists, isConflict, isNotFound, isTooLarge, type KubeClient } from './client.js';
import { retrying } from './retry.js';
import type { ResourceType } from './resources.js';
import { VIRTUAL_SERVICE } from './resources.js';

export type WriteOutcome = 'created' | 'updated' | 'unchanged' | 'deleted' | 'absent';

const describe = (t: ResourceType, o: { metadata: { namespace?: string; name: string } }) =>
  `${t.kind} ${o.metadata.namespace ?? ''}/${o.metadata.name}`;

/** The parts of an object we own; status and server-set metadata are not compared. */
function owned(o: KubeObject): unknown {
  const { metadata, status: _status, ...rest } = o as KubeObject & { status?: unknown };
  return { labels: metadata.labels ?? {}, annotations: metadata.annotations ?? {}, ...rest, apiVersion: undefined, kind: undefined };
}

/** Annotations controllers keep on objects (the Deployment controller's revision); a write keeps them. */
function controllerAnnotations(o: KubeObject): Record<string, string> {
  return Object.fromEntries(Object.entries(o.metadata.annotations ?? {}).filter(([k]) => k.startsWith('deployment.kubernetes.io/')));
}

/**
 * An env's object (a clone, a DestinationRule) found at its name when the snapshot had none there is replaced only if
 * it is the same env's: the plan refused every name another env or the user held when the cluster was read, so one
 * here was made since (or carries no env label), and is not ours to overwrite.
 */
function throwIfForeign(type: ResourceType, desired: KubeObject, existing: KubeObject | null): void {
  const env = desired.metadata.labels?.[ENV_LABEL];
  if (!env || !existing) return;
  if (isEnvObject(existing, env)) return;
  const labels = existing.metadata.labels ?? {};
  const holder = !isManaged(labels) ? 'someone other than dynamic-env'
    : labels[ENV_LABEL] ? `env ${labels[ENV_LABEL]}` : 'dynamic-env without an env label';
  throw clusterError(`${describe(type, desired)} was made by ${holder} after env ${env}'s open read the cluster, and was left as it is; ` +
    'remove that object or choose another env name, then re-run open');
}

/**
 * Makes the object look like `desired` (ours alone: labels/annotations/spec). `current` is what the snapshot
 * held, saving a read; on 409 we read again.
 */
export async function ensure<T extends KubeObject>(client: KubeClient, type: ResourceType, desired: T, current?: T | null): Promise<WriteOutcome> {
  return (await ensureObject(client, type, desired, current)).outcome;
}

/** `ensure`, also giving the object as the API server now has it (its answer to the write, or what was read). */
export async function ensureObject<T extends KubeObject>(client: KubeClient, type: ResourceType, desired: T, current?: T | null): Promise<{ outcome: WriteOutcome; object: T }> {
  let existing = current ?? null;
  const write = async (): Promise<{ outcome: WriteOutcome; object: T }> => {
    if (!existing) return { outcome: 'created', object: await client.create(type, desired) };
    const next = {
      ...desired,
      metadata: {
        ...desired.metadata,
        annotations: { ...controllerAnnotations(existing), ...desired.metadata.annotations },
        resourceVersion: existing.metadata.resourceVersion,
      },
    };
    if (isDeepStrictEqual(owned(existing), owned(next))) return { outcome: 'unchanged', object: existing };
    return { outcome: 'updated', object: await client.replace(type, next) };
  };
  // 409: made or changed since it was read; read it again (and refuse one that is not the env's).
  const reread = async () => {
    existing = await client.get<T>(type, desired.metadata.namespace, desired.metadata.name).catch((err) => {
      throw explainApiError(err, `reading ${describe(type, desired)}`);
    });
    throwIfForeign(type, desired, existing);
  };
  try {
    return await retrying(write, (e) => isAlreadyExists(e) || isConflict(e), { beforeRetry: reread });
  } catch (e) {
    if (e instanceof DynamicEnvError) throw e;
    throw explainApiError(e, `writing ${describe(type, desired)}`);
  }
}

/** What a caller of editVirtualService does between attempts (route requests: src/kube/route-requests.ts). */
export interface RetryHooks {
  /** After a 409 (or 404), before the object is read again. */
  afterConflict?: () => Promise<void>;
  /** After that read, before `edit` is applied to what it returned. */
  afterReread?: (vs: VirtualService) => Promise<void>;
  /**
   * After afterReread, before `edit` is applied: true when this write is better left to another writer, once the hook
   * has waited; the object is then read again instead of written.
   */
  deferWrite?: () => Promise<boolean>;
}

/**
 * Read-modify-write of a VirtualService. `edit` is pure; it returns the new object, or null to delete it (only
 * for our own VirtualServices, deleted with a resourceVersion precondition so a concurrent addition wins).
 */
export async function editVirtualService(
  client: KubeClient,
  ref: { namespace: string; name: string },
  edit: (vs: VirtualService) => VirtualService | null,
  current?: VirtualService | null,
  hooks: RetryHooks = {},
): Promise<WriteOutcome> {
  let vs = current ?? null;
  const what = `VirtualService ${ref.namespace}/${ref.name}`;
  /** What the last attempt tried to write (a size refusal names it). */
  const tried: { next?: VirtualService } = {};
  const write = async (attempt: number): Promise<WriteOutcome> => {
    delete tried.next;
    for (;;) {
      if (!vs) vs = await client.get<VirtualService>(VIRTUAL_SERVICE, ref.namespace, ref.name);
      if (!vs) return 'absent';
      if (attempt === 0) break;
      await hooks.afterReread?.(vs);
      if (!(await hooks.deferWrite?.())) break;
      vs = null;
    }
    const next = edit(vs);
    if (next === null) {
      const gone = await client.delete(VIRTUAL_SERVICE, ref.namespace, ref.name, { resourceVersion: vs.metadata.resourceVersion! });
      return gone ? 'deleted' : 'absent';
    }
    if (isDeepStrictEqual(next.spec, vs.spec) && isDeepStrictEqual(next.metadata.labels, vs.metadata.labels)) return 'unchanged';
    tried.next = next;
    await client.replace(VIRTUAL_SERVICE, next);
    return 'updated';
  };
  try {
    // 409: changed since we read it. 404 on the replace: deleted since we read it (our own VirtualService, by the close
    // of the last other env in it); the re-read says 'absent' and the caller decides.
    return await retrying(write, (e) => isConflict(e) || isNotFound(e), {
      beforeRetry: async () => {
        vs = null;
        await hooks.afterConflict?.();
      },
    });
  } catch (e) {
    if (e instanceof DynamicEnvError) throw e; // the edit refused
    if (isTooLarge(e) && tried.next) throw tooLargeError(what, tried.next, e);
    throw explainApiError(e, `updating ${what}`);
  }
}

/** A VirtualService the cluster refused to store for its size: permanent, so named with its size, envs and fixes. */
function tooLargeError(what: string, next: VirtualService, cause: unknown): Error {
  const envs = envsOf(next);
  const detail = cause instanceof Error ? cause.message : String(cause);
  return clusterError(
    `updating ${what}: the cluster refused to store it, ${objectBytes(next)} bytes with ${envs.length} envs' routes ` +
      `(${envs.join(', ') || 'none'}), as too large (${detail}); this is permanent, re-running cannot help: close ` +
      `stale envs, split the VirtualService, or route the changed hosts with fewer routes`,
    cause,
  );
}

/** Creates a VirtualService of ours; when one appeared meanwhile, edits that one instead. */
export async function createVirtualService(
  client: KubeClient,
  desired: VirtualService,
  editExisting: (vs: VirtualService) => VirtualService | null,
): Promise<WriteOutcome> {
  try {
    await client.create(VIRTUAL_SERVICE, desired);
    return 'created';
  } catch (e) {
    if (isAlreadyExists(e)) {
      return editVirtualService(client, { namespace: desired.metadata.namespace!, name: desired.metadata.name }, editExisting);
    }
    throw explainApiError(e, `creating VirtualService ${desired.metadata.namespace}/${desired.metadata.name}`);
  }
}

/**
 * An object of ours rewritten by a pure edit of what is read now (labels, annotations): nothing when it is absent or
 * the edit changes nothing. For objects only the env's own run writes, under its Lease.
 */
export async function rewrite<T extends KubeObject>(client: KubeClient, type: ResourceType, ref: { namespace?: string; name: string }, edit: (o: T) => T): Promise<WriteOutcome> {
  const current = await client.get<T>(type, ref.namespace, ref.name).catch((e) => {
    throw explainApiError(e, `reading ${type.kind} ${ref.namespace ?? ''}/${ref.name}`);
  });
  if (!current) return 'absent';
  return ensure(client, type, edit(current), current);
}

export async function remove(client: KubeClient, type: ResourceType, ref: { namespace: string; name: string }): Promise<WriteOutcome> {
  try {
    return (await client.delete(type, ref.namespace, ref.name)) ? 'deleted' : 'absent';
  } catch (e) {
    throw explainApiError(e, `deleting ${type.kind} ${ref.namespace}/${ref.name}`);
  }
}
