// `airsync export`: one collection of the built-in store on standard output, as iCalendar (events,
// tasks, notes) or vCard (contacts), in the form `airsync import` reads back.
import type { Owner } from '../backends/contract.ts';
import { PimStore, type CollectionItem } from '../backends/store/store.ts';
import { toICalendar, type ExportItem } from '../model/ical.ts';
import { itemWindow } from '../model/index.ts';
import { toVCards, type ExportContact } from '../model/vcard.ts';
import { openDatabase } from '../state/db.ts';
import { UserStore, normalizeUserName } from '../state/users.ts';
import { COMMON_USAGE, UsageError, configFor, parseCommandLine } from './options.ts';

export const EXPORT_USAGE = `Usage: airsync export USER COLLECTION [options] > FILE

Writes USER's collection (name or id) to standard output: a calendar, task list or notes collection
as iCalendar (.ics), an address book as vCard 3.0 (.vcf). Items keep their UIDs, so importing the file
again updates them instead of adding copies.

${COMMON_USAGE}`;

export async function exportCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseCommandLine(args, {}, EXPORT_USAGE);
  if (values.help) {
    process.stdout.write(`${EXPORT_USAGE}\n`);
    return 0;
  }
  const [userName, collectionName, extra] = positionals;
  if (userName === undefined || collectionName === undefined) {
    throw new UsageError('export needs a user and a collection', EXPORT_USAGE);
  }
  if (extra !== undefined) throw new UsageError(`unexpected argument: ${extra}`, EXPORT_USAGE);
  const name = normalizeUserName(userName);
  const database = await openDatabase(configFor(values));
  try {
    const found = await new UserStore(database.db).find(name);
    if (found === undefined) throw new Error(`there is no user named ${name}`);
    const owner: Owner = { id: found.id, name: found.name };
    const store = new PimStore(database.db, { windowOf: itemWindow });
    const collection = await store.findCollection(owner, collectionName);
    if (collection === undefined) throw new Error(`${owner.name} has no collection named ${collectionName}`);
    const items: CollectionItem[] = [];
    for await (const item of store.items(owner, collection.id)) items.push(item);
    process.stdout.write(
      collection.pimClass === 'Contacts'
        ? toVCards(items.flatMap(asContact))
        : toICalendar(items.map(asCalendarItem)),
    );
    process.stderr.write(`exported ${items.length} items of ${collection.name}\n`);
  } finally {
    await database.close();
  }
  return 0;
}

function asContact(stored: CollectionItem): ExportContact[] {
  return stored.item.class === 'Contacts' ? [{ uid: stored.uid, data: stored.item.data }] : [];
}

function asCalendarItem(stored: CollectionItem): ExportItem {
  return { ...stored.item, uid: stored.uid };
}
