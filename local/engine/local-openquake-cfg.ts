import { renderOpenquakeCfg } from '../../cdk/lib/master/openquake-cfg.ts';

/** Where a local master's engine differs from the EC2 master's: ports and paths moved, its own vhost. */
export interface LocalCfgOptions {
  readonly amqpHost: string;
  readonly amqpPort: number;
  readonly amqpUser: string;
  readonly amqpPassword: string;
  readonly amqpVhost: string;
  readonly dbserverAuthkey: string;
  readonly numCores: number;
  readonly dbserverPort: number;
  readonly receiverPorts: { readonly from: number; readonly to: number };
  /** `[dbserver] file`: the SQLite database. */
  readonly databaseFile: string;
  readonly sharedDir: string;
}

/**
 * The master's own `openquake.cfg` (cdk/lib/master/openquake-cfg.ts, what the EC2 master writes at boot) with
 * only what a local run must move: the AMQP port, the DbServer's port and database file, the receiver ports and
 * shared_dir. Every other key (multi_user, num_cores, empty host_cores ...) stays as production renders it.
 */
export function renderLocalOpenquakeCfg(options: LocalCfgOptions): string {
  const rendered = renderOpenquakeCfg({
    masterHost: options.amqpHost,
    amqpUser: options.amqpUser,
    amqpPassword: options.amqpPassword,
    amqpVhost: options.amqpVhost,
    dbserverAuthkey: options.dbserverAuthkey,
    numCores: options.numCores,
  });
  return moveKeys(rendered, {
    amqp: { port: String(options.amqpPort) },
    dbserver: {
      port: String(options.dbserverPort),
      receiver_ports: `${options.receiverPorts.from}-${options.receiverPorts.to}`,
      file: options.databaseFile,
    },
    directory: { shared_dir: options.sharedDir },
  });
}

/**
 * Replaces the value of existing `key = value` lines, section by section; throws when a key is not there, so that
 * a change of the master's renderer cannot silently leave a production port or path in a local run.
 */
export function moveKeys(cfg: string, moves: Record<string, Record<string, string>>): string {
  const pending = new Set(
    Object.entries(moves).flatMap(([section, keys]) => Object.keys(keys).map((k) => `${section}.${k}`)),
  );
  let section = '';
  const lines = cfg.split('\n').map((line) => {
    const header = /^\[(.+)\]\s*$/.exec(line);
    if (header) {
      section = header[1]!;
      return line;
    }
    const entry = /^([A-Za-z_]+)\s*=/.exec(line);
    const value = entry ? moves[section]?.[entry[1]!] : undefined;
    if (entry === null || value === undefined) return line;
    pending.delete(`${section}.${entry[1]}`);
    return `${entry[1]} = ${value}`;
  });
  if (pending.size > 0) {
    throw new Error(
      `the master's openquake.cfg has no ${[...pending].join(', ')}: update scripts/engine/local-openquake-cfg.ts`,
    );
  }
  return lines.join('\n');
}
