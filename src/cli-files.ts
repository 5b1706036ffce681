// What the CLI's file-reading and -writing commands run (config files, snapshot dumps, YAML output, the demo, the
// kubeconfig command), loaded with import() apart from src/cli-engine.ts: yaml alone takes ~35 ms to load, and
// close, status and list never need it.
export { stringify as yamlStringify } from 'yaml';
export { parseSnapshot } from './kube/snapshot-file.js';
export { MIN_TOKEN_SECONDS, checkServerUrl, issueKubeconfig } from './commands/kubeconfig.js';
export { loadConfigFile, parseConfigText } from './config/file.js';
export { demoConfigText, demoSnapshot } from './demo/bookinfo.js';
