import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import path from 'node:path';

/**
 * A minimal static server for pull tests, independent of `grove serve`: it serves files under
 * `root` and lets a test take over any request (`intercept` returns true when it answered), to
 * play a hostile or failing server.
 */
export interface TestServer {
  url: string;
  requests: string[];
  /** Kills every connection and stops listening: a server that dies mid-pull. */
  kill(): void;
  close(): Promise<void>;
}

export async function startRepoServer(
  root: string,
  intercept?: (rel: string, res: http.ServerResponse, req: http.IncomingMessage) => boolean,
): Promise<TestServer> {
  const requests: string[] = [];
  const sockets = new Set<Socket>();
  const server = http.createServer((req, res) => {
    const rel = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname).replace(/^\/+/, '');
    requests.push(rel);
    if (intercept?.(rel, res, req)) return;
    const p = path.join(root, rel);
    if (!p.startsWith(root) || !fs.existsSync(p) || !fs.statSync(p).isFile()) {
      res.writeHead(404).end();
      return;
    }
    const body = fs.readFileSync(p);
    res.writeHead(200, { 'content-length': body.length, 'content-type': 'application/octet-stream' }).end(body);
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    requests,
    kill() {
      server.close();
      for (const s of sockets) s.destroy();
    },
    close() {
      for (const s of sockets) s.destroy();
      return new Promise((r) => server.close(() => r()));
    },
  };
}
