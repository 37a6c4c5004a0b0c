// The recovery password a device stores through Settings DevicePassword: the user or an admin reads
// it back when the device's own PIN is forgotten. Kept encrypted on the device account's row.

import type { Config } from '../config.ts';
import type { Db } from '../state/db.ts';
import { secretBoxFor } from './secrets.ts';

/** MS-ASCMD 2.2.3.132.3: Password(Settings) holds at most 255 characters. */
export const MAX_RECOVERY_PASSWORD_LENGTH = 255;

/** The sealed value is bound to its account, so it cannot be moved to another one. */
const sealContext = (accountId: number) => `recovery-password:${accountId}`;

/** Stores (or, with null, clears) the recovery password of a device account. */
export async function setRecoveryPassword(
  db: Db,
  config: Config,
  accountId: number,
  password: string | null,
): Promise<void> {
  const sealed =
    password === null ? null : (await secretBoxFor(config)).seal(password, sealContext(accountId));
  await db
    .updateTable('device_accounts')
    .set({ recovery_password: sealed })
    .where('id', '=', accountId)
    .executeTakeFirstOrThrow();
}

/** The recovery password of a device account, or null when none is stored. */
export async function readRecoveryPassword(
  db: Db,
  config: Config,
  accountId: number,
): Promise<string | null> {
  const row = await db
    .selectFrom('device_accounts')
    .select('recovery_password')
    .where('id', '=', accountId)
    .executeTakeFirst();
  const sealed = row?.recovery_password ?? null;
  return sealed === null ? null : (await secretBoxFor(config)).open(sealed, sealContext(accountId));
}
