// Masking the kubeconfig input: every credential a kubeconfig can hold reaches the runner's mask before the file
// is written, and nothing public (server, CA, names) is masked, since a masked common word hides logs.
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, test, vi } from 'vitest';
import { stringify } from 'yaml';
import { kubeconfigCredentials, missingKubeconfigError, writeKubeconfig } from '../../src/config/kubeconfig.js';

const SECRETS = {
  token: 'tok-0123456789abcdef',
  keyData: 'LS0tLS1CRUdJTiBQUklWQVRFIEtFWS0tLS0tCg==',
  certData: 'LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg==',
  password: 'hunter2-password',
  execEnv: 'aws-secret-access-key-value',
  execEnv2: 'short',
  execFlagEq: 'flag-eq-secret-value',
  execFlagNext: 'flag-next-secret-value',
  execJwt: 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl',
  idToken: 'id-token-value-123',
  refreshToken: 'refresh-token-value-456',
  clientSecret: 'client-secret-value-789',
  proxyPassword: 'proxy-pass-value',
};

const PUBLIC = ['https://10.0.0.1:6443', 'Q0EtREFUQQ==', 'ci', 'aws', 'eks', 'get-token', '--cluster-name', 'prod-cluster', 'oidc'];

const config = {
  apiVersion: 'v1',
  kind: 'Config',
  'current-context': 'ci',
  clusters: [{ name: 'ci', cluster: { server: 'https://10.0.0.1:6443', 'certificate-authority-data': 'Q0EtREFUQQ==', 'proxy-url': `http://proxyuser:${SECRETS.proxyPassword}@proxy:3128` } }],
  contexts: [{ name: 'ci', context: { cluster: 'ci', user: 'token' } }],
  users: [
    { name: 'token', user: { token: SECRETS.token } },
    { name: 'cert', user: { 'client-key-data': SECRETS.keyData, 'client-certificate-data': SECRETS.certData } },
    { name: 'basic', user: { username: 'admin', password: SECRETS.password } },
    {
      name: 'exec',
      user: {
        exec: {
          apiVersion: 'client.authentication.k8s.io/v1beta1',
          command: 'aws',
          args: ['eks', 'get-token', '--cluster-name', 'prod-cluster', `--token=${SECRETS.execFlagEq}`, '--client-secret', SECRETS.execFlagNext, SECRETS.execJwt],
          env: [{ name: 'AWS_SECRET_ACCESS_KEY', value: SECRETS.execEnv }, { name: 'X', value: SECRETS.execEnv2 }],
        },
      },
    },
    {
      name: 'oidc',
      user: { 'auth-provider': { name: 'oidc', config: { 'id-token': SECRETS.idToken, 'refresh-token': SECRETS.refreshToken, 'client-secret': SECRETS.clientSecret } } },
    },
  ],
};

let dir: string | undefined;
afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

describe('kubeconfigCredentials', () => {
  test('finds every credential field and nothing public', () => {
    const found = kubeconfigCredentials(config);
    expect(found.sort()).toEqual(Object.values(SECRETS).sort());
    for (const p of PUBLIC) expect(found).not.toContain(p);
  });

  test('tolerates what is not a kubeconfig', () => {
    expect(kubeconfigCredentials(undefined)).toEqual([]);
    expect(kubeconfigCredentials({ users: 'nope', clusters: [null, { cluster: { 'proxy-url': 'not a url' } }] })).toEqual([]);
  });
});

describe('writeKubeconfig', () => {
  const forms = {
    yaml: stringify(config),
    json: JSON.stringify(config),
    base64: Buffer.from(stringify(config)).toString('base64'),
  };
  for (const [form, value] of Object.entries(forms)) {
    test(`${form}: every credential is passed to the mask before the 0600 file is written`, () => {
      dir = mkdtempSync(join(tmpdir(), 'kc-'));
      const mask = vi.fn();
      const path = writeKubeconfig(value, dir, mask);
      const masked = mask.mock.calls.map((c) => c[0] as string);
      for (const [name, secret] of Object.entries(SECRETS)) expect(masked, name).toContain(secret);
      if (form === 'base64') expect(masked).toContain(value);
      for (const p of PUBLIC) expect(masked).not.toContain(p);
      expect(statSync(path).mode & 0o777).toBe(0o600);
      expect(readFileSync(path, 'utf8')).toContain('https://10.0.0.1:6443');
    });
  }

  test('neither a kubeconfig nor base64 of one: a usage error naming the input, nothing masked from it', () => {
    dir = mkdtempSync(join(tmpdir(), 'kc-'));
    const mask = vi.fn();
    expect(() => writeKubeconfig('certainly not a kubeconfig', dir!, mask)).toThrow(/^input "kubeconfig": neither a kubeconfig/);
  });
});

test('the missing-kubeconfig error speaks the workflow\'s words and names the likely causes', () => {
  const e = missingKubeconfigError();
  expect(e.message).toMatch(/^input "kubeconfig" is empty/);
  expect(e.message).toContain('secret KUBECONFIG is not set');
  expect(e.message).toMatch(/forks and from Dependabot/);
  expect(e.message).not.toContain('--kubeconfig');
});
