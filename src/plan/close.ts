// planClose: what to remove for an env, found from labels and route names alone (docs/DESIGN.md).

import { isManaged } from './deployment.js';
import { ENV_LABEL } from './names.js';
import { ownershipProblems } from './ownership.js';
import { throwIfProblems } from './problems.js';
import type { ClosePlan, KubeObject, ObjectRef, OwnerInfo, Snapshot } from './types.js';
import { envsOf } from './virtual-service.js';

const refOf = (o: KubeObject): ObjectRef => ({ name: o.metadata.name, namespace: o.metadata.namespace ?? '' });
const byRef = (a: ObjectRef, b: ObjectRef): number => {
  const ka = `${a.namespace}/${a.name}`;
  const kb = `${b.namespace}/${b.name}`;
  return ka < kb ? -1 : ka > kb ? 1 : 0;
};
const ownedBy = (o: KubeObject, env: string): boolean =>
  isManaged(o.metadata.labels) && o.metadata.labels?.[ENV_LABEL] === env;

/**
 * Plans closing `env`: its routes in any VirtualService (ours included), its DestinationRules and clones. With a
 * `requester` (the action's repository and PR, the CLI's --repo/--pr), an env whose objects record another owner is
 * refused (src/plan/ownership.ts); a requester naming no repository may close any env (a person, by name).
 */
export function planClose(snapshot: Snapshot, env: string, requester: OwnerInfo = {}): ClosePlan {
  throwIfProblems(ownershipProblems([...snapshot.deployments, ...snapshot.destinationRules], env, requester, 'close'));
  return {
    env,
    routeEdits: snapshot.virtualServices.filter((vs) => envsOf(vs).includes(env)).map(refOf).sort(byRef),
    destinationRules: snapshot.destinationRules.filter((d) => ownedBy(d, env)).map(refOf).sort(byRef),
    clones: snapshot.deployments.filter((d) => ownedBy(d, env)).map(refOf).sort(byRef),
  };
}
