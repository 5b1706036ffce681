// Starts the test control plane by hand and keeps it running until Ctrl-C; prints where to reach it.
//   npx tsx test/harness/start.ts
import { startControlPlane } from './control-plane.js';

const plane = await startControlPlane();
process.stdout.write(`export KUBECONFIG=${plane.adminKubeconfig}\n# service account: ${plane.serviceAccountKubeconfig}\n# audit log: ${plane.auditLog}\n# logs: ${plane.dir}\n# istiod: ADS ${plane.istiod.grpcAddr}, debug http://${plane.istiod.httpAddr}/debug; pose a proxy: ${plane.istiod.bin}/xds-probe --addr=${plane.istiod.grpcAddr} --namespace=<ns> --labels='{"app":"x"}'\n`);
const stop = async () => { await plane.stop(); process.exit(0); };
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
