// The I/O side of route requests (src/plan/route-requests.ts): an open that hits a 409 on a VirtualService records
// its request on its own DestinationRules and, from then on, writes the routes of every other env that asks too;
// it withdraws its request before it releases the env's Lease.
import type { DestinationRule, EnvRouting, RouteEdit, VirtualService } from '../plan/types.js';
import { isDeepStrictEqual } from 'node:util';
import {
  expectedWriter, hasRouteRequest, routeRequestCarriers, routeRequestSelector, routeRequestsOf, withRequestedRoutes, withRouteRequest,
  withoutRouteRequest, type RouteRequest,
} from '../plan/route-requests.js';
import { ensure, ensureObject, rewrite, type RetryHooks } from './apply.js';
import { explainApiError, sleep, type KubeClient } from './client.js';
import { DESTINATION_RULE } from './resources.js';

/** One VirtualService edit's side of route sharing: the edit to write, and its retry hooks. */
export interface SharedEdit {
  /** The env's own routes and, after a lost round, those of the other envs that asked, as this edit last read them. */
  edit(vs: VirtualService): VirtualService;
  /**
   * editVirtualService's hooks: after a 409 this env's request is recorded (once); after each read the requests are
   * read too, unless the env's own routes are in place; a write the expected writer will make is left to it.
   */
  hooks: RetryHooks;
}

export interface RouteSharing {
  /**
   * For one VirtualService edit (`own`: the env's routes there). Each edit keeps the requests it read itself: another
   * edit's list may have been read before this edit's read of its VirtualService, and so may miss a withdrawal this
   * write must respect.
   */
  edit(own: (vs: VirtualService) => VirtualService): SharedEdit;
  /** Takes this env's request back, if it made one. */
  withdraw(): Promise<void>;
}

/**
 * How long an edit leaves its write to the expected writer (src/plan/route-requests.ts, expectedWriter) before it
 * writes itself: that writer may have crashed, or be slow. Long enough for one write of a large VirtualService on a
 * busy API server, short against the 60 s an edit may retry.
 */
const DEFER_MS = 3000;
/** Between reads while an edit waits for the expected writer: from about 20 ms, growing, at most 250 ms, jittered. */
const deferDelay = (round: number) => sleep(Math.min(250, 20 * 1.5 ** round) * (0.5 + Math.random()));

/**
 * `rules`: the env's DestinationRules as the API server has them (written by this open, under the env's Lease, so
 * a request is recorded and withdrawn without reading them first; a stale one costs a 409 and a read).
 */
export function routeSharing(
  client: KubeClient,
  env: string,
  rules: DestinationRule[],
  edits: RouteEdit[],
  routing: EnvRouting,
  log: (line: string) => void,
  deferMs = DEFER_MS,
): RouteSharing {
  const carriers = routeRequestCarriers(rules, edits, routing);
  let recorded: Promise<DestinationRule[] | undefined> | undefined;
  const record = async (): Promise<DestinationRule[] | undefined> => {
    try {
      return await Promise.all(carriers.map(async ({ rule, request }) => {
        const current = rule.metadata.resourceVersion ? rule : await client.get<DestinationRule>(DESTINATION_RULE, rule.metadata.namespace, rule.metadata.name);
        if (!current) return rule;
        return (await ensureObject(client, DESTINATION_RULE, withRouteRequest(current, request), current)).object;
      }));
    } catch (e) {
      // Only a shortcut: without it this open writes its routes itself, as it does anyway.
      log(`env ${env}: could not ask other opens to write its routes (${e instanceof Error ? e.message : String(e)}); writing them itself`);
      return undefined;
    }
  };
  return {
    edit(own) {
      let others: RouteRequest[] = [];
      /** Since when this edit has left its write to another env; decided after each read, carried out by deferWrite. */
      let waitingSince: number | undefined;
      let defer = false;
      let deferrals = 0;
      const stillWaiting = (vs: VirtualService) =>
        waitingSince !== undefined && Date.now() - waitingSince <= deferMs && expectedWriter(vs, others, env) !== env;
      return {
        edit: (vs) => withRequestedRoutes(own(vs), others),
        hooks: {
          afterConflict: async () => {
            recorded ??= record();
            await recorded;
          },
          // Read after the VirtualService the next write is based on (see src/plan/route-requests.ts for why). When the
          // env's own routes are in place (another open wrote them), there is nothing to write: no need to read.
          afterReread: async (vs) => {
            defer = false;
            if (isDeepStrictEqual(own(vs).spec, vs.spec)) {
              others = [];
              return;
            }
            // Still waiting for the same writer, by the requests read before: this read is not written, so the requests
            // need not be read again; every write is based on requests read after the VirtualService it writes.
            if (stillWaiting(vs)) {
              defer = true;
              return;
            }
            const listed = await client.list<DestinationRule>(DESTINATION_RULE, undefined, routeRequestSelector)
              .catch((e) => { throw explainApiError(e, 'reading the route requests of other envs'); });
            others = routeRequestsOf(listed.items, env);
            // Only an env whose request is recorded leaves its write to another: the writer writes requests only.
            if ((await recorded) && expectedWriter(vs, others, env) !== env) waitingSince ??= Date.now();
            defer = stillWaiting(vs);
          },
          deferWrite: async () => {
            if (!defer) return false;
            await deferDelay(deferrals++);
            return true;
          },
        },
      };
    },
    async withdraw() {
      if (!recorded) return;
      const written = await recorded;
      if (!written) {
        await withdrawRouteRequests(client, carriers.map((c) => c.rule));
        return;
      }
      await Promise.all(written.map((rule) => (hasRouteRequest(rule) ? ensure(client, DESTINATION_RULE, withoutRouteRequest(rule), rule) : undefined)));
    },
  };
}

/** Removes the route request from each of these DestinationRules (of one env) that carries one, as read now. */
export async function withdrawRouteRequests(client: KubeClient, rules: { metadata: { namespace?: string; name: string } }[]): Promise<void> {
  await Promise.all(rules.map((r) => rewrite<DestinationRule>(client, DESTINATION_RULE, r.metadata, (cur) => (hasRouteRequest(cur) ? withoutRouteRequest(cur) : cur))));
}
