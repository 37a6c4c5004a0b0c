// EAS 16.0 addresses one occurrence of a recurring appointment by InstanceId: a Delete with it
// removes that occurrence, a Change with it changes only that one. Both become a change of the
// series, made by the calendar model; anything else than a recurring appointment is ItemError.

import { withOccurrenceChange, withoutOccurrence } from '../model/calendar.ts';
import { ItemError } from '../model/codec.ts';
import type { PimItem } from '../model/types.ts';
import type { ProtocolVersion } from '../http/query.ts';
import type { WbxmlElement } from '../wbxml/tree.ts';

export function deleteOccurrence(series: PimItem, instanceId: string): PimItem {
  if (series.class !== 'Calendar') throw new ItemError('only calendar items have occurrences');
  return { class: 'Calendar', data: withoutOccurrence(series.data, instanceId) };
}

export function changeOccurrence(
  series: PimItem,
  instanceId: string,
  applicationData: WbxmlElement,
  version: ProtocolVersion,
): PimItem {
  if (series.class !== 'Calendar') throw new ItemError('only calendar items have occurrences');
  return { class: 'Calendar', data: withOccurrenceChange(series.data, instanceId, applicationData, version) };
}
