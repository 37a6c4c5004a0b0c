export { EasClient } from './client.ts';
export type { EasClientOptions, EasOptionsResponse, EasResponse, QueryForm, SendOptions } from './client.ts';
export type { AutodiscoverResult } from './autodiscover.ts';
export { provision } from './provision.ts';
export type { ProvisionOptions, ProvisionOutcome } from './provision.ts';
export { EasConnectionError } from './transport.ts';
export type { ConnectionFailure } from './transport.ts';
export {
  folderCreate,
  folderDelete,
  folderSync,
  folderUpdate,
  getItemEstimate,
  itemOperationsFetch,
  moveItems,
  sync,
} from './sync.ts';
export type * from './sync.ts';
