// The server configuration: defaults, then an optional JSON file, then AIRSYNC_* environment
// variables, then explicit overrides (the CLI's flags) — each layer wins over the ones before it.
// Paths are used as given, relative to the working directory.

import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { PROTOCOL_VERSIONS } from './http/query.ts';
import { heartbeatLimits, PROXY_MARGIN_SECONDS, SHORTEST_MAXIMUM_SECONDS } from './push/heartbeat.ts';

const tlsFile = z.string({ error: 'TLS needs both a certificate and a key file' }).min(1);

const configSchema = z.strictObject({
  listen: z
    .strictObject({
      host: z.string().min(1).default('127.0.0.1'),
      port: z.int().min(0).max(65535).default(8080),
    })
    .prefault({}),
  dataDir: z.string().min(1).default('./data'),
  /** Unset: a SQLite file `airsync.sqlite` in dataDir. */
  database: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'expected a postgres:// URL (leave it unset for SQLite in dataDir)')
    .optional(),
  /** The URL phones reach the server at; unset: derived from each request's Host and protocol. */
  publicUrl: z
    .url({ protocol: /^https?$/, error: 'expected an http:// or https:// URL' })
    .transform((url) => url.replace(/\/+$/, ''))
    .optional(),
  protocolVersions: z
    .array(z.enum(PROTOCOL_VERSIONS))
    .min(1)
    .default(() => [...PROTOCOL_VERSIONS]),
  /** Certificate and key files (PEM) for TLS in-process; unset: plain HTTP (e.g. behind a proxy). */
  tls: z.strictObject({ cert: tlsFile, key: tlsFile }).optional(),
  /** Behind a reverse proxy: true, or the proxies' addresses/CIDRs, so client addresses are real. */
  trustProxy: z.union([z.boolean(), z.array(z.string().min(1))]).default(false),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /**
   * Device security policies. `off`: none are sent and devices sync without provisioning. `required`:
   * a device syncs only once it has applied the policy. `allow`: the policy is sent, and a device that
   * cannot apply it (or never asks) syncs anyway; one that did apply it must keep it current.
   * Remote wipe works in every mode.
   */
  provisioning: z.enum(['off', 'required', 'allow']).default('allow'),
  auth: z
    .strictObject({
      /** How long a verified user/password pair skips the password hash (0 = always hash). */
      cacheTtlSeconds: z.int().min(0).default(60),
      cacheMaxEntries: z.int().min(1).default(10_000),
      /** Failed logins of one user from one address before that pair is blocked. */
      maxFailuresPerUser: z.int().min(1).default(10),
      /** Failed logins from one address, whatever the user, before the address is blocked. */
      maxFailuresPerAddress: z.int().min(1).default(50),
      failureWindowSeconds: z
        .int()
        .min(1)
        .default(15 * 60),
      blockSeconds: z
        .int()
        .min(1)
        .default(15 * 60),
    })
    .prefault({}),
  /** The domain of users' addresses that have none of their own (`name@mailDomain`); unset: the public host. */
  mailDomain: z
    .string()
    .regex(/^[a-z0-9.-]+$/i, 'expected a domain name, e.g. example.org')
    .optional(),
  /**
   * Encrypts secrets at rest (recovery passwords). Unset: a random key in dataDir/secret.key, made on
   * first use — fine for one server; processes that share a PostgreSQL database must all be given
   * the same secretKey, or each reads only what it wrote itself.
   */
  secretKey: z
    .string()
    .min(32, 'expected at least 32 characters, e.g. from `openssl rand -base64 32`')
    .optional(),
  /** Protocol log entries kept per device account, oldest dropped first; 0 keeps none. */
  deviceLogEntries: z.int().min(0).default(200),
  /** Ping and the Sync that waits, and how waiting requests hear of changes. */
  push: z
    .strictObject({
      /** Heartbeats accepted, in seconds (Ping HeartbeatInterval, Sync HeartbeatInterval and Wait). */
      minHeartbeat: z.int().min(1).default(60),
      maxHeartbeat: z.int().min(1).default(3540),
      /**
       * The reverse proxy's read timeout in seconds (nginx proxy_read_timeout, Apache ProxyTimeout):
       * heartbeats are accepted up to PROXY_MARGIN_SECONDS below it.
       */
      proxyTimeout: z.int().min(1).optional(),
      /** Folders one Ping may watch (Status 6 beyond). */
      maxFolders: z.int().min(1).default(300),
      /** Redis pub/sub between server processes; unset: LISTEN/NOTIFY on PostgreSQL, on SQLite the history poller. */
      bus: z
        .string()
        .regex(/^redis:\/\//, 'expected a redis://[[user]:password@]host[:port] URL')
        .optional(),
      /** The PostgreSQL or Redis channel; servers sharing one must share this. */
      channel: z
        .string()
        .regex(/^[a-z_][a-z0-9_]*$/, 'expected lower case letters, digits and _')
        .default('airsync_changes'),
      /** On SQLite: how often the history is read for changes other processes (the CLI) made. */
      pollIntervalMs: z.int().min(10).default(1000),
    })
    .prefault({})
    .superRefine((push, context) => {
      const { min, max } = heartbeatLimits(push);
      if (max < Math.max(min, SHORTEST_MAXIMUM_SECONDS)) {
        const cause =
          push.proxyTimeout !== undefined && push.proxyTimeout - PROXY_MARGIN_SECONDS < push.maxHeartbeat
            ? `proxyTimeout ${push.proxyTimeout} leaves heartbeats up to ${max} s: raise the proxy's timeout`
            : `maxHeartbeat is ${push.maxHeartbeat}`;
        context.addIssue({
          code: 'custom',
          message: `the longest heartbeat accepted must be at least ${Math.max(min, SHORTEST_MAXIMUM_SECONDS)} s (minHeartbeat, and a minute); ${cause}`,
        });
      }
    }),
  limits: z
    .strictObject({
      /** SendMail carries whole messages with attachments. */
      maxBodyBytes: z
        .int()
        .min(1)
        .default(50 * 1024 * 1024),
      maxWbxmlDepth: z.int().min(1).default(32),
    })
    .prefault({}),
});

export type Config = z.output<typeof configSchema>;

export type DeepPartial<T> = T extends readonly unknown[]
  ? T
  : T extends object
    ? { [K in keyof T]?: DeepPartial<T[K]> }
    : T;

export interface LoadConfigOptions {
  /** A JSON file with any subset of the config. */
  file?: string;
  /** Where AIRSYNC_* variables are read from; defaults to none, so tests stay hermetic. */
  env?: NodeJS.ProcessEnv;
  /** Explicit values (the CLI's flags); undefined leaves a field to the layers below. */
  overrides?: DeepPartial<Config>;
}

/** A configuration problem, phrased for the person who wrote the configuration. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/** `HOST:PORT` or `[IPV6]:PORT`; undefined when the text has neither form. */
export function parseListenAddress(text: string): { host: string; port: number } | undefined {
  const match = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d+)$/.exec(text.trim());
  if (match === null) return undefined;
  return { host: (match[1] ?? match[2]) as string, port: Number(match[3]) };
}

type Layer = Record<string, unknown>;

interface EnvironmentVariable {
  name: string;
  path: string[];
  parse: (value: string) => unknown;
}

const list = (value: string) =>
  value
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '');

const ENVIRONMENT: readonly EnvironmentVariable[] = [
  {
    name: 'AIRSYNC_LISTEN',
    path: ['listen'],
    parse: (value) => {
      const address = parseListenAddress(value);
      if (address === undefined) throw new ConfigError(`AIRSYNC_LISTEN: expected HOST:PORT, got "${value}"`);
      return address;
    },
  },
  { name: 'AIRSYNC_DATA', path: ['dataDir'], parse: String },
  { name: 'AIRSYNC_DATABASE', path: ['database'], parse: String },
  { name: 'AIRSYNC_PUBLIC_URL', path: ['publicUrl'], parse: String },
  { name: 'AIRSYNC_PROTOCOL_VERSIONS', path: ['protocolVersions'], parse: list },
  { name: 'AIRSYNC_LOG_LEVEL', path: ['logLevel'], parse: String },
  { name: 'AIRSYNC_PROVISIONING', path: ['provisioning'], parse: String },
  { name: 'AIRSYNC_MAIL_DOMAIN', path: ['mailDomain'], parse: String },
  { name: 'AIRSYNC_SECRET_KEY', path: ['secretKey'], parse: String },
  { name: 'AIRSYNC_DEVICE_LOG_ENTRIES', path: ['deviceLogEntries'], parse: Number },
  { name: 'AIRSYNC_BUS', path: ['push', 'bus'], parse: String },
  { name: 'AIRSYNC_PROXY_TIMEOUT', path: ['push', 'proxyTimeout'], parse: Number },
  { name: 'AIRSYNC_TLS_CERT', path: ['tls', 'cert'], parse: String },
  { name: 'AIRSYNC_TLS_KEY', path: ['tls', 'key'], parse: String },
  {
    name: 'AIRSYNC_TRUST_PROXY',
    path: ['trustProxy'],
    parse: (value) => (value === 'true' ? true : value === 'false' ? false : list(value)),
  },
];

/** Builds and validates the configuration; throws ConfigError naming the field and where it came from. */
export function loadConfig(options: LoadConfigOptions = {}): Config {
  const file = options.file === undefined ? {} : readConfigFile(options.file);
  const setByEnvironment = ENVIRONMENT.filter(({ name }) => options.env?.[name]);
  const environment: Layer = {};
  for (const variable of setByEnvironment) {
    setPath(environment, variable.path, variable.parse(options.env?.[variable.name] as string));
  }
  const overrides = (options.overrides ?? {}) as Layer;

  const result = configSchema.safeParse(merge(merge(file, environment), overrides));
  if (result.success) return result.data;

  const sourceOf = (path: string[]): string => {
    // The most specific layer that set this field (or, for a missing field, its parent) is to blame.
    for (let depth = path.length; depth > 0; depth--) {
      const prefix = path.slice(0, depth);
      if (getPath(overrides, prefix) !== undefined) return 'command line';
      const variable = setByEnvironment.find((v) => startsWith(v.path, prefix) || startsWith(prefix, v.path));
      if (variable !== undefined) return variable.name;
      if (getPath(file, prefix) !== undefined) return options.file as string;
    }
    return 'defaults';
  };
  const problems = result.error.issues.map((issue) => {
    const path = issue.path.map(String);
    if (issue.code === 'unrecognized_keys') path.push(...issue.keys.slice(0, 1));
    return `${path.join('.') || '(root)'}: ${issue.message} (from ${sourceOf(path)})`;
  });
  throw new ConfigError(`invalid configuration: ${problems.join('; ')}`);
}

function readConfigFile(file: string): Layer {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError(`cannot read config file ${file}: ${(error as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(`config file ${file} is not valid JSON: ${(error as Error).message}`);
  }
  if (!isObject(parsed)) throw new ConfigError(`config file ${file} must hold a JSON object`);
  return parsed;
}

function isObject(value: unknown): value is Layer {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Objects merge key by key; anything else (arrays included) replaces; undefined leaves the base. */
function merge(base: Layer, top: Layer): Layer {
  const merged: Layer = { ...base };
  for (const [key, value] of Object.entries(top)) {
    if (value === undefined) continue;
    const below = merged[key];
    merged[key] = isObject(below) && isObject(value) ? merge(below, value) : value;
  }
  return merged;
}

function setPath(layer: Layer, path: string[], value: unknown): void {
  const [key, ...rest] = path as [string, ...string[]];
  if (rest.length === 0) {
    layer[key] = value;
    return;
  }
  const next = isObject(layer[key]) ? layer[key] : (layer[key] = {});
  setPath(next, rest, value);
}

function getPath(layer: Layer, path: string[]): unknown {
  let value: unknown = layer;
  for (const key of path) value = isObject(value) ? value[key] : undefined;
  return value;
}

function startsWith(path: string[], prefix: string[]): boolean {
  return prefix.every((key, i) => path[i] === key);
}
