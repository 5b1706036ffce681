// The pure planner's public surface. No I/O anywhere under src/plan/.
export * from './types.js';
export * from './names.js';
export * from './match.js';
export * from './hosts.js';
export * from './deployment.js';
export * from './destination-rule.js';
export * from './destination-rule-scope.js';
export * from './destination-rule-check.js';
export * from './virtual-service.js';
export * from './problems.js';
export { planOpen } from './open.js';
export { planClose } from './close.js';
