// An app on a fresh SQLite database with two users, its log lines captured, and a count of password
// verifications (the argon2 calls the credential cache is there to avoid).

import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import type { CommandTable } from '../../src/commands/index.ts';
import type { Config, DeepPartial } from '../../src/config.ts';
import { buildApp } from '../../src/http/server.ts';
import { openDatabase, type Database } from '../../src/state/db.ts';
import { UserStore } from '../../src/state/users.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.ts';

export const ALICE = { name: 'alice', password: 'alice-secret' };
export const BOB = { name: 'bob', password: 'bob-secret' };

export type LogLine = Record<string, unknown> & { msg: string; status?: number; reason?: string };

export interface Harness {
  app: FastifyInstance;
  config: Config;
  logs: LogLine[];
  /** How often a password was checked against its hash. */
  verifications(): number;
  close(): Promise<void>;
}

export async function startHarness(
  options: { overrides?: DeepPartial<Config>; commands?: CommandTable } = {},
): Promise<Harness> {
  const testDatabase: TestDatabase = await createTestDatabase('sqlite', options.overrides);
  const database: Database = await openDatabase(testDatabase.config);
  const store = new UserStore(database.db);
  await store.add(ALICE.name, ALICE.password);
  await store.add(BOB.name, BOB.password);
  let verifications = 0;
  const logs: LogLine[] = [];
  const app = await buildApp(testDatabase.config, {
    db: database.db,
    users: {
      verify: (name, password) => {
        verifications++;
        return store.verify(name, password);
      },
    },
    commands: options.commands ?? {},
    logDestination: { write: (line: string) => void logs.push(JSON.parse(line) as LogLine) },
  });
  return {
    app,
    config: testDatabase.config,
    logs,
    verifications: () => verifications,
    close: async () => {
      await app.close();
      await database.close();
      await testDatabase.drop();
    },
  };
}

export function basic(login: string, password: string): string {
  return `Basic ${Buffer.from(`${login}:${password}`).toString('base64')}`;
}

/** Sends a request and returns its response and its log line, checking that it wrote exactly one. */
export async function send(
  harness: Harness,
  request: InjectOptions,
): Promise<{ response: LightMyRequestResponse; log: LogLine }> {
  const before = harness.logs.length;
  const response = await harness.app.inject(request);
  // The line is written once the response has gone out; give that a turn of the event loop.
  await new Promise((resolve) => setImmediate(resolve));
  const lines = harness.logs.slice(before);
  if (lines.length !== 1) throw new Error(`expected one log line, got ${JSON.stringify(lines)}`);
  return { response, log: lines[0] as LogLine };
}
