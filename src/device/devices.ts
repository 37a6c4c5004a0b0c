// The device registry: every device that reached the server with valid credentials, the accounts it
// carries (one phone may hold several users' accounts, each with its own policy key and wipe state),
// the remote wipes asked for it, and the history of what happened to it (device_events, which outlives
// the device). The front door records each request here and gets back the DeviceSession the gate and
// the Provision command decide on; the admin API and CLI list, wipe, reprovision and remove devices.

import { sql } from 'kysely';
import { isProtocolVersion, isVersionAtLeast, type EasRequest, type ProtocolVersion } from '../http/query.ts';
import { preparedQuery, type Db } from '../state/db.ts';
import type { WipeState } from '../state/schema.ts';
import { normalizeUserName, type User } from '../state/users.ts';
import type { DeviceInformation } from './device-information.ts';
import {
  effectivePolicy,
  type EffectivePolicy,
  type PolicySource,
  type StoredPolicy,
} from './policy-store.ts';

export type { WipeState };

/** A whole-device wipe (RemoteWipe), or an account-only wipe of one account (AccountOnlyRemoteWipe, EAS 16.1). */
export type WipeScope = 'device' | 'account';

/** The first protocol version with account-only remote wipe. */
export const ACCOUNT_ONLY_WIPE_VERSION: ProtocolVersion = '16.1';

/** What a device answered to the policy it downloaded (the Policy Status of its acknowledgement). */
export type PolicyAcknowledgement = 'applied' | 'partly-applied' | 'not-applied' | 'third-party';

const ACKNOWLEDGEMENTS: Record<number, PolicyAcknowledgement> = {
  1: 'applied',
  2: 'partly-applied',
  3: 'not-applied',
  4: 'third-party',
};

export type DeviceEventAction =
  | 'provisioned'
  | 'policy-refused'
  | 'wipe-requested'
  | 'wipe-cancelled'
  | 'wipe-delivered'
  | 'wipe-acknowledged'
  | 'reprovision-requested'
  | 'resync-requested'
  | 'removed';

export interface DeviceEvent {
  deviceId: string;
  /** The account concerned; undefined for the whole device. */
  user: string | undefined;
  /** ISO-8601 UTC. */
  at: string;
  action: DeviceEventAction;
  /** Who asked: a user name, or `device` for what the device itself did. */
  actor: string;
  detail: string | undefined;
}

/** The device and account one request comes from: what the gate and the Provision command decide on. */
export interface DeviceSession {
  /** The DeviceId the phone sends. */
  deviceId: string;
  user: string;
  /** The device_accounts row, for state kept per account (the protocol log, the recovery password). */
  accountId: number;
  deviceWipe: WipeState;
  accountWipe: WipeState;
  /** The final key the account holds; undefined before provisioning and after a reprovision request. */
  policyKey: number | undefined;
  previousPolicyKey: number | undefined;
  /** A policy download not yet acknowledged. */
  temporaryPolicyKey: number | undefined;
  offeredPolicyKey: number | undefined;
  /** What the account answered to the last policy it acknowledged; undefined when it never did. */
  acknowledgement: PolicyAcknowledgement | undefined;
  policy: EffectivePolicy;
}

/** A device as the admin API shows it. */
export interface Device {
  /** The DeviceId the phone sends. */
  id: string;
  type: string;
  userAgent: string | undefined;
  protocolVersion: string | undefined;
  /** ISO-8601 UTC, as all times here. */
  firstSeen: string;
  /** Refreshed at most every LAST_SEEN_PRECISION_MS while nothing else about the device's requests changes. */
  lastSeen: string;
  lastCommand: string | undefined;
  lastAddress: string | undefined;
  /** Settings DeviceInformation, as the device last reported it. */
  information: DeviceInformation;
  /** The policy set assigned to the device itself, which wins over its users' sets. */
  policy: string | undefined;
  wipe: WipeState;
  accounts: DeviceAccount[];
}

export interface DeviceAccount {
  user: string;
  firstSeen: string;
  lastSeen: string;
  /** The policy set that applies to this account, and why; undefined name: the built-in defaults. */
  policy: { name: string | undefined; source: PolicySource };
  policyKey: number | undefined;
  /** The protocol version the key was computed for. */
  policyVersion: string | undefined;
  provisionedAt: string | undefined;
  acknowledgement: PolicyAcknowledgement | undefined;
  /** Account-only wipe. */
  wipe: WipeState;
}

/** Refused admin actions; the message is for the person who asked. */
export class DeviceError extends Error {
  constructor(
    readonly code: 'not-found' | 'account-wipe-unsupported',
    message: string,
  ) {
    super(message);
    this.name = 'DeviceError';
  }
}

/**
 * While nothing but the time changes between a device's requests, its last_seen is written at most
 * this often (and an account's, always): a burst of requests then costs one read each and no write.
 */
export const LAST_SEEN_PRECISION_MS = 30_000;

/** Who did an admin action, for the device's history. */
export interface Actor {
  by: string;
}

/** An admin action on one account of the device (by user name), or on all of them. */
export interface AccountActor extends Actor {
  account?: string;
}

export class DeviceStore {
  constructor(private readonly db: Db) {}

  /**
   * Records one authenticated request — the device and the account on first contact, then what
   * changed — and returns the session the gate decides on. Concurrent first requests of one device
   * are safe: both upsert the same rows.
   */
  async recordRequest(request: EasRequest, user: User): Promise<DeviceSession> {
    const now = new Date();
    const existing = await this.account(request.deviceId, user.id);
    if (existing !== undefined) {
      await this.recordActivity(existing, request, now);
      return toSession(existing);
    }
    await this.recordFirstContact(request, user, now);
    const created = await this.account(request.deviceId, user.id);
    if (created === undefined) {
      throw new Error(`device ${request.deviceId} was removed while it was being recorded`);
    }
    return toSession(created);
  }

  /** The session of a user's account on a device (DeviceId), as the request that is running recorded it. */
  async session(deviceId: string, userId: number): Promise<DeviceSession | undefined> {
    const row = await this.account(deviceId, userId);
    return row && toSession(row);
  }

  /** All devices, or those carrying an account of one user, most recently seen first. */
  async list(options: { user?: string } = {}): Promise<Device[]> {
    // Devices seen within the same millisecond: the one registered last first.
    let query = this.devices().orderBy('d.last_seen', 'desc').orderBy('d.id', 'desc');
    if (options.user !== undefined) {
      const name = normalizeUserName(options.user);
      query = query.where(({ exists, selectFrom }) =>
        exists(
          selectFrom('device_accounts as a')
            .innerJoin('users as u', 'u.id', 'a.user_id')
            .whereRef('a.device_id', '=', 'd.id')
            .where('u.name', '=', name)
            .select('a.id'),
        ),
      );
    }
    return this.withAccounts(await query.execute());
  }

  /** One device by its DeviceId. */
  async show(deviceId: string): Promise<Device | undefined> {
    const row = await this.devices().where('d.device_id', '=', deviceId).executeTakeFirst();
    return row && (await this.withAccounts([row]))[0];
  }

  /** What happened to a device, oldest first; kept after the device is removed. */
  async history(deviceId: string): Promise<DeviceEvent[]> {
    const rows = await this.db
      .selectFrom('device_events')
      .selectAll()
      .where('device_ident', '=', deviceId)
      .orderBy('id')
      .execute();
    return rows.map((row) => ({
      deviceId: row.device_ident,
      user: row.user_name ?? undefined,
      at: row.at,
      action: row.action as DeviceEventAction,
      actor: row.actor,
      detail: row.detail ?? undefined,
    }));
  }

  /**
   * Stores Settings DeviceInformation (from the Settings command, or from Provision at 14.1 and
   * later), replacing what the device reported before. False when there is no such device.
   */
  async saveDeviceInformation(deviceId: string, information: DeviceInformation): Promise<boolean> {
    const result = await this.db
      .updateTable('devices')
      .set({
        model: information.model ?? null,
        imei: information.imei ?? null,
        friendly_name: information.friendlyName ?? null,
        os: information.os ?? null,
        os_language: information.osLanguage ?? null,
        phone_number: information.phoneNumber ?? null,
        mobile_operator: information.mobileOperator ?? null,
        information_user_agent: information.userAgent ?? null,
        enable_outbound_sms:
          information.enableOutboundSms === undefined ? null : information.enableOutboundSms ? 1 : 0,
      })
      .where('device_id', '=', deviceId)
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }

  /**
   * Asks for a wipe: of the whole device, or with `account`, of that account only — which needs a
   * device that speaks EAS 16.1 (DeviceError 'account-wipe-unsupported' otherwise: older devices
   * know only the full wipe, and a shared phone must not be reset because one account was removed;
   * remove the account instead). The device is told on its next request other than Ping, and is
   * wiped again on every reconnect until it is removed. Returns the resulting state: a device
   * already wiped stays wiped.
   */
  async requestWipe(deviceId: string, options: AccountActor): Promise<WipeState> {
    const target = await this.target(deviceId, options.account);
    if (target.user !== undefined && !speaksAccountOnlyWipe(target.protocolVersion)) {
      throw new DeviceError(
        'account-wipe-unsupported',
        `device ${deviceId} speaks EAS ${target.protocolVersion ?? 'unknown'}; an account-only wipe needs ` +
          `EAS ${ACCOUNT_ONLY_WIPE_VERSION}. Wipe the whole device, or remove the account from it.`,
      );
    }
    return this.db.transaction().execute(async (trx) => {
      if (!(await moveWipe(trx, target, 'none', 'pending'))) return target.wipe;
      await recordEvent(trx, deviceId, target.user, 'wipe-requested', options.by, target.scope);
      return 'pending';
    });
  }

  /** Cancels a wipe that has not been acknowledged yet; false when none was pending. */
  async cancelWipe(deviceId: string, options: AccountActor): Promise<boolean> {
    const target = await this.target(deviceId, options.account);
    return this.db.transaction().execute(async (trx) => {
      if (!(await moveWipe(trx, target, 'pending', 'none'))) return false;
      await recordEvent(trx, deviceId, target.user, 'wipe-cancelled', options.by, target.scope);
      return true;
    });
  }

  /**
   * Forgets the policy key of the device's accounts (or of one), so that each must provision again
   * before its next command — also in `allow` mode, for an account that had applied the policy.
   */
  async reprovision(deviceId: string, options: AccountActor): Promise<void> {
    const target = await this.target(deviceId, options.account);
    await this.db.transaction().execute(async (trx) => {
      let update = trx
        .updateTable('device_accounts')
        .set({
          // Kept as the previous key: a client with the sendsPreviousPolicyKey quirk may still send it.
          previous_policy_key: sql<number | null>`coalesce(policy_key, previous_policy_key)`,
          policy_key: null,
          temporary_policy_key: null,
          offered_policy_key: null,
        })
        .where('device_id', '=', target.deviceRowId);
      if (target.accountId !== undefined) update = update.where('id', '=', target.accountId);
      await update.execute();
      await recordEvent(trx, deviceId, target.user, 'reprovision-requested', options.by);
    });
  }

  /** Makes the device's accounts (or one) start their sync over, as a new device would. */
  async resync(deviceId: string, options: AccountActor): Promise<void> {
    const target = await this.target(deviceId, options.account);
    await this.db.transaction().execute(async (trx) => {
      await forgetSyncState(trx, target);
      await recordEvent(trx, deviceId, target.user, 'resync-requested', options.by);
    });
  }

  /**
   * Removes the device with its accounts and their state (its history stays). A device that comes
   * back is a new device: it provisions again, and a wipe asked for before is forgotten.
   */
  async removeDevice(deviceId: string, options: Actor): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      const result = await trx.deleteFrom('devices').where('device_id', '=', deviceId).executeTakeFirst();
      if (result.numDeletedRows === 0n) return false;
      await recordEvent(trx, deviceId, undefined, 'removed', options.by);
      return true;
    });
  }

  /** Removes one user's account from the device, with its state; the device stays. */
  async removeAccount(deviceId: string, options: Actor & { account: string }): Promise<boolean> {
    const target = await this.target(deviceId, options.account);
    return this.db.transaction().execute(async (trx) => {
      const result = await trx
        .deleteFrom('device_accounts')
        .where('id', '=', target.accountId)
        .executeTakeFirst();
      if (result.numDeletedRows === 0n) return false;
      await recordEvent(trx, deviceId, target.user, 'removed', options.by);
      return true;
    });
  }

  // What the Provision command records. An acknowledgement is matched against the download on
  // record inside the update itself, so of two racing acknowledgements only one can succeed.

  /** Remembers a policy download: the temporary key handed out and the final key it leads to. */
  async offerPolicy(session: DeviceSession, keys: { temporaryKey: number; finalKey: number }): Promise<void> {
    await this.db
      .updateTable('device_accounts')
      .set({ temporary_policy_key: keys.temporaryKey, offered_policy_key: keys.finalKey })
      .where('id', '=', session.accountId)
      .execute();
  }

  /**
   * Gives the account the final key of the download acknowledged with `temporaryKey`, and records
   * what the device answered. Undefined (nothing changed) when that is not the download on record.
   */
  async acceptPolicy(
    session: DeviceSession,
    acknowledgement: { temporaryKey: number; status: number; protocolVersion: ProtocolVersion },
  ): Promise<number | undefined> {
    const finalKey = session.offeredPolicyKey;
    if (finalKey === undefined || session.temporaryPolicyKey !== acknowledgement.temporaryKey) {
      return undefined;
    }
    const replaced = session.policyKey !== undefined && session.policyKey !== finalKey;
    return this.db.transaction().execute(async (trx) => {
      const result = await trx
        .updateTable('device_accounts')
        .set({
          policy_key: finalKey,
          previous_policy_key: replaced ? (session.policyKey ?? null) : (session.previousPolicyKey ?? null),
          policy_version: acknowledgement.protocolVersion,
          policy_ack_status: acknowledgement.status,
          provisioned_at: new Date().toISOString(),
          temporary_policy_key: null,
          offered_policy_key: null,
        })
        .where('id', '=', session.accountId)
        .where('temporary_policy_key', '=', acknowledgement.temporaryKey)
        .executeTakeFirst();
      if (result.numUpdatedRows === 0n) return undefined;
      const detail = `EAS ${acknowledgement.protocolVersion}, key ${finalKey}, ${describeStatus(acknowledgement.status)}`;
      await recordEvent(trx, session.deviceId, session.user, 'provisioned', 'device', detail);
      return finalKey;
    });
  }

  /**
   * Records that the device could not apply the policy it acknowledged with `temporaryKey`, where
   * the mode requires it to: the account holds no key afterwards. False (nothing changed) when that
   * is not the download on record.
   */
  async refusePolicy(
    session: DeviceSession,
    acknowledgement: { temporaryKey: number; status: number },
  ): Promise<boolean> {
    if (session.temporaryPolicyKey !== acknowledgement.temporaryKey) return false;
    return this.db.transaction().execute(async (trx) => {
      const result = await trx
        .updateTable('device_accounts')
        .set({
          policy_key: null,
          previous_policy_key: session.policyKey ?? session.previousPolicyKey ?? null,
          policy_ack_status: acknowledgement.status,
          temporary_policy_key: null,
          offered_policy_key: null,
        })
        .where('id', '=', session.accountId)
        .where('temporary_policy_key', '=', acknowledgement.temporaryKey)
        .executeTakeFirst();
      if (result.numUpdatedRows === 0n) return false;
      await recordEvent(
        trx,
        session.deviceId,
        session.user,
        'policy-refused',
        'device',
        describeStatus(acknowledgement.status),
      );
      return true;
    });
  }

  /** Records that a Provision response carried the wipe directive. */
  async recordWipeDelivered(session: DeviceSession, scope: WipeScope): Promise<void> {
    await recordEvent(this.db, session.deviceId, session.user, 'wipe-delivered', 'device', scope);
  }

  /**
   * Records the device's answer to a wipe directive: status 1 (wiped) moves the wipe to `wiped`,
   * status 2 (failed) leaves it pending. Nothing is recorded when no wipe of that scope was asked for.
   */
  async acknowledgeWipe(session: DeviceSession, scope: WipeScope, status: 1 | 2): Promise<void> {
    const state = scope === 'device' ? session.deviceWipe : session.accountWipe;
    if (state === 'none') return;
    await this.db.transaction().execute(async (trx) => {
      if (status === 1 && scope === 'device') {
        await trx
          .updateTable('devices')
          .set({ wipe_state: 'wiped' })
          .where('device_id', '=', session.deviceId)
          .where('wipe_state', '=', 'pending')
          .execute();
      } else if (status === 1) {
        await trx
          .updateTable('device_accounts')
          .set({ wipe_state: 'wiped' })
          .where('id', '=', session.accountId)
          .where('wipe_state', '=', 'pending')
          .execute();
      }
      const detail = `${scope}, status ${status} (${status === 1 ? 'wiped' : 'failed'})`;
      await recordEvent(trx, session.deviceId, session.user, 'wipe-acknowledged', 'device', detail);
    });
  }

  private devices() {
    return this.db
      .selectFrom('devices as d')
      .leftJoin('policies as p', 'p.id', 'd.policy_id')
      .selectAll('d')
      .select('p.name as policy_name');
  }

  private account(deviceId: string, userId: number): Promise<AccountRow | undefined> {
    return ACCOUNT.executeTakeFirst(this.db, { deviceId, userId });
  }

  private async recordFirstContact(request: EasRequest, user: User, now: Date): Promise<void> {
    const seen = now.toISOString();
    const activity = deviceActivity(request, seen);
    await this.db.transaction().execute(async (trx) => {
      const device = await trx
        .insertInto('devices')
        .values({ device_id: request.deviceId, first_seen: seen, ...activity })
        .onConflict((conflict) => conflict.column('device_id').doUpdateSet(activity))
        .returning('id')
        .executeTakeFirstOrThrow();
      await trx
        .insertInto('device_accounts')
        .values({ device_id: device.id, user_id: user.id, first_seen: seen, last_seen: seen })
        .onConflict((conflict) => conflict.columns(['device_id', 'user_id']).doUpdateSet({ last_seen: seen }))
        .execute();
    });
  }

  /** Writes what changed since the device's last request; usually one row, often none. */
  private async recordActivity(row: AccountRow, request: EasRequest, now: Date): Promise<void> {
    const seen = now.toISOString();
    const writes: Promise<unknown>[] = [];
    if (deviceActivityChanged(row, request, now)) {
      writes.push(
        this.db
          .updateTable('devices')
          .set(deviceActivity(request, seen))
          .where('id', '=', row.device_row_id)
          .execute(),
      );
    }
    if (isStale(row.account_last_seen, now)) {
      writes.push(
        this.db
          .updateTable('device_accounts')
          .set({ last_seen: seen })
          .where('id', '=', row.account_id)
          .execute(),
      );
    }
    await Promise.all(writes);
  }

  /** The device, and with `account`, one of its accounts; DeviceError('not-found') when missing. */
  private async target(deviceId: string, account: string): Promise<AccountTarget>;
  private async target(deviceId: string, account: string | undefined): Promise<Target>;
  private async target(deviceId: string, account: string | undefined): Promise<Target> {
    const device = await this.db
      .selectFrom('devices')
      .select(['id', 'protocol_version', 'wipe_state'])
      .where('device_id', '=', deviceId)
      .executeTakeFirst();
    if (device === undefined) throw new DeviceError('not-found', `no device "${deviceId}"`);
    const base = { deviceRowId: device.id, protocolVersion: device.protocol_version ?? undefined };
    if (account === undefined) return { ...base, scope: 'device', wipe: device.wipe_state };
    const user = normalizeUserName(account);
    const row = await this.db
      .selectFrom('device_accounts as a')
      .innerJoin('users as u', 'u.id', 'a.user_id')
      .select(['a.id', 'a.wipe_state'])
      .where('a.device_id', '=', device.id)
      .where('u.name', '=', user)
      .executeTakeFirst();
    if (row === undefined)
      throw new DeviceError('not-found', `device "${deviceId}" has no account of "${user}"`);
    return { ...base, scope: 'account', wipe: row.wipe_state, accountId: row.id, user };
  }

  private async withAccounts(devices: DeviceRow[]): Promise<Device[]> {
    if (devices.length === 0) return [];
    const rows = await accountsQuery(this.db)
      .where(
        'd.id',
        'in',
        devices.map((device) => device.id),
      )
      .orderBy('u.name')
      .execute();
    return devices.map((device) => ({
      id: device.device_id,
      type: device.device_type,
      userAgent: device.user_agent ?? undefined,
      protocolVersion: device.protocol_version ?? undefined,
      firstSeen: device.first_seen,
      lastSeen: device.last_seen,
      lastCommand: device.last_command ?? undefined,
      lastAddress: device.last_address ?? undefined,
      information: informationOf(device),
      policy: device.policy_name ?? undefined,
      wipe: device.wipe_state,
      accounts: rows.filter((row) => row.device_row_id === device.id).map(toDeviceAccount),
    }));
  }
}

/** A device account with everything the gate needs, in one query: the hot path of every request. */
function accountsQuery(db: Db) {
  return (
    db
      .selectFrom('device_accounts as a')
      .innerJoin('devices as d', 'd.id', 'a.device_id')
      .innerJoin('users as u', 'u.id', 'a.user_id')
      .leftJoin('policies as device_policy', 'device_policy.id', 'd.policy_id')
      .leftJoin('policies as user_policy', 'user_policy.id', 'u.policy_id')
      // A literal, not a parameter: SQLite plans a partial index (policies_one_default) for the value
      // bound, so a parameter there would make it compile the statement again on every run.
      .leftJoin('policies as default_policy', (join) => join.on('default_policy.is_default', '=', sql.lit(1)))
      .select([
        'd.id as device_row_id',
        'd.device_id',
        'd.device_type',
        'd.user_agent',
        'd.protocol_version',
        'd.last_command',
        'd.last_address',
        'd.last_seen as device_last_seen',
        'd.wipe_state as device_wipe',
        'a.id as account_id',
        'a.first_seen as account_first_seen',
        'a.last_seen as account_last_seen',
        'a.policy_key',
        'a.previous_policy_key',
        'a.temporary_policy_key',
        'a.offered_policy_key',
        'a.policy_version',
        'a.policy_ack_status',
        'a.provisioned_at',
        'a.wipe_state as account_wipe',
        'u.name as user_name',
        'device_policy.name as device_policy_name',
        'device_policy.settings as device_policy_settings',
        'user_policy.name as user_policy_name',
        'user_policy.settings as user_policy_settings',
        'default_policy.name as default_policy_name',
        'default_policy.settings as default_policy_settings',
      ])
  );
}

/** The gate's query, built once. */
const ACCOUNT = preparedQuery((db, account: { deviceId: string; userId: number }) =>
  accountsQuery(db).where('d.device_id', '=', account.deviceId).where('a.user_id', '=', account.userId),
);

type AccountRow = Awaited<ReturnType<ReturnType<typeof accountsQuery>['executeTakeFirstOrThrow']>>;

type DeviceRow = Awaited<ReturnType<ReturnType<DeviceStore['devices']>['executeTakeFirstOrThrow']>>;

/** What an admin action applies to: a device, or one account on it. */
interface Target {
  deviceRowId: number;
  protocolVersion: string | undefined;
  scope: WipeScope;
  /** The wipe state of the target: the device's, or the account's. */
  wipe: WipeState;
  accountId?: number;
  user?: string;
}

interface AccountTarget extends Target {
  accountId: number;
  user: string;
}

/** Moves the target's wipe from one state to another; false when it was not in `from`. */
async function moveWipe(db: Db, target: Target, from: WipeState, to: WipeState): Promise<boolean> {
  const result =
    target.accountId === undefined
      ? await db
          .updateTable('devices')
          .set({ wipe_state: to })
          .where('id', '=', target.deviceRowId)
          .where('wipe_state', '=', from)
          .executeTakeFirst()
      : await db
          .updateTable('device_accounts')
          .set({ wipe_state: to })
          .where('id', '=', target.accountId)
          .where('wipe_state', '=', from)
          .executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

/**
 * Forgets the sync state of the target's accounts, so that their next FolderSync and Sync start from
 * key 0: the collections and the items they hold go, and the hierarchy key is no longer valid. The
 * folder map stays, so a folder keeps its ServerId when the device lists the hierarchy again.
 */
async function forgetSyncState(trx: Db, target: Target): Promise<void> {
  const accounts = trx.selectFrom('device_accounts').select('id').where('device_id', '=', target.deviceRowId);
  const ofTarget = target.accountId === undefined ? accounts : accounts.where('id', '=', target.accountId);
  await trx.deleteFrom('sync_collections').where('account_id', 'in', ofTarget).execute();
  await trx.updateTable('sync_hierarchy').set({ sync_key: 0 }).where('account_id', 'in', ofTarget).execute();
}

function deviceActivity(request: EasRequest, seen: string) {
  return {
    device_type: request.deviceType,
    user_agent: request.userAgent ?? null,
    protocol_version: request.protocolVersion,
    last_command: request.command,
    last_address: request.clientAddress,
    last_seen: seen,
  };
}

function deviceActivityChanged(row: AccountRow, request: EasRequest, now: Date): boolean {
  return (
    row.device_type !== request.deviceType ||
    row.user_agent !== (request.userAgent ?? null) ||
    row.protocol_version !== request.protocolVersion ||
    row.last_command !== request.command ||
    row.last_address !== request.clientAddress ||
    isStale(row.device_last_seen, now)
  );
}

function isStale(lastSeen: string, now: Date): boolean {
  return now.getTime() - Date.parse(lastSeen) >= LAST_SEEN_PRECISION_MS;
}

function toSession(row: AccountRow): DeviceSession {
  return {
    deviceId: row.device_id,
    user: row.user_name,
    accountId: row.account_id,
    deviceWipe: row.device_wipe,
    accountWipe: row.account_wipe,
    policyKey: policyKey(row.policy_key),
    previousPolicyKey: policyKey(row.previous_policy_key),
    temporaryPolicyKey: policyKey(row.temporary_policy_key),
    offeredPolicyKey: policyKey(row.offered_policy_key),
    acknowledgement: acknowledgementOf(row.policy_ack_status),
    policy: policyOf(row),
  };
}

function toDeviceAccount(row: AccountRow): DeviceAccount {
  const { name, source } = policyOf(row);
  return {
    user: row.user_name,
    firstSeen: row.account_first_seen,
    lastSeen: row.account_last_seen,
    policy: { name, source },
    policyKey: policyKey(row.policy_key),
    policyVersion: row.policy_version ?? undefined,
    provisionedAt: row.provisioned_at ?? undefined,
    acknowledgement: acknowledgementOf(row.policy_ack_status),
    wipe: row.account_wipe,
  };
}

function policyOf(row: AccountRow): EffectivePolicy {
  const stored = (name: string | null, settings: string | null): StoredPolicy | undefined =>
    name === null || settings === null ? undefined : { name, settings };
  return effectivePolicy({
    device: stored(row.device_policy_name, row.device_policy_settings),
    user: stored(row.user_policy_name, row.user_policy_settings),
    default: stored(row.default_policy_name, row.default_policy_settings),
  });
}

/** Policy keys are `bigint` columns, which PostgreSQL returns as strings. */
function policyKey(value: string | number | null): number | undefined {
  return value === null ? undefined : Number(value);
}

function acknowledgementOf(status: number | null): PolicyAcknowledgement | undefined {
  return status === null ? undefined : ACKNOWLEDGEMENTS[status];
}

function describeStatus(status: number): string {
  return `policy ${ACKNOWLEDGEMENTS[status] ?? `status ${status}`}`;
}

function informationOf(row: DeviceRow): DeviceInformation {
  const information: DeviceInformation = {
    model: row.model ?? undefined,
    imei: row.imei ?? undefined,
    friendlyName: row.friendly_name ?? undefined,
    os: row.os ?? undefined,
    osLanguage: row.os_language ?? undefined,
    phoneNumber: row.phone_number ?? undefined,
    mobileOperator: row.mobile_operator ?? undefined,
    userAgent: row.information_user_agent ?? undefined,
    enableOutboundSms: row.enable_outbound_sms === null ? undefined : row.enable_outbound_sms === 1,
  };
  return Object.fromEntries(Object.entries(information).filter(([, value]) => value !== undefined));
}

function speaksAccountOnlyWipe(version: string | undefined): boolean {
  return (
    version !== undefined &&
    isProtocolVersion(version) &&
    isVersionAtLeast(version, ACCOUNT_ONLY_WIPE_VERSION)
  );
}

async function recordEvent(
  db: Db,
  deviceId: string,
  user: string | undefined,
  action: DeviceEventAction,
  actor: string,
  detail?: string,
): Promise<void> {
  await db
    .insertInto('device_events')
    .values({
      device_ident: deviceId,
      user_name: user ?? null,
      at: new Date().toISOString(),
      action,
      actor,
      detail: detail ?? null,
    })
    .execute();
}
