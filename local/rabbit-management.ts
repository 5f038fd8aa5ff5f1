/**
 * The local runtime's one client of the RabbitMQ management API, as an administrator: vhosts, permissions,
 * users and connections for the demo, the benchmarks and the tests. (The bridge's own read-only client is
 * bridge/src/observe/management-api.ts: the product never imports the local runtime.)
 */

/** Sends one request; a 404 on DELETE counts as done. Errors name the method, the path and the fix. */
export type ManagementCall = (method: string, path: string, body?: unknown) => Promise<Response>;

/** A client for the management API at `base` (no credentials in it) as `user`. */
export function managementClient(base: string, user: string, password: string): ManagementCall {
  const auth = Buffer.from(`${user}:${password}`).toString('base64');
  return async (method, path, body) => {
    const response = await fetch(`${base}${path}`, {
      method,
      headers: { authorization: `Basic ${auth}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (response.status === 401) {
      throw new Error(
        `RabbitMQ at ${base} refused the administrator '${user}' (401): the local runtime uses the loopback-only ` +
          'test administrator that scripts/services.sh creates; start RabbitMQ with it, or set OQE_TEST_ADMIN_PASSWORD',
      );
    }
    if (!response.ok && !(method === 'DELETE' && response.status === 404)) {
      throw new Error(
        `RabbitMQ management API ${method} ${path} answered ${response.status} (is the management plugin on?): ${await response.text()}`,
      );
    }
    return response;
  };
}
