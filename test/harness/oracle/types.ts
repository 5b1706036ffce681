// The oracle's public types, and the partial shapes of the Envoy xDS JSON it reads (Go protojson with
// UseProtoNames: snake_case names; fields at their default value are omitted, oneof members are not).

/** What an xDS probe prints: the resources istiod served one posed proxy. */
export interface XdsSnapshot {
  listeners: any[];
  routes: any[];
  clusters: any[];
  endpoints: any[];
}

export interface OracleRequest {
  /** Host/:authority, may carry a port ("reviews.bookinfo:9080"). */
  authority: string;
  /** Destination port: picks the listener. */
  port: number;
  /** Default "/". May carry a query string. */
  path?: string;
  /** Default "GET". */
  method?: string;
  /** Names case-insensitive; an array is the header repeated. No pseudo-headers and no `host`: use the fields above. */
  headers?: Record<string, string | string[]>;
  /** Use the listener of this name instead of picking one by port (e.g. a listener bound to one IP). */
  listener?: string;
}

export interface ClusterOutcome {
  name: string;
  /** The configured weight of a weighted cluster; 100 for a route's single cluster. */
  weight: number;
  exists: boolean;
  /** "ip:port", sorted; every endpoint of the load assignment, healthy or not. */
  endpoints: string[];
  /** The endpoints among `endpoints` whose health_status keeps Envoy's load balancer off them. */
  unhealthyEndpoints: string[];
  /** Whether a load assignment was found (an EDS cluster istiod sent no assignment for has none). */
  loadAssignment: boolean;
  /** The cluster's discovery type ("EDS", "STATIC", "ORIGINAL_DST", …), null when the cluster is missing. */
  type: string | null;
  /** 3rd field of Istio's "outbound|port|subset|host" name, null if empty or not that form. */
  subset: string | null;
  /** 4th field of that name, null if empty or not that form. */
  host: string | null;
}

export type OutcomeKind = 'cluster' | 'direct_response' | 'redirect' | 'no_listener' | 'no_virtual_host' | 'no_route';

export interface RouteOutcome {
  kind: OutcomeKind;
  listener: string | null;
  routeConfig: string | null;
  virtualHost: string | null;
  /** The route's `name`, or `#<index>` when unnamed. */
  route: string | null;
  /** One for `cluster`, several for `weighted_clusters`. */
  clusters: ClusterOutcome[];
  /** For direct_response and redirect. */
  status?: number;
  /** Why no listener, filter chain or route configuration could be used. */
  detail?: string;
}

export interface MissingCluster {
  routeConfig: string;
  virtualHost: string;
  route: string;
  cluster: string;
}

/** The configuration uses something the oracle does not evaluate, or something Envoy itself would reject. */
export class OracleConfigError extends Error {
  override name = 'OracleConfigError';
}

// ---- xDS JSON shapes (only the fields the oracle reads) ----

export interface RegexMatcherJson {
  regex?: string;
}

export interface StringMatcherJson {
  exact?: string;
  prefix?: string;
  suffix?: string;
  contains?: string;
  safe_regex?: RegexMatcherJson;
  ignore_case?: boolean;
}

export interface Int64RangeJson {
  start?: string | number;
  end?: string | number;
}

export interface HeaderMatcherJson {
  name?: string;
  exact_match?: string;
  safe_regex_match?: RegexMatcherJson;
  range_match?: Int64RangeJson;
  present_match?: boolean;
  prefix_match?: string;
  suffix_match?: string;
  contains_match?: string;
  string_match?: StringMatcherJson;
  invert_match?: boolean;
  treat_missing_header_as_empty?: boolean;
}

export interface QueryParameterMatcherJson {
  name?: string;
  string_match?: StringMatcherJson;
  present_match?: boolean;
}

export interface RouteMatchJson {
  prefix?: string;
  path?: string;
  safe_regex?: RegexMatcherJson;
  path_separated_prefix?: string;
  connect_matcher?: object;
  case_sensitive?: boolean;
  headers?: HeaderMatcherJson[];
  query_parameters?: QueryParameterMatcherJson[];
  [other: string]: unknown;
}

export interface WeightedClusterJson {
  name?: string;
  cluster_header?: string;
  weight?: number;
}

export interface RouteActionJson {
  cluster?: string;
  cluster_header?: string;
  weighted_clusters?: { clusters?: WeightedClusterJson[] };
  request_mirror_policies?: { cluster?: string }[];
  [other: string]: unknown;
}

export interface RouteJson {
  name?: string;
  match?: RouteMatchJson;
  route?: RouteActionJson;
  redirect?: { response_code?: string };
  direct_response?: { status?: number };
  [other: string]: unknown;
}

export interface VirtualHostJson {
  name?: string;
  domains?: string[];
  routes?: RouteJson[];
  require_tls?: string;
  matcher?: unknown;
}

export interface RouteConfigurationJson {
  name?: string;
  virtual_hosts?: VirtualHostJson[];
  ignore_port_in_host_matching?: boolean;
  ignore_path_parameters_in_path_matching?: boolean;
  vhost_header?: string;
}

export interface HttpConnectionManagerJson {
  rds?: { route_config_name?: string };
  route_config?: RouteConfigurationJson;
  scoped_routes?: unknown;
  strip_any_host_port?: boolean;
  strip_matching_host_port?: boolean;
  strip_trailing_host_dot?: boolean;
}

export interface FilterJson {
  name?: string;
  typed_config?: { '@type'?: string; cluster?: string } & HttpConnectionManagerJson;
}

export interface CidrRangeJson {
  address_prefix?: string;
  prefix_len?: number;
}

export interface FilterChainMatchJson {
  destination_port?: number;
  prefix_ranges?: CidrRangeJson[];
  server_names?: string[];
  transport_protocol?: string;
  application_protocols?: string[];
  direct_source_prefix_ranges?: unknown[];
  source_type?: string;
  source_prefix_ranges?: unknown[];
  source_ports?: number[];
}

export interface FilterChainJson {
  name?: string;
  filter_chain_match?: FilterChainMatchJson;
  filters?: FilterJson[];
}

export interface ListenerJson {
  name?: string;
  address?: { socket_address?: { address?: string; port_value?: number } };
  filter_chains?: FilterChainJson[];
  default_filter_chain?: FilterChainJson;
  filter_chain_matcher?: unknown;
}

export interface SocketAddressJson {
  address?: string;
  port_value?: number;
}

export interface LbEndpointJson {
  endpoint?: { address?: { socket_address?: SocketAddressJson; [other: string]: unknown } };
  health_status?: string;
}

export interface ClusterLoadAssignmentJson {
  cluster_name?: string;
  endpoints?: { lb_endpoints?: LbEndpointJson[] }[];
}

export interface ClusterJson {
  name?: string;
  type?: string;
  cluster_type?: { name?: string };
  eds_cluster_config?: { service_name?: string };
  load_assignment?: ClusterLoadAssignmentJson;
}
