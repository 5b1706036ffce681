// What the CLI's cluster and planning commands run, loaded with import() once a command needs it (src/cli.ts), so
// `--help`, a usage error or `demo` start without the Kubernetes client and the engine.
export { KubeClient } from './kube/client.js';
export { openEnv, planWithAnnotations, diffPlan } from './commands/open.js';
export { closeEnv } from './commands/close.js';
export { healEnvs } from './commands/heal.js';
export { envStatus, listEnvs, listOrphans, sweepEnvs, ttlAndKeepList } from './commands/status.js';
export { reportFromPlan } from './commands/report.js';
export { renderMarkdown, renderText } from './report/render.js';
