// How a user appears in mail: their address and display name. Users need not have an address of
// their own; theirs is then their name at the server's mail domain.

import type { Db } from './db.ts';
import type { User } from './users.ts';

export interface MailIdentity {
  address: string;
  displayName: string | null;
}

/** `defaultDomain` completes the address of a user who has none set: `name@defaultDomain`. */
export async function mailIdentityOf(
  db: Db,
  user: Pick<User, 'id' | 'name'>,
  defaultDomain: string,
): Promise<MailIdentity> {
  const row = await db
    .selectFrom('users')
    .select(['email', 'display_name'])
    .where('id', '=', user.id)
    .executeTakeFirstOrThrow();
  return { address: row.email ?? `${user.name}@${defaultDomain}`, displayName: row.display_name };
}
