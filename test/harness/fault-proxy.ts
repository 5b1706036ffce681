// An HTTPS proxy in front of the API server that injects faults into a chosen share of requests: answers 409,
// 500 or 503 with a Kubernetes Status body, delays, or cuts the connection mid-response. Off until configured.
// The reliability suite starts one per test and points the product's kubeconfig at it.
import https from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';

export type FaultKind = '409' | '500' | '503' | 'delay' | 'cut';

export interface FaultConfig {
  /** Share of matching requests that get a fault, 0..1. */
  rate: number;
  kinds: FaultKind[];
  delayMs?: number;
  /** Which requests may get a fault; default: all but watches. */
  match?: (method: string, path: string) => boolean;
  /** Watches too may get a fault (asked of `match` like any request). */
  watches?: boolean;
}

export interface FaultProxy {
  url: string;
  configure(config: FaultConfig | null): void;
  stats(): { requests: number; faults: Record<FaultKind, number> };
  stop(): Promise<void>;
}

/** A small seeded PRNG (mulberry32) so a failing run can be replayed with the same seed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export async function startFaultProxy(opts: {
  target: string; ca: string; cert: string; key: string; seed?: number;
  /**
   * Sends a request on to another path, so the API server's own answer stands for a cluster that lacks an API
   * (e.g. networking.istio.io/v1 asked as a version this server does not serve).
   */
  rewritePath?: (path: string) => string;
}): Promise<FaultProxy> {
  const target = new URL(opts.target);
  const random = seededRandom(opts.seed ?? 1);
  let config: FaultConfig | null = null;
  const counts = { requests: 0, faults: { '409': 0, '500': 0, '503': 0, delay: 0, cut: 0 } as Record<FaultKind, number> };

  const status = (res: ServerResponse, code: number, reason: string) => {
    res.writeHead(code, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', reason, code, message: `fault injected by the test proxy: ${reason}` }));
  };

  const forward = (req: IncomingMessage, res: ServerResponse, body: Buffer, cut: boolean) => {
    const up = https.request({
      host: target.hostname, port: target.port, method: req.method, path: opts.rewritePath ? opts.rewritePath(req.url ?? '/') : req.url, ca: opts.ca,
      headers: { ...req.headers, host: target.host },
    }, (upRes) => {
      res.writeHead(upRes.statusCode ?? 502, upRes.headers);
      if (!cut) return void upRes.pipe(res);
      // Send the head and part of the body, then drop the connection.
      upRes.once('data', (chunk: Buffer) => {
        res.write(chunk.subarray(0, Math.max(1, Math.floor(chunk.length / 2))));
        setImmediate(() => { res.socket?.destroy(); upRes.destroy(); });
      });
    });
    up.on('error', () => res.socket?.destroy());
    up.end(body);
  };

  const server = https.createServer({ cert: opts.cert, key: opts.key }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      counts.requests++;
      const body = Buffer.concat(chunks);
      const path = req.url ?? '/';
      const isWatch = /[?&]watch=(1|true)/.test(path);
      const eligible = config && (!isWatch || config.watches) && (config.match ? config.match(req.method ?? 'GET', path) : true);
      if (!eligible || random() >= config!.rate) return forward(req, res, body, false);
      const kind = config!.kinds[Math.floor(random() * config!.kinds.length)]!;
      counts.faults[kind]++;
      switch (kind) {
        case '409': return status(res, 409, 'Conflict');
        case '500': return status(res, 500, 'InternalError');
        case '503': return status(res, 503, 'ServiceUnavailable');
        case 'delay': return void setTimeout(() => forward(req, res, body, false), config!.delayMs ?? 1500);
        case 'cut': return forward(req, res, body, true);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `https://127.0.0.1:${port}`,
    configure: (c) => { config = c; },
    stats: () => ({ requests: counts.requests, faults: { ...counts.faults } }),
    stop: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}
