// `plan --snapshot FILE`: a multi-document YAML dump of cluster objects (`kubectl get -o yaml` lists included) read
// as the Snapshot the planner takes, without a cluster.
import { parseAllDocuments } from 'yaml';
import { usageError } from '../errors.js';
import type { Snapshot } from '../plan/types.js';

export function parseSnapshot(text: string, source: string): Snapshot {
  const snapshot: Snapshot = { deployments: [], services: [], destinationRules: [], virtualServices: [] };
  const docs = parseAllDocuments(text);
  const objects: any[] = [];
  for (const doc of Array.isArray(docs) ? docs : [docs]) {
    if (doc.errors.length) throw usageError(`${source}: ${doc.errors[0]!.message.split('\n')[0]}`);
    const value = doc.toJS({ maxAliasCount: 100 });
    if (value == null) continue;
    if (value.kind === 'List' || value.kind?.endsWith?.('List')) objects.push(...(value.items ?? []));
    else objects.push(value);
  }
  for (const o of objects) {
    if (!o?.kind || !o.metadata?.name) throw usageError(`${source}: every document needs kind and metadata.name`);
    switch (o.kind) {
      case 'Deployment': snapshot.deployments.push(o); break;
      case 'Service': snapshot.services.push(o); break;
      case 'DestinationRule': snapshot.destinationRules.push(o); break;
      case 'VirtualService': snapshot.virtualServices.push(o); break;
      default: break; // other kinds are irrelevant to a plan
    }
  }
  return snapshot;
}
