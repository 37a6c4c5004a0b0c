// `airsync serve`: runs the server until SIGINT or SIGTERM, then answers the requests that wait (Ping,
// a Sync with Wait), so that phones reconnect at once, and lets the others finish.
import { parseListenAddress } from '../config.ts';
import { startServer } from '../http/server.ts';
import { COMMON_USAGE, UsageError, configFor, parseCommandLine } from './options.ts';

export const SERVE_USAGE = `Usage: airsync serve [options]

Runs the ActiveSync server and prints the URL it listens on. SIGINT or SIGTERM stop it gracefully:
waiting Pings and Syncs are answered at once, so that phones reconnect (to another server, behind a
load balancer), and the requests under way finish.

Options:
  --listen HOST:PORT  address to listen on (default 127.0.0.1:8080; port 0 picks a free port;
                      an IPv6 address goes in brackets, [::1]:8080)
  --tls-cert FILE     serve HTTPS with this certificate chain (PEM) ...
  --tls-key FILE      ... and this private key (PEM)
  --bus URL           tell the server's other processes of changes through Redis pub/sub
                      (redis://[[user]:password@]host[:port]); by default through PostgreSQL
                      LISTEN/NOTIFY, or on SQLite by reading the history of changes

${COMMON_USAGE}`;

const SERVE_OPTIONS = {
  listen: { type: 'string' },
  'tls-cert': { type: 'string' },
  'tls-key': { type: 'string' },
  bus: { type: 'string' },
} as const;

export async function serve(args: string[]): Promise<number> {
  const { values, positionals } = parseCommandLine(args, SERVE_OPTIONS, SERVE_USAGE);
  if (values.help) {
    process.stdout.write(`${SERVE_USAGE}\n`);
    return 0;
  }
  if (positionals.length > 0) throw new UsageError(`unexpected argument: ${positionals[0]}`, SERVE_USAGE);
  const cert = values['tls-cert'];
  const key = values['tls-key'];
  if ((cert === undefined) !== (key === undefined)) {
    throw new UsageError('--tls-cert and --tls-key go together', SERVE_USAGE);
  }

  const listen = values.listen === undefined ? undefined : parseListenAddress(values.listen);
  if (values.listen !== undefined && listen === undefined) {
    throw new UsageError(`--listen wants HOST:PORT, e.g. 127.0.0.1:8080, not ${values.listen}`, SERVE_USAGE);
  }
  const config = configFor(values, {
    listen,
    tls: cert !== undefined && key !== undefined ? { cert, key } : undefined,
    push: { bus: values.bus },
  });
  const server = await startServer(config);
  process.stdout.write(`airsync listening on ${server.url}\n`);
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  process.stdout.write(`airsync: ${signal} received, closing\n`);
  await server.close();
  return 0;
}
