// The header and baggage regexes of an env route (docs/DESIGN.md "Routing"). Istio's `regex` is Envoy's
// `safe_regex`: Google RE2 with full-match semantics, so these patterns describe the *whole* header value.

/** Escapes every RE2 metacharacter so `s` matches itself literally. */
export function escapeRe2(s: string): string {
  return s.replace(/[\\.+*?()|[\]{}^$]/g, '\\$&');
}

/** Optional blanks (space or tab) around list members. `\t` is written for RE2, not as a literal tab. */
const OWS = '[ \\t]*';

/**
 * Matches a header value that is a comma-separated list with `env` as one member, blanks allowed around it:
 * `pr-42`, `pr-7,pr-42`, `pr-7, pr-42` (repeated headers joined by Envoy). Never `pr-420` or `xpr-42`.
 */
export function headerRegex(env: string): string {
  return `(?:.*,)?${OWS}${escapeRe2(env)}${OWS}(?:,.*)?`;
}

/**
 * Matches a W3C `baggage` value with a member `<key>=<env>`, optionally followed by `;properties`, anywhere in
 * the comma-separated list. A `key=env` inside another member's properties does not count.
 */
export function baggageRegex(key: string, env: string): string {
  return `(?:.*,)?${OWS}${escapeRe2(key)}${OWS}=${OWS}${escapeRe2(env)}${OWS}(?:;[^,]*)?(?:,.*)?`;
}

/** The baggage member a caller sends to select `env`, e.g. `override=pr-42`. */
export function baggageMember(key: string, env: string): string {
  return `${key}=${env}`;
}
