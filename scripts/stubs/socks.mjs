// Bundle-time stand-in for socks, which client-node's SOCKS proxy support imports: socks and ip-address build their
// tables at import, ~20 ms of every start, for kubeconfigs that rarely name a socks:// proxy-url. The real module is
// loaded (bundled, by the require() below) on the first SOCKS connection.
export const SocksClient = {
  createConnection: (...args) => require('socks').SocksClient.createConnection(...args),
};
