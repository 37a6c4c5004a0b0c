// `airsync import`: events, tasks and notes from an iCalendar file, contacts from a vCard file, into
// a user's collections of the built-in store. Items are matched by UID, so importing a file again
// updates what changed and adds nothing twice; a bad item is reported and the others still import.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { Temporal } from 'temporal-polyfill';
import type { Owner } from '../backends/contract.ts';
import { PimStore, StoreError, type Collection } from '../backends/store/store.ts';
import { NotICalendarError, parseICalendar, type ImportEntry } from '../model/ical.ts';
import type { PimClass, PimItem } from '../model/types.ts';
import { NotVCardError, parseVCards } from '../model/vcard.ts';
import { openDatabase } from '../state/db.ts';
import { withToolStore } from './tool-store.ts';
import { UserStore, normalizeUserName } from '../state/users.ts';
import { COMMON_USAGE, UsageError, configFor, parseCommandLine } from './options.ts';

export const IMPORT_USAGE = `Usage: airsync import USER FILE [options]

Imports an iCalendar file (.ics: events, tasks, notes) or a vCard file (.vcf: contacts) into USER's
collections; FILE - reads standard input. Each item goes to the user's default collection of its
class (events to Calendar, tasks to Tasks, notes to Notes, contacts to Contacts). An item whose UID
the collection already holds is updated, so importing the same file again changes nothing. Items
that cannot be imported are reported one by one on stderr, and the others are imported.
Exits 0 when the file was read and anything in it imported, 1 otherwise.

Options:
  --collection NAME   put the items of this collection's class (name or id) there instead
  --time-zone ZONE    the IANA zone of times without one in an .ics (floating times and all-day
                      dates); default: the calendar's X-WR-TIMEZONE, else UTC
  --progress          report progress on stderr for large files even when stderr is not a terminal

${COMMON_USAGE}`;

const IMPORT_OPTIONS = {
  collection: { type: 'string' },
  'time-zone': { type: 'string' },
  progress: { type: 'boolean' },
} as const;

/** Progress is worth a line only for files this large, and then every this many items. */
const PROGRESS_STEP = 500;

const ORIGIN = { tool: 'import' } as const;

interface ImportRequest {
  user: string;
  file: string;
  collection?: string;
  floatingTimeZone?: string;
  progress: boolean;
}

export async function importCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseCommandLine(args, IMPORT_OPTIONS, IMPORT_USAGE);
  if (values.help) {
    process.stdout.write(`${IMPORT_USAGE}\n`);
    return 0;
  }
  const request = importRequest(positionals, values);
  const entries = parseFile(request, await readInput(request.file));
  const config = configFor(values);
  const database = await openDatabase(config);
  try {
    const found = await new UserStore(database.db).find(request.user);
    if (found === undefined) throw new Error(`there is no user named ${request.user}`);
    const owner: Owner = { id: found.id, name: found.name };
    const tally = await withToolStore(config, database, async (store) => {
      const target = await targetCollections(store, owner, request.collection, entries);
      return importEntries(store, owner, target, entries, request.progress);
    });
    process.stdout.write(
      `imported ${tally.created + tally.updated + tally.unchanged} (created ${tally.created}, ` +
        `updated ${tally.updated}, unchanged ${tally.unchanged}), failed ${tally.failed}\n`,
    );
    const imported = tally.created + tally.updated + tally.unchanged;
    return imported > 0 || tally.failed === 0 ? 0 : 1;
  } finally {
    await database.close();
  }
}

function importRequest(
  positionals: string[],
  values: { collection?: string; 'time-zone'?: string; progress?: boolean },
): ImportRequest {
  const [user, file, extra] = positionals;
  if (user === undefined || file === undefined) {
    throw new UsageError('import needs a user and a file', IMPORT_USAGE);
  }
  if (extra !== undefined) throw new UsageError(`unexpected argument: ${extra}`, IMPORT_USAGE);
  const zone = values['time-zone'];
  if (zone !== undefined && !isTimeZone(zone)) {
    throw new UsageError(`--time-zone wants an IANA zone such as Europe/Berlin, not ${zone}`, IMPORT_USAGE);
  }
  return {
    user: normalizeUserName(user),
    file,
    collection: values.collection,
    floatingTimeZone: zone,
    progress: values.progress === true || process.stderr.isTTY === true,
  };
}

function isTimeZone(name: string): boolean {
  try {
    Temporal.Now.zonedDateTimeISO(name);
    return true;
  } catch {
    return false;
  }
}

/** The file's text: UTF-8, else (old vCard 2.1 exports) Windows-1252. */
async function readInput(file: string): Promise<string> {
  let bytes: Buffer;
  try {
    bytes = file === '-' ? await readStandardInput() : await readFile(file);
  } catch (error) {
    throw new Error(`cannot read ${file}: ${error instanceof Error ? error.message : String(error)}`, {
      cause: error,
    });
  }
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return new TextDecoder('windows-1252').decode(bytes);
  }
}

async function readStandardInput(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** The items of the file, iCalendar or vCard by what it holds; a file that is neither fails. */
function parseFile(request: ImportRequest, text: string): ImportEntry[] {
  const kind = /^BEGIN:(VCALENDAR|VCARD)\s*$/im.exec(text)?.[1]?.toUpperCase();
  try {
    if (kind === 'VCARD') return parseVCards(text).items;
    if (kind === 'VCALENDAR') {
      const floating = request.floatingTimeZone;
      return parseICalendar(text, floating === undefined ? {} : { floatingTimeZone: { iana: floating } })
        .items;
    }
  } catch (error) {
    if (error instanceof NotICalendarError || error instanceof NotVCardError) {
      throw new Error(`${request.file}: ${error.message}`, { cause: error });
    }
    throw error;
  }
  throw new Error(`${request.file} is neither an iCalendar nor a vCard file`);
}

/** The collection each class goes to: --collection for its own class, the defaults for the others. */
async function targetCollections(
  store: PimStore,
  owner: Owner,
  name: string | undefined,
  entries: readonly ImportEntry[],
): Promise<Map<PimClass, Collection>> {
  const collections = await store.collections(owner);
  const target = new Map(collections.filter((c) => c.isDefault).map((c) => [c.pimClass, c]));
  if (name === undefined) return target;
  const chosen = await store.findCollection(owner, name);
  if (chosen === undefined) throw new Error(`${owner.name} has no collection named ${name}`);
  if (!entries.some((entry) => 'item' in entry && entry.item.class === chosen.pimClass)) {
    throw new Error(`${chosen.name} holds ${chosen.pimClass} items, and the file has none`);
  }
  target.set(chosen.pimClass, chosen);
  return target;
}

interface Tally {
  created: number;
  updated: number;
  unchanged: number;
  failed: number;
}

async function importEntries(
  store: PimStore,
  owner: Owner,
  target: ReadonlyMap<PimClass, Collection>,
  entries: readonly ImportEntry[],
  showProgress: boolean,
): Promise<Tally> {
  const tally: Tally = { created: 0, updated: 0, unchanged: 0, failed: 0 };
  const notes = new Map<string, number>();
  const fail = (index: number, entry: { uid?: string; line?: number }, reason: string) => {
    tally.failed++;
    const where = [
      `item ${index + 1}`,
      ...(entry.line === undefined ? [] : [`(line ${entry.line})`]),
      ...(entry.uid === undefined ? [] : [`UID ${entry.uid}`]),
    ].join(' ');
    process.stderr.write(`airsync: ${where}: ${reason}\n`);
  };

  for (const [index, entry] of entries.entries()) {
    if (showProgress && entries.length >= PROGRESS_STEP && index > 0 && index % PROGRESS_STEP === 0) {
      process.stderr.write(
        `${index} of ${entries.length} items (${Math.floor((100 * index) / entries.length)}%)\n`,
      );
    }
    if ('error' in entry) {
      fail(index, entry, entry.error);
      continue;
    }
    for (const note of entry.notes ?? []) notes.set(note, (notes.get(note) ?? 0) + 1);
    const collection = target.get(entry.item.class);
    if (collection === undefined) {
      fail(index, entry, `${owner.name} has no ${entry.item.class} collection`);
      continue;
    }
    const uid = entry.uid ?? contentUid(entry.item);
    try {
      const result = await store.putItem(owner, collection.id, entry.item, ORIGIN, { uid });
      tally[result.outcome]++;
    } catch (error) {
      if (!(error instanceof StoreError)) throw error;
      fail(index, entry, error.message);
    }
  }
  for (const [note, count] of notes) {
    process.stderr.write(`airsync: note: ${note} (${count} ${count === 1 ? 'item' : 'items'})\n`);
  }
  return tally;
}

/**
 * A UID for an item the file gives none: derived from its content, so that importing the same file
 * again finds the item instead of adding it twice.
 */
function contentUid(item: PimItem): string {
  return `import-${createHash('sha256').update(JSON.stringify(item)).digest('hex').slice(0, 32)}`;
}
