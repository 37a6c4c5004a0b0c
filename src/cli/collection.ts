// `airsync collection`: a user's contacts, calendars, task lists and notes in the built-in store, and
// which of them the user's phones sync. Phones notice a change on their next folder sync.
import { PIM_CLASSES, PimStore, type Collection } from '../backends/store/store.ts';
import type { ChangeOrigin, Owner } from '../backends/contract.ts';
import type { PimClass } from '../model/types.ts';
import { openDatabase } from '../state/db.ts';
import { withToolStore } from './tool-store.ts';
import { UserStore, normalizeUserName } from '../state/users.ts';
import { COMMON_USAGE, UsageError, configFor, parseCommandLine, refuseOtherOptions } from './options.ts';
import { printJson, printTable } from './output.ts';

export const COLLECTION_USAGE = `Usage: airsync collection <action> USER [options]

Every user has a default collection of each class (contacts, calendar, tasks, notes), which phones
always sync; other collections are synced only when chosen. NAME|ID is a collection's name (in any
letter case, when that is unambiguous) or its id, as "list" shows them.

Actions:
  list USER [--json]            the user's collections: id, class, name, synced, default, items
  add USER CLASS NAME [--sync]  create a collection; CLASS is contacts, calendar, tasks or notes
  sync USER NAME|ID             the user's phones sync the collection from now on
  unsync USER NAME|ID           the user's phones stop syncing it (its items leave the phones, not
                                the server)
  remove USER NAME|ID           delete the collection, the collections under it and all their items

Options:
  --sync    add: the user's phones sync the new collection at once
  --json    list: print JSON

${COMMON_USAGE}`;

const COLLECTION_OPTIONS = {
  sync: { type: 'boolean' },
  json: { type: 'boolean' },
} as const;

type CollectionOptions = { sync?: boolean; json?: boolean };

type CollectionAction =
  | { action: 'list'; user: string; json: boolean }
  | { action: 'add'; user: string; pimClass: PimClass; name: string; sync: boolean }
  | { action: 'sync' | 'unsync' | 'remove'; user: string; collection: string };

/** What the store records as the author of the CLI's changes. */
const CLI_ORIGIN: ChangeOrigin = { tool: 'cli' };

export async function collection(args: string[]): Promise<number> {
  const { values, positionals } = parseCommandLine(args, COLLECTION_OPTIONS, COLLECTION_USAGE);
  if (values.help) {
    process.stdout.write(`${COLLECTION_USAGE}\n`);
    return 0;
  }
  const request = collectionAction(positionals, values);
  const config = configFor(values);
  const database = await openDatabase(config);
  try {
    const user = await new UserStore(database.db).find(request.user);
    if (user === undefined) throw new Error(`there is no user named ${request.user}`);
    const owner = { id: user.id, name: user.name };
    await withToolStore(config, database, (store) => run(store, owner, request));
  } finally {
    await database.close();
  }
  return 0;
}

async function run(store: PimStore, owner: Owner, request: CollectionAction): Promise<void> {
  const say = (line: string): void => {
    process.stdout.write(`${line}\n`);
  };
  switch (request.action) {
    case 'list': {
      const collections = await store.collections(owner);
      if (request.json) return printJson({ collections });
      return printTable(
        ['ID', 'CLASS', 'NAME', 'SYNCED', 'DEFAULT', 'ITEMS'],
        collections.map((collection) => [
          String(collection.id),
          collection.pimClass,
          collection.name,
          collection.synced ? 'yes' : 'no',
          collection.isDefault ? 'yes' : 'no',
          String(collection.itemCount),
        ]),
      );
    }
    case 'add': {
      const created = await store.createCollection(owner, request.pimClass, request.name, {
        synced: request.sync,
        origin: CLI_ORIGIN,
      });
      return say(
        `added ${created.pimClass} collection ${named(created)} for ${owner.name}; ` +
          (created.synced
            ? 'phones sync it'
            : `phones sync it after "airsync collection sync ${owner.name} ${created.id}"`),
      );
    }
    case 'sync':
    case 'unsync': {
      const found = await findCollection(store, owner, request.collection);
      const synced = request.action === 'sync';
      const changed = await store.setSynced(owner, found.id, synced, CLI_ORIGIN);
      const phones = `${owner.name}'s phones`;
      const what = named(found);
      if (synced)
        return say(changed ? `${phones} sync ${what} from now on` : `${phones} already sync ${what}`);
      return say(changed ? `${phones} no longer sync ${what}` : `${phones} do not sync ${what}`);
    }
    case 'remove': {
      const found = await findCollection(store, owner, request.collection);
      const all = await store.collections(owner);
      const removed = subtree(all, found);
      const result = await store.deleteFolder(owner, String(found.id), CLI_ORIGIN);
      if (result.status === 'special') {
        throw new Error(
          `${named(found)} is ${owner.name}'s default ${found.pimClass} collection: it cannot be removed`,
        );
      }
      if (result.status !== 'ok') throw new Error(`${owner.name} has no collection ${named(found)}`);
      const items = removed.reduce((sum, { itemCount }) => sum + itemCount, 0);
      const under = removed.length > 1 ? ` and ${count(removed.length - 1, 'collection')} under it` : '';
      return say(`removed ${named(found)} of ${owner.name}${under}, with ${count(items, 'item')}`);
    }
  }
}

async function findCollection(store: PimStore, owner: Owner, nameOrId: string): Promise<Collection> {
  const found = await store.findCollection(owner, nameOrId);
  if (found === undefined) throw new Error(`${owner.name} has no collection named or numbered "${nameOrId}"`);
  return found;
}

/** The collection and those under it. */
function subtree(all: readonly Collection[], root: Collection): Collection[] {
  const found = [root];
  for (let index = 0; index < found.length; index++) {
    found.push(...all.filter(({ parentId }) => parentId === found[index]?.id));
  }
  return found;
}

function named(collection: Collection): string {
  return `"${collection.name}" (id ${collection.id})`;
}

function count(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}

/** Checks the command line before the database is opened. */
function collectionAction(positionals: string[], values: CollectionOptions): CollectionAction {
  const [action, user, ...rest] = positionals;
  if (action === undefined) throw new UsageError('no action given', COLLECTION_USAGE);
  if (!['list', 'add', 'sync', 'unsync', 'remove'].includes(action)) {
    throw new UsageError(`unknown action: collection ${action}`, COLLECTION_USAGE);
  }
  const takes = (...options: (keyof CollectionOptions)[]) =>
    refuseOtherOptions(values, options, `collection ${action}`, COLLECTION_USAGE);
  if (user === undefined) throw new UsageError(`collection ${action} needs a user name`, COLLECTION_USAGE);
  const userName = normalizeUserName(user);
  const wants = (names: string[]): string[] => {
    if (rest.length < names.length) {
      throw new UsageError(`collection ${action} needs ${names.join(' and ')}`, COLLECTION_USAGE);
    }
    const extra = rest[names.length];
    if (extra !== undefined) throw new UsageError(`unexpected argument: ${extra}`, COLLECTION_USAGE);
    return rest;
  };
  switch (action) {
    case 'list':
      takes('json');
      wants([]);
      return { action, user: userName, json: values.json === true };
    case 'add': {
      takes('sync');
      const [className = '', name = ''] = wants(['a class', 'a name']);
      return { action, user: userName, pimClass: pimClassNamed(className), name, sync: values.sync === true };
    }
    default: {
      takes();
      const [collection = ''] = wants(['a collection name or id']);
      return { action: action as 'sync' | 'unsync' | 'remove', user: userName, collection };
    }
  }
}

function pimClassNamed(name: string): PimClass {
  const pimClass = PIM_CLASSES.find((candidate) => candidate.toLowerCase() === name.toLowerCase());
  if (pimClass === undefined) {
    throw new UsageError(`unknown class "${name}": contacts, calendar, tasks or notes`, COLLECTION_USAGE);
  }
  return pimClass;
}
