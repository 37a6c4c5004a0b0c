// Named policy sets: each stores only the settings that differ from the built-in defaults, so a set
// written today picks up tomorrow's new settings at their (permissive) defaults. A set can be the
// default, and can be assigned to users and to devices; which one applies to a device account is
// decided by effectivePolicy alone. A device holds the final key of the settings it applied
// (policyKeyFor), so a change of its effective settings is noticed by comparing keys — nothing has to
// be flagged when a set is edited or assigned.

import { isDeepStrictEqual } from 'node:util';
import type { Db } from '../state/db.ts';
import { normalizeUserName } from '../state/users.ts';
import type { ProtocolVersion } from '../http/query.ts';
import { policyKeyFor } from './policy-documents.ts';
import {
  defaultPolicySettings,
  policySettingsSchema,
  type PolicySettingName,
  type PolicySettings,
} from './policy-settings.ts';

export interface PolicySet {
  name: string;
  /** The settings that differ from the defaults, as stored. */
  overrides: Readonly<Record<string, unknown>>;
  /** The overrides applied to the defaults; undefined when they no longer validate (see EffectivePolicy). */
  settings: PolicySettings | undefined;
  isDefault: boolean;
  /** ISO-8601 UTC. */
  updatedAt: string;
}

/** Where a device account's policy comes from, most specific first. */
export type PolicySource = 'device' | 'user' | 'default' | 'built-in';

export interface EffectivePolicy {
  /** The policy set's name; undefined for the built-in defaults. */
  name: string | undefined;
  source: PolicySource;
  /**
   * Undefined when the stored set no longer validates (edited by hand, or written by a version that
   * knew other settings): such a policy is reported as corrupt rather than guessed at.
   */
  settings: PolicySettings | undefined;
}

/** A policy set's row, as the device store reads it alongside a device account. */
export interface StoredPolicy {
  name: string;
  /** The overrides as JSON. */
  settings: string;
}

/** The policy of a device account: the device's own set, else its user's, else the default set. */
export function effectivePolicy(sets: {
  device?: StoredPolicy;
  user?: StoredPolicy;
  default?: StoredPolicy;
}): EffectivePolicy {
  for (const source of ['device', 'user', 'default'] as const) {
    const set = sets[source];
    if (set !== undefined) return { name: set.name, source, settings: settingsFromJson(set.settings) };
  }
  return { name: undefined, source: 'built-in', settings: defaultPolicySettings };
}

/**
 * The final policy key of these settings at this version. Memoized: the gate asks on every request,
 * and the answer depends on nothing but its arguments, so sharing it across requests is safe.
 */
export function finalPolicyKey(settings: PolicySettings, protocolVersion: ProtocolVersion): number {
  let keys = finalKeys.get(settings);
  if (keys === undefined) {
    keys = new Map();
    finalKeys.set(settings, keys);
  }
  let key = keys.get(protocolVersion);
  if (key === undefined) {
    key = policyKeyFor(settings, protocolVersion);
    keys.set(protocolVersion, key);
  }
  return key;
}

// settingsFromJson hands out one object per stored text, so the key cache can be keyed by identity.
const finalKeys = new WeakMap<PolicySettings, Map<ProtocolVersion, number>>();
const parsedSettings = new Map<string, PolicySettings | undefined>();
/** Distinct policy texts are few; the bound only guards against unbounded growth. */
const PARSED_SETTINGS_MAX = 1000;

function settingsFromJson(text: string): PolicySettings | undefined {
  if (parsedSettings.has(text)) return parsedSettings.get(text);
  let settings: PolicySettings | undefined;
  try {
    const parsed = policySettingsSchema.safeParse(JSON.parse(text));
    settings = parsed.success ? parsed.data : undefined;
  } catch {
    settings = undefined;
  }
  if (parsedSettings.size >= PARSED_SETTINGS_MAX) parsedSettings.clear();
  parsedSettings.set(text, settings);
  return settings;
}

export class PolicyError extends Error {
  constructor(
    readonly code: 'invalid-name' | 'invalid-settings' | 'not-found',
    message: string,
  ) {
    super(message);
    this.name = 'PolicyError';
  }
}

/** Letters, digits, space, `.`, `_` and `-`; 1 to 64 of them, not starting or ending with a space. */
function checkPolicyName(name: string): string {
  if (!/^[\p{L}\p{N}._-](?:[\p{L}\p{N} ._-]{0,62}[\p{L}\p{N}._-])?$/u.test(name)) {
    throw new PolicyError(
      'invalid-name',
      `invalid policy name "${name}": 1-64 letters, digits, spaces, dots, underscores or hyphens`,
    );
  }
  return name;
}

/** Validates settings (any subset) and keeps those that differ from the defaults. */
function overridesOf(input: unknown): Partial<PolicySettings> {
  const parsed = policySettingsSchema.safeParse(input);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => {
      const path = issue.path.map(String);
      if (issue.code === 'unrecognized_keys') return `unknown setting ${issue.keys.join(', ')}`;
      return `${path.join('.') || '(settings)'}: ${issue.message}`;
    });
    throw new PolicyError('invalid-settings', `invalid policy settings: ${problems.join('; ')}`);
  }
  const overrides: Record<string, unknown> = {};
  for (const name of Object.keys(parsed.data) as PolicySettingName[]) {
    if (!isDeepStrictEqual(parsed.data[name], defaultPolicySettings[name]))
      overrides[name] = parsed.data[name];
  }
  return overrides as Partial<PolicySettings>;
}

export class PolicyStore {
  constructor(private readonly db: Db) {}

  async list(): Promise<PolicySet[]> {
    const rows = await this.db
      .selectFrom('policies')
      .select(['name', 'settings', 'is_default', 'updated_at'])
      .orderBy('name')
      .execute();
    return rows.map(toPolicySet);
  }

  async find(name: string): Promise<PolicySet | undefined> {
    const row = await this.db
      .selectFrom('policies')
      .select(['name', 'settings', 'is_default', 'updated_at'])
      .where('name', '=', name)
      .executeTakeFirst();
    return row && toPolicySet(row);
  }

  /**
   * Creates the set, or replaces its settings. `settings` is any subset of the policy settings (the
   * rest keep their defaults); PolicyError('invalid-settings') names every problem.
   */
  async save(name: string, settings: unknown): Promise<PolicySet> {
    checkPolicyName(name);
    const row = {
      name,
      settings: JSON.stringify(overridesOf(settings)),
      is_default: 0,
      updated_at: new Date().toISOString(),
    };
    const saved = await this.db
      .insertInto('policies')
      .values(row)
      .onConflict((conflict) =>
        conflict.column('name').doUpdateSet({ settings: row.settings, updated_at: row.updated_at }),
      )
      .returning(['name', 'settings', 'is_default', 'updated_at'])
      .executeTakeFirstOrThrow();
    return toPolicySet(saved);
  }

  /** False when there is no such set. Users and devices it was assigned to fall back to the default. */
  async remove(name: string): Promise<boolean> {
    const result = await this.db.deleteFrom('policies').where('name', '=', name).executeTakeFirst();
    return result.numDeletedRows > 0n;
  }

  /** Makes the set the default, or with undefined, goes back to the built-in defaults. */
  async setDefault(name: string | undefined): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await trx.updateTable('policies').set({ is_default: 0 }).where('is_default', '=', 1).execute();
      if (name === undefined) return;
      const result = await trx
        .updateTable('policies')
        .set({ is_default: 1 })
        .where('name', '=', name)
        .executeTakeFirst();
      if (result.numUpdatedRows === 0n) throw notFound(name);
    });
  }

  /** Assigns a set to a user, or with undefined, lets the user follow the default. */
  async assignToUser(userName: string, policyName: string | undefined): Promise<void> {
    const normalized = normalizeUserName(userName);
    await this.withPolicyId(policyName, async (policyId) => {
      const result = await this.db
        .updateTable('users')
        .set({ policy_id: policyId })
        .where('name', '=', normalized)
        .executeTakeFirst();
      if (result.numUpdatedRows === 0n) throw new PolicyError('not-found', `no user "${normalized}"`);
    });
  }

  /**
   * Assigns a set to a device (DeviceId), overriding its users' sets; with undefined, the device
   * follows its users' sets again.
   */
  async assignToDevice(deviceId: string, policyName: string | undefined): Promise<void> {
    await this.withPolicyId(policyName, async (policyId) => {
      const result = await this.db
        .updateTable('devices')
        .set({ policy_id: policyId })
        .where('device_id', '=', deviceId)
        .executeTakeFirst();
      if (result.numUpdatedRows === 0n) throw new PolicyError('not-found', `no device "${deviceId}"`);
    });
  }

  private async withPolicyId(
    policyName: string | undefined,
    assign: (policyId: number | null) => Promise<void>,
  ): Promise<void> {
    if (policyName === undefined) return assign(null);
    const row = await this.db
      .selectFrom('policies')
      .select('id')
      .where('name', '=', policyName)
      .executeTakeFirst();
    if (row === undefined) throw notFound(policyName);
    await assign(row.id);
  }
}

function notFound(name: string): PolicyError {
  return new PolicyError('not-found', `no policy set "${name}"`);
}

function toPolicySet(row: {
  name: string;
  settings: string;
  is_default: number;
  updated_at: string;
}): PolicySet {
  return {
    name: row.name,
    overrides: storedOverrides(row.settings),
    settings: settingsFromJson(row.settings),
    isDefault: row.is_default === 1,
    updatedAt: row.updated_at,
  };
}

/** The stored overrides as they are, valid or not, so that a corrupt set can be seen and mended. */
function storedOverrides(text: string): Record<string, unknown> {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : {};
  } catch {
    return {};
  }
}
