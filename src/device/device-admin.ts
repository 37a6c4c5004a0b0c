// What a person may see of devices and do to them. A user sees the devices that carry their account
// (and on a shared phone, only their own account and its history); an administrator, and the
// operator running the CLI, see and act on every device and account. The JSON API and the CLI both
// go through here, so both follow the same rules. A device that is not the caller's is reported
// exactly like one that does not exist.
//
// A DeviceId is only what a phone claims, so any user can bring an account onto a device by sending
// its id. Whole-device actions are therefore kept to the device's owner (the account that used it
// first) and administrators, and a user cancels only a wipe they asked for themselves: otherwise a
// stranger could wipe someone's phone, or call off the wipe of a stolen one.

import type { Db } from '../state/db.ts';
import { normalizeUserName } from '../state/users.ts';
import { DeviceError, DeviceStore, type Device, type DeviceEvent, type WipeState } from './devices.ts';
import { readDeviceLog, setFullLogging, type DeviceLogEntry } from './protocol-log.ts';

/** Who acts. */
export interface Caller {
  /** A user name, or who runs the CLI; the device's history records it as who asked. */
  name: string;
  admin: boolean;
}

/** A device with what happened to it. */
export interface DeviceDetails extends Device {
  history: DeviceEvent[];
}

/** Refused requests; the message is for the person who asked. */
export class DeviceAccessError extends Error {
  constructor(
    /** forbidden: only an administrator may; invalid: the request makes no sense; conflict: not in this state. */
    readonly code: 'forbidden' | 'invalid' | 'conflict',
    message: string,
  ) {
    super(message);
    this.name = 'DeviceAccessError';
  }
}

/** The account an action is for: `user`'s; without it, the whole device (a user: their own account). */
export interface AccountChoice {
  user?: string;
}

export class DeviceAdmin {
  private readonly devices: DeviceStore;

  constructor(
    private readonly db: Db,
    private readonly caller: Caller,
  ) {
    this.devices = new DeviceStore(db);
  }

  /** The caller's devices, or an administrator's choice: all, or those with an account of `user`. */
  async list(options: AccountChoice = {}): Promise<Device[]> {
    const user = options.user === undefined ? undefined : this.accountName(options.user);
    const devices = await this.devices.list({ user: this.caller.admin ? user : this.caller.name });
    return devices.map((device) => this.visiblePart(device));
  }

  async show(deviceId: string): Promise<DeviceDetails> {
    const device = this.visiblePart(await this.find(deviceId));
    const history = await this.devices.history(deviceId);
    const own = (event: DeviceEvent) => event.user === undefined || event.user === this.caller.name;
    return { ...device, history: this.caller.admin ? history : history.filter(own) };
  }

  /**
   * Asks for a remote wipe of the whole device or, with `accountOnly`, of one account: `user`'s,
   * else the caller's own, else (an administrator) the device's only account. Returns the wipe's
   * state (a device already wiped stays so) and the account wiped.
   */
  async wipe(
    deviceId: string,
    options: AccountChoice & { accountOnly?: boolean },
  ): Promise<{ state: WipeState; account?: string }> {
    const device = await this.find(deviceId);
    const by = this.caller.name;
    if (options.accountOnly !== true) {
      if (options.user !== undefined) {
        throw new DeviceAccessError('invalid', 'a user is named only for an account-only wipe');
      }
      this.requireOwner(device, 'wipe the whole device');
      return { state: await this.devices.requestWipe(deviceId, { by }) };
    }
    const account = options.user === undefined ? this.defaultAccount(device) : this.accountName(options.user);
    return { state: await this.devices.requestWipe(deviceId, { by, account }), account };
  }

  /**
   * Cancels the wipes not yet acknowledged: of `user`'s account only, or else every wipe pending on
   * the device that the caller may cancel (the whole device's and, for a user, their account's).
   * Returns what was cancelled: the whole device's wipe, and the accounts whose wipes were.
   */
  async cancelWipe(
    deviceId: string,
    options: AccountChoice = {},
  ): Promise<{ device: boolean; accounts: string[] }> {
    const whole = await this.find(deviceId);
    const device = this.visiblePart(whole);
    const by = this.caller.name;
    if (options.user !== undefined) {
      const account = this.accountName(options.user);
      await this.requireOwnWipeRequest(deviceId, account);
      if (!(await this.devices.cancelWipe(deviceId, { by, account }))) {
        throw new DeviceAccessError(
          'conflict',
          `no wipe of ${account}'s account is pending on device ${deviceId}`,
        );
      }
      return { device: false, accounts: [account] };
    }
    const mayCancelDeviceWipe =
      device.wipe === 'pending' &&
      this.isOwner(whole) &&
      (await this.requestedWipeItself(deviceId, undefined));
    const cancelled = {
      device: mayCancelDeviceWipe && (await this.devices.cancelWipe(deviceId, { by })),
      accounts: [] as string[],
    };
    for (const { user, wipe } of device.accounts) {
      if (
        wipe === 'pending' &&
        (await this.requestedWipeItself(deviceId, user)) &&
        (await this.devices.cancelWipe(deviceId, { by, account: user }))
      ) {
        cancelled.accounts.push(user);
      }
    }
    if (!cancelled.device && cancelled.accounts.length === 0) {
      if (device.wipe === 'pending') {
        throw new DeviceAccessError(
          'forbidden',
          'only whoever asked for this wipe or an administrator may cancel it',
        );
      }
      throw new DeviceAccessError('conflict', `no wipe is pending on device ${deviceId}`);
    }
    return cancelled;
  }

  /**
   * Removes the device, or `user`'s account from it. A user removes their own account; the device
   * goes with it when no other user's account is on it. Returns what was removed.
   */
  async remove(deviceId: string, options: AccountChoice = {}): Promise<'device' | 'account'> {
    const device = await this.find(deviceId);
    const by = this.caller.name;
    const account = this.chosenAccount(options);
    const othersOnIt = device.accounts.some(({ user }) => user !== account);
    if (account === undefined || (!this.caller.admin && !othersOnIt)) {
      if (!(await this.devices.removeDevice(deviceId, { by }))) throw notFound(deviceId);
      return 'device';
    }
    if (!(await this.devices.removeAccount(deviceId, { by, account }))) throw notFound(deviceId);
    return 'account';
  }

  /** Forgets the sync state of the device's accounts, or of one: they start over as a new device would. */
  async resync(deviceId: string, options: AccountChoice = {}): Promise<void> {
    await this.find(deviceId);
    await this.devices.resync(deviceId, { by: this.caller.name, account: this.chosenAccount(options) });
  }

  /** Makes the device's accounts, or one, provision again before their next command. */
  async reprovision(deviceId: string, options: AccountChoice = {}): Promise<void> {
    await this.find(deviceId);
    await this.devices.reprovision(deviceId, { by: this.caller.name, account: this.chosenAccount(options) });
  }

  /** The protocol log, newest first: of the whole device, or of one account. */
  async log(deviceId: string, options: AccountChoice & { limit?: number } = {}): Promise<DeviceLogEntry[]> {
    await this.find(deviceId);
    const account = this.chosenAccount(options);
    if (account === undefined) return readDeviceLog(this.db, { deviceId }, { limit: options.limit });
    const accountId = await this.accountId(deviceId, account);
    if (accountId === undefined) {
      throw new DeviceError('not-found', `device "${deviceId}" has no account of "${account}"`);
    }
    return readDeviceLog(this.db, { accountId }, { limit: options.limit });
  }

  /** Message bodies and attachments logged unredacted, or not: an administrator's decision. */
  async setFullLogging(deviceId: string, on: boolean): Promise<void> {
    if (!this.caller.admin) {
      throw new DeviceAccessError('forbidden', 'only an administrator may switch full logging');
    }
    await this.find(deviceId);
    if (!(await setFullLogging(this.db, deviceId, on))) throw notFound(deviceId);
  }

  /** Whether the caller is an administrator or the device's owner: its account that came first. */
  private isOwner(device: Device): boolean {
    if (this.caller.admin) return true;
    const first = device.accounts.reduce<Device['accounts'][number] | undefined>(
      (earliest, account) =>
        earliest === undefined || account.firstSeen < earliest.firstSeen ? account : earliest,
      undefined,
    );
    return first?.user === this.caller.name;
  }

  private requireOwner(device: Device, action: string): void {
    if (!this.isOwner(device)) {
      throw new DeviceAccessError(
        'forbidden',
        `only the device's owner (its first account) or an administrator may ${action}`,
      );
    }
  }

  /** Whether the pending wipe (of the device, or of `account`) may be cancelled by the caller. */
  private async requestedWipeItself(deviceId: string, account: string | undefined): Promise<boolean> {
    if (this.caller.admin) return true;
    const requests = (await this.devices.history(deviceId)).filter(
      (event) => event.action === 'wipe-requested' && event.user === account,
    );
    return requests.at(-1)?.actor === this.caller.name;
  }

  private async requireOwnWipeRequest(deviceId: string, account: string): Promise<void> {
    if (!(await this.requestedWipeItself(deviceId, account))) {
      throw new DeviceAccessError(
        'forbidden',
        'only whoever asked for this wipe or an administrator may cancel it',
      );
    }
  }

  /** The device when the caller may see it; the store's own 'not-found' error when not. */
  private async find(deviceId: string): Promise<Device> {
    const device = await this.devices.show(deviceId);
    const mayAccess =
      device !== undefined &&
      (this.caller.admin || device.accounts.some(({ user }) => user === this.caller.name));
    if (!mayAccess) throw notFound(deviceId);
    return device;
  }

  /** What the caller may see of a device: a user, only their own account on it. */
  private visiblePart(device: Device): Device {
    if (this.caller.admin) return device;
    return { ...device, accounts: device.accounts.filter(({ user }) => user === this.caller.name) };
  }

  /** A user name as the caller may name it: a user only their own. */
  private accountName(user: string): string {
    const name = normalizeUserName(user);
    if (!this.caller.admin && name !== this.caller.name) {
      throw new DeviceAccessError('forbidden', "only an administrator may act on another user's account");
    }
    return name;
  }

  /** The account an action applies to: the named one; a user's own; an administrator's: none, the device. */
  private chosenAccount(options: AccountChoice): string | undefined {
    if (options.user !== undefined) return this.accountName(options.user);
    return this.caller.admin ? undefined : this.caller.name;
  }

  /** The account of an account-only wipe that names none: the caller's, or the device's only one. */
  private defaultAccount(device: Device): string {
    if (!this.caller.admin) return this.caller.name;
    const [only, ...others] = device.accounts;
    if (only === undefined || others.length > 0) {
      const users = device.accounts.map(({ user }) => user).join(', ');
      throw new DeviceAccessError(
        'invalid',
        `device ${device.id} carries the accounts of ${users || 'no one'}: name the account to wipe`,
      );
    }
    return only.user;
  }

  /** The row id of a device account, by which the protocol log is kept (a Device does not show it). */
  private async accountId(deviceId: string, user: string): Promise<number | undefined> {
    const row = await this.db
      .selectFrom('device_accounts as a')
      .innerJoin('devices as d', 'd.id', 'a.device_id')
      .innerJoin('users as u', 'u.id', 'a.user_id')
      .select('a.id')
      .where('d.device_id', '=', deviceId)
      .where('u.name', '=', user)
      .executeTakeFirst();
    return row?.id;
  }
}

function notFound(deviceId: string): DeviceError {
  return new DeviceError('not-found', `no device "${deviceId}"`);
}
