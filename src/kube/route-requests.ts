// The I/O side of route requests (src/plan/route-requests.ts): an open that hits a 409 on a VirtualService records
// its request on its own DestinationRules and, from then on, writes the routes of every other env that asks too;
// it withdraws its request before it releases the env's Lease.
import type { DestinationRule, EnvRouting, RouteEdit, VirtualService } from '../plan/types.js';
import {
  hasRouteRequest, routeRequestCarriers, routeRequestSelector, routeRequestsOf, withRequestedRoutes, withRouteRequest,
  withoutRouteRequest, type RouteRequest,
} from '../plan/route-requests.js';
import { ensure, rewrite, type RetryHooks } from './apply.js';
import { explainApiError, type KubeClient } from './client.js';
import { DESTINATION_RULE } from './resources.js';

/** One VirtualService edit's side of route sharing: what it adds to its writes, and its retry hooks. */
export interface SharedEdit {
  /** `vs` with the routes of the other envs that asked, as this edit last read them. */
  withOthers(vs: VirtualService): VirtualService;
  /** editVirtualService's hooks: after a 409 this env's request is recorded (once); after each read, all are read. */
  hooks: RetryHooks;
}

export interface RouteSharing {
  /**
   * For one VirtualService edit. Each edit keeps the requests it read itself: another edit's list may have been
   * read before this edit's read of its VirtualService, and so may miss a withdrawal this write must respect.
   */
  edit(): SharedEdit;
  /** Takes this env's request back, if it made one. */
  withdraw(): Promise<void>;
}

export function routeSharing(
  client: KubeClient,
  env: string,
  rules: DestinationRule[],
  edits: RouteEdit[],
  routing: EnvRouting,
  log: (line: string) => void,
): RouteSharing {
  const carriers = routeRequestCarriers(rules, edits, routing);
  let recorded: Promise<void> | undefined;
  const record = async () => {
    try {
      await Promise.all(carriers.map(async ({ rule, request }) => {
        const current = await client.get<DestinationRule>(DESTINATION_RULE, rule.metadata.namespace, rule.metadata.name);
        if (current) await ensure(client, DESTINATION_RULE, withRouteRequest(current, request), current);
      }));
    } catch (e) {
      // Only a shortcut: without it this open writes its routes itself, as it does anyway.
      log(`env ${env}: could not ask other opens to write its routes (${e instanceof Error ? e.message : String(e)}); writing them itself`);
    }
  };
  return {
    edit() {
      let others: RouteRequest[] = [];
      return {
        withOthers: (vs) => withRequestedRoutes(vs, others),
        hooks: {
          afterConflict: async () => {
            recorded ??= record();
            await recorded;
          },
          // Read after the VirtualService the next write is based on (see src/plan/route-requests.ts for why).
          afterReread: async () => {
            const listed = await client.list<DestinationRule>(DESTINATION_RULE, undefined, routeRequestSelector)
              .catch((e) => { throw explainApiError(e, 'reading the route requests of other envs'); });
            others = routeRequestsOf(listed.items, env);
          },
        },
      };
    },
    async withdraw() {
      if (!recorded) return;
      await recorded;
      await withdrawRouteRequests(client, carriers.map((c) => c.rule));
    },
  };
}

/** Removes the route request from each of these DestinationRules (of one env) that carries one, as read now. */
export async function withdrawRouteRequests(client: KubeClient, rules: { metadata: { namespace?: string; name: string } }[]): Promise<void> {
  await Promise.all(rules.map((r) => rewrite<DestinationRule>(client, DESTINATION_RULE, r.metadata, (cur) => (hasRouteRequest(cur) ? withoutRouteRequest(cur) : cur))));
}
