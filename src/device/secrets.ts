// Encryption at rest for the few secrets airsync must be able to read back (a device's recovery
// password): AES-256-GCM under one server key. The key is derived from the configured secretKey,
// or else is 32 random bytes kept in dataDir/secret.key (mode 0600), made on first use. Every process
// that shares a database must use the same key, so several servers on one PostgreSQL database need
// secretKey configured: each would otherwise make its own key file.

import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { link, mkdir, readFile, unlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Config } from '../config.ts';

export const SECRET_KEY_FILE_NAME = 'secret.key';

const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;
/** Marks the format of a sealed value, so that another one can follow it. */
const FORMAT = 'v1:';

/** A sealed value that does not open: it was altered, or sealed under another key or for another use. */
export class SecretError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SecretError';
  }
}

export class SecretBox {
  constructor(private readonly key: Buffer) {
    if (key.length !== KEY_BYTES) throw new RangeError(`a secret key has ${KEY_BYTES} bytes`);
  }

  /**
   * Encrypts `plaintext`. `context` names what the value belongs to (e.g. the row it is stored in):
   * it is authenticated, not stored, so a sealed value copied elsewhere does not open there.
   */
  seal(plaintext: string, context: string): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv).setAAD(Buffer.from(context, 'utf8'));
    const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return FORMAT + Buffer.concat([iv, cipher.getAuthTag(), ciphertext]).toString('base64');
  }

  /** The plaintext of a value sealed with the same key and context; throws SecretError otherwise. */
  open(sealed: string, context: string): string {
    if (!sealed.startsWith(FORMAT)) throw new SecretError('not a sealed value');
    const bytes = Buffer.from(sealed.slice(FORMAT.length), 'base64');
    if (bytes.length < IV_BYTES + TAG_BYTES) throw new SecretError('sealed value is truncated');
    const decipher = createDecipheriv('aes-256-gcm', this.key, bytes.subarray(0, IV_BYTES))
      .setAAD(Buffer.from(context, 'utf8'))
      .setAuthTag(bytes.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
    try {
      return Buffer.concat([
        decipher.update(bytes.subarray(IV_BYTES + TAG_BYTES)),
        decipher.final(),
      ]).toString('utf8');
    } catch {
      throw new SecretError('sealed value does not open: altered, or sealed under another server key');
    }
  }
}

const boxes = new WeakMap<Config, Promise<SecretBox>>();

/** The server's SecretBox, its key loaded (or made) once per configuration. */
export function secretBoxFor(config: Config): Promise<SecretBox> {
  let box = boxes.get(config);
  if (box === undefined) {
    box = loadKey(config).then((key) => new SecretBox(key));
    // A failed load (say, an unreadable key file) is tried again on the next use.
    box.catch(() => boxes.delete(config));
    boxes.set(config, box);
  }
  return box;
}

async function loadKey(config: Config): Promise<Buffer> {
  if (config.secretKey !== undefined) {
    const info = Buffer.from('airsync secret box');
    return Buffer.from(hkdfSync('sha256', config.secretKey, Buffer.alloc(0), info, KEY_BYTES));
  }
  const file = join(config.dataDir, SECRET_KEY_FILE_NAME);
  return (await readKeyFile(file)) ?? (await createKeyFile(file));
}

async function readKeyFile(file: string): Promise<Buffer | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  const key = Buffer.from(text.trim(), 'base64');
  if (key.length !== KEY_BYTES) throw new Error(`${file} does not hold a ${KEY_BYTES}-byte base64 key`);
  return key;
}

/** Writes a new key beside its final name and links it into place, so no process reads half a key. */
async function createKeyFile(file: string): Promise<Buffer> {
  await mkdir(dirname(file), { recursive: true });
  const key = randomBytes(KEY_BYTES);
  const draft = `${file}.${process.pid}.${randomBytes(4).toString('hex')}`;
  await writeFile(draft, `${key.toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
  try {
    await link(draft, file);
    return key;
  } catch (error) {
    // Another process made the key first: use that one.
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return (await readKeyFile(file)) as Buffer;
    throw error;
  } finally {
    await unlink(draft);
  }
}
