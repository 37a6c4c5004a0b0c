// The built-in user directory: names with argon2id password hashes, kept in the state database.

import argon2 from 'argon2';
import { isUniqueViolation } from './dialect.ts';
import type { Db } from './db.ts';

export interface User {
  id: number;
  /** Lower case, without a domain. */
  name: string;
  admin: boolean;
  /** ISO-8601 UTC. */
  createdAt: string;
}

/** What authentication needs from wherever users live. */
export interface UserDirectory {
  /** The user when the password is right; undefined for a wrong password or an unknown name. */
  verify(name: string, password: string): Promise<User | undefined>;
}

export class UserError extends Error {
  constructor(
    readonly code: 'invalid-name' | 'invalid-email' | 'empty-password' | 'exists',
    message: string,
  ) {
    super(message);
    this.name = 'UserError';
  }
}

/**
 * The canonical form of a user name: trimmed and lower case. A name may not hold whitespace, `:`
 * (Basic auth splits there), `@`, `\` or `/` (logins like `DOMAIN\user` and `user@domain` are
 * stripped to the bare name before lookup).
 */
export function normalizeUserName(name: string): string {
  const normalized = name.trim().normalize('NFC').toLowerCase();
  if (!/^[^\s:@\\/]{1,64}$/u.test(normalized)) {
    throw new UserError(
      'invalid-name',
      `invalid user name "${name}": 1-64 characters, none of space : @ \\ /`,
    );
  }
  return normalized;
}

export class UserStore implements UserDirectory {
  /** A hash to verify against when the user does not exist, so both cases take the same time. */
  private static dummyHash: Promise<string> | undefined;

  constructor(private readonly db: Db) {}

  async add(name: string, password: string, options: { admin?: boolean } = {}): Promise<User> {
    const normalized = normalizeUserName(name);
    const row = {
      name: normalized,
      password_hash: await hashPassword(password),
      admin: options.admin ? 1 : 0,
      created_at: new Date().toISOString(),
    };
    try {
      const { id } = await this.db.insertInto('users').values(row).returning('id').executeTakeFirstOrThrow();
      return { id, name: normalized, admin: row.admin === 1, createdAt: row.created_at };
    } catch (error) {
      if (isUniqueViolation(error)) throw new UserError('exists', `user "${normalized}" already exists`);
      throw error;
    }
  }

  async find(name: string): Promise<User | undefined> {
    const row = await this.db
      .selectFrom('users')
      .select(['id', 'name', 'admin', 'created_at'])
      .where('name', '=', normalizeUserName(name))
      .executeTakeFirst();
    return row && toUser(row);
  }

  async list(): Promise<User[]> {
    const rows = await this.db
      .selectFrom('users')
      .select(['id', 'name', 'admin', 'created_at'])
      .orderBy('name')
      .execute();
    return rows.map(toUser);
  }

  /** False when there is no such user. */
  async setPassword(name: string, password: string): Promise<boolean> {
    const result = await this.db
      .updateTable('users')
      .set({ password_hash: await hashPassword(password) })
      .where('name', '=', normalizeUserName(name))
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }

  /**
   * Sets how the user appears in mail: their address and display name. An empty string clears a
   * field (the address then falls back to name@mail domain); an absent one is left as it is. False
   * when there is no such user.
   */
  async setMailIdentity(name: string, identity: { email?: string; displayName?: string }): Promise<boolean> {
    const { email, displayName } = identity;
    if (email !== undefined && email !== '' && !/^[^\s@<>"]+@[^\s@<>"]+$/u.test(email)) {
      throw new UserError('invalid-email', `invalid e-mail address "${email}"`);
    }
    const changes = {
      ...(email === undefined ? {} : { email: email === '' ? null : email.toLowerCase() }),
      ...(displayName === undefined
        ? {}
        : { display_name: displayName.trim() === '' ? null : displayName.trim() }),
    };
    if (Object.keys(changes).length === 0) return (await this.find(name)) !== undefined;
    const result = await this.db
      .updateTable('users')
      .set(changes)
      .where('name', '=', normalizeUserName(name))
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }

  /** False when there is no such user. */
  async remove(name: string): Promise<boolean> {
    const result = await this.db
      .deleteFrom('users')
      .where('name', '=', normalizeUserName(name))
      .executeTakeFirst();
    return result.numDeletedRows > 0n;
  }

  async verify(name: string, password: string): Promise<User | undefined> {
    let normalized: string;
    try {
      normalized = normalizeUserName(name);
    } catch {
      return undefined;
    }
    const row = await this.db
      .selectFrom('users')
      .select(['id', 'name', 'admin', 'created_at', 'password_hash'])
      .where('name', '=', normalized)
      .executeTakeFirst();
    if (row === undefined) {
      UserStore.dummyHash ??= hashPassword('an unguessable dummy password');
      await argon2.verify(await UserStore.dummyHash, password);
      return undefined;
    }
    return (await argon2.verify(row.password_hash, password)) ? toUser(row) : undefined;
  }
}

async function hashPassword(password: string): Promise<string> {
  if (password === '') throw new UserError('empty-password', 'the password is empty');
  return argon2.hash(password, { type: argon2.argon2id });
}

function toUser(row: { id: number; name: string; admin: number; created_at: string }): User {
  return { id: row.id, name: row.name, admin: row.admin === 1, createdAt: row.created_at };
}
