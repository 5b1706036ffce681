// Images per pull request: the reference grammar, placeholders, `images` lines, and how they merge into the EnvSpec.

import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { parseConfigText } from '../../src/config/file.js';
import { branchTag, fillImage, imageReferenceProblem, imageTemplateProblem, parseImageLines, placeholderValues } from '../../src/config/images.js';
import { resolveEnvSpec, type ImageOverrides } from '../../src/config/spec.js';
import { thrownError } from './fixtures/errors.js';

const config = (text: string) => parseConfigText(text, 'c.yaml');
const SHA = '4b825dc642cb6eb9a060e54bf8d69288fbee4904';

describe('imageReferenceProblem: the distribution/reference grammar', () => {
  test.each([
    'nginx',
    'nginx:1.27',
    'library/nginx:latest',
    'ghcr.io/acme/reviews:pr-42',
    'localhost:5000/team/app:v1',
    'registry.example.com:443/a/b/c:feature-Login_2.x',
    `ghcr.io/acme/app@sha256:${'a'.repeat(64)}`,
    `ghcr.io/acme/app:v1@sha256:${'a'.repeat(64)}`,
    'a__b/c--d/e.f:_tag',
    `ghcr.io/acme/app:${'t'.repeat(128)}`,
  ])('valid: %s', (ref) => {
    expect(imageReferenceProblem(ref)).toBeNull();
  });

  test.each([
    ['', /is empty/],
    ['ghcr.io/acme/app :1', /must not contain whitespace/],
    ['ghcr.io/Acme/app:1', /the repository must be lower case, got "Acme"/],
    ['ghcr.io/acme/app:-1', /the tag "-1" must start with a letter, digit or "_"/],
    ['ghcr.io/acme/app:.x', /the tag ".x" must start/],
    [`ghcr.io/acme/app:${'t'.repeat(129)}`, /the tag must be at most 128 characters, got 129/],
    ['ghcr.io/acme/app:feature/x', /not a valid image reference/],
    ['ghcr.io/acme/app@sha256:xyz', /the digest after "@" must be algorithm:hex/],
    ['ghcr.io/acme/-app:1', /the repository part "-app" must be lowercase letters and digits/],
    ['ghcr.io//app', /the repository part "" must be/],
    [`ghcr.io/${'a'.repeat(250)}:1`, /the repository name \(registry and path\) must be at most 255 characters, got 258/],
  ])('invalid: %j', (ref, message) => {
    expect(imageReferenceProblem(ref)).toMatch(message);
  });
});

describe('placeholders', () => {
  test('known placeholders are checked with sample values; unknown ones are named, with a likely correction', () => {
    expect(imageTemplateProblem('ghcr.io/acme/web:{sha}')).toBeNull();
    expect(imageTemplateProblem('ghcr.io/acme/{env}/web:pr-{pr}-{short-sha}')).toBeNull();
    expect(imageTemplateProblem('ghcr.io/acme/web:{branch}')).toBeNull();
    expect(imageTemplateProblem('ghcr.io/acme/web:{shortsha}')).toMatch(/^unknown placeholder \{shortsha\} in "ghcr.io\/acme\/web:\{shortsha\}"; did you mean \{short-sha\}\? the placeholders are \{sha\}, \{short-sha\}, \{pr\}, \{env\} or \{branch\}$/);
    expect(imageTemplateProblem('ghcr.io/acme/web:{}')).toMatch(/^unknown placeholder \{\}/);
    // The rest of the reference is checked too: an upper-case repository is wrong whatever the values.
    expect(imageTemplateProblem('ghcr.io/Acme/web:{sha}')).toMatch(/the repository must be lower case/);
  });

  test('fillImage fills every occurrence, or lists the placeholders without a value', () => {
    const values = placeholderValues({ sha: SHA, pr: 42, env: 'pr-42', branch: 'feature/Login' });
    expect(values).toEqual({ sha: SHA, 'short-sha': '4b825dc', pr: '42', env: 'pr-42', branch: 'feature-Login' });
    expect(fillImage('r.io/{env}/web:{short-sha}-{pr}-{branch}-{short-sha}', values)).toEqual({ image: 'r.io/pr-42/web:4b825dc-42-feature-Login-4b825dc' });
    expect(fillImage('r.io/web:{sha}', {})).toEqual({ missing: ['sha'] });
    expect(fillImage('r.io/web:{branch}-{pr}-{branch}', { env: 'e' })).toEqual({ missing: ['branch', 'pr'] });
    expect(fillImage('r.io/web:1', {})).toEqual({ image: 'r.io/web:1' });
  });

  test('branchTag: a valid tag, at most 128 characters, not starting with "." or "-"', () => {
    expect(branchTag('feature/Login')).toBe('feature-Login');
    expect(branchTag('dependabot/npm_and_yarn/@types/node-22.1')).toBe('dependabot-npm_and_yarn--types-node-22.1');
    expect(branchTag('-.-x')).toBe('x');
    expect(branchTag('ümlaut')).toBe('mlaut');
    expect(branchTag('b'.repeat(300))).toHaveLength(128);
  });
});

describe('parseImageLines', () => {
  const at = (n: number) => `line ${n}`;
  test('namespace, deployment and container by the number of parts', () => {
    expect(parseImageLines(' web = r.io/web:{sha} \nshop/api=r.io/api:1\nshop/api/side=r.io/side:1\n', at)).toEqual({
      lines: [
        { deployment: 'web', image: 'r.io/web:{sha}', source: 'line 1' },
        { namespace: 'shop', deployment: 'api', image: 'r.io/api:1', source: 'line 2' },
        { namespace: 'shop', deployment: 'api', container: 'side', image: 'r.io/side:1', source: 'line 3' },
      ],
      problems: [],
    });
  });
  test('each problem names its line', () => {
    expect(parseImageLines('web\n=r.io/x:1\nweb=\nweb/=r.io/x:1\nWeb=r.io/x:1\na/b/C=r.io/x:1', at).problems).toEqual([
      expect.stringMatching(/^line 1: must be \[namespace\/\]deployment\[\/container\]=image/),
      expect.stringMatching(/^line 2: "" before "=" must be deployment/),
      expect.stringMatching(/^line 3: image is empty/),
      expect.stringMatching(/^line 4: "web\/" before "=" must be/),
      expect.stringMatching(/^line 5: deployment "Web" must be a lowercase DNS subdomain/),
      expect.stringMatching(/^line 6: container "C" must be a lowercase DNS label/),
    ]);
  });
});

describe('resolveEnvSpec: images from the config, the shorthand and images lines, with placeholders filled in', () => {
  const TWO = config(`services:
  - {namespace: shop, deployment: web, image: "ghcr.io/acme/web:{sha}"}
  - namespace: shop
    deployment: api
    containers:
      - {name: api, image: "ghcr.io/acme/api:pr-{pr}"}
      - {name: proxy, env: [{name: A, value: b}]}
workers:
  - {namespace: jobs, deployment: mailer, image: "ghcr.io/acme/mailer:{short-sha}"}
`);
  const owner = { repo: 'acme/shop', pr: 42, commit: SHA };
  const images = (o: ImageOverrides) => ({ env: 'pr-42', owner, images: { givenBy: { sha: '--commit SHA', pr: '--pr N', branch: '--branch NAME' }, ...o } });
  const imagesOf = (spec: ReturnType<typeof resolveEnvSpec>) =>
    [...spec.services, ...spec.workers].map((w) => `${w.namespace}/${w.deployment}: ${w.containers.map((c) => `${c.name ?? '-'}=${c.image ?? ''}`).join(' ')}`);
  const problems = (fn: () => unknown) => thrownError(fn).problems;

  test('config images: {sha}, {pr}, {short-sha} from the owner; {env} from the env name', () => {
    expect(imagesOf(resolveEnvSpec(TWO, { env: 'pr-42', owner }))).toEqual([
      `shop/web: -=ghcr.io/acme/web:${SHA}`,
      'shop/api: api=ghcr.io/acme/api:pr-42 proxy=',
      'jobs/mailer: -=ghcr.io/acme/mailer:4b825dc',
    ]);
  });

  test('images lines override a listed service or worker (by name alone when it is unique), and add services', () => {
    const lines = parseImageLines('web=ghcr.io/acme/web:{branch}\nshop/api/proxy=ghcr.io/acme/proxy:{pr}\nmailer=ghcr.io/acme/mailer:2\nshop/cart=ghcr.io/acme/cart:{sha}\nsearch/api/app=ghcr.io/acme/search:{env}', (n) => `line ${n}`).lines;
    const spec = resolveEnvSpec(TWO, images({ lines, branch: 'feature/Login' }));
    expect(imagesOf(spec)).toEqual([
      'shop/web: -=ghcr.io/acme/web:feature-Login',
      'shop/api: api=ghcr.io/acme/api:pr-42 proxy=ghcr.io/acme/proxy:42',
      `shop/cart: -=ghcr.io/acme/cart:${SHA}`,
      'search/api: app=ghcr.io/acme/search:pr-42',
      'jobs/mailer: -=ghcr.io/acme/mailer:2',
    ]);
    // An added Deployment is a routed service with the defaults.
    expect(spec.services[2]).toEqual({ namespace: 'shop', deployment: 'cart', replicas: 1, labels: {}, containers: [{ image: `ghcr.io/acme/cart:${SHA}` }] });
    // The config is not changed.
    expect(TWO.services[0]!.image).toBe('ghcr.io/acme/web:{sha}');
  });

  test('a namespace-less line adds a service in the config\'s one namespace, else it must name one', () => {
    const one = config('services: [{namespace: shop, deployment: web, image: "r.io/web:1"}]');
    const line = (text: string) => parseImageLines(text, (n) => `line ${n}`).lines;
    expect(resolveEnvSpec(one, images({ lines: line('cart=r.io/cart:1') })).services.map((s) => `${s.namespace}/${s.deployment}`)).toEqual(['shop/web', 'shop/cart']);
    expect(problems(() => resolveEnvSpec(TWO, images({ lines: line('cart=r.io/cart:1') })))).toEqual([
      'line 1: Deployment cart is not listed in the config, and the config uses several namespaces (shop, jobs); name its namespace to add it as a service: <namespace>/cart=<image>',
    ]);
    const twice = config('services: [{namespace: a, deployment: web, image: "r.io/web:1"}, {namespace: b, deployment: web, image: "r.io/web:1"}]');
    expect(problems(() => resolveEnvSpec(twice, images({ lines: line('web=r.io/web:2') })))).toEqual([
      'line 1: Deployment web is listed in namespaces a, b; name the namespace: <namespace>/web=<image>',
    ]);
    // Without a config file, lines alone open services when they name their namespace.
    const none = { services: [], workers: [] } as unknown as Parameters<typeof resolveEnvSpec>[0];
    expect(resolveEnvSpec(none, images({ lines: line('shop/web=r.io/web:{sha}') })).services).toHaveLength(1);
    expect(problems(() => resolveEnvSpec(none, images({ lines: line('web=r.io/web:1') })))).toEqual([
      expect.stringMatching(/^line 1: Deployment web is not listed in the config, and nothing names a namespace; name its namespace/),
      expect.stringMatching(/^services: nothing to open/),
    ]);
  });

  test('a line without a container, for a Deployment whose config names several, must name one', () => {
    const multi = config('services: [{namespace: shop, deployment: api, containers: [{name: api, image: "r.io/api:1"}, {name: proxy, image: "r.io/proxy:1"}]}]');
    const lines = parseImageLines('api=r.io/api:2', (n) => `line ${n}`).lines;
    expect(problems(() => resolveEnvSpec(multi, images({ lines })))).toEqual([
      'line 1: shop/api has overrides for containers api, proxy; name the container whose image to set: <namespace>/<deployment>/<container>=<image>',
    ]);
    // One container override that sets an image is the one a line without a container means.
    expect(imagesOf(resolveEnvSpec(TWO, images({ lines: parseImageLines('api=r.io/api:2', (n) => `line ${n}`).lines })))[1]).toBe('shop/api: api=r.io/api:2 proxy=');
  });

  test('the shorthand\'s image takes placeholders too', () => {
    const spec = resolveEnvSpec(TWO, { ...images({ shorthandField: '--image' }), deployment: { namespace: 'shop', deployment: 'web', image: 'r.io/web:{short-sha}' } });
    expect(imagesOf(spec)[0]).toBe('shop/web: -=r.io/web:4b825dc');
  });

  test('a placeholder without a value in this run names the image field and what gives it one; nothing else is resolved', () => {
    expect(problems(() => resolveEnvSpec(TWO, { env: 'pr-42', images: { givenBy: { sha: '--commit SHA', pr: '--pr N', branch: '--branch NAME' } } }))).toEqual([
      'services[0].image: {sha} has no value in this run; --commit SHA gives {sha}, or take the placeholder out of "ghcr.io/acme/web:{sha}"',
      'services[1].containers[0].image: {pr} has no value in this run; --pr N gives {pr}, or take the placeholder out of "ghcr.io/acme/api:pr-{pr}"',
      'workers[0].image: {short-sha} has no value in this run; --commit SHA gives {short-sha}, or take the placeholder out of "ghcr.io/acme/mailer:{short-sha}"',
    ]);
    const lines = parseImageLines('shop/web=r.io/web:{branch}', () => 'input "images" line 1').lines;
    expect(problems(() => resolveEnvSpec(TWO, images({ lines, givenBy: { branch: 'a pull_request event or a branch push' } })))).toEqual([
      'input "images" line 1: {branch} has no value in this run; a pull_request event or a branch push gives {branch}, or take the placeholder out of "r.io/web:{branch}"',
    ]);
    expect(problems(() => resolveEnvSpec(TWO, { env: 'e', owner, deployment: { namespace: 'shop', deployment: 'web', image: 'r.io/web:{branch}' }, images: { shorthandField: 'input "image"' } }))).toEqual([
      expect.stringMatching(/^input "image": \{branch\} has no value in this run/),
    ]);
  });

  test('an image that is no valid reference once filled in names its field and the template', () => {
    const file = config('services: [{namespace: shop, deployment: web, image: "ghcr.io/acme/{branch}:1"}]');
    expect(problems(() => resolveEnvSpec(file, images({ branch: 'Feature' })))).toEqual([
      'services[0].image: with its placeholders filled in, image "ghcr.io/acme/Feature:1" is not a valid image reference: the repository must be lower case, got "Feature"; change the image template "ghcr.io/acme/{branch}:1"',
    ]);
    // A commit given by hand that is no tag.
    expect(problems(() => resolveEnvSpec(TWO, { env: 'e', owner: { pr: 1, commit: '-abc' } }))).toContainEqual(
      expect.stringMatching(/^services\[0\]\.image: with its placeholders filled in, image "ghcr.io\/acme\/web:-abc" is not a valid image reference: the tag "-abc" must start/),
    );
  });
});

describe('config file: image placeholders', () => {
  test('an unknown placeholder is a config error at its path', () => {
    expect(thrownError(() => config('services: [{namespace: a, deployment: b, containers: [{name: c, image: "r.io/x:{tag}"}]}]')).problems).toEqual([
      expect.stringMatching(/^c\.yaml: services\[0\]\.containers\[0\]\.image: image unknown placeholder \{tag\} in "r\.io\/x:\{tag\}"; .*the placeholders are/),
    ]);
  });
});

describe('README', () => {
  test('the configuration reference example is a valid config whose every image is the PR head commit\'s ({sha})', () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const block = /```yaml\n(# yaml-language-server: \$schema=[^\n]*\n[\s\S]*?)```/.exec(readme)?.[1];
    expect(block, 'the config block of "Configuration reference"').toBeDefined();
    const spec = resolveEnvSpec(config(block!), { owner: { pr: 42, commit: SHA } });
    const images = [...spec.services, ...spec.workers].flatMap((w) => w.containers.map((c) => c.image).filter((i) => i !== undefined));
    expect(images.length).toBeGreaterThan(0);
    for (const image of images) expect(image).toMatch(new RegExp(`:${SHA}$`));
  });
});
