// GetItemEstimate at every version's request shape: the count of what the next Sync would bring
// (FilterType honoured, the phone's own changes not counted), and Statuses 2, 3 and 4.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { FOLDER_TYPES } from '../../src/backends/contract.ts';
import { getItemEstimate } from '../../src/client/sync.ts';
import type { PimItem } from '../../src/model/types.ts';
import { describeEachDatabase } from '../helpers/databases.ts';
import { ALL_VERSIONS, contact, SyncWorld } from '../sync/session.ts';

const TOOL = { tool: 'test' };
const DAY = 24 * 60 * 60 * 1000;

function event(subject: string, endsInDays: number): PimItem {
  const end = new Date(Date.now() + endsInDays * DAY);
  return {
    class: 'Calendar',
    data: {
      subject,
      start: new Date(end.getTime() - 3_600_000).toISOString(),
      end: end.toISOString(),
      timeZone: { iana: 'Europe/Berlin' },
    },
  };
}

describeEachDatabase('GetItemEstimate', (context) => {
  let world: SyncWorld;
  before(async () => {
    world = await SyncWorld.start(context.config, context.database.db);
  });
  after(() => world.close());

  for (const version of ALL_VERSIONS) {
    test(`counts pending changes, honours FilterType, and answers 2, 3 and 4 at ${version}`, async () => {
      const owner = await world.user();
      await world.store.addItems(
        owner,
        await world.defaultCollection(owner, 'Contacts'),
        [contact('a'), contact('b'), contact('c')],
        TOOL,
      );
      await world.store.addItems(
        owner,
        await world.defaultCollection(owner, 'Calendar'),
        [event('old', -60), event('soon', 2)],
        TOOL,
      );
      const phone = world.phone(owner, version);
      await phone.folderSync();
      const contacts = phone.folder(FOLDER_TYPES.defaultContacts);
      const calendar = phone.folder(FOLDER_TYPES.defaultCalendar);
      const className = (collectionId: string) =>
        version === '2.5' || version === '12.0' ? { className: phone.classOf(collectionId) } : {};

      const unprimed = await getItemEstimate(phone.client, [
        { collectionId: contacts, syncKey: '0', ...className(contacts) },
      ]);
      assert.deepEqual(
        unprimed.estimates.map((entry) => entry.status),
        [3],
      );

      await phone.start(contacts);
      await phone.start(calendar, { options: { filterType: 4 } });
      const estimates = await getItemEstimate(phone.client, [
        { collectionId: contacts, syncKey: phone.keys.get(contacts) as string, ...className(contacts) },
        {
          collectionId: calendar,
          syncKey: phone.keys.get(calendar) as string,
          filterType: 4,
          ...className(calendar),
        },
        {
          collectionId: calendar,
          syncKey: phone.keys.get(calendar) as string,
          filterType: 0,
          ...className(calendar),
        },
        { collectionId: '999', syncKey: phone.keys.get(contacts) as string, ...className(contacts) },
        { collectionId: contacts, syncKey: 'deadbeef:1', ...className(contacts) },
      ]);
      assert.deepEqual(
        estimates.estimates.map((entry) => [entry.status, entry.estimate]),
        [
          [1, 3],
          [1, 1],
          [1, 2],
          [2, undefined],
          [4, undefined],
        ],
      );

      // What the phone itself adds is not counted; after a full sync nothing is pending.
      await phone.sync(contacts, { commands: [phone.add(contact('mine'))] });
      await phone.syncToEnd(contacts);
      const settled = await getItemEstimate(phone.client, [
        { collectionId: contacts, syncKey: phone.keys.get(contacts) as string, ...className(contacts) },
      ]);
      assert.deepEqual(
        settled.estimates.map((entry) => [entry.status, entry.estimate]),
        [[1, 0]],
      );
    });
  }
});
