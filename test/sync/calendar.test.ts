// Calendar and task windows: FilterType keeps what a phone holds within its window, items that leave
// it (by a change, by a new FilterType, or as time passes) are SoftDeleted, items that enter it are
// added; tasks with FilterType 8 only while incomplete; and 16.0 occurrences by InstanceId.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { FOLDER_TYPES, type Owner } from '../../src/backends/contract.ts';
import type { ProtocolVersion } from '../../src/http/query.ts';
import { encodeItem } from '../../src/model/index.ts';
import type { Appointment, PimItem } from '../../src/model/types.ts';
import { Backends } from '../../src/sync/backends.ts';
import { SyncEngine } from '../../src/sync/engine.ts';
import { describeEachDatabase } from '../helpers/databases.ts';
import { ALL_VERSIONS, SyncWorld } from './session.ts';

const TOOL = { tool: 'test' };
const DAY = 24 * 60 * 60 * 1000;
const TWO_WEEKS = 4;
const ONE_MONTH = 5;

function event(subject: string, endsInDays: number, extra: Partial<Appointment> = {}): PimItem {
  const end = new Date(Date.now() + endsInDays * DAY);
  end.setUTCMinutes(0, 0, 0);
  const start = new Date(end.getTime() - 60 * 60 * 1000);
  return {
    class: 'Calendar',
    data: {
      subject,
      start: start.toISOString(),
      end: end.toISOString(),
      timeZone: { iana: 'Europe/Berlin' },
      ...extra,
    },
  };
}

function subjects(items: ReadonlyMap<string, PimItem>): string[] {
  return [...items.values()].map((item) => ('subject' in item.data ? (item.data.subject ?? '') : '')).sort();
}

describeEachDatabase('calendar and task windows', (context) => {
  let world: SyncWorld;
  before(async () => {
    world = await SyncWorld.start(context.config, context.database.db);
  });
  after(() => world.close());

  async function calendarPhone(owner: Owner, version: ProtocolVersion, filterType: number) {
    const phone = world.phone(owner, version);
    await phone.folderSync();
    const folder = phone.folder(FOLDER_TYPES.defaultCalendar);
    await phone.start(folder, { options: { filterType } });
    await phone.syncToEnd(folder);
    return { phone, folder };
  }

  for (const version of ALL_VERSIONS) {
    test(`FilterType keeps the window; items leaving it are SoftDeleted, entering it added, at ${version}`, async () => {
      const owner = await world.user();
      const calendar = await world.defaultCollection(owner, 'Calendar');
      const [old, recent] = await world.store.addItems(
        owner,
        calendar,
        [
          event('old', -30),
          event('recent', -10),
          event('future', 3),
          event('endless series', -300, { recurrence: { type: 'weekly', interval: 1, dayOfWeek: 2 } }),
        ],
        TOOL,
      );
      const { phone, folder } = await calendarPhone(owner, version, TWO_WEEKS);
      assert.deepEqual(subjects(phone.held(folder)), ['endless series', 'future', 'recent']);

      await world.store.apply(
        owner,
        String(calendar),
        { kind: 'change', id: old as string, item: event('old', 1) },
        TOOL,
      );
      await world.store.apply(
        owner,
        String(calendar),
        { kind: 'change', id: recent as string, item: event('recent', -20) },
        TOOL,
      );
      const moved = await phone.sync(folder);
      assert.deepEqual(moved.commands.map((command) => command.kind).sort(), ['add', 'soft-delete']);
      assert.deepEqual(subjects(phone.held(folder)), ['endless series', 'future', 'old']);

      // A wider window brings back what it now covers, without a full resync.
      const widened = await phone.sync(folder, { options: { filterType: ONE_MONTH } });
      assert.deepEqual(
        widened.commands.map((command) => command.kind),
        ['add'],
      );
      assert.deepEqual(subjects(phone.held(folder)), ['endless series', 'future', 'old', 'recent']);
      const narrowed = await phone.sync(folder, { options: { filterType: TWO_WEEKS } });
      assert.deepEqual(
        narrowed.commands.map((command) => command.kind),
        ['soft-delete'],
      );
      assert.deepEqual(subjects(phone.held(folder)), ['endless series', 'future', 'old']);
    });
  }

  test('items the window moves past as time goes by are SoftDeleted', async () => {
    const owner = await world.user();
    const calendar = await world.defaultCollection(owner, 'Calendar');
    await world.store.addItems(owner, calendar, [event('ten days ago', -10), event('next week', 7)], TOOL);
    const { phone, folder } = await calendarPhone(owner, '16.1', TWO_WEEKS);
    assert.deepEqual(subjects(phone.held(folder)), ['next week', 'ten days ago']);

    // The same server five days later.
    const later = new SyncEngine(
      world.db,
      new Backends([world.store]),
      undefined,
      () => new Date(Date.now() + 5 * DAY),
    );
    const account = await world.db
      .selectFrom('device_accounts as a')
      .innerJoin('devices as d', 'd.id', 'a.device_id')
      .select('a.id')
      .where('d.device_id', '=', phone.client.deviceId)
      .executeTakeFirstOrThrow();
    const session = { account: account.id, owner, version: '16.1' as const };
    const states = await later.collections(account.id);
    const codec = {
      decode: () => {
        throw new Error('nothing to decode');
      },
      encode: (item: PimItem) => encodeItem(item, { version: '16.1' }),
    };
    const result = await later.sync(
      session,
      states.get(folder),
      { collectionId: folder, syncKey: phone.keys.get(folder) as string, commands: [] },
      100,
      codec,
    );
    assert.equal(result.status, 1);
    assert.deepEqual(
      result.commands.map((command) => command.kind),
      ['soft-delete'],
    );
    assert.equal(phone.held(folder).get(result.commands[0]?.serverId as string)?.class, 'Calendar');
    assert.equal(
      (phone.held(folder).get(result.commands[0]?.serverId as string) as { data: Appointment }).data.subject,
      'ten days ago',
    );
  });

  test('tasks with FilterType 8 only while incomplete', async () => {
    const owner = await world.user();
    const tasks = await world.defaultCollection(owner, 'Tasks');
    const [open] = await world.store.addItems(
      owner,
      tasks,
      [
        { class: 'Tasks', data: { subject: 'open' } },
        {
          class: 'Tasks',
          data: { subject: 'done', complete: true, dateCompleted: '2025-01-01T00:00:00.000Z' },
        },
      ],
      TOOL,
    );
    const phone = world.phone(owner, '14.1');
    await phone.folderSync();
    const folder = phone.folder(FOLDER_TYPES.defaultTasks);
    await phone.start(folder, { options: { filterType: 8 } });
    await phone.syncToEnd(folder);
    assert.deepEqual(subjects(phone.held(folder)), ['open']);
    await world.store.apply(
      owner,
      String(tasks),
      {
        kind: 'change',
        id: open as string,
        item: {
          class: 'Tasks',
          data: { subject: 'open', complete: true, dateCompleted: '2025-01-02T00:00:00.000Z' },
        },
      },
      TOOL,
    );
    const completed = await phone.sync(folder);
    assert.deepEqual(
      completed.commands.map((command) => command.kind),
      ['soft-delete'],
    );
    assert.equal(phone.held(folder).size, 0);
  });

  test('16.0: a Delete or Change with InstanceId touches one occurrence of a series', async () => {
    const owner = await world.user();
    const calendar = await world.defaultCollection(owner, 'Calendar');
    const series = event('daily', 1, { recurrence: { type: 'daily', interval: 1, occurrences: 5 } });
    const [id] = await world.store.addItems(owner, calendar, [series], TOOL);
    const { phone, folder } = await calendarPhone(owner, '16.0', 0);
    const [serverId] = [...phone.held(folder).keys()] as [string];
    const start = Date.parse((series as { data: Appointment }).data.start);
    const second = new Date(start + DAY).toISOString();
    const third = new Date(start + 2 * DAY).toISOString();
    const answer = await phone.sync(folder, {
      getChanges: false,
      commands: [
        { kind: 'delete', serverId, instanceId: second },
        {
          kind: 'change',
          serverId,
          instanceId: third,
          data: encodeItem(
            { class: 'Calendar', data: { ...(series as { data: Appointment }).data, subject: 'moved' } },
            { version: '16.0' },
          ).filter((element) => element.name === 'Subject'),
        },
        { kind: 'delete', serverId, instanceId: new Date(start + DAY / 2).toISOString() },
      ],
    });
    assert.deepEqual(
      answer.responses.map((response) => [response.kind, response.status]),
      [['delete', 6]],
      'an InstanceId that is no occurrence is Status 6; the others apply',
    );
    const [stored] = await world.store.fetch(owner, String(calendar), [id as string]);
    assert.ok(stored?.item.class === 'Calendar');
    const exceptions = stored.item.data.exceptions ?? [];
    assert.deepEqual(
      exceptions.map((exception) => [
        Date.parse(exception.originalStart),
        exception.deleted ?? false,
        exception.subject,
      ]),
      [
        [Date.parse(second), true, undefined],
        [Date.parse(third), false, 'moved'],
      ],
    );
    // The series is still one item on the phone, not echoed back.
    assert.deepEqual((await phone.sync(folder)).commands, []);
  });
});
