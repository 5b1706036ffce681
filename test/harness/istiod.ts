// istiod in the test control plane: the real pilot-discovery, built from the istio.io/istio module (build-istio.sh),
// started against the test API server on loopback, with its validating webhook registered for every Istio write
// (failurePolicy Fail, as a real install has it). Routing tests read what istiod generates for posed proxies
// (test/harness/proxy.ts); istiod itself never runs a proxy.
import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { applyObject, request, type Endpoint } from './http.js';

export interface IstiodInfo {
  /** Plaintext ADS, for posed proxies. */
  grpcAddr: string;
  /** Debug and readiness endpoints (/ready, /debug/configz). */
  httpAddr: string;
  /** Monitoring (Prometheus metrics: galley_validation_passed/_failed). */
  monitoringAddr: string;
  version: string;
  /** Where pilot-discovery and xds-probe are. */
  bin: string;
}

export interface IstiodOptions {
  bin: string;
  dir: string;
  admin: Endpoint;
  kubeconfig: string;
  ca: string;
  servingCert: string;
  servingKey: string;
  caCert: string;
  ports: { http: number; https: number; grpc: number; secureGrpc: number; monitoring: number };
  version: string;
  /** Records the child so the control plane stops (and reaps) it with the others. */
  track: (child: ChildProcess) => void;
}

const meshConfig = `rootNamespace: istio-system
trustDomain: cluster.local
enableAutoMtls: true
defaultConfig:
  discoveryAddress: 127.0.0.1:15012
`;

const ISTIO_GROUPS = ['networking.istio.io', 'security.istio.io', 'telemetry.istio.io'];

/** Starts istiod, waits until it is ready, and registers its validating webhook. */
export async function startIstiod(o: IstiodOptions): Promise<{ info: IstiodInfo; child: ChildProcess }> {
  await applyObject(o.admin, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'istio-system' } });
  const meshFile = join(o.dir, 'istiod-mesh.yaml');
  writeFileSync(meshFile, meshConfig);
  const a = (p: number) => `127.0.0.1:${p}`;
  const out = openSync(join(o.dir, 'istiod.log'), 'a');
  const child = spawn(join(o.bin, 'pilot-discovery'), [
    'discovery', `--kubeconfig=${o.kubeconfig}`, `--meshConfig=${meshFile}`,
    `--networksConfig=${join(o.dir, 'istiod-networks.yaml')}`, // absent on purpose: no multi-network
    `--httpAddr=${a(o.ports.http)}`, `--httpsAddr=${a(o.ports.https)}`, `--grpcAddr=${a(o.ports.grpc)}`,
    `--secureGRPCAddr=${a(o.ports.secureGrpc)}`, `--monitoringAddr=${a(o.ports.monitoring)}`,
    '--domain=cluster.local', '--clusterID=Kubernetes', '--keepaliveMaxServerConnectionAge=30m',
    `--tlsCertFile=${o.servingCert}`, `--tlsKeyFile=${o.servingKey}`, `--caCertFile=${o.caCert}`,
    '--log_output_level=default:warn',
  ], {
    stdio: ['ignore', out, out],
    env: {
      PATH: process.env.PATH ?? '',
      POD_NAMESPACE: 'istio-system', POD_NAME: 'istiod-test', REVISION: 'default',
      ENABLE_CA_SERVER: 'false', PILOT_ENABLE_ANALYSIS: 'false', PILOT_ENABLE_STATUS: 'false',
      // Empty names keep istiod from patching webhook configurations of its own; ours is registered below.
      INJECTION_WEBHOOK_CONFIG_NAME: '', VALIDATION_WEBHOOK_CONFIG_NAME: '',
    },
  });
  o.track(child);
  const http = `http://${a(o.ports.http)}`;
  const deadline = Date.now() + 90_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`istiod exited during start (code ${child.exitCode}, signal ${child.signalCode}); its log: ${join(o.dir, 'istiod.log')}`);
    }
    const ok = await fetch(`${http}/ready`).then((r) => r.ok, () => false);
    if (ok) break;
    if (Date.now() > deadline) throw new Error(`istiod not ready after 90 s; its log: ${join(o.dir, 'istiod.log')}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  await registerValidation(o.admin, o.ca, o.ports.https);
  return {
    child,
    info: { grpcAddr: a(o.ports.grpc), httpAddr: a(o.ports.http), monitoringAddr: a(o.ports.monitoring), version: o.version, bin: o.bin },
  };
}

/**
 * istiod's validating webhook for every Istio group, `failurePolicy: Fail` as in a real install: an object istiod
 * refuses is refused by the API server. Proven live before returning: an invalid VirtualService must be denied.
 */
async function registerValidation(admin: Endpoint, ca: string, httpsPort: number): Promise<void> {
  await applyObject(admin, {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'ValidatingWebhookConfiguration',
    metadata: { name: 'istio-validator-dynamic-env-test' },
    webhooks: [{
      name: 'validation.istio.io',
      clientConfig: { url: `https://127.0.0.1:${httpsPort}/validate`, caBundle: Buffer.from(ca).toString('base64') },
      rules: [{
        operations: ['CREATE', 'UPDATE'], apiGroups: ISTIO_GROUPS, apiVersions: ['*'], resources: ['*'], scope: '*',
      }],
      failurePolicy: 'Fail',
      sideEffects: 'None',
      admissionReviewVersions: ['v1'],
      timeoutSeconds: 10,
    }],
  });
  const probe = {
    apiVersion: 'networking.istio.io/v1', kind: 'VirtualService',
    metadata: { name: 'webhook-probe', namespace: 'istio-system' },
    // Passes the CRD schema; istiod refuses it (look-ahead is not RE2).
    spec: { hosts: ['probe.invalid'], http: [{ match: [{ uri: { regex: '(?=x)' } }], route: [{ destination: { host: 'probe.invalid' } }] }] },
  };
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      await request(admin, 'POST', '/apis/networking.istio.io/v1/namespaces/istio-system/virtualservices?dryRun=All', probe);
    } catch (e) {
      if (/admission webhook "validation.istio.io" denied/.test(String(e))) return;
    }
    if (Date.now() > deadline) throw new Error('istiod\'s validating webhook is not enforcing: an invalid VirtualService was not denied within 30 s');
    await new Promise((r) => setTimeout(r, 250));
  }
}
