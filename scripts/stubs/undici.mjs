// Bundle-time stand-in for undici. @kubernetes/client-node imports it only for its fetch dispatcher
// (KubeConfig.createDispatcher), which dynamic-env never calls: requests go through node:https with the options
// KubeConfig.applyToHTTPSOptions resolves. Dropping undici saves ~400 KiB of the action bundle; reaching this is
// a bug, and says so.
const unavailable = (name) => class {
  constructor() {
    throw new Error(`dynamic-env bundle: undici.${name} is not bundled (KubeConfig's fetch path is not used)`);
  }
};
export const Agent = unavailable('Agent');
export const ProxyAgent = unavailable('ProxyAgent');
export default { Agent, ProxyAgent, fetch };
export const fetch = () => {
  throw new Error('dynamic-env bundle: undici.fetch is not bundled (client-node\'s generated API clients are not used)');
};
