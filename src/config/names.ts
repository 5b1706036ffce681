// Kubernetes and HTTP name rules, shared by the config file schema, the action's inputs and the CLI's flags.

/** RFC 1123 label: namespaces, container names, env names (with their own length limits). */
export const DNS_LABEL_RE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
/** RFC 1123 subdomain: most object names, Deployments among them. */
export const DNS_SUBDOMAIN_RE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
/** RFC 9110 token: header field names and W3C baggage keys. */
export const TOKEN_RE = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
