// FilterType (MS-ASCMD 2.2.3.68.2): which items of a calendar or task collection a phone holds.
// Calendar items whose end lies before now minus the period are left out (a series without an end
// never is); tasks with FilterType 8 only while incomplete. Contacts and notes have no filter.

import type { ItemWindow } from '../backends/contract.ts';
import type { PimClass } from '../model/types.ts';

/** The values a calendar or task collection accepts; 0 is no filter. */
const CALENDAR_FILTERS = new Set([0, 1, 2, 3, 4, 5, 6, 7]);
const TASK_FILTERS = new Set([0, 8]);
export const INCOMPLETE_TASKS = 8;
export const MAX_FILTER_TYPE = 8;

/** Whether `filterType` is meaningful for the class (others are ignored where the spec allows it). */
export function isFilterTypeValid(pimClass: PimClass, filterType: number): boolean {
  if (!Number.isInteger(filterType) || filterType < 0 || filterType > MAX_FILTER_TYPE) return false;
  if (pimClass === 'Calendar') return CALENDAR_FILTERS.has(filterType);
  if (pimClass === 'Tasks') return TASK_FILTERS.has(filterType);
  return true;
}

/** What a FilterType keeps of a class, at one instant. */
export interface ItemFilter {
  /** Calendar: items ending before this ISO instant are outside. */
  endsAfter?: string;
  /** Tasks: only incomplete ones. */
  incompleteOnly?: boolean;
}

export function itemFilter(pimClass: PimClass, filterType: number, now: Date): ItemFilter {
  if (pimClass === 'Calendar' && filterType > 0) return { endsAfter: windowStart(filterType, now) };
  if (pimClass === 'Tasks' && filterType === INCOMPLETE_TASKS) return { incompleteOnly: true };
  return {};
}

export function isInWindow(window: ItemWindow | undefined, filter: ItemFilter): boolean {
  if (window === undefined) return true;
  if (filter.endsAfter !== undefined && window.end !== null && compareEnd(window.end, filter.endsAfter) < 0) {
    return false;
  }
  return !(filter.incompleteOnly === true && window.complete === true);
}

/**
 * An end is an instant, or a date for an all-day item; a date compares with an instant by its day
 * (an all-day event ending on the day the window starts is still inside).
 */
function compareEnd(end: string, start: string): number {
  const comparable = end.length === 10 ? `${end}T23:59:59.999Z` : end;
  return comparable < start ? -1 : comparable > start ? 1 : 0;
}

function windowStart(filterType: number, now: Date): string {
  const start = new Date(now);
  switch (filterType) {
    case 1:
      start.setUTCDate(start.getUTCDate() - 1);
      break;
    case 2:
      start.setUTCDate(start.getUTCDate() - 3);
      break;
    case 3:
      start.setUTCDate(start.getUTCDate() - 7);
      break;
    case 4:
      start.setUTCDate(start.getUTCDate() - 14);
      break;
    case 5:
      start.setUTCMonth(start.getUTCMonth() - 1);
      break;
    case 6:
      start.setUTCMonth(start.getUTCMonth() - 3);
      break;
    case 7:
      start.setUTCMonth(start.getUTCMonth() - 6);
      break;
  }
  return start.toISOString();
}

/**
 * The window end as stored for the expiry query: all-day dates become the last instant of their day,
 * so that one text comparison against the window start decides for instants and dates alike.
 */
export function storedWindowEnd(window: ItemWindow | undefined): string | null {
  const end = window?.end ?? null;
  return end !== null && end.length === 10 ? `${end}T23:59:59.999Z` : end;
}
