// planClose: what to remove for an env, found from labels and route names alone (docs/DESIGN.md).

import { isManaged } from './deployment.js';
import { ENV_LABEL } from './names.js';
import type { ClosePlan, KubeObject, ObjectRef, Snapshot } from './types.js';
import { envsOf } from './virtual-service.js';

const refOf = (o: KubeObject): ObjectRef => ({ name: o.metadata.name, namespace: o.metadata.namespace ?? '' });
const byRef = (a: ObjectRef, b: ObjectRef): number => {
  const ka = `${a.namespace}/${a.name}`;
  const kb = `${b.namespace}/${b.name}`;
  return ka < kb ? -1 : ka > kb ? 1 : 0;
};
const ownedBy = (o: KubeObject, env: string): boolean =>
  isManaged(o.metadata.labels) && o.metadata.labels?.[ENV_LABEL] === env;

/** Plans closing `env`: its routes in any VirtualService (ours included), its DestinationRules and clones. */
export function planClose(snapshot: Snapshot, env: string): ClosePlan {
  return {
    env,
    routeEdits: snapshot.virtualServices.filter((vs) => envsOf(vs).includes(env)).map(refOf).sort(byRef),
    destinationRules: snapshot.destinationRules.filter((d) => ownedBy(d, env)).map(refOf).sort(byRef),
    clones: snapshot.deployments.filter((d) => ownedBy(d, env)).map(refOf).sort(byRef),
  };
}
