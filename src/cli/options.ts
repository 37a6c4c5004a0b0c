// What every command shares: its options parsed the same way, --help, and the configuration that
// --config, --data and the AIRSYNC_* environment make together.
import { parseArgs } from 'node:util';
import type { ParseArgsConfig } from 'node:util';
import { loadConfig } from '../config.ts';
import type { Config, LoadConfigOptions } from '../config.ts';

type OptionSpecs = NonNullable<ParseArgsConfig['options']>;

/** A command line that does not parse: main prints the message and the usage, and exits 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';

  constructor(
    message: string,
    readonly usage: string,
  ) {
    super(message);
  }
}

const COMMON_OPTIONS = {
  data: { type: 'string' },
  config: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies OptionSpecs;

export const COMMON_USAGE = `Common options:
  --data DIR       data directory (default ./data)
  --config FILE    configuration file; AIRSYNC_* environment variables override it
  -h, --help       show this help`;

export function parseCommandLine<Options extends OptionSpecs>(
  args: string[],
  options: Options,
  usage: string,
) {
  try {
    return parseArgs({
      args,
      options: { ...COMMON_OPTIONS, ...options },
      allowPositionals: true,
      strict: true,
    });
  } catch (error) {
    if (error instanceof TypeError && 'code' in error && String(error.code).startsWith('ERR_PARSE_ARGS')) {
      // Node's text for an unknown option goes on about positionals; the option's name says enough.
      const unknown = /^Unknown option '([^']+)'/.exec(error.message);
      throw new UsageError(unknown ? `unknown option ${unknown[1]}` : error.message, usage);
    }
    throw error;
  }
}

/** The configuration for this run: file, then environment, then the command line. */
export function configFor(
  values: { data?: string; config?: string },
  overrides: LoadConfigOptions['overrides'] = {},
): Config {
  return loadConfig({
    file: values.config,
    env: process.env,
    overrides: values.data === undefined ? overrides : { ...overrides, dataDir: values.data },
  });
}

/** Refuses every option the command `name` does not take; the common options are always taken. */
export function refuseOtherOptions(
  values: Record<string, unknown>,
  taken: readonly string[],
  name: string,
  usage: string,
): void {
  for (const option of Object.keys(values)) {
    if (option in COMMON_OPTIONS || taken.includes(option)) continue;
    throw new UsageError(`${name} takes no --${option}`, usage);
  }
}
