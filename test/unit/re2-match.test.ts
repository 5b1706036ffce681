// The header and baggage regexes, run by Google RE2 (re2-wasm) with Envoy's full-match semantics. JavaScript's
// RegExp would prove nothing: Istio hands these to Envoy's safe_regex.

import { RE2 } from 're2-wasm';
import { describe, expect, test } from 'vitest';
import { parseConfigText } from '../../src/config/file.js';
import { resolveEnvSpec } from '../../src/config/spec.js';
import { demoConfigText, demoSnapshot } from '../../src/demo/bookinfo.js';
import { deployment, envSpec, service, snapshot, virtualService, workload } from '../../src/demo/builders.js';
import { baggageRegex, escapeRe2, headerRegex } from '../../src/plan/match.js';
import { planOpen } from '../../src/plan/open.js';
import type { VirtualService } from '../../src/plan/types.js';
import { withEnvRoutes } from '../../src/plan/virtual-service.js';

/** Envoy safe_regex matches the whole value. */
const fullMatch = (pattern: string, value: string): boolean => new RE2(`^(?:${pattern})$`, 'u').test(value);

describe('headerRegex (RE2, full match)', () => {
  const cases: [env: string, value: string, matches: boolean][] = [
    ['pr-42', 'pr-42', true],
    ['pr-42', 'pr-42,pr-7', true],
    ['pr-42', 'pr-7,pr-42', true],
    ['pr-42', 'pr-7, pr-42', true],
    ['pr-42', ' pr-42 ', true],
    ['pr-42', '\tpr-42\t', true],
    ['pr-42', 'pr-7,pr-42,pr-9', true],
    ['pr-42', 'pr-7 , pr-42 , pr-9', true],
    ['pr-42', 'pr-420', false],
    ['pr-42', 'xpr-42', false],
    ['pr-42', 'pr-4', false],
    ['pr-42', 'pr-4,pr-420', false],
    ['pr-42', '', false],
    ['pr-42', 'pr-42x,pr-7', false],
    ['pr-42', 'pr-42;q=1', false],
    ['pr-4', 'pr-42', false],
    ['pr-4', 'pr-4', true],
    // Envoy joins repeated headers with ",": `x-override: pr-1` + `x-override: pr-4`.
    ['pr-4', 'pr-1,pr-4', true],
    ['pr-1', 'pr-1,pr-4', true],
    ['pr-14', 'pr-1,pr-4', false],
  ];
  test.each(cases)('env %s, value %j -> %s', (env, value, matches) => {
    expect(fullMatch(headerRegex(env), value)).toBe(matches);
  });
});

describe('baggageRegex (RE2, full match)', () => {
  const cases: [key: string, env: string, value: string, matches: boolean][] = [
    ['override', 'pr-42', 'override=pr-42', true],
    ['override', 'pr-42', 'a=b, override=pr-42;prop=1', true],
    ['override', 'pr-42', 'a=b,override=pr-42', true],
    ['override', 'pr-42', 'override=pr-42;prop=1;other, c=d', true],
    ['override', 'pr-42', 'override = pr-42', true],
    ['override', 'pr-42', ' override\t=\tpr-42 ', true],
    ['override', 'pr-42', 'userId=alice,override=pr-42,serverNode=DF%2028', true],
    ['override', 'pr-42', 'xoverride=pr-42', false],
    ['override', 'pr-42', 'overridex=pr-42', false],
    // `override=pr-42` inside another member's properties is not a member.
    ['override', 'pr-42', 'foo=bar;override=pr-42', false],
    ['override', 'pr-42', 'override=pr-420', false],
    ['override', 'pr-42', 'override=pr-4', false],
    ['override', 'pr-42', 'override=xpr-42', false],
    ['override', 'pr-42', 'pr-42', false],
    ['override', 'pr-4', 'override=pr-42', false],
    ['override', 'pr-42', 'override=pr-7,override=pr-42', true],
    // Keys with RE2 metacharacters are escaped: `a.b` must not match `aXb`.
    ['a.b', 'pr-42', 'a.b=pr-42', true],
    ['a.b', 'pr-42', 'aXb=pr-42', false],
    ['a+b', 'pr-42', 'a+b=pr-42', true],
    ['a+b', 'pr-42', 'aab=pr-42', false],
  ];
  test.each(cases)('key %s, env %s, value %j -> %s', (key, env, value, matches) => {
    expect(fullMatch(baggageRegex(key, env), value)).toBe(matches);
  });
});

describe('escapeRe2', () => {
  test.each(['a.b', 'a+b*c?', '(x)|[y]{2}^$', 'back\\slash', "tok!#$%&'*+.^_`|~"])('%j matches itself only', (s) => {
    const re = `(?:${escapeRe2(s)})`;
    expect(fullMatch(re, s)).toBe(true);
    expect(fullMatch(re, `${s}x`)).toBe(false);
  });
  test('leaves names readable (no escaped "-")', () => {
    expect(headerRegex('pr-42')).toBe('(?:.*,)?[ \\t]*pr-42[ \\t]*(?:,.*)?');
  });
});

function regexesIn(vs: VirtualService): string[] {
  return (vs.spec.http ?? []).flatMap((r) =>
    (r.match ?? []).flatMap((m) => Object.values(m.headers ?? {}).flatMap((h) => (h.regex ? [h.regex] : []))),
  );
}

test('every regex the planner emits compiles in RE2 and selects its env', () => {
  const seen: string[] = [];
  // The demo, and a created VirtualService with a regex-special baggage key.
  const demo = demoSnapshot();
  const spec = resolveEnvSpec(parseConfigText(demoConfigText, 'demo.yaml'), { now: '2026-02-01T00:00:00Z' });
  const plan = planOpen(demo, spec);
  for (const edit of plan.routeEdits) {
    const vs = demo.virtualServices.find((v) => v.metadata.name === edit.name && v.metadata.namespace === edit.namespace)!;
    seen.push(...regexesIn(withEnvRoutes(vs, edit, plan.routing)));
  }
  const snap = snapshot({
    deployments: [deployment('api', { labels: { app: 'api', version: 'v1' } })],
    services: [service('api', { app: 'api' })],
    virtualServices: [virtualService('other', [{ route: [{ destination: { host: 'other' } }] }])],
  });
  const special = planOpen(
    snap,
    envSpec('pr-7', { services: [workload('default', 'api')], routing: { baggageKey: "k.e+y*|$x'" } }),
  );
  for (const vs of special.createVirtualServices) seen.push(...regexesIn(vs));

  expect(seen.length).toBeGreaterThanOrEqual(6);
  for (const re of seen) expect(() => new RE2(`^(?:${re})$`, 'u')).not.toThrow();
  const header = seen.find((r) => r.includes('pr-7') && !r.includes('='))!;
  expect(fullMatch(header, 'pr-1, pr-7')).toBe(true);
  const baggage = seen.find((r) => r.includes('pr-7') && r.includes('='))!;
  expect(fullMatch(baggage, "a=b, k.e+y*|$x'=pr-7;p")).toBe(true);
  expect(fullMatch(baggage, "k.e+y*|$xx=pr-7")).toBe(false);
});
