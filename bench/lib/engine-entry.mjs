// What the bench runs in its own process (bundled by engine.mjs into bench/out/engine.mjs): the engine's open and
// close, the sweep, and what the CLI builds their options from.
export { openEnv } from '../../src/commands/open.ts';
export { closeEnv } from '../../src/commands/close.ts';
export { sweepEnvs, SWEEP_CONCURRENCY } from '../../src/commands/status.ts';
export { KubeClient } from '../../src/kube/client.ts';
export { parseConfigText } from '../../src/config/file.ts';
export { resolveEnvSpec, resolveRunOptions } from '../../src/config/spec.ts';
