// The change bus: how a waiting request (Ping, a Sync with Wait) hears "folder F of user U changed".
// Subscribers live in an in-memory index keyed by folder, so a subscription and a wake-up cost
// O(folders of that request) whatever the number of waiting requests; a waiting request holds a
// closure here and nothing else. Changes published in this process are delivered at once; a
// transport carries them to and from the server's other processes, together with word that a device
// account's request now waits in one of them (so that the others end theirs: src/push/waiting.ts).

import type { ChangeOrigin } from '../backends/contract.ts';
import type { BusMessage } from './wire.ts';

/** One folder of one user, as a backend names it. */
export interface FolderRef {
  userId: number;
  /** The backend's name (`Backend.name`), e.g. 'store'. */
  backend: string;
  folderId: string;
}

export interface FolderChange extends FolderRef {
  /** Who made the change, as `originText` writes it: 'account:<id>' or 'tool:<name>'. */
  origin?: string;
  /**
   * The user's folder list changed (a folder was added, renamed, moved or deleted); `folderId` is
   * the folder concerned. Wakes the user's hierarchy subscribers as well as the folder's own.
   */
  hierarchy?: boolean;
  /**
   * The highest history sequence the change wrote, when its backend keeps one (the built-in
   * store). The history poller uses it to skip rows this process has already announced.
   */
  seq?: number;
}

export type ChangeListener = (change: FolderChange) => void;

/** A request of `account` waits in another process since `at`. */
export type SupersedeListener = (account: number, at: number) => void;

export interface SubscribeOptions {
  /** The user the waiting request belongs to. */
  userId: number;
  /** Also wake on changes to this user's folder list. */
  hierarchy?: boolean;
  /** Changes with this origin do not wake the subscriber: a device's own change must not wake its Ping. */
  ignoreOrigin?: string;
  /**
   * Changes made in other processes may have been missed (the connection between processes was
   * down and is back): the subscriber should look at its folders itself.
   */
  onGap?: () => void;
}

export interface ChangeBus {
  /** Delivers the change to this process's subscribers at once and forwards it to the other processes. */
  publish(change: FolderChange): void;
  /**
   * Wakes `listener` once for each change to one of `folders` (or to the user's folder list, with
   * `options.hierarchy`), however many of them the change concerns. Returns the unsubscribe function.
   */
  subscribe(folders: readonly FolderRef[], options: SubscribeOptions, listener: ChangeListener): () => void;
  /**
   * Tells the other processes that a request of this device account waits in this one since `at`
   * (ms since the epoch), so that each ends its own older waiting request of that account: a
   * reconnecting phone never has two.
   */
  supersede(account: number, at: number): void;
  /** Calls `listener` for each supersede of another process. Returns the unsubscribe function. */
  onSupersede(listener: SupersedeListener): () => void;
  /** Waiting subscriptions and the distinct folders they watch, for metrics. */
  stats(): { subscribers: number; folders: number };
  /**
   * Stops the traffic with other processes once what this process published is sent; from then on,
   * changes are delivered in this process only.
   */
  close(): Promise<void>;
}

/** The text form of a change's origin, as FolderChange and SubscribeOptions carry it. */
export function originText(origin: ChangeOrigin): string {
  return 'account' in origin ? `account:${origin.account}` : `tool:${origin.tool}`;
}

/** The index key of a folder. Backend names hold no ':', so the folder id may contain anything. */
export function folderKey(folder: FolderRef): string {
  return `${folder.userId}:${folder.backend}:${folder.folderId}`;
}

/** How a bus exchanges changes with the server's other processes. */
export interface ChangeTransport {
  /** Forwards a message of this process; it must not come back through the sink. */
  send(message: BusMessage): void;
  /** Sends what is still in flight, then disconnects. */
  close(): Promise<void>;
}

/** What a transport calls back into its bus with. */
export interface TransportSink {
  /** A change another process published. */
  deliver(change: FolderChange): void;
  /** Another process superseded a device account's waiting request. */
  supersede(account: number, at: number): void;
  /** Changes of other processes may have been lost (a reconnection). */
  gap(): void;
  /** A failure the transport recovers from by itself, for the log. */
  error(error: Error): void;
}

interface Subscriber {
  readonly listener: ChangeListener;
  readonly ignoreOrigin: string | undefined;
  readonly onGap: (() => void) | undefined;
  /** Cleared on unsubscribe, so a delivery already under way skips it. */
  active: boolean;
}

/** A bus with its subscriber index in this process and, optionally, a transport to the others. */
export class LocalChangeBus implements ChangeBus {
  readonly #byFolder = new Map<string, Set<Subscriber>>();
  /** Subscribers to each user's folder list, by user id. */
  readonly #byUserHierarchy = new Map<number, Set<Subscriber>>();
  readonly #gapListeners = new Set<Subscriber>();
  readonly #supersedeListeners = new Set<SupersedeListener>();
  readonly #onError: (error: Error) => void;
  #subscribers = 0;
  #transport: ChangeTransport | undefined;

  /** Where a transport hands in what it receives. */
  readonly sink: TransportSink;

  constructor(onError: (error: Error) => void) {
    this.#onError = onError;
    this.sink = {
      deliver: (change) => this.#deliver(change),
      supersede: (account, at) => this.#superseded(account, at),
      gap: () => this.#gap(),
      error: onError,
    };
  }

  attach(transport: ChangeTransport): void {
    this.#transport = transport;
  }

  publish(change: FolderChange): void {
    // Forwarded first, so that other processes do not wait for this one's listeners.
    this.#transport?.send({ kind: 'change', change });
    this.#deliver(change);
  }

  supersede(account: number, at: number): void {
    this.#transport?.send({ kind: 'supersede', account, at });
  }

  onSupersede(listener: SupersedeListener): () => void {
    this.#supersedeListeners.add(listener);
    return () => {
      this.#supersedeListeners.delete(listener);
    };
  }

  subscribe(folders: readonly FolderRef[], options: SubscribeOptions, listener: ChangeListener): () => void {
    const subscriber: Subscriber = {
      listener,
      ignoreOrigin: options.ignoreOrigin,
      onGap: options.onGap,
      active: true,
    };
    const keys = [...new Set(folders.map(folderKey))];
    for (const key of keys) addTo(this.#byFolder, key, subscriber);
    if (options.hierarchy === true) addTo(this.#byUserHierarchy, options.userId, subscriber);
    if (subscriber.onGap !== undefined) this.#gapListeners.add(subscriber);
    this.#subscribers += 1;

    return () => {
      if (!subscriber.active) return;
      subscriber.active = false;
      for (const key of keys) removeFrom(this.#byFolder, key, subscriber);
      if (options.hierarchy === true) removeFrom(this.#byUserHierarchy, options.userId, subscriber);
      this.#gapListeners.delete(subscriber);
      this.#subscribers -= 1;
    };
  }

  stats(): { subscribers: number; folders: number } {
    return { subscribers: this.#subscribers, folders: this.#byFolder.size };
  }

  async close(): Promise<void> {
    const transport = this.#transport;
    this.#transport = undefined;
    await transport?.close();
  }

  #deliver(change: FolderChange): void {
    const folderSubscribers = this.#byFolder.get(folderKey(change));
    const hierarchySubscribers = change.hierarchy ? this.#byUserHierarchy.get(change.userId) : undefined;
    // Taken before any listener runs: one that subscribes again is not woken by this same change.
    const targets = folderSubscribers === undefined ? [] : [...folderSubscribers];
    for (const subscriber of hierarchySubscribers ?? []) {
      if (folderSubscribers?.has(subscriber) !== true) targets.push(subscriber);
    }
    for (const subscriber of targets) {
      if (!subscriber.active) continue;
      if (change.origin !== undefined && change.origin === subscriber.ignoreOrigin) continue;
      this.#call(() => subscriber.listener(change));
    }
  }

  #superseded(account: number, at: number): void {
    for (const listener of [...this.#supersedeListeners]) this.#call(() => listener(account, at));
  }

  #gap(): void {
    for (const subscriber of [...this.#gapListeners]) {
      const onGap = subscriber.onGap;
      if (subscriber.active && onGap !== undefined) this.#call(onGap);
    }
  }

  /** A throwing listener is reported, and the others are still woken. */
  #call(callback: () => void): void {
    try {
      callback();
    } catch (error) {
      this.#onError(error instanceof Error ? error : new Error(String(error)));
    }
  }
}

function addTo<K>(index: Map<K, Set<Subscriber>>, key: K, subscriber: Subscriber): void {
  let subscribers = index.get(key);
  if (subscribers === undefined) {
    subscribers = new Set();
    index.set(key, subscribers);
  }
  subscribers.add(subscriber);
}

function removeFrom<K>(index: Map<K, Set<Subscriber>>, key: K, subscriber: Subscriber): void {
  const subscribers = index.get(key);
  if (subscribers === undefined) return;
  subscribers.delete(subscriber);
  if (subscribers.size === 0) index.delete(key);
}
