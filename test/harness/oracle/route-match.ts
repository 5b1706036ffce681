// Envoy's RouteMatch (envoy.config.route.v3), as source/common/router/config_impl.cc evaluates it: every condition
// must hold; paths are matched without the query string and fragment.

import { headersMatch, type RequestHeaders } from './header-match.js';
import { re2FullMatch } from './re2.js';
import { asciiLower, regexOf, stringMatches } from './string-match.js';
import { OracleConfigError, type QueryParameterMatcherJson, type RouteMatchJson } from './types.js';

export interface MatchRequest {
  /** With its pseudo-headers (:authority, :path, :method, :scheme). */
  headers: RequestHeaders;
  /** The :path header: path, query and all. */
  path: string;
  method: string;
}

export interface MatchOptions {
  /** RouteConfiguration.ignore_path_parameters_in_path_matching. */
  ignorePathParameters: boolean;
}

const PATH_SPECIFIERS = ['prefix', 'path', 'safe_regex', 'path_separated_prefix', 'connect_matcher'] as const;
const EVALUATED = new Set<string>([...PATH_SPECIFIERS, 'case_sensitive', 'headers', 'query_parameters']);

export function routeMatches(match: RouteMatchJson, req: MatchRequest, opts: MatchOptions, where: string): boolean {
  refuseUnevaluated(match, where);
  return (
    pathMatches(match, req, opts, where) &&
    headersMatch(match.headers, req.headers, where) &&
    queryMatches(match.query_parameters, req.path, where)
  );
}

/** A condition the oracle cannot evaluate (runtime_fraction, grpc, tls_context, …) would make its answer a guess. */
function refuseUnevaluated(match: RouteMatchJson, where: string): void {
  const unknown = Object.keys(match).filter((k) => !EVALUATED.has(k));
  if (unknown.length > 0) throw new OracleConfigError(`${where}: route match uses ${unknown.join(', ')}, which the oracle does not evaluate`);
  const specifiers = PATH_SPECIFIERS.filter((k) => match[k] !== undefined);
  if (specifiers.length !== 1) throw new OracleConfigError(`${where}: a route match needs exactly one path specifier, has ${specifiers.length}`);
}

function pathMatches(match: RouteMatchJson, req: MatchRequest, opts: MatchOptions, where: string): boolean {
  if (match.connect_matcher !== undefined) return req.method === 'CONNECT';
  const path = matchedPath(req.path, opts);
  if (match.safe_regex !== undefined) return re2FullMatch(regexOf(match.safe_regex, where), path);
  const fold = match.case_sensitive === false ? asciiLower : (s: string): string => s;
  if (match.prefix !== undefined) return fold(path).startsWith(fold(match.prefix));
  if (match.path !== undefined) return fold(path) === fold(match.path);
  return separatedPrefixMatches(fold(path), fold(match.path_separated_prefix!));
}

/** `/api` matches `/api` and `/api/…`, not `/apix`. */
function separatedPrefixMatches(path: string, prefix: string): boolean {
  return path.startsWith(prefix) && (path.length === prefix.length || path[prefix.length] === '/');
}

/** Http::PathUtil::removeQueryAndFragment, then sanitizePathBeforePathMatching. */
function matchedPath(path: string, opts: MatchOptions): string {
  const withoutQuery = cutAtFirst(path, '?#');
  return opts.ignorePathParameters ? cutAtFirst(withoutQuery, ';') : withoutQuery;
}

function cutAtFirst(s: string, chars: string): string {
  const i = [...chars].map((c) => s.indexOf(c)).filter((n) => n >= 0).reduce((a, b) => Math.min(a, b), s.length);
  return s.slice(0, i);
}

function queryMatches(matchers: QueryParameterMatcherJson[] | undefined, path: string, where: string): boolean {
  if (!matchers || matchers.length === 0) return true;
  const params = parseQuery(path);
  return matchers.every((m) => queryParameterMatches(m, params, where));
}

/**
 * ConfigUtility::QueryParameterMatcher::matches: only the first value of a name counts; present_match compares
 * presence (false matches an absent parameter); otherwise an absent parameter fails and no matcher means presence.
 */
function queryParameterMatches(m: QueryParameterMatcherJson, params: Map<string, string>, where: string): boolean {
  const value = params.get(m.name ?? '');
  if (m.present_match !== undefined) return (value !== undefined) === m.present_match;
  if (value === undefined) return false;
  return m.string_match === undefined || stringMatches(m.string_match, value, `${where}, query parameter ${m.name}`);
}

/** QueryParamsMulti::parseQueryString: split on "&", name up to the first "=", not percent-decoded; first value kept. */
function parseQuery(path: string): Map<string, string> {
  const params = new Map<string, string>();
  const q = path.indexOf('?');
  if (q < 0) return params;
  for (const part of cutAtFirst(path.slice(q + 1), '#').split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const [name, value] = eq < 0 ? [part, ''] : [part.slice(0, eq), part.slice(eq + 1)];
    if (!params.has(name)) params.set(name, value);
  }
  return params;
}
