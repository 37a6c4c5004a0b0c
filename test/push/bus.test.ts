// The in-process bus: who a change wakes, and how often.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createChangeBus, originText, type FolderChange, type FolderRef } from '../../src/push/index.ts';
import { recorder } from './helpers.ts';

const inbox: FolderRef = { userId: 1, backend: 'store', folderId: 'inbox' };
const contacts: FolderRef = { userId: 1, backend: 'store', folderId: 'contacts' };

async function memoryBus(errors: Error[] = []) {
  return createChangeBus({ kind: 'memory', onError: (error) => errors.push(error) });
}

test('a change wakes the subscribers of its folder and no one else', async () => {
  const bus = await memoryBus();
  const ofInbox = recorder();
  const ofContacts = recorder();
  const ofOtherUser = recorder();
  const ofOtherBackend = recorder();
  bus.subscribe([inbox], { userId: 1 }, ofInbox.listener);
  bus.subscribe([contacts], { userId: 1 }, ofContacts.listener);
  bus.subscribe([{ ...inbox, userId: 2 }], { userId: 2 }, ofOtherUser.listener);
  bus.subscribe([{ ...inbox, backend: 'imap' }], { userId: 1 }, ofOtherBackend.listener);

  const change: FolderChange = { ...inbox, origin: 'tool:import' };
  bus.publish(change);
  assert.deepEqual(ofInbox.changes, [change]);
  assert.deepEqual(ofContacts.changes, []);
  assert.deepEqual(ofOtherUser.changes, []);
  assert.deepEqual(ofOtherBackend.changes, []);
});

test('unsubscribing stops the wake-ups and empties the index', async () => {
  const bus = await memoryBus();
  const heard = recorder();
  const unsubscribe = bus.subscribe([inbox, contacts], { userId: 1, hierarchy: true }, heard.listener);
  assert.deepEqual(bus.stats(), { subscribers: 1, folders: 2 });
  bus.publish(inbox);
  unsubscribe();
  unsubscribe();
  bus.publish(inbox);
  bus.publish({ ...contacts, hierarchy: true });
  assert.equal(heard.changes.length, 1);
  assert.deepEqual(bus.stats(), { subscribers: 0, folders: 0 });
});

test('a subscriber reached through several folders and the hierarchy is woken once per change', async () => {
  const bus = await memoryBus();
  const heard = recorder();
  bus.subscribe([inbox, contacts, inbox], { userId: 1, hierarchy: true }, heard.listener);
  bus.publish({ ...inbox, hierarchy: true });
  bus.publish(contacts);
  assert.deepEqual(heard.changes, [{ ...inbox, hierarchy: true }, contacts]);
});

test("a change does not wake the subscriber that ignores its origin: the device's own", async () => {
  const bus = await memoryBus();
  const ownDevice = recorder();
  const otherDevice = recorder();
  const anyOrigin = recorder();
  bus.subscribe([inbox], { userId: 1, ignoreOrigin: 'account:7' }, ownDevice.listener);
  bus.subscribe([inbox], { userId: 1, ignoreOrigin: 'account:8' }, otherDevice.listener);
  bus.subscribe([inbox], { userId: 1 }, anyOrigin.listener);

  bus.publish({ ...inbox, origin: 'account:7' });
  assert.equal(ownDevice.changes.length, 0);
  assert.equal(otherDevice.changes.length, 1);
  assert.equal(anyOrigin.changes.length, 1);

  bus.publish(inbox);
  assert.equal(ownDevice.changes.length, 1, 'a change of unknown origin wakes everyone');
});

test("a hierarchy change wakes the user's hierarchy subscribers, whatever folders they watch", async () => {
  const bus = await memoryBus();
  const hierarchy = recorder();
  const otherUserHierarchy = recorder();
  const folderOnly = recorder();
  bus.subscribe([contacts], { userId: 1, hierarchy: true }, hierarchy.listener);
  bus.subscribe([], { userId: 2, hierarchy: true }, otherUserHierarchy.listener);
  bus.subscribe([contacts], { userId: 1 }, folderOnly.listener);

  const newFolder: FolderChange = { userId: 1, backend: 'store', folderId: 'new-folder', hierarchy: true };
  bus.publish(newFolder);
  assert.deepEqual(hierarchy.changes, [newFolder]);
  assert.deepEqual(otherUserHierarchy.changes, []);
  assert.deepEqual(folderOnly.changes, []);

  bus.publish(inbox);
  assert.equal(hierarchy.changes.length, 1, 'a change inside a folder is no hierarchy change');
});

test('the hierarchy subscription also ignores its own origin', async () => {
  const bus = await memoryBus();
  const heard = recorder();
  bus.subscribe([], { userId: 1, hierarchy: true, ignoreOrigin: 'account:7' }, heard.listener);
  bus.publish({ ...inbox, hierarchy: true, origin: 'account:7' });
  assert.equal(heard.changes.length, 0);
});

test('a throwing listener is reported and the others are still woken', async () => {
  const errors: Error[] = [];
  const bus = await memoryBus(errors);
  const heard = recorder();
  bus.subscribe([inbox], { userId: 1 }, () => {
    throw new Error('listener failed');
  });
  bus.subscribe([inbox], { userId: 1 }, heard.listener);
  bus.publish(inbox);
  assert.equal(heard.changes.length, 1);
  assert.deepEqual(
    errors.map((error) => error.message),
    ['listener failed'],
  );
});

test('a subscriber removed or added by a listener during a delivery is not woken by it', async () => {
  const bus = await memoryBus();
  const removed = recorder();
  const added = recorder();
  let unsubscribeOther = (): void => {};
  bus.subscribe([inbox], { userId: 1 }, () => {
    unsubscribeOther();
    bus.subscribe([inbox], { userId: 1 }, added.listener);
  });
  unsubscribeOther = bus.subscribe([inbox], { userId: 1 }, removed.listener);
  bus.publish(inbox);
  assert.equal(removed.changes.length, 0);
  assert.equal(added.changes.length, 0);
  bus.publish(inbox);
  assert.equal(added.changes.length, 1);
});

test('of 10,000 subscriptions on distinct folders, one change wakes exactly the right one', async () => {
  const bus = await memoryBus();
  const woken: number[] = [];
  const unsubscribes = [];
  for (let index = 0; index < 10_000; index++) {
    const folder = { userId: 1 + (index % 500), backend: 'store', folderId: `folder-${index}` };
    unsubscribes.push(bus.subscribe([folder], { userId: folder.userId }, () => woken.push(index)));
  }
  assert.deepEqual(bus.stats(), { subscribers: 10_000, folders: 10_000 });
  bus.publish({ userId: 1 + (4321 % 500), backend: 'store', folderId: 'folder-4321' });
  assert.deepEqual(woken, [4321]);
  for (const unsubscribe of unsubscribes) unsubscribe();
  assert.deepEqual(bus.stats(), { subscribers: 0, folders: 0 });
});

test('a closed bus still delivers in its own process', async () => {
  const bus = await memoryBus();
  const heard = recorder();
  bus.subscribe([inbox], { userId: 1 }, heard.listener);
  await bus.close();
  bus.publish(inbox);
  assert.equal(heard.changes.length, 1);
});

test('originText writes the origins of the backend contract', () => {
  assert.equal(originText({ account: 12 }), 'account:12');
  assert.equal(originText({ tool: 'import' }), 'tool:import');
});
