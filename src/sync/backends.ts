// The backends a server syncs from, by name and by data class. A user may have several at once (mail
// from one, PIM from another); the folder map records which backend each folder belongs to.

import type { Backend, BackendFolder, FolderType } from '../backends/contract.ts';
import { FOLDER_TYPES } from '../backends/contract.ts';
import type { PimClass } from '../model/types.ts';

export interface NamedFolder extends BackendFolder {
  backend: string;
}

/** The user-created folder types a phone may ask for with FolderCreate, and their class. */
const USER_FOLDER_CLASSES: ReadonlyMap<number, PimClass> = new Map<number, PimClass>([
  [FOLDER_TYPES.userCalendar, 'Calendar'],
  [FOLDER_TYPES.userContacts, 'Contacts'],
  [FOLDER_TYPES.userTasks, 'Tasks'],
  [FOLDER_TYPES.userNotes, 'Notes'],
]);

export function userFolderClass(type: number): PimClass | undefined {
  return USER_FOLDER_CLASSES.get(type);
}

export function isFolderType(type: number): type is FolderType {
  return (Object.values(FOLDER_TYPES) as number[]).includes(type);
}

export class Backends {
  private readonly byName = new Map<string, Backend>();

  constructor(readonly all: readonly Backend[]) {
    for (const backend of all) {
      if (this.byName.has(backend.name)) throw new Error(`two backends are named "${backend.name}"`);
      this.byName.set(backend.name, backend);
    }
  }

  named(name: string): Backend | undefined {
    return this.byName.get(name);
  }

  /** The backend new folders of a class are created in: the first that serves it. */
  forClass(pimClass: PimClass): Backend | undefined {
    return this.all.find((backend) => backend.classes.includes(pimClass));
  }
}
