// ItemOperations Fetch of one PIM item by CollectionId and ServerId, with BodyPreference, and the
// statuses for an unknown store, an unknown item and the operations that are not supported.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { FOLDER_TYPES } from '../../src/backends/contract.ts';
import { itemOperationsFetch } from '../../src/client/sync.ts';
import { decodeItem } from '../../src/model/index.ts';
import { child, childText, el } from '../../src/wbxml/index.ts';
import { describeEachDatabase } from '../helpers/databases.ts';
import { contact, SyncWorld } from '../sync/session.ts';

const TOOL = { tool: 'test' };

describeEachDatabase('ItemOperations Fetch', (context) => {
  let world: SyncWorld;
  before(async () => {
    world = await SyncWorld.start(context.config, context.database.db);
  });
  after(() => world.close());

  for (const version of ['12.0', '14.1', '16.1'] as const) {
    test(`fetches one item, and answers 6, 9 and 156 for what it cannot, at ${version}`, async () => {
      const owner = await world.user();
      const body = { format: 'text' as const, data: 'a long note '.repeat(100) };
      await world.store.addItems(
        owner,
        await world.defaultCollection(owner, 'Contacts'),
        [contact('ann', 'Test', { body })],
        TOOL,
      );
      const phone = world.phone(owner, version);
      await phone.folderSync();
      const contacts = phone.folder(FOLDER_TYPES.defaultContacts);
      await phone.start(contacts);
      await phone.syncToEnd(contacts);
      const [serverId] = [...phone.held(contacts).keys()] as [string];

      const fetched = await itemOperationsFetch(phone.client, {
        collectionId: contacts,
        serverId,
        bodyPreferences: [{ type: 1, truncationSize: 20 }],
      });
      assert.deepEqual([fetched.status, fetched.fetchStatus, fetched.className], [1, 1, 'Contacts']);
      assert.ok(fetched.properties);
      const item = decodeItem(
        'Contacts',
        { ...fetched.properties, ns: 'AirSync', name: 'ApplicationData' },
        version,
      );
      assert.equal(item.class === 'Contacts' && item.data.firstName, 'ann');
      const sentBody = child(fetched.properties, 'Body', 'AirSyncBase');
      assert.equal(
        sentBody && childText(sentBody, 'Truncated', 'AirSyncBase'),
        '1',
        'the BodyPreference applies',
      );

      const missing = await itemOperationsFetch(phone.client, {
        collectionId: contacts,
        serverId: `${contacts}:404`,
      });
      assert.deepEqual([missing.status, missing.fetchStatus], [1, 6]);
      const elsewhere = await itemOperationsFetch(phone.client, { collectionId: '999', serverId });
      assert.equal(elsewhere.fetchStatus, 6);
      const store = await itemOperationsFetch(phone.client, {
        collectionId: contacts,
        serverId,
        store: 'DocumentLibrary',
      });
      assert.equal(store.fetchStatus, 9);
      const unsupported = await phone.client.send(
        'ItemOperations',
        el('ItemOperations', 'ItemOperations', [
          el('ItemOperations', 'EmptyFolderContents', [el('AirSync', 'CollectionId', contacts)]),
        ]),
      );
      assert.equal(unsupported.body && childText(unsupported.body, 'Status', 'ItemOperations'), '156');
    });
  }
});
