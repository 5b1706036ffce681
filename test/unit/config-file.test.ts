// The config file: YAML guards, strict schema, one line per problem naming file and path.

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { loadConfigFile, MAX_CONFIG_BYTES, parseConfigText } from '../../src/config/file.js';
import { DynamicEnvError } from '../../src/errors.js';

const F = 'dynamic-env.yaml';
const MIN = 'services:\n  - {namespace: shop, deployment: api}\n';

function problems(text: string): string[] {
  try {
    parseConfigText(text, F);
  } catch (e) {
    expect(e).toBeInstanceOf(DynamicEnvError);
    expect((e as DynamicEnvError).kind).toBe('usage');
    return (e as DynamicEnvError).problems;
  }
  throw new Error('expected the config to be rejected');
}

describe('valid configs', () => {
  test('the full example from the docs parses, with defaults applied', () => {
    const config = parseConfigText(
      `env: pr-42
lockNamespace: default
clusterDomain: cluster.local
routing:
  header: X-Override
  baggageKey: override
  versionLabel: version
  pinUnsubsetRoutes: false
wait: true
timeout: 5m
services:
  - namespace: bookinfo
    deployment: reviews
    replicas: 1
    labels: {team: x}
    image: repo/reviews:pr
  - namespace: bookinfo
    deployment: ratings
    containers:
      - name: ratings
        image: ghcr.io/acme/ratings:pr-42@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
        env: [{name: FOO, value: bar}, {name: spring.profiles.active, value: "pr"}]
        command: [/bin/sh, -c]
        args: ["echo hi\\nthere"]
workers:
  - {namespace: jobs, deployment: mailer, image: "localhost:5000/mailer:pr-42"}
gitops:
  stripLabels: [app.kubernetes.io/instance]
  stripAnnotations: []
`,
      F,
    );
    expect(config.routing?.header).toBe('x-override');
    expect(config.services[0]).toEqual({ namespace: 'bookinfo', deployment: 'reviews', replicas: 1, labels: { team: 'x' }, image: 'repo/reviews:pr' });
    expect(config.services[1]!.replicas).toBe(1);
    expect(config.workers).toHaveLength(1);
    expect(config.gitops).toEqual({ stripLabels: ['app.kubernetes.io/instance'], stripAnnotations: [] });
  });

  test('baggageKey: false, timeout as seconds, workers only', () => {
    const config = parseConfigText('routing: {baggageKey: false}\ntimeout: 90\nworkers: [{namespace: a, deployment: b}]\n', F);
    expect(config.routing?.baggageKey).toBe(false);
    expect(config.timeout).toBe(90);
    expect(config.services).toEqual([]);
  });
});

describe('strict schema: unknown keys name their path', () => {
  test('at every level, with a likely correction', () => {
    const p = problems(`${MIN}routng: {}\nrouting: {hedaer: x}\ngitops: {labels: []}\nservices:\n  - namespace: a\n    deploymnet: b\n    deployment: c\n    containers: [{image: x, envs: []}]\n`.replace(MIN, ''));
    expect(p).toContain(`${F}: routng: unknown key; did you mean "routing"? allowed keys here: env, lockNamespace, clusterDomain, istioRootNamespace, routing, wait, timeout, services, workers, gitops`);
    expect(p).toContainEqual(expect.stringMatching(/^dynamic-env\.yaml: routing\.hedaer: unknown key; did you mean "header"\?/));
    expect(p).toContainEqual(expect.stringMatching(/^dynamic-env\.yaml: gitops\.labels: unknown key; allowed keys here: stripLabels, stripAnnotations$/));
    expect(p).toContainEqual(expect.stringMatching(/^dynamic-env\.yaml: services\[0\]\.deploymnet: unknown key; did you mean "deployment"\?/));
    expect(p).toContainEqual(expect.stringMatching(/^dynamic-env\.yaml: services\[0\]\.containers\[0\]\.envs: unknown key; did you mean "env"\?/));
  });
});

describe('field validation', () => {
  const cases: [name: string, yaml: string, path: string, text: RegExp][] = [
    ['env name not a DNS label', `env: PR_42\n${MIN}`, 'env', /lowercase DNS label/],
    ['env name too long', `env: ${'a'.repeat(41)}\n${MIN}`, 'env', /at most 40/],
    ['env name reserved', `env: dynamic-env-baseline\n${MIN}`, 'env', /reserved/],
    ['lockNamespace', `lockNamespace: Default\n${MIN}`, 'lockNamespace', /DNS label/],
    ['clusterDomain', `clusterDomain: "cluster..local"\n${MIN}`, 'clusterDomain', /DNS subdomain/],
    ['istioRootNamespace', `istioRootNamespace: Istio_System\n${MIN}`, 'istioRootNamespace', /DNS label/],
    ['header baggage', `routing: {header: Baggage}\n${MIN}`, 'routing.header', /must not be "baggage"/],
    ['header pseudo', `routing: {header: ":authority"}\n${MIN}`, 'routing.header', /pseudo-header/],
    ['header not a token', `routing: {header: "x override"}\n${MIN}`, 'routing.header', /HTTP header name/],
    ['baggageKey true', `routing: {baggageKey: true}\n${MIN}`, 'routing.baggageKey', /or false/],
    ['baggageKey not a token', `routing: {baggageKey: "a=b"}\n${MIN}`, 'routing.baggageKey', /W3C baggage key/],
    ['versionLabel invalid', `routing: {versionLabel: "-v"}\n${MIN}`, 'routing.versionLabel', /prefix\/\]name/],
    ['versionLabel reserved', `routing: {versionLabel: dynamic-env.io/env}\n${MIN}`, 'routing.versionLabel', /dynamic-env's own labels/],
    ['pinUnsubsetRoutes', `routing: {pinUnsubsetRoutes: "yes"}\n${MIN}`, 'routing.pinUnsubsetRoutes', /true or false/],
    ['wait', `wait: maybe\n${MIN}`, 'wait', /true or false/],
    ['timeout unit', `timeout: 5 minutes\n${MIN}`, 'timeout', /duration like/],
    ['timeout zero', `timeout: 0\n${MIN}`, 'timeout', /greater than zero/],
    ['timeout too long', `timeout: 48h\n${MIN}`, 'timeout', /at most 24h/],
    ['namespace', 'services: [{namespace: Shop, deployment: api}]', 'services[0].namespace', /DNS label/],
    ['deployment', 'services: [{namespace: shop, deployment: "api_v1"}]', 'services[0].deployment', /DNS subdomain/],
    ['missing deployment', 'services: [{namespace: shop}]', 'services[0].deployment', /is required/],
    ['replicas zero', 'services: [{namespace: a, deployment: b, replicas: 0}]', 'services[0].replicas', /at least 1/],
    ['replicas too many', 'services: [{namespace: a, deployment: b, replicas: 51}]', 'services[0].replicas', /at most 50/],
    ['replicas fraction', 'services: [{namespace: a, deployment: b, replicas: 1.5}]', 'services[0].replicas', /whole number/],
    ['label key', 'services: [{namespace: a, deployment: b, labels: {"bad key": x}}]', 'services[0].labels["bad key"]', /prefix\/\]name/],
    ['label value', 'services: [{namespace: a, deployment: b, labels: {team: "a b"}}]', 'services[0].labels.team', /label value/],
    ['label value number', 'services: [{namespace: a, deployment: b, labels: {team: 1}}]', 'services[0].labels.team', /quote it/],
    ['version label', 'services: [{namespace: a, deployment: b, labels: {version: x}}]', 'services[0].labels.version', /version label/],
    ['custom version label', 'routing: {versionLabel: track}\nservices: [{namespace: a, deployment: b, labels: {track: x}}]', 'services[0].labels.track', /version label "track"/],
    ['own label', 'services: [{namespace: a, deployment: b, labels: {"dynamic-env.io/env": x}}]', 'services[0].labels["dynamic-env.io/env"]', /dynamic-env's own/],
    ['managed-by label', 'services: [{namespace: a, deployment: b, labels: {"app.kubernetes.io/managed-by": x}}]', 'services[0].labels["app.kubernetes.io/managed-by"]', /dynamic-env's own/],
    ['image and containers', 'services: [{namespace: a, deployment: b, image: x, containers: [{image: y}]}]', 'services[0].image', /not both/],
    ['empty image', 'services: [{namespace: a, deployment: b, image: ""}]', 'services[0].image', /must not be empty/],
    ['image whitespace', 'services: [{namespace: a, deployment: b, image: "repo/app:pr 42"}]', 'services[0].image', /whitespace/],
    ['image uppercase', 'services: [{namespace: a, deployment: b, image: "Repo/App:pr"}]', 'services[0].image', /not a valid image reference/],
    ['image bad tag', 'services: [{namespace: a, deployment: b, image: "repo/app:-x"}]', 'services[0].image', /not a valid image reference/],
    ['container name', 'services: [{namespace: a, deployment: b, containers: [{name: App, image: x}]}]', 'services[0].containers[0].name', /DNS label/],
    ['container does nothing', 'services: [{namespace: a, deployment: b, containers: [{name: app}]}]', 'services[0].containers[0]', /changes nothing/],
    ['duplicate container', 'services: [{namespace: a, deployment: b, containers: [{name: app, image: x}, {name: app, image: y}]}]', 'services[0].containers[1].name', /listed twice/],
    ['two unnamed containers', 'services: [{namespace: a, deployment: b, containers: [{image: x}, {image: y}]}]', 'services[0].containers[1]', /without a name/],
    ['env var name', 'services: [{namespace: a, deployment: b, containers: [{env: [{name: "1X", value: v}]}]}]', 'services[0].containers[0].env[0].name', /env var name/],
    ['env var multi-line', 'services: [{namespace: a, deployment: b, containers: [{env: [{name: X, value: "a\\nb"}]}]}]', 'services[0].containers[0].env[0].value', /ConfigMap or Secret/],
    ['env var control char', 'services: [{namespace: a, deployment: b, containers: [{env: [{name: X, value: "a\\u0007"}]}]}]', 'services[0].containers[0].env[0].value', /control characters/],
    ['env var number', 'services: [{namespace: a, deployment: b, containers: [{env: [{name: PORT, value: 8080}]}]}]', 'services[0].containers[0].env[0].value', /got number 8080; quote it/],
    ['command not strings', 'services: [{namespace: a, deployment: b, containers: [{command: run}]}]', 'services[0].containers[0].command', /must be a list/],
    ['gitops key', 'gitops: {stripLabels: ["not valid!"]}\n' + MIN, 'gitops.stripLabels[0]', /prefix\/\]name/],
    ['no workloads', 'env: pr-1\n', 'services', /at least one Deployment/],
    ['duplicate deployment', 'services: [{namespace: a, deployment: b}]\nworkers: [{namespace: a, deployment: b}]', 'workers[0]', /listed twice \(also at services\[0\]\)/],
  ];
  test.each(cases)('%s', (_name, yaml, path, text) => {
    const p = problems(yaml);
    const line = p.find((l) => l.startsWith(`${F}: ${path}: `));
    expect(line, `no problem at ${path} in:\n${p.join('\n')}`).toBeDefined();
    expect(line).toMatch(text);
  });

  test('all problems are reported at once', () => {
    const p = problems('env: X\nservices: [{namespace: A, deployment: b, replicas: 0, labels: {version: x}}]\ntimeout: soon\n');
    expect(p.map((l) => l.split(': ')[1])).toEqual(
      expect.arrayContaining(['env', 'services[0].namespace', 'services[0].replicas', 'services[0].labels.version', 'timeout']),
    );
  });
});

describe('YAML guards', () => {
  test('duplicate keys are errors with line and column', () => {
    expect(problems('services: []\nenv: a\nenv: b\n')).toEqual([`${F}: line 3, column 1: duplicate key; each key may appear once per mapping`]);
  });

  test('syntax errors name line and column', () => {
    const p = problems('services:\n  - namespace: a\n    deployment: [b\n');
    expect(p[0]).toMatch(/^dynamic-env\.yaml: line \d+, column \d+: /);
  });

  test('one document only', () => {
    expect(problems(`${MIN}---\n${MIN}`)[0]).toMatch(/line 3, column 1: the file holds 2 YAML documents/);
  });

  test('empty file, and a top level that is not a mapping', () => {
    expect(problems('')[0]).toMatch(/the file is empty/);
    expect(problems('# only a comment\n')[0]).toMatch(/the file is empty/);
    expect(problems('- a\n- b\n')[0]).toMatch(/top level must be a mapping/);
    expect(problems('just text\n')[0]).toMatch(/top level must be a mapping/);
  });

  test('a billion-laughs document fails fast with a clear message', () => {
    const levels = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
    for (let i = 1; i <= 9; i++) {
      const prev = String.fromCharCode(96 + i);
      const cur = String.fromCharCode(97 + i);
      levels.push(`${cur}: &${cur} [${new Array(9).fill(`*${prev}`).join(',')}]`);
    }
    const start = performance.now();
    const p = problems(`${levels.join('\n')}\n`);
    expect(performance.now() - start).toBeLessThan(2000);
    expect(p).toEqual([expect.stringMatching(/^dynamic-env\.yaml: too many YAML alias expansions/)]);
  });

  test('a few aliases are fine', () => {
    const config = parseConfigText('services:\n  - &svc {namespace: a, deployment: b, labels: &l {team: x}}\n  - {namespace: a, deployment: c, labels: *l}\n', F);
    expect(config.services[1]!.labels).toEqual({ team: 'x' });
  });

  test('more than 1 MiB is refused before parsing', () => {
    const text = `# ${'x'.repeat(MAX_CONFIG_BYTES)}\n${MIN}`;
    expect(problems(text)).toEqual([expect.stringMatching(/^dynamic-env\.yaml: the file is 1\.0 MiB \(\d+ bytes\), more than the 1 MiB limit/)]);
  });
});

describe('loadConfigFile', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'dynamic-env-config-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('reads a file; errors name the path', async () => {
    const path = join(dir, 'ok.yaml');
    await writeFile(path, MIN);
    expect((await loadConfigFile(path)).services).toHaveLength(1);
    const bad = join(dir, 'bad.yaml');
    await writeFile(bad, 'services: [{namespace: a, deployment: b, replica: 2}]\n');
    await expect(loadConfigFile(bad)).rejects.toThrow(`${bad}: services[0].replica: unknown key; did you mean "replicas"?`);
  });

  test('a missing file, a directory, and a too-large file are usage errors', async () => {
    await expect(loadConfigFile(join(dir, 'nope.yaml'))).rejects.toMatchObject({ kind: 'usage', message: expect.stringMatching(/config file not found/) });
    await expect(loadConfigFile(dir)).rejects.toMatchObject({ kind: 'usage', message: expect.stringMatching(/is not a file/) });
    const big = join(dir, 'big.yaml');
    await writeFile(big, Buffer.alloc(MAX_CONFIG_BYTES + 1, 0x20));
    await expect(loadConfigFile(big)).rejects.toMatchObject({ kind: 'usage', message: expect.stringMatching(/more than the 1 MiB limit/) });
  });
});
