import { createServer } from 'node:net';

/** True when nothing listens on `port` on loopback (a bind succeeds). */
function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/**
 * `count` consecutive loopback ports that are free now, from a random start in 20000-59999 (outside the
 * engine's defaults 1908 and 1912-1920 and the kernel's ephemeral range), so that two local masters (two test
 * files, the demo and a test) never share a DbServer or a result receiver.
 */
export async function freePortRange(count: number): Promise<{ from: number; to: number }> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const from = 20000 + Math.floor(Math.random() * (40000 - count));
    let free = true;
    for (let port = from; port < from + count && free; port++) free = await canBind(port);
    if (free) return { from, to: from + count - 1 };
  }
  throw new Error(`no ${count} consecutive free loopback ports found in 20000-59999 after 200 tries`);
}
