import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Fetcher } from '../../../src/net/fetcher.js';

/**
 * The low-speed limit at the fetcher: a response trickled at a byte a second fails once it has
 * been slow for low-speed-time-seconds, but not while other requests of the same client move
 * at least the limit together (a slow link shared by many requests in flight).
 */

async function server(handler: http.RequestListener): Promise<{ url: string; close(): Promise<void> }> {
  const s = http.createServer(handler);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(s.address() as AddressInfo).port}/`,
    close: () => new Promise<void>((r) => { s.closeAllConnections(); s.close(() => r()); }),
  };
}

describe('Fetcher low-speed limit', () => {
  it('a trickled response fails after the other transfers end, not while they move', { timeout: 20_000 }, async () => {
    const timers: NodeJS.Timeout[] = [];
    const s = await server((req, res) => {
      if (req.url === '/stream') {
        // 2000 bytes a second for 3 s.
        res.writeHead(200, { 'content-length': 6000 }).flushHeaders();
        let k = 0;
        const t = setInterval(() => { res.write(Buffer.alloc(500)); if (++k === 12) { clearInterval(t); res.end(); } }, 250);
        timers.push(t);
        return;
      }
      res.writeHead(200, { 'content-length': 100 }).flushHeaders();
      const t = setInterval(() => res.write('x'), 1000);
      timers.push(t);
      res.on('close', () => clearInterval(t));
    });
    const f = new Fetcher(s.url, { attempts: 1, lowSpeedTimeSeconds: 1 });
    try {
      const t0 = Date.now();
      let streamDone = 0;
      const stream = f.get('stream', { maxBytes: 1 << 20 }).then((b) => { streamDone = Date.now() - t0; return b; });
      const slow = f.get('slow', { maxBytes: 1 << 20 }).then(() => null, (e: Error) => ({ e, at: Date.now() - t0 }));
      const [b, failed] = await Promise.all([stream, slow]);
      assert.equal(b?.length, 6000);
      assert.ok(failed !== null, 'the trickled response completed');
      assert.match(failed.e.message, /^fetching slow from http:\/\/127\.0\.0\.1:\d+\/: transfer too slow: less than 1000 bytes\/s for 1 s \(gave up after 1 attempts\)$/);
      assert.ok(failed.at >= streamDone, `failed at ${failed.at} ms, before the stream ended at ${streamDone} ms`);
      assert.ok(failed.at < streamDone + 3000, `failed at ${failed.at} ms, long after the stream ended at ${streamDone} ms`);
    } finally {
      f.close();
      for (const t of timers) clearInterval(t);
      await s.close();
    }
  });
});
