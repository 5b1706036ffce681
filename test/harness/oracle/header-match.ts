// Envoy's HeaderMatcher (envoy.config.route.v3), as its API docs and source/common/http/header_utility.cc define it:
// - a header repeated in the request is matched as its values joined with "," (getAllOfHeaderAsString);
// - a missing header fails every value matcher, inverted or not, unless treat_missing_header_as_empty makes it "";
// - present_match (also the default when no specifier is set) compares presence, then invert_match flips it.

import { re2FullMatch } from './re2.js';
import { asciiLower, regexOf, stringMatches } from './string-match.js';
import type { HeaderMatcherJson, Int64RangeJson } from './types.js';

/** Lower-cased names (pseudo-headers included) to values, repeated headers already joined with ",". */
export type RequestHeaders = ReadonlyMap<string, string>;

export function headersMatch(matchers: HeaderMatcherJson[] | undefined, headers: RequestHeaders, where: string): boolean {
  return (matchers ?? []).every((m) => headerMatches(m, headers, where));
}

export function headerMatches(m: HeaderMatcherJson, headers: RequestHeaders, where: string): boolean {
  const value = headers.get(asciiLower(m.name ?? ''));
  const invert = m.invert_match === true;
  const asEmpty = m.treat_missing_header_as_empty === true;
  if (isPresenceMatcher(m)) {
    // A missing header treated as empty counts as present (header_utility.cc reads present_match after the
    // missing-header early return, which treat_missing_header_as_empty skips).
    const present = value !== undefined || asEmpty;
    return ((m.present_match ?? true) === present) !== invert;
  }
  if (value === undefined && !asEmpty) return false;
  return valueMatches(m, value ?? '', `${where}, header ${m.name}`) !== invert;
}

function isPresenceMatcher(m: HeaderMatcherJson): boolean {
  if (m.present_match !== undefined) return true;
  const specifiers = [m.exact_match, m.safe_regex_match, m.range_match, m.prefix_match, m.suffix_match, m.contains_match, m.string_match];
  return specifiers.every((s) => s === undefined);
}

function valueMatches(m: HeaderMatcherJson, value: string, where: string): boolean {
  // An empty exact_match matches any value (HeaderDataExactMatch), unlike string_match.exact "".
  if (m.exact_match !== undefined) return m.exact_match === '' || value === m.exact_match;
  if (m.safe_regex_match !== undefined) return re2FullMatch(regexOf(m.safe_regex_match, where), value);
  if (m.range_match !== undefined) return inRange(value, m.range_match);
  if (m.prefix_match !== undefined) return value.startsWith(m.prefix_match);
  if (m.suffix_match !== undefined) return value.endsWith(m.suffix_match);
  if (m.contains_match !== undefined) return value.includes(m.contains_match);
  return stringMatches(m.string_match!, value, where);
}

/** [start, end) over int64; the value must be a whole base-10 integer (absl::SimpleAtoi). */
function inRange(value: string, range: Int64RangeJson): boolean {
  const n = parseInt64(value);
  if (n === undefined) return false;
  return n >= BigInt(range.start ?? 0) && n < BigInt(range.end ?? 0);
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** absl::SimpleAtoi: ASCII whitespace around, an optional sign, then digits only; out of int64 range fails. */
export function parseInt64(raw: string): bigint | undefined {
  const s = trimAsciiWhitespace(raw);
  const digits = s.startsWith('+') || s.startsWith('-') ? s.slice(1) : s;
  if (digits === '' || ![...digits].every((c) => c >= '0' && c <= '9')) return undefined;
  const n = BigInt(s.startsWith('+') ? digits : s);
  return n < INT64_MIN || n > INT64_MAX ? undefined : n;
}

function trimAsciiWhitespace(s: string): string {
  const ws = ' \t\n\v\f\r';
  let start = 0;
  let end = s.length;
  while (start < end && ws.includes(s[start]!)) start++;
  while (end > start && ws.includes(s[end - 1]!)) end--;
  return s.slice(start, end);
}
