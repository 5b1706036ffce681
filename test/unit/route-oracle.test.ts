// The route oracle against hand-written Envoy configurations (the JSON shape the xDS probe prints: protojson with
// proto field names) whose outcome Envoy's API docs and source fix. Every case asserts the exact outcome.

import { describe, expect, test } from 'vitest';
import {
  describeOutcome,
  missingClusters,
  OracleConfigError,
  routeRequest,
  type OracleRequest,
  type RouteOutcome,
  type XdsSnapshot,
} from '../harness/oracle/route-oracle.js';

// ---- fixture builders ----

const HCM_TYPE = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
const TCP_TYPE = 'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy';

const hcm = (routeName: string, extra: object = {}) => ({
  name: 'envoy.filters.network.http_connection_manager',
  typed_config: { '@type': HCM_TYPE, stat_prefix: 'outbound', rds: { config_source: { ads: {} }, route_config_name: routeName }, ...extra },
});
const tcpProxy = (cluster: string) => ({ name: 'envoy.filters.network.tcp_proxy', typed_config: { '@type': TCP_TYPE, stat_prefix: cluster, cluster } });
const chain = (filters: object[], filter_chain_match?: object, name?: string) => ({ ...(name ? { name } : {}), ...(filter_chain_match ? { filter_chain_match } : {}), filters });

/** Istio's shape for a sniffed outbound port: an HTTP chain for plaintext HTTP, TCP passthrough otherwise. */
const httpChain = (routeName: string, hcmExtra: object = {}) =>
  chain([hcm(routeName, hcmExtra)], { transport_protocol: 'raw_buffer', application_protocols: ['http/1.1', 'h2c'] });
const listener = (port: number, chains: object[], address = '0.0.0.0', extra: object = {}) => ({
  name: `${address}_${port}`,
  address: { socket_address: { address, port_value: port } },
  filter_chains: chains,
  default_filter_chain: chain([tcpProxy('PassthroughCluster')], undefined, 'PassthroughFilterChain'),
  ...extra,
});
const httpListener = (port: number, routeName = String(port), hcmExtra: object = {}) => listener(port, [httpChain(routeName, hcmExtra)]);

const routeConfig = (name: string, virtual_hosts: object[], extra: object = {}) => ({ name, virtual_hosts, validate_clusters: false, ignore_port_in_host_matching: true, ...extra });
const vhost = (name: string, domains: string[], routes: object[], extra: object = {}) => ({ name, domains, routes, ...extra });
const route = (name: string | undefined, match: object, action: object = toCluster(`${name}-cluster`)) => ({ ...(name ? { name } : {}), match, ...action });
const toCluster = (cluster: string) => ({ route: { cluster, timeout: '0s' } });
const catchAll = { prefix: '/' };

const edsCluster = (name: string, serviceName: string | undefined = name) => ({
  name,
  type: 'EDS',
  eds_cluster_config: { eds_config: { ads: {}, resource_api_version: 'V3' }, ...(serviceName !== undefined ? { service_name: serviceName } : {}) },
});
const lbEndpoint = (address: string, health_status = 'HEALTHY') => {
  const [ip, port] = [address.slice(0, address.lastIndexOf(':')), address.slice(address.lastIndexOf(':') + 1)];
  return { endpoint: { address: { socket_address: { address: ip, port_value: Number(port) } } }, health_status };
};
const assignment = (cluster_name: string, addresses: string[]) => ({ cluster_name, endpoints: [{ lb_endpoints: addresses.map((a) => lbEndpoint(a)) }] });

function snapshot(parts: Partial<XdsSnapshot>): XdsSnapshot {
  return { listeners: [], routes: [], clusters: [], endpoints: [], ...parts };
}

/** One listener on 9080, one route configuration "9080" with the given virtual hosts. */
const oneRouteConfig = (vhosts: object[], rcExtra: object = {}, clusters: object[] = []): XdsSnapshot =>
  snapshot({ listeners: [httpListener(9080)], routes: [routeConfig('9080', vhosts, rcExtra)], clusters });

const req = (extra: Partial<OracleRequest> = {}): OracleRequest => ({ authority: 'svc', port: 9080, ...extra });

// ---- the mesh-like case end to end ----

const REVIEWS = 'reviews.bookinfo.svc.cluster.local';
const ENV_CLUSTER = `outbound|9080|pr-42|${REVIEWS}`;
const BASE_CLUSTER = `outbound|9080||${REVIEWS}`;
const COMMA_LIST = (env: string) => `(?:.*,)?[ \\t]*${env}[ \\t]*(?:,.*)?`;

function bookinfo(): XdsSnapshot {
  const reviews = vhost(`${REVIEWS}:9080`, [REVIEWS, 'reviews', 'reviews.bookinfo', 'reviews.bookinfo.svc', '10.96.0.12'], [
    route('dynamic-env/pr-42', { prefix: '/', case_sensitive: true, headers: [{ name: 'x-override', string_match: { safe_regex: { regex: COMMA_LIST('pr-42') } } }] }, toCluster(ENV_CLUSTER)),
    route('default', { prefix: '/' }, toCluster(BASE_CLUSTER)),
  ]);
  const allowAny = vhost('allow_any', ['*'], [route('allow_any', catchAll, toCluster('PassthroughCluster'))]);
  return snapshot({
    listeners: [httpListener(9080), listener(15001, [], '0.0.0.0', { name: 'virtualOutbound' })],
    routes: [routeConfig('9080', [reviews, allowAny])],
    clusters: [edsCluster(ENV_CLUSTER), edsCluster(BASE_CLUSTER), { name: 'PassthroughCluster', type: 'ORIGINAL_DST' }, { name: 'BlackHoleCluster' }],
    endpoints: [assignment(ENV_CLUSTER, ['10.1.0.9:9080']), assignment(BASE_CLUSTER, ['10.1.0.7:9080', '10.1.0.10:9080', '10.1.0.9:9080'])],
  });
}

describe('end to end, in the shape istiod serves a sidecar', () => {
  test('the env header reaches the env subset and exactly its endpoints', () => {
    const o = routeRequest(bookinfo(), { authority: 'reviews.bookinfo:9080', port: 9080, headers: { 'x-override': 'pr-42' } });
    expect(o).toEqual<RouteOutcome>({
      kind: 'cluster',
      listener: '0.0.0.0_9080',
      routeConfig: '9080',
      virtualHost: `${REVIEWS}:9080`,
      route: 'dynamic-env/pr-42',
      clusters: [{ name: ENV_CLUSTER, weight: 100, exists: true, endpoints: ['10.1.0.9:9080'], unhealthyEndpoints: [], loadAssignment: true, type: 'EDS', subset: 'pr-42', host: REVIEWS }],
    });
  });

  test('without the header: the default route, all endpoints sorted as strings', () => {
    const o = routeRequest(bookinfo(), { authority: 'reviews.bookinfo:9080', port: 9080 });
    expect(o.route).toBe('default');
    expect(o.clusters).toEqual([expect.objectContaining({ name: BASE_CLUSTER, subset: null, host: REVIEWS, endpoints: ['10.1.0.10:9080', '10.1.0.7:9080', '10.1.0.9:9080'] })]);
  });

  test('an unknown host goes to the allow_any virtual host and PassthroughCluster (ORIGINAL_DST: no load assignment)', () => {
    const o = routeRequest(bookinfo(), { authority: 'example.com', port: 9080 });
    expect([o.virtualHost, o.route]).toEqual(['allow_any', 'allow_any']);
    expect(o.clusters).toEqual([{ name: 'PassthroughCluster', weight: 100, exists: true, endpoints: [], unhealthyEndpoints: [], loadAssignment: false, type: 'ORIGINAL_DST', subset: null, host: null }]);
  });

  test.each([
    ['pr-42', 'dynamic-env/pr-42'],
    ['pr-7, pr-42', 'dynamic-env/pr-42'],
    ['pr-420', 'default'],
    ['xpr-42', 'default'],
    ['pr-7,pr-420', 'default'],
  ])('x-override %j -> route %s', (value, expected) => {
    expect(routeRequest(bookinfo(), { authority: 'reviews', port: 9080, headers: { 'x-override': value } }).route).toBe(expected);
  });

  test('describeOutcome names the cluster, its endpoints and the way there', () => {
    const o = routeRequest(bookinfo(), { authority: 'reviews', port: 9080, headers: { 'x-override': 'pr-42' } });
    expect(describeOutcome(o)).toBe(
      `cluster ${ENV_CLUSTER} (EDS, endpoints [10.1.0.9:9080]) via listener 0.0.0.0_9080 > route config 9080 > virtual host ${REVIEWS}:9080 > route dynamic-env/pr-42`,
    );
  });
});

// ---- listeners ----

describe('listener and filter chain', () => {
  const twoPorts = () =>
    snapshot({
      listeners: [httpListener(9080), httpListener(8080, 'http.8080')],
      routes: [routeConfig('9080', [vhost('a', ['*'], [route('r9080', catchAll)])]), routeConfig('http.8080', [vhost('b', ['*'], [route('r8080', catchAll)])])],
    });

  test('the port picks the listener and its route configuration', () => {
    expect(routeRequest(twoPorts(), req({ port: 8080 }))).toMatchObject({ kind: 'cluster', listener: '0.0.0.0_8080', routeConfig: 'http.8080', route: 'r8080' });
    expect(routeRequest(twoPorts(), req({ port: 9080 }))).toMatchObject({ listener: '0.0.0.0_9080', routeConfig: '9080', route: 'r9080' });
  });

  test('no listener on the port', () => {
    const o = routeRequest(twoPorts(), req({ port: 9999 }));
    expect(o).toEqual({ kind: 'no_listener', listener: null, routeConfig: null, virtualHost: null, route: null, clusters: [], detail: 'no listener on port 9999' });
    expect(describeOutcome(o)).toBe('no HTTP listener: no listener on port 9999');
  });

  test('the wildcard-address listener is preferred; one bound to an IP is used only when named', () => {
    const s = snapshot({
      listeners: [httpListener(9080, 'ip-bound', {}), httpListener(9080, 'wildcard')].map((l, i) => (i === 0 ? { ...l, name: '10.96.0.5_9080', address: { socket_address: { address: '10.96.0.5', port_value: 9080 } } } : l)),
      routes: [routeConfig('ip-bound', [vhost('a', ['*'], [route('ip', catchAll)])]), routeConfig('wildcard', [vhost('b', ['*'], [route('any', catchAll)])])],
    });
    expect(routeRequest(s, req()).route).toBe('any');
    expect(routeRequest(s, req({ listener: '10.96.0.5_9080' })).route).toBe('ip');
    const onlyBound = snapshot({ ...s, listeners: [s.listeners[0]] });
    expect(routeRequest(onlyBound, req())).toMatchObject({ kind: 'no_listener', detail: expect.stringContaining('10.96.0.5_9080') });
  });

  test('the plaintext HTTP chain wins over TLS, SNI and IP-bound chains; the HCM may carry its route configuration inline', () => {
    const inline = routeConfig('inline-rc', [vhost('v', ['*'], [route('inline-route', catchAll)])]);
    const alpn = ['http/1.1', 'h2c'];
    const l = listener(9080, [
      chain([tcpProxy('tls-cluster')], { transport_protocol: 'tls', application_protocols: alpn }),
      chain([tcpProxy('sni-cluster')], { server_names: ['reviews'], application_protocols: alpn }),
      chain([tcpProxy('ip-cluster')], { prefix_ranges: [{ address_prefix: '10.96.0.5', prefix_len: 32 }], application_protocols: alpn }),
      chain([{ ...hcm('unused'), typed_config: { '@type': HCM_TYPE, route_config: inline } }], { application_protocols: ['http/1.0', 'http/1.1', 'h2c'] }),
    ]);
    expect(routeRequest(snapshot({ listeners: [l] }), req())).toMatchObject({ kind: 'cluster', routeConfig: 'inline-rc', route: 'inline-route' });
  });

  test('a 0.0.0.0/0 prefix range is no destination condition (Envoy files chains without ranges there too)', () => {
    const rc = routeConfig('9080', [vhost('v', ['*'], [route('r', catchAll)])]);
    const l = listener(9080, [chain([hcm('9080')], { prefix_ranges: [{ address_prefix: '0.0.0.0', prefix_len: 0 }] })]);
    expect(routeRequest(snapshot({ listeners: [l], routes: [rc] }), req()).route).toBe('r');
  });

  test('a chain for other application protocols loses to one without any; Envoy does not backtrack past a more specific level', () => {
    const rc = routeConfig('9080', [vhost('v', ['*'], [route('r', catchAll)])]);
    const generic = listener(9080, [chain([tcpProxy('istio-mtls')], { application_protocols: ['istio'] }), chain([hcm('9080')])]);
    expect(routeRequest(snapshot({ listeners: [generic], routes: [rc] }), req()).route).toBe('r');
    // raw_buffer names the connection's transport: that chain is taken even though its ALPNs then fail, and the HCM
    // chain without a transport protocol is never considered: the default (passthrough) chain serves the connection.
    const shadowed = listener(9080, [chain([tcpProxy('x')], { transport_protocol: 'raw_buffer', application_protocols: ['istio'] }), chain([hcm('9080')])]);
    const o = routeRequest(snapshot({ listeners: [shadowed], routes: [rc] }), req());
    expect(o).toMatchObject({ kind: 'no_listener', listener: '0.0.0.0_9080', detail: 'filter chain PassthroughFilterChain of listener 0.0.0.0_9080 is not HTTP (envoy.filters.network.tcp_proxy to PassthroughCluster)' });
  });

  test('a TCP-only port and a missing RDS configuration say so', () => {
    const tcpOnly = snapshot({ listeners: [listener(3306, [chain([tcpProxy('outbound|3306||mysql')])])] });
    expect(routeRequest(tcpOnly, req({ port: 3306 })).detail).toMatch(/is not HTTP \(envoy\.filters\.network\.tcp_proxy to outbound\|3306\|\|mysql\)/);
    const noRds = snapshot({ listeners: [httpListener(9080)] });
    expect(routeRequest(noRds, req())).toMatchObject({ kind: 'no_listener', listener: '0.0.0.0_9080', routeConfig: '9080', detail: 'route configuration 9080 (RDS) is not in the snapshot' });
  });
});

// ---- virtual hosts ----

describe('virtual host selection', () => {
  const precedence = () =>
    // Listed shortest wildcard first and `*` first: the order of the configuration must not matter.
    oneRouteConfig([
      vhost('any', ['*'], [route('any', catchAll)]),
      vhost('prefix', ['api.*'], [route('prefix', catchAll)]),
      vhost('prefix-long', ['api.foo.*'], [route('prefix-long', catchAll)]),
      vhost('suffix', ['*.foo.com'], [route('suffix', catchAll)]),
      vhost('suffix-long', ['*-bar.foo.com'], [route('suffix-long', catchAll)]),
      vhost('exact', ['api.foo.com'], [route('exact', catchAll)]),
    ]);

  test.each([
    ['api.foo.com', 'exact'],
    ['API.Foo.COM', 'exact'],
    ['api.foo.com:9080', 'exact'],
    ['baz-bar.foo.com', 'suffix-long'],
    ['-bar.foo.com', 'suffix'],
    ['x.foo.com', 'suffix'],
    ['api.bar.foo.com', 'suffix'],
    ['.foo.com', 'any'],
    ['api.foo.org', 'prefix-long'],
    ['api.example', 'prefix'],
    ['api.', 'any'],
    ['example.com', 'any'],
  ])('authority %s -> virtual host %s', (authority, expected) => {
    expect(routeRequest(precedence(), req({ authority })).virtualHost).toBe(expected);
  });

  test('no virtual host when nothing matches and there is no "*"', () => {
    const s = oneRouteConfig([vhost('only', ['reviews'], [route('r', catchAll)])]);
    expect(routeRequest(s, req({ authority: 'ratings' }))).toEqual({ kind: 'no_virtual_host', listener: '0.0.0.0_9080', routeConfig: '9080', virtualHost: null, route: null, clusters: [] });
  });

  test('without ignore_port_in_host_matching the port is part of the host: only a port-carrying domain matches it', () => {
    const s = oneRouteConfig(
      [vhost('plain', ['reviews'], [route('plain', catchAll)]), vhost('with-port', ['reviews:9080'], [route('with-port', catchAll)])],
      { ignore_port_in_host_matching: false },
    );
    expect(routeRequest(s, req({ authority: 'reviews:9080' })).virtualHost).toBe('with-port');
    expect(routeRequest(s, req({ authority: 'reviews' })).virtualHost).toBe('plain');
    expect(routeRequest(s, req({ authority: 'reviews:8080' })).kind).toBe('no_virtual_host');
  });

  test('with ignore_port_in_host_matching a port-carrying domain never matches (the host loses its port, the domain keeps it)', () => {
    const s = oneRouteConfig([vhost('with-port', ['reviews:9080'], [route('with-port', catchAll)])]);
    expect(routeRequest(s, req({ authority: 'reviews:9080' })).kind).toBe('no_virtual_host');
  });

  test("the HCM's strip_matching_host_port strips only the listener's port, and header matchers see the result", () => {
    const authorityIs = (value: string) => [{ name: ':authority', string_match: { exact: value } }];
    const s = snapshot({
      listeners: [httpListener(9080, '9080', { strip_matching_host_port: true })],
      routes: [routeConfig('9080', [vhost('v', ['*'], [route('bare', { prefix: '/', headers: authorityIs('reviews') }), route('other', catchAll)])], { ignore_port_in_host_matching: false })],
    });
    expect(routeRequest(s, req({ authority: 'reviews:9080' })).route).toBe('bare');
    expect(routeRequest(s, req({ authority: 'reviews:8080' })).route).toBe('other');
  });

  test('a domain listed twice is a configuration Envoy rejects', () => {
    const s = oneRouteConfig([vhost('a', ['reviews'], []), vhost('b', ['Reviews'], [])]);
    expect(() => routeRequest(s, req({ authority: 'reviews' }))).toThrow(OracleConfigError);
  });
});

// ---- routes and paths ----

describe('route order and path matching', () => {
  const routesOf = (routes: object[], rcExtra: object = {}) => oneRouteConfig([vhost('v', ['*'], routes)], rcExtra);

  test('first match wins, in order; unnamed routes are #index; no_route when none matches', () => {
    const s = routesOf([route('api', { prefix: '/api' }), route(undefined, { prefix: '/api/v2' }), route(undefined, { prefix: '/static' })]);
    expect(routeRequest(s, req({ path: '/api/v2/x' })).route).toBe('api');
    expect(routeRequest(s, req({ path: '/static/a.css' })).route).toBe('#2');
    const none = routeRequest(s, req({ path: '/other' }));
    expect(none).toEqual({ kind: 'no_route', listener: '0.0.0.0_9080', routeConfig: '9080', virtualHost: 'v', route: null, clusters: [] });
    expect(describeOutcome(none)).toBe('no route matches, in listener 0.0.0.0_9080 > route config 9080 > virtual host v');
  });

  const cases: [string, object, string, boolean][] = [
    ['prefix', { prefix: '/api' }, '/api', true],
    ['prefix', { prefix: '/api' }, '/apix', true],
    ['prefix', { prefix: '/api' }, '/ap', false],
    ['prefix, query ignored', { prefix: '/api/' }, '/api?x=/api/', false],
    ['prefix, case sensitive by default', { prefix: '/API' }, '/api', false],
    ['prefix, case_sensitive false', { prefix: '/API', case_sensitive: false }, '/api/x', true],
    ['path', { path: '/health' }, '/health', true],
    ['path, query removed', { path: '/health' }, '/health?verbose=1', true],
    ['path', { path: '/health' }, '/health/', false],
    ['path, case_sensitive false', { path: '/Health', case_sensitive: false }, '/HEALTH', true],
    ['safe_regex', { safe_regex: { regex: '/items/[0-9]+' } }, '/items/12', true],
    ['safe_regex, query removed', { safe_regex: { regex: '/items/[0-9]+' } }, '/items/12?x=y', true],
    ['safe_regex is a full match', { safe_regex: { regex: '/items/[0-9]+' } }, '/items/12/x', false],
    ['safe_regex is a full match', { safe_regex: { regex: '/items/[0-9]+' } }, '/v1/items/12', false],
    ['safe_regex ignores case_sensitive', { safe_regex: { regex: '/Items' }, case_sensitive: false }, '/items', false],
    ['path_separated_prefix', { path_separated_prefix: '/api' }, '/api', true],
    ['path_separated_prefix', { path_separated_prefix: '/api' }, '/api/v1', true],
    ['path_separated_prefix', { path_separated_prefix: '/api' }, '/api?x=1', true],
    ['path_separated_prefix', { path_separated_prefix: '/api' }, '/apix', false],
  ];
  test.each(cases)('%s %j, path %s -> %s', (_label, match, path, hits) => {
    const s = routesOf([route('hit', match), route('fallback', catchAll)]);
    expect(routeRequest(s, req({ path })).route).toBe(hits ? 'hit' : 'fallback');
  });

  test('ignore_path_parameters_in_path_matching drops ";params" before matching', () => {
    const routes = [route('hit', { path: '/a' }), route('fallback', catchAll)];
    expect(routeRequest(routesOf(routes), req({ path: '/a;v=1' })).route).toBe('fallback');
    expect(routeRequest(routesOf(routes, { ignore_path_parameters_in_path_matching: true }), req({ path: '/a;v=1' })).route).toBe('hit');
  });

  test(':path, :method and :authority header matchers read the request', () => {
    const s = routesOf([
      route('post', { prefix: '/', headers: [{ name: ':method', string_match: { exact: 'POST' } }] }),
      route('query', { prefix: '/', headers: [{ name: ':path', string_match: { suffix: '?debug=1' } }] }),
      route('host', { prefix: '/', headers: [{ name: ':authority', string_match: { prefix: 'admin.' } }] }),
      route('fallback', catchAll),
    ]);
    expect(routeRequest(s, req({ method: 'POST' })).route).toBe('post');
    expect(routeRequest(s, req({ path: '/x?debug=1' })).route).toBe('query');
    expect(routeRequest(s, req({ authority: 'admin.svc' })).route).toBe('host');
    expect(routeRequest(s, req()).route).toBe('fallback');
  });

  test('query parameters: first value, string_match, present_match true and false', () => {
    const s = routesOf([
      route('exact', { prefix: '/', query_parameters: [{ name: 'env', string_match: { exact: 'pr-42' } }] }),
      route('prefix', { prefix: '/', query_parameters: [{ name: 'env', string_match: { prefix: 'pr-' } }] }),
      route('has-debug', { prefix: '/', query_parameters: [{ name: 'debug', present_match: true }] }),
      route('no-env', { prefix: '/', query_parameters: [{ name: 'env', present_match: false }] }),
      route('fallback', catchAll),
    ]);
    expect(routeRequest(s, req({ path: '/?env=pr-42' })).route).toBe('exact');
    expect(routeRequest(s, req({ path: '/?env=pr-7&env=pr-42' })).route).toBe('prefix');
    expect(routeRequest(s, req({ path: '/?env=main&debug' })).route).toBe('has-debug');
    expect(routeRequest(s, req({ path: '/?x=1' })).route).toBe('no-env');
    expect(routeRequest(s, req({ path: '/?env=main' })).route).toBe('fallback');
  });

  test('a match condition the oracle does not evaluate throws instead of guessing', () => {
    const s = routesOf([route('sampled', { prefix: '/', runtime_fraction: { default_value: { numerator: 50 } } }), route('fallback', catchAll)]);
    expect(() => routeRequest(s, req())).toThrow(/runtime_fraction/);
  });

  test('a regex RE2 rejects throws (Envoy would reject the configuration), even one that balances once anchored', () => {
    const bad = (regex: string) => routesOf([route('r', { prefix: '/', headers: [{ name: 'x', safe_regex_match: { regex } }] })]);
    expect(() => routeRequest(bad('(?=look-ahead)'), req({ headers: { x: 'y' } }))).toThrow(OracleConfigError);
    expect(() => routeRequest(bad('a)|(b'), req({ headers: { x: 'a' } }))).toThrow(OracleConfigError);
  });
});

// ---- header matchers ----

describe('HeaderMatcher', () => {
  type Headers = Record<string, string | string[]>;
  const hits = (matcher: object, headers: Headers): boolean => {
    const s = oneRouteConfig([vhost('v', ['*'], [route('hit', { prefix: '/', headers: [{ name: 'x-h', ...matcher }] }), route('fallback', catchAll)])]);
    return routeRequest(s, req({ headers })).route === 'hit';
  };

  const cases: [string, object, Headers, boolean][] = [
    ['exact_match', { exact_match: 'v1' }, { 'x-h': 'v1' }, true],
    ['exact_match', { exact_match: 'v1' }, { 'x-h': 'v2' }, false],
    ['exact_match, missing', { exact_match: 'v1' }, {}, false],
    ['exact_match "" matches any value', { exact_match: '' }, { 'x-h': 'anything' }, true],
    ['exact_match "", missing', { exact_match: '' }, {}, false],
    ['prefix_match', { prefix_match: 'pr-' }, { 'x-h': 'pr-42' }, true],
    ['prefix_match', { prefix_match: 'pr-' }, { 'x-h': 'xpr-42' }, false],
    ['suffix_match', { suffix_match: '-42' }, { 'x-h': 'pr-42' }, true],
    ['suffix_match', { suffix_match: '-42' }, { 'x-h': 'pr-420' }, false],
    ['contains_match', { contains_match: 'r-4' }, { 'x-h': 'pr-42' }, true],
    ['contains_match', { contains_match: 'r-4' }, { 'x-h': 'pr-7' }, false],
    ['safe_regex_match', { safe_regex_match: { google_re2: {}, regex: 'pr-[0-9]+' } }, { 'x-h': 'pr-42' }, true],
    ['safe_regex_match is a full match', { safe_regex_match: { regex: 'pr-42' } }, { 'x-h': 'pr-420' }, false],
    ['safe_regex_match is a full match', { safe_regex_match: { regex: 'pr-42' } }, { 'x-h': 'xpr-42' }, false],
    ['range_match [-10,0)', { range_match: { start: '-10', end: '0' } }, { 'x-h': '-1' }, true],
    ['range_match [-10,0)', { range_match: { start: '-10', end: '0' } }, { 'x-h': '-10' }, true],
    ['range_match [-10,0)', { range_match: { start: '-10', end: '0' } }, { 'x-h': '0' }, false],
    ['range_match [-10,0)', { range_match: { start: '-10', end: '0' } }, { 'x-h': '-1somestring' }, false],
    ['range_match [-10,0)', { range_match: { start: '-10', end: '0' } }, { 'x-h': '-0.5' }, false],
    ['range_match, numbers as JSON numbers', { range_match: { start: 1, end: 5 } }, { 'x-h': '4' }, true],
    ['present_match true', { present_match: true }, { 'x-h': '' }, true],
    ['present_match true, missing', { present_match: true }, {}, false],
    ['present_match false, missing', { present_match: false }, {}, true],
    ['present_match false, present', { present_match: false }, { 'x-h': 'v' }, false],
    ['present_match true inverted, missing', { present_match: true, invert_match: true }, {}, true],
    ['present_match true inverted, present', { present_match: true, invert_match: true }, { 'x-h': 'v' }, false],
    ['no specifier means present', {}, { 'x-h': 'v' }, true],
    ['no specifier means present, missing', {}, {}, false],
    ['string_match exact', { string_match: { exact: 'pr-42' } }, { 'x-h': 'pr-42' }, true],
    ['string_match exact is case sensitive', { string_match: { exact: 'pr-42' } }, { 'x-h': 'PR-42' }, false],
    ['string_match exact ignore_case', { string_match: { exact: 'pr-42', ignore_case: true } }, { 'x-h': 'PR-42' }, true],
    ['string_match prefix ignore_case', { string_match: { prefix: 'PR-', ignore_case: true } }, { 'x-h': 'pr-42' }, true],
    ['string_match suffix', { string_match: { suffix: '-42' } }, { 'x-h': 'pr-42' }, true],
    ['string_match contains ignore_case', { string_match: { contains: 'R-4', ignore_case: true } }, { 'x-h': 'pr-42' }, true],
    ['string_match safe_regex', { string_match: { safe_regex: { regex: 'pr-4.' } } }, { 'x-h': 'pr-42' }, true],
    ['string_match safe_regex ignores ignore_case', { string_match: { safe_regex: { regex: 'pr-42' }, ignore_case: true } }, { 'x-h': 'PR-42' }, false],
    ['string_match exact "" is exact', { string_match: { exact: '' } }, { 'x-h': 'v' }, false],
    ['invert_match', { string_match: { exact: 'v1' }, invert_match: true }, { 'x-h': 'v2' }, true],
    ['invert_match', { string_match: { exact: 'v1' }, invert_match: true }, { 'x-h': 'v1' }, false],
    // Envoy's docs (treat_missing_header_as_empty, "header2"): a missing header fails an inverted matcher too.
    ['invert_match, missing', { string_match: { exact: 'v1' }, invert_match: true }, {}, false],
    ['invert_match range, missing', { range_match: { start: '0', end: '10' }, invert_match: true }, {}, false],
    // "header1": missing, treated as empty, does not fit the range, so it matches when inverted.
    ['treat_missing_header_as_empty, inverted range', { range_match: { start: '0', end: '10' }, invert_match: true, treat_missing_header_as_empty: true }, {}, true],
    // "header3" and "header4": a regex for the empty string, with and without the flag.
    ['treat_missing_header_as_empty, empty regex', { string_match: { safe_regex: { regex: '^$' } }, treat_missing_header_as_empty: true }, {}, true],
    ['missing header, empty regex', { string_match: { safe_regex: { regex: '^$' } } }, {}, false],
    // Istio's withoutHeaders: inverted and treating missing as empty, so a request without the header matches.
    ['withoutHeaders shape, missing', { string_match: { exact: 'pr-42' }, invert_match: true, treat_missing_header_as_empty: true }, {}, true],
    ['withoutHeaders shape, the value', { string_match: { exact: 'pr-42' }, invert_match: true, treat_missing_header_as_empty: true }, { 'x-h': 'pr-42' }, false],
    // header_utility.cc reads present_match after the missing-header return that treat_missing_header_as_empty skips.
    ['present_match true, missing treated as empty', { present_match: true, treat_missing_header_as_empty: true }, {}, true],
    ['names are case-insensitive', { string_match: { exact: 'v' } }, { 'X-H': 'v' }, true],
  ];
  test.each(cases)('%s %j with %j -> %s', (_label, matcher, headers, expected) => {
    expect(hits(matcher, headers)).toBe(expected);
  });

  test('a matcher name in capitals still finds the header', () => {
    const s = oneRouteConfig([vhost('v', ['*'], [route('hit', { prefix: '/', headers: [{ name: 'X-Override', exact_match: 'pr-42' }] }), route('fallback', catchAll)])]);
    expect(routeRequest(s, req({ headers: { 'x-override': 'pr-42' } })).route).toBe('hit');
  });

  test('every header matcher of a route must match', () => {
    const s = oneRouteConfig([
      vhost('v', ['*'], [route('both', { prefix: '/', headers: [{ name: 'a', exact_match: '1' }, { name: 'b', exact_match: '2' }] }), route('fallback', catchAll)]),
    ]);
    expect(routeRequest(s, req({ headers: { a: '1', b: '2' } })).route).toBe('both');
    expect(routeRequest(s, req({ headers: { a: '1' } })).route).toBe('fallback');
  });

  describe('a repeated header is matched as its values joined with ","', () => {
    test.each<[string, object, Headers, boolean]>([
      ['exact "a,b"', { exact_match: 'a,b' }, { 'x-h': ['a', 'b'] }, true],
      ['exact "a, b" (no blank is added)', { exact_match: 'a, b' }, { 'x-h': ['a', 'b'] }, false],
      ['regex "pr-42" does not match the joined value', { safe_regex_match: { regex: 'pr-42' } }, { 'x-h': ['pr-7', 'pr-42'] }, false],
      ['the comma-list regex does', { string_match: { safe_regex: { regex: COMMA_LIST('pr-42') } } }, { 'x-h': ['pr-7', 'pr-42'] }, true],
      ['names differing in case are one header', { exact_match: '1,2' }, { 'X-H': '1', 'x-h': '2' }, true],
      ['an empty array is no header', { present_match: false }, { 'x-h': [] }, true],
    ])('%s', (_label, matcher, headers, expected) => {
      expect(hits(matcher, headers)).toBe(expected);
    });
  });

  test.each([
    ['pr-7, pr-42', true],
    ['pr-42', true],
    [' pr-42\t', true],
    ['pr-420', false],
    ['xpr-42', false],
    ['pr-4', false],
    ['pr-7,pr-420', false],
  ])('comma-list regex (RE2 full match) against %j -> %s', (value, expected) => {
    expect(hits({ string_match: { safe_regex: { regex: COMMA_LIST('pr-42') } } }, { 'x-h': value })).toBe(expected);
  });

  test('pseudo-headers and host are refused as headers: they are fields of the request', () => {
    const s = oneRouteConfig([vhost('v', ['*'], [route('r', catchAll)])]);
    expect(() => routeRequest(s, req({ headers: { Host: 'x' } }))).toThrow(TypeError);
    expect(() => routeRequest(s, req({ headers: { ':path': '/x' } }))).toThrow(TypeError);
  });
});

// ---- actions and clusters ----

describe('route actions and clusters', () => {
  const withAction = (action: object, clusters: object[] = [], endpoints: object[] = []) =>
    snapshot({
      listeners: [httpListener(9080)],
      routes: [routeConfig('9080', [vhost('v', ['*'], [route('r', catchAll, action)])])],
      clusters,
      endpoints,
    });

  test('weighted clusters: each with its weight, existence and endpoints', () => {
    const a = `outbound|9080|v1|${REVIEWS}`;
    const b = `outbound|9080|pr-42|${REVIEWS}`;
    const s = withAction(
      { route: { weighted_clusters: { clusters: [{ name: a, weight: 80 }, { name: b, weight: 20 }] } } },
      [edsCluster(a)],
      [assignment(a, ['10.1.0.2:9080', '10.1.0.1:9080'])],
    );
    const o = routeRequest(s, req());
    expect(o.kind).toBe('cluster');
    expect(o.clusters).toEqual([
      { name: a, weight: 80, exists: true, endpoints: ['10.1.0.1:9080', '10.1.0.2:9080'], unhealthyEndpoints: [], loadAssignment: true, type: 'EDS', subset: 'v1', host: REVIEWS },
      { name: b, weight: 20, exists: false, endpoints: [], unhealthyEndpoints: [], loadAssignment: false, type: null, subset: 'pr-42', host: REVIEWS },
    ]);
    expect(describeOutcome(o)).toBe(
      `cluster ${a} weight 80 (EDS, endpoints [10.1.0.1:9080, 10.1.0.2:9080]) + cluster ${b} weight 20 (MISSING) via listener 0.0.0.0_9080 > route config 9080 > virtual host v > route r`,
    );
  });

  test('a route naming a missing cluster: exists false, and missingClusters reports it with the route naming it', () => {
    const s = snapshot({
      listeners: [httpListener(9080), listener(8080, [chain([{ ...hcm('x'), typed_config: { '@type': HCM_TYPE, route_config: routeConfig('', [vhost('gw', ['*'], [route(undefined, catchAll, toCluster('gone-inline'))])]) } }])])],
      routes: [
        routeConfig('9080', [
          vhost('v', ['*'], [
            route('ok', { prefix: '/ok' }, toCluster('present')),
            route('single', { prefix: '/single' }, toCluster('gone')),
            route(undefined, { prefix: '/w' }, { route: { weighted_clusters: { clusters: [{ name: 'present', weight: 50 }, { name: 'gone-weighted', weight: 50 }] } } }),
            route('mirrored', { prefix: '/m' }, { route: { cluster: 'present', request_mirror_policies: [{ cluster: 'gone-mirror' }] } }),
            route('by-header', { prefix: '/h' }, { route: { cluster_header: 'x-cluster' } }),
          ]),
        ]),
      ],
      clusters: [edsCluster('present')],
    });
    expect(routeRequest(s, req({ path: '/single' })).clusters).toEqual([expect.objectContaining({ name: 'gone', exists: false })]);
    expect(missingClusters(s)).toEqual([
      { routeConfig: '9080', virtualHost: 'v', route: 'single', cluster: 'gone' },
      { routeConfig: '9080', virtualHost: 'v', route: '#2', cluster: 'gone-weighted' },
      { routeConfig: '9080', virtualHost: 'v', route: 'mirrored', cluster: 'gone-mirror' },
      { routeConfig: 'inline@0.0.0.0_8080', virtualHost: 'gw', route: '#0', cluster: 'gone-inline' },
    ]);
    expect(missingClusters(bookinfo())).toEqual([]);
  });

  test('EDS endpoints come from the assignment named by eds_cluster_config.service_name, else by the cluster name', () => {
    const named = withAction(toCluster('c'), [edsCluster('c', 'svc-name')], [assignment('c', ['10.0.0.9:1']), assignment('svc-name', ['10.0.0.1:80'])]);
    expect(routeRequest(named, req()).clusters[0]).toMatchObject({ endpoints: ['10.0.0.1:80'], loadAssignment: true });
    const unnamed = withAction(toCluster('c'), [edsCluster('c', undefined)], [assignment('c', ['10.0.0.9:1'])]);
    expect(routeRequest(unnamed, req()).clusters[0]).toMatchObject({ endpoints: ['10.0.0.9:1'], loadAssignment: true });
    const none = withAction(toCluster('c'), [edsCluster('c')], []);
    expect(routeRequest(none, req()).clusters[0]).toMatchObject({ exists: true, endpoints: [], loadAssignment: false });
  });

  test('static clusters (no `type`: protojson omits the default) and STRICT_DNS ones use their inline load assignment', () => {
    const s = withAction({ route: { weighted_clusters: { clusters: [{ name: 'static', weight: 1 }, { name: 'dns', weight: 1 }] } } }, [
      { name: 'static', load_assignment: assignment('static', ['127.0.0.1:15000']) },
      { name: 'dns', type: 'STRICT_DNS', load_assignment: assignment('dns', ['api.example.com:443']) },
    ]);
    expect(routeRequest(s, req()).clusters.map((c) => [c.type, c.endpoints])).toEqual([
      ['STATIC', ['127.0.0.1:15000']],
      ['STRICT_DNS', ['api.example.com:443']],
    ]);
  });

  test('unhealthy and draining endpoints are listed, and flagged', () => {
    const cla = { cluster_name: 'c', endpoints: [{ lb_endpoints: [lbEndpoint('10.0.0.1:80'), lbEndpoint('10.0.0.2:80', 'UNHEALTHY'), lbEndpoint('10.0.0.3:80', 'DRAINING')] }] };
    const o = routeRequest(withAction(toCluster('c'), [edsCluster('c')], [cla]), req());
    expect(o.clusters[0]).toMatchObject({ endpoints: ['10.0.0.1:80', '10.0.0.2:80', '10.0.0.3:80'], unhealthyEndpoints: ['10.0.0.2:80', '10.0.0.3:80'] });
  });

  test('direct_response (Istio\'s block-all) and redirect give their status', () => {
    expect(routeRequest(withAction({ direct_response: { status: 502 } }), req())).toEqual({
      kind: 'direct_response', listener: '0.0.0.0_9080', routeConfig: '9080', virtualHost: 'v', route: 'r', clusters: [], status: 502,
    });
    expect(describeOutcome(routeRequest(withAction({ direct_response: { status: 502 } }), req()))).toBe(
      'direct response 502 via listener 0.0.0.0_9080 > route config 9080 > virtual host v > route r',
    );
    expect(routeRequest(withAction({ redirect: { https_redirect: true } }), req())).toMatchObject({ kind: 'redirect', status: 301 });
    expect(routeRequest(withAction({ redirect: { path_redirect: '/x', response_code: 'TEMPORARY_REDIRECT' } }), req())).toMatchObject({ kind: 'redirect', status: 307 });
  });

  test("cluster_header names the cluster with the header's first value", () => {
    const s = withAction({ route: { cluster_header: 'x-cluster' } }, [edsCluster('picked')]);
    expect(routeRequest(s, req({ headers: { 'x-cluster': ['picked', 'other'] } })).clusters).toEqual([expect.objectContaining({ name: 'picked', exists: true })]);
    expect(routeRequest(s, req()).clusters).toEqual([expect.objectContaining({ name: '', exists: false })]);
  });

  test('Istio cluster names: subset and host, null when empty or not that form', () => {
    const names = ['outbound|9080|pr-42|r.ns.svc.cluster.local', 'outbound|9080||r.ns.svc.cluster.local', 'inbound|9080||', 'BlackHoleCluster'];
    const s = withAction({ route: { weighted_clusters: { clusters: names.map((name) => ({ name, weight: 25 })) } } });
    expect(routeRequest(s, req()).clusters.map((c) => [c.subset, c.host])).toEqual([
      ['pr-42', 'r.ns.svc.cluster.local'],
      [null, 'r.ns.svc.cluster.local'],
      [null, null],
      [null, null],
    ]);
  });
});
