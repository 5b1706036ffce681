// Envoy's StringMatcher (envoy.type.matcher.v3) and the ASCII helpers its matchers use.

import { re2FullMatch } from './re2.js';
import { OracleConfigError, type RegexMatcherJson, type StringMatcherJson } from './types.js';

/** Envoy folds case with absl's ASCII functions: only A-Z change, unlike String.prototype.toLowerCase. */
export function asciiLower(s: string): string {
  let out = '';
  for (const ch of s) {
    const c = ch.charCodeAt(0);
    out += c >= 65 && c <= 90 ? String.fromCharCode(c + 32) : ch;
  }
  return out;
}

export function regexOf(m: RegexMatcherJson | undefined, where: string): string {
  if (typeof m?.regex !== 'string') throw new OracleConfigError(`${where}: a RegexMatcher without a regex`);
  return m.regex;
}

/** `ignore_case` covers exact/prefix/suffix/contains; the API says it has no effect on safe_regex. */
export function stringMatches(m: StringMatcherJson, value: string, where: string): boolean {
  const fold = m.ignore_case === true ? asciiLower : (s: string): string => s;
  if (m.exact !== undefined) return fold(value) === fold(m.exact);
  if (m.prefix !== undefined) return fold(value).startsWith(fold(m.prefix));
  if (m.suffix !== undefined) return fold(value).endsWith(fold(m.suffix));
  if (m.contains !== undefined) return fold(value).includes(fold(m.contains));
  if (m.safe_regex !== undefined) return re2FullMatch(regexOf(m.safe_regex, where), value);
  throw new OracleConfigError(`${where}: unsupported StringMatcher ${JSON.stringify(m)}`);
}
