// Every migration, in order. Names sort as they run; a migration, once released, never changes.

import type { Migration } from 'kysely';
import * as users from './0001-users.ts';
import * as devices from './0002-devices.ts';
import * as settings from './0003-settings.ts';
import * as pimStore from './0004-pim-store.ts';
import * as syncState from './0005-sync-state.ts';
import * as push from './0006-push.ts';

export const migrations: Record<string, Migration> = {
  '0001-users': users,
  '0002-devices': devices,
  '0003-settings': settings,
  '0004-pim-store': pimStore,
  '0005-sync-state': syncState,
  '0006-push': push,
};
