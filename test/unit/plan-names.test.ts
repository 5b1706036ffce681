import { describe, expect, test } from 'vitest';
import { service } from '../../src/demo/builders.js';
import { normalizeHost, serviceFqdn, serviceUrl, servicesSelecting } from '../../src/plan/hosts.js';
import {
  BASELINE_SUBSET,
  cloneName,
  destinationRuleName,
  envsNamingClone,
  isValidLabelValue,
  labelSafe,
  leaseName,
  isRouteOf,
  ownVirtualServiceName,
  parseOwnVirtualServiceName,
  parseRouteName,
  routeName,
} from '../../src/plan/names.js';

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

describe('cloneName', () => {
  test('is <deployment>-<env> when it fits', () => {
    expect(cloneName('reviews-v3', 'pr-42')).toBe('reviews-v3-pr-42');
    const exactly63 = `${'a'.repeat(63 - 6)}-pr-42`;
    expect(exactly63).toHaveLength(63);
    expect(cloneName('a'.repeat(57), 'pr-42')).toBe(exactly63);
  });

  test('at 64 characters, shortens the name part, keeps the env, adds a stable hash', () => {
    const name = cloneName('a'.repeat(58), 'pr-42');
    expect(name).toHaveLength(63);
    expect(name).toMatch(/^a+-[0-9a-f]{8}-pr-42$/);
    expect(cloneName('a'.repeat(58), 'pr-42')).toBe(name);
    expect(name).toMatch(DNS_LABEL);
  });

  test('two long names with the same prefix never collide', () => {
    const long = 'payments-reconciliation-service-with-a-very-long-name';
    const a = cloneName(`${long}-alpha`, 'pr-1234567');
    const b = cloneName(`${long}-omega`, 'pr-1234567');
    expect(a).not.toBe(b);
    expect(a.length).toBeLessThanOrEqual(63);
    expect(b.length).toBeLessThanOrEqual(63);
  });

  test('never ends the shortened part with "-" or "." (valid DNS names)', () => {
    for (const deployment of ['abc.def-ghi.jkl-mno.pqr-stu.vwx-yz0.123-456.789-abc.def', `${'x'.repeat(20)}-${'y'.repeat(40)}`]) {
      for (const env of ['pr-1', 'pr-42', 'e'.repeat(40)]) {
        const name = cloneName(deployment, env);
        expect(name.length).toBeLessThanOrEqual(63);
        expect(name).toMatch(DNS_SUBDOMAIN);
        expect(name.endsWith(`-${env}`)).toBe(true);
      }
    }
  });

  test('envsNamingClone: every env whose clone could have the name, so one list finds a clash', () => {
    expect(envsNamingClone('web-v2-pr-1')).toEqual(['v2-pr-1', 'pr-1', '1']);
    expect(envsNamingClone(cloneName('web', 'v2-pr-1'))).toContain('v2-pr-1');
    expect(envsNamingClone(cloneName('web-v2', 'pr-1'))).toContain('pr-1');
    // Only valid label values: the list's selector would be refused otherwise.
    expect(envsNamingClone('a--b')).toEqual(['b']);
    expect(envsNamingClone('web')).toEqual([]);
    // Shortened names keep the env whole, so it is among them for any deployment and env.
    for (const deployment of ['a'.repeat(58), 'payments-reconciliation-service-with-a-very-long-name-alpha', `${'x'.repeat(20)}-${'y'.repeat(40)}`]) {
      for (const env of ['pr-1', 'repo-pr-1234567', 'e'.repeat(40), `${'a'.repeat(19)}-${'b'.repeat(20)}`]) {
        const envs = envsNamingClone(cloneName(deployment, env));
        expect(envs).toContain(env);
        for (const e of envs) expect(isValidLabelValue(e)).toBe(true);
      }
    }
  });
});

describe('route names', () => {
  test('round-trip env and origin', () => {
    expect(routeName('pr-42', 'default')).toBe('dynamic-env/pr-42/default');
    expect(parseRouteName('dynamic-env/pr-42/default')).toEqual({ env: 'pr-42', origin: 'default' });
    expect(parseRouteName('dynamic-env/pr-42/reviews.bookinfo.svc.cluster.local')).toEqual({
      env: 'pr-42',
      origin: 'reviews.bookinfo.svc.cluster.local',
    });
    expect(parseRouteName('dynamic-env/pr-42/a/b')).toEqual({ env: 'pr-42', origin: 'a/b' });
  });

  test('are exact on the env: pr-4 is never pr-42', () => {
    expect(parseRouteName('dynamic-env/pr-42/x')?.env).not.toBe('pr-4');
    expect(parseRouteName('dynamic-env/pr-4/x')?.env).toBe('pr-4');
  });

  test('other names are not ours', () => {
    for (const n of [undefined, '', 'default', 'dynamic-env', 'dynamic-env/', 'dynamic-env//x', 'dynamic-env-pr-42/x', 'x/dynamic-env/pr-42/y']) {
      expect(parseRouteName(n)).toBeNull();
    }
  });
  test('isRouteOf: the env\'s routes only', () => {
    expect(isRouteOf('dynamic-env/pr-4/default', 'pr-4')).toBe(true);
    expect(isRouteOf('dynamic-env/pr-42/default', 'pr-4')).toBe(false);
    expect(isRouteOf('dynamic-env/pr-4', 'pr-4')).toBe(false);
    expect(isRouteOf(undefined, 'pr-4')).toBe(false);
  });
});

describe('our VirtualService names', () => {
  test('round-trip the Service', () => {
    for (const s of ['reviews', 'dynamic-env-x', 'a']) expect(parseOwnVirtualServiceName(ownVirtualServiceName(s))).toBe(s);
  });

  test('other names are not ours', () => {
    for (const n of ['reviews', 'dynamic-env-', 'dynamic-env', 'x-dynamic-env-reviews']) expect(parseOwnVirtualServiceName(n)).toBeNull();
  });
});

describe('other names', () => {
  test('DestinationRule, VirtualService, Lease, baseline subset', () => {
    expect(destinationRuleName('pr-42', 'reviews')).toBe('dynamic-env-pr-42-reviews');
    expect(ownVirtualServiceName('reviews')).toBe('dynamic-env-reviews');
    expect(leaseName('pr-42')).toBe('dynamic-env-pr-42');
    expect(BASELINE_SUBSET).toBe('dynamic-env-baseline');
  });
});

describe('labelSafe', () => {
  test('owner/repo -> owner.repo', () => {
    expect(labelSafe('acme/bookinfo')).toBe('acme.bookinfo');
    expect(labelSafe('Acme-Corp/my_repo.js')).toBe('Acme-Corp.my_repo.js');
  });
  test('long or odd values become valid, distinct label values', () => {
    const long = `org/${'r'.repeat(100)}`;
    const v = labelSafe(long);
    expect(v.length).toBeLessThanOrEqual(63);
    expect(isValidLabelValue(v)).toBe(true);
    expect(labelSafe(`org/${'r'.repeat(99)}s`)).not.toBe(v);
    expect(isValidLabelValue(labelSafe('-weird value!/'))).toBe(true);
  });
});

describe('hosts', () => {
  const cd = 'cluster.local';
  test.each([
    ['reviews', 'reviews.vsns.svc.cluster.local'],
    ['reviews.bookinfo', 'reviews.bookinfo.svc.cluster.local'],
    ['reviews.bookinfo.svc', 'reviews.bookinfo.svc.cluster.local'],
    ['reviews.bookinfo.svc.cluster.local', 'reviews.bookinfo.svc.cluster.local'],
    ['Reviews.Bookinfo.svc.cluster.local.', 'reviews.bookinfo.svc.cluster.local'],
    ['api.example.com', 'api.example.com'],
    ['*.bookinfo.svc.cluster.local', '*.bookinfo.svc.cluster.local'],
    ['*', '*'],
    ['10.0.0.1', '10.0.0.1'],
  ])('normalizeHost(%j) in namespace vsns -> %j', (host, fqdn) => {
    expect(normalizeHost(host, 'vsns', cd)).toBe(fqdn);
  });

  test('serviceFqdn uses the cluster domain', () => {
    expect(serviceFqdn('reviews', 'bookinfo', 'corp.internal')).toBe('reviews.bookinfo.svc.corp.internal');
  });

  test('servicesSelecting: equality selectors; an empty or absent selector selects nothing', () => {
    const services = [
      service('reviews', { app: 'reviews' }),
      service('reviews-v1', { app: 'reviews', version: 'v1' }),
      service('headless', {}),
      service('external', undefined),
      service('ratings', { app: 'ratings' }),
    ];
    const names = servicesSelecting({ app: 'reviews', version: 'v1', team: 'x' }, services).map((s) => s.metadata.name);
    expect(names).toEqual(['reviews', 'reviews-v1']);
    expect(servicesSelecting({}, services)).toEqual([]);
  });
});

describe('serviceUrl (the curl example)', () => {
  const H = 'api.shop.svc.cluster.local';
  const svc = (ports: Record<string, unknown>[]) => ({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'api', namespace: 'shop' }, spec: { ports } }) as any;
  test.each([
    ['port 80 is left out', [{ name: 'http', port: 80 }], `http://${H}/`],
    ['another port is kept', [{ name: 'http', port: 9080 }], `http://${H}:9080/`],
    ['the HTTP port wins over the first one', [{ name: 'metrics', port: 9090 }, { name: 'http-web', port: 8080 }], `http://${H}:8080/`],
    ['appProtocol counts before the name', [{ name: 'tcp-a', port: 7000 }, { name: 'b', appProtocol: 'http', port: 7001 }], `http://${H}:7001/`],
    ['grpc is HTTP too', [{ name: 'grpc', port: 50051 }], `http://${H}:50051/`],
    ['https only: https, 443 left out', [{ name: 'https', port: 443 }], `https://${H}/`],
    ['no name: the first port', [{ port: 3000 }, { port: 3001 }], `http://${H}:3000/`],
    ['no ports', [], `http://${H}/`],
  ])('%s', (_name, ports, url) => {
    expect(serviceUrl(H, svc(ports))).toBe(url);
  });
});
