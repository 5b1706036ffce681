import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { parse } from 'yaml';
import { DynamicEnvError } from '../../src/errors.js';
import { INPUT_NAMES, parseDuration, readInputs, type InputName } from '../../src/config/inputs.js';

const read = (values: Partial<Record<InputName, string>>) => readInputs((name) => values[name] ?? '');

function problems(values: Partial<Record<InputName, string>>): string[] {
  try {
    read(values);
  } catch (error) {
    expect(error).toBeInstanceOf(DynamicEnvError);
    expect((error as DynamicEnvError).exitCode).toBe(2);
    return (error as DynamicEnvError).problems;
  }
  throw new Error('expected a usage error');
}

describe('readInputs', () => {
  test('defaults when nothing is given', () => {
    expect(read({})).toEqual({
      command: 'auto',
      baggageKey: null,
      wait: true,
      timeoutSeconds: 300,
      comment: true,
      githubDeployment: false,
      skipDrafts: false,
      dryRun: false,
      ttlFrom: 'updated',
      lockNamespace: 'default',
    });
  });

  test('values are trimmed and mapped to their fields', () => {
    const inputs = read({
      command: ' open ',
      config: '.github/dynamic-env.yml',
      'env-name': 'shop-{pr}',
      header: 'X-Override',
      'baggage-key': 'override',
      kubeconfig: '/tmp/kc',
      context: 'kind-dev',
      'github-token': 'ghs_secret',
      'environment-url': 'https://{env}.preview.acme.dev/?pr={pr}',
      label: 'preview',
      ttl: '7d',
      'lock-namespace': 'dynamic-env',
    });
    expect(inputs).toMatchObject({
      command: 'open',
      config: '.github/dynamic-env.yml',
      envName: 'shop-{pr}',
      header: 'x-override',
      baggageKey: 'override',
      kubeconfig: '/tmp/kc',
      context: 'kind-dev',
      githubToken: 'ghs_secret',
      environmentUrl: 'https://{env}.preview.acme.dev/?pr={pr}',
      label: 'preview',
      ttlSeconds: 7 * 86_400,
      lockNamespace: 'dynamic-env',
    });
  });

  test.each(['auto', 'open', 'close', 'sweep', 'status'])('command %s', (command) => {
    expect(read({ command }).command).toBe(command);
  });

  test('unknown command', () => {
    expect(problems({ command: 'deploy' })).toEqual(['input "command": must be one of auto, open, close, sweep, status, got "deploy"']);
  });

  describe('booleans: YAML 1.2 core only', () => {
    const names = ['wait', 'comment', 'github-deployment', 'skip-drafts', 'dry-run'] as const;
    const field = { wait: 'wait', comment: 'comment', 'github-deployment': 'githubDeployment', 'skip-drafts': 'skipDrafts', 'dry-run': 'dryRun' } as const;
    test.each(names)('%s accepts true/True/TRUE/false/False/FALSE', (name) => {
      for (const v of ['true', 'True', 'TRUE']) expect(read({ [name]: v })[field[name]]).toBe(true);
      for (const v of ['false', 'False', 'FALSE']) expect(read({ [name]: v })[field[name]]).toBe(false);
    });
    test.each(names)('%s refuses yes/1/on', (name) => {
      for (const v of ['yes', '1', 'on', 'tRue']) {
        expect(problems({ [name]: v })).toEqual([expect.stringMatching(new RegExp(`^input "${name}": must be true or false`))]);
      }
    });
  });

  describe('durations', () => {
    test.each([
      ['300', 300],
      ['300s', 300],
      ['5m', 300],
      ['1h30m', 5400],
      ['1h', 3600],
    ])('timeout %s = %i s', (v, seconds) => {
      expect(read({ timeout: v }).timeoutSeconds).toBe(seconds);
    });
    test.each(['5 minutes', '5x', '0', '0s', '-5', '30s5m', '7d', '1.5m'])('timeout %s is refused', (v) => {
      expect(problems({ timeout: v })).toEqual([expect.stringMatching(/^input "timeout": must be/)]);
    });
    test('ttl accepts days', () => {
      expect(read({ ttl: '2d12h' }).ttlSeconds).toBe(2 * 86_400 + 12 * 3600);
      expect(problems({ ttl: 'week' })).toEqual([expect.stringMatching(/^input "ttl": must be a duration like .*7d/)]);
    });
    test('parseDuration', () => {
      expect(parseDuration('90', 'hms')).toBe(90);
      expect(parseDuration('1d', 'hms')).toMatch(/must be a duration/);
    });
  });

  describe('shorthand: all or none', () => {
    test('namespace + deployment + image, container optional', () => {
      expect(read({ namespace: 'shop', deployment: 'web', image: 'ghcr.io/acme/web:1' }).shorthand).toEqual({
        namespace: 'shop',
        deployment: 'web',
        image: 'ghcr.io/acme/web:1',
      });
      expect(read({ namespace: 'shop', deployment: 'web', image: 'ghcr.io/acme/web:1', container: 'app' }).shorthand?.container).toBe('app');
    });
    test('deployment needs namespace and image', () => {
      expect(problems({ deployment: 'web' })).toEqual([
        'input "namespace": is required when "deployment" is set',
        'input "image": is required when "deployment" is set',
      ]);
    });
    test('namespace, container or image without deployment', () => {
      expect(problems({ namespace: 'shop', image: 'x:1', container: 'app' })).toEqual([
        'input "namespace": needs "deployment" (the shorthand is namespace + deployment + image)',
        'input "container": needs "deployment" (the shorthand is namespace + deployment + image)',
        'input "image": needs "deployment" (the shorthand is namespace + deployment + image)',
      ]);
    });
    test('names are Kubernetes names', () => {
      expect(problems({ namespace: 'Shop', deployment: 'web_1', image: 'a b', container: 'App' })).toEqual([
        expect.stringMatching(/^input "namespace": must be a Kubernetes namespace name/),
        expect.stringMatching(/^input "deployment": must be a Kubernetes Deployment name/),
        expect.stringMatching(/^input "container": must be a container name/),
        expect.stringMatching(/^input "image": image must not contain whitespace/),
      ]);
    });
    test('the image may hold placeholders; an unknown one, or a broken reference, is named', () => {
      expect(read({ namespace: 'shop', deployment: 'web', image: 'ghcr.io/acme/web:{sha}' }).shorthand?.image).toBe('ghcr.io/acme/web:{sha}');
      expect(problems({ namespace: 'shop', deployment: 'web', image: 'ghcr.io/acme/web:{tag}' })).toEqual([
        expect.stringMatching(/^input "image": image unknown placeholder \{tag\} .*the placeholders are \{sha\}, \{short-sha\}, \{pr\}, \{env\} or \{branch\}/),
      ]);
      expect(problems({ namespace: 'shop', deployment: 'web', image: 'ghcr.io/Acme/web:{sha}' })).toEqual([
        expect.stringMatching(/^input "image": image "ghcr.io\/Acme\/web:\{sha\}" is not a valid image reference: the repository must be lower case, got "Acme"/),
      ]);
    });
  });

  describe('images', () => {
    test('lines of [namespace/]deployment[/container]=image; blank lines and comments skipped', () => {
      expect(read({ images: 'web=ghcr.io/acme/web:{sha}\n\n# the API\nshop/api=ghcr.io/acme/api:pr-{pr}\nshop/api/sidecar=ghcr.io/acme/side:{short-sha}' }).images).toEqual([
        { deployment: 'web', image: 'ghcr.io/acme/web:{sha}', source: 'input "images" line 1' },
        { namespace: 'shop', deployment: 'api', image: 'ghcr.io/acme/api:pr-{pr}', source: 'input "images" line 4' },
        { namespace: 'shop', deployment: 'api', container: 'sidecar', image: 'ghcr.io/acme/side:{short-sha}', source: 'input "images" line 5' },
      ]);
      expect(read({}).images).toBeUndefined();
    });
    test('every bad line is named, with the other inputs\' problems', () => {
      expect(problems({ ttl: 'week', images: 'web ghcr.io/acme/web:1\nShop/web=x:1\na/b/c/d=x:1\nweb=ghcr.io/acme/web:{commit}\nweb=ghcr.io/acme/web:1\nweb=ghcr.io/acme/web:2' })).toEqual([
        expect.stringMatching(/^input "ttl": /),
        expect.stringMatching(/^input "images" line 1: must be \[namespace\/\]deployment\[\/container\]=image/),
        expect.stringMatching(/^input "images" line 2: namespace "Shop" must be a lowercase DNS label/),
        expect.stringMatching(/^input "images" line 3: "a\/b\/c\/d" before "=" must be deployment, namespace\/deployment or namespace\/deployment\/container/),
        expect.stringMatching(/^input "images" line 4: image unknown placeholder \{commit\}/),
        'input "images" line 6: sets the image of web again (also input "images" line 5); keep one line',
      ]);
    });
  });

  describe('ttl-from', () => {
    test('updated (default) or opened', () => {
      expect(read({ 'ttl-from': 'opened' }).ttlFrom).toBe('opened');
      expect(read({ 'ttl-from': 'updated' }).ttlFrom).toBe('updated');
      expect(problems({ 'ttl-from': 'created' })).toEqual([expect.stringMatching(/^input "ttl-from": must be updated .* or opened .*, got "created"/)]);
    });
  });

  test('env-name is a DNS label with an optional {pr}', () => {
    expect(read({ 'env-name': 'pr-{pr}' }).envName).toBe('pr-{pr}');
    expect(read({ 'env-name': 'review' }).envName).toBe('review');
    expect(problems({ 'env-name': 'PR_42' })).toEqual([expect.stringMatching(/^input "env-name": must be a lowercase DNS label/)]);
    expect(problems({ 'env-name': 'pr-{number}' })).toEqual(['input "env-name": only the placeholders {pr} and {repo} are allowed, got {number}']);
    expect(problems({ 'env-name': 'x'.repeat(60) + '{pr}' })).toEqual([expect.stringMatching(/^input "env-name": must be a lowercase DNS label of at most 40/)]);
  });

  test('header is an HTTP token, lower-cased, and not baggage', () => {
    expect(read({ header: 'X-Env' }).header).toBe('x-env');
    expect(problems({ header: 'x env' })).toEqual([expect.stringMatching(/^input "header": must be an HTTP header name/)]);
    expect(problems({ header: 'Baggage' })).toEqual([expect.stringMatching(/^input "header": must not be "baggage"/)]);
  });

  test('baggage-key: "false" and "" turn it off, otherwise a token', () => {
    expect(read({ 'baggage-key': 'false' }).baggageKey).toBeNull();
    expect(read({ 'baggage-key': '' }).baggageKey).toBeNull();
    expect(read({ 'baggage-key': 'env' }).baggageKey).toBe('env');
    expect(problems({ 'baggage-key': 'a=b' })).toEqual([expect.stringMatching(/^input "baggage-key": must be a W3C baggage key/)]);
  });

  test('environment-url: http(s) template with {env} and {pr} only', () => {
    expect(read({ 'environment-url': 'http://{env}.local' }).environmentUrl).toBe('http://{env}.local');
    expect(problems({ 'environment-url': 'https://{branch}.acme.dev' })).toEqual([
      'input "environment-url": only the placeholders {env} and {pr} are allowed, got {branch}',
    ]);
    expect(problems({ 'environment-url': 'ftp://{env}.acme.dev' })).toEqual([expect.stringMatching(/^input "environment-url": must be an http\(s\) URL/)]);
    expect(problems({ 'environment-url': 'not a url' })).toEqual([expect.stringMatching(/^input "environment-url": must be an http\(s\) URL/)]);
  });

  test('label: at most 50 characters', () => {
    expect(problems({ label: 'l'.repeat(51) })).toEqual(['input "label": must be at most 50 characters (GitHub label names)']);
  });

  test('lock-namespace is a namespace name', () => {
    expect(problems({ 'lock-namespace': 'Locks' })).toEqual([expect.stringMatching(/^input "lock-namespace": must be a Kubernetes namespace name/)]);
  });

  test('lock-hold: 0 or a duration up to 10m, in ms; absent leaves the engine\'s default', () => {
    expect(read({}).lockHoldMs).toBeUndefined();
    expect(read({ 'lock-hold': '0' }).lockHoldMs).toBe(0);
    expect(read({ 'lock-hold': '0s' }).lockHoldMs).toBe(0);
    expect(read({ 'lock-hold': '30s' }).lockHoldMs).toBe(30_000);
    expect(read({ 'lock-hold': '2m' }).lockHoldMs).toBe(120_000);
    expect(problems({ 'lock-hold': '1h' })).toEqual([expect.stringMatching(/^input "lock-hold": must be a duration like/)]);
    expect(problems({ 'lock-hold': '11m' })).toEqual(['input "lock-hold": must be at most 10m, got "11m"']);
    expect(problems({ 'lock-hold': 'soon' })).toEqual([expect.stringMatching(/^input "lock-hold": must be a duration like .*got "soon"/)]);
  });

  test('every problem is reported at once, and the token never appears in messages', () => {
    let error: DynamicEnvError | undefined;
    try {
      read({ command: 'x', wait: 'maybe', timeout: 'soon', 'github-token': 'ghp_supersecret' });
    } catch (e) {
      error = e as DynamicEnvError;
    }
    expect(error?.problems.map((p) => p.split(':')[0])).toEqual(['input "command"', 'input "wait"', 'input "timeout"']);
    expect(error?.message).not.toContain('ghp_supersecret');
  });
});

describe('one list of inputs', () => {
  test('action.yml declares exactly the inputs readInputs reads, and the README\'s inputs table lists each', () => {
    const declared = Object.keys(parse(readFileSync('action.yml', 'utf8')).inputs).sort();
    expect(declared).toEqual([...INPUT_NAMES].sort());
    const readme = readFileSync('README.md', 'utf8');
    const table = readme.slice(readme.indexOf('| input | default |'));
    // A row's first cell names one input or several (`header`, `baggage-key`).
    const firstCells = [...table.slice(0, table.indexOf('\n\n')).matchAll(/^\| ([^|]+) \|/gm)].map((m) => m[1]!);
    const rows = new Set(firstCells.flatMap((cell) => [...cell.matchAll(/`([a-z-]+)`/g)].map((m) => m[1])));
    expect(INPUT_NAMES.filter((n) => !rows.has(n))).toEqual([]);
  });
});
