// A user's Out of Office settings (MS-ASCMD 2.2.3.122): whether they are away — not at all, until
// further notice, or between two times — and the automatic reply for each of the three audiences.
// One record per user, whichever device set it. Sending the replies is the mail backend's job.

import { z } from 'zod';
import type { Db } from '../state/db.ts';
import { dialectOf } from '../state/dialect.ts';

/** OofState: 0 not away, 1 away until switched off, 2 away between startTime and endTime. */
export const OOF_STATES = [0, 1, 2] as const;
export type OofState = (typeof OOF_STATES)[number];
const OOF_TIME_BASED: OofState = 2;

/** Colleagues; outsiders in the user's contacts; all other outsiders. */
export const OOF_AUDIENCES = ['internal', 'externalKnown', 'externalUnknown'] as const;
export type OofAudience = (typeof OOF_AUDIENCES)[number];

export const OOF_BODY_TYPES = ['text', 'html'] as const;
export type OofBodyType = (typeof OOF_BODY_TYPES)[number];

const replySchema = z.strictObject({ text: z.string(), bodyType: z.enum(OOF_BODY_TYPES) });
export type OofReply = z.infer<typeof replySchema>;

const audienceSchema = z.strictObject({ enabled: z.boolean(), reply: replySchema.nullable() });
/** Whether this audience gets a reply, and which; a disabled audience may keep its text for later. */
export type OofAudienceSettings = z.infer<typeof audienceSchema>;

const settingsSchema = z.strictObject({
  state: z.literal(OOF_STATES),
  /** ISO-8601 UTC; kept only from a request that made the state time-based. */
  startTime: z.string().nullable(),
  endTime: z.string().nullable(),
  audiences: z.strictObject({
    internal: audienceSchema,
    externalKnown: audienceSchema,
    externalUnknown: audienceSchema,
  }),
});
export type OofSettings = z.infer<typeof settingsSchema>;

const NO_REPLY: OofAudienceSettings = { enabled: false, reply: null };

const DEFAULT_OOF_SETTINGS: OofSettings = {
  state: 0,
  startTime: null,
  endTime: null,
  audiences: { internal: NO_REPLY, externalKnown: NO_REPLY, externalUnknown: NO_REPLY },
};

/** What one Oof Set asks for; absent parts keep their stored values. */
export interface OofChange {
  state?: OofState;
  /** Start and end, always together. */
  period?: { startTime: string; endTime: string };
  /** Each audience named is replaced as a whole. */
  audiences: Partial<Record<OofAudience, OofAudienceSettings>>;
}

/** The settings after a change. The period is kept only when the resulting state is time-based. */
function applyOofChange(current: OofSettings, change: OofChange): OofSettings {
  const state = change.state ?? current.state;
  const period = change.period !== undefined && state === OOF_TIME_BASED ? change.period : current;
  return {
    state,
    startTime: period.startTime,
    endTime: period.endTime,
    audiences: { ...current.audiences, ...change.audiences },
  };
}

export async function readOofSettings(db: Db, userId: number): Promise<OofSettings> {
  const row = await db
    .selectFrom('oof_settings')
    .select('settings')
    .where('user_id', '=', userId)
    .executeTakeFirst();
  return row === undefined ? DEFAULT_OOF_SETTINGS : settingsSchema.parse(JSON.parse(row.settings));
}

/** Applies a change atomically: two devices changing different parts at once both take effect. */
export async function changeOofSettings(db: Db, userId: number, change: OofChange): Promise<void> {
  await db.transaction().execute(async (trx) => {
    const now = new Date().toISOString();
    // The row must exist to be locked; on PostgreSQL the lock holds a concurrent change back until
    // this one commits (SQLite runs one writing transaction at a time anyway).
    await trx
      .insertInto('oof_settings')
      .values({ user_id: userId, settings: JSON.stringify(DEFAULT_OOF_SETTINGS), updated_at: now })
      .onConflict((conflict) => conflict.column('user_id').doNothing())
      .execute();
    const row = await trx
      .selectFrom('oof_settings')
      .select('settings')
      .where('user_id', '=', userId)
      .$if(dialectOf(db) === 'postgres', (query) => query.forUpdate())
      .executeTakeFirstOrThrow();
    const settings = applyOofChange(settingsSchema.parse(JSON.parse(row.settings)), change);
    await trx
      .updateTable('oof_settings')
      .set({ settings: JSON.stringify(settings), updated_at: now })
      .where('user_id', '=', userId)
      .execute();
  });
}

/** A reply's text in the body type a client asked for. */
export function replyText(reply: OofReply, bodyType: OofBodyType): string {
  if (reply.bodyType === bodyType) return reply.text;
  return bodyType === 'html' ? textToHtml(reply.text) : htmlToText(reply.text);
}

const HTML_ESCAPES: Readonly<Record<string, string>> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
};

function textToHtml(text: string): string {
  const escaped = text.replace(/[&<>"]/g, (c) => HTML_ESCAPES[c] as string);
  return `<html><body>${escaped.replace(/\r?\n/g, '<br>')}</body></html>`;
}

const HTML_ENTITIES: Readonly<Record<string, string>> = {
  amp: '&',
  lt: '<',
  gt: '>',
  quot: '"',
  apos: "'",
  nbsp: ' ',
};

/** Out of Office replies are short, simple HTML: line breaks and paragraphs are all that need keeping. */
function htmlToText(html: string): string {
  return html
    .replace(/<(head|style|script)\b[^>]*>[\s\S]*?<\/\1\s*>/gi, '')
    .replace(/<br\b[^>]*>|<\/(p|div|li|tr|h[1-6])\s*>/gi, '\n')
    .replace(/<[^>]*>/g, '')
    .replace(/&(#x[0-9a-f]+|#\d+|[a-z]+);/gi, (entity, name: string) => {
      if (name.startsWith('#')) {
        const code = name[1] === 'x' || name[1] === 'X' ? parseInt(name.slice(2), 16) : Number(name.slice(1));
        return code <= 0x10ffff ? String.fromCodePoint(code) : entity;
      }
      return HTML_ENTITIES[name.toLowerCase()] ?? entity;
    })
    .replace(/[ \t]+\n/g, '\n')
    .trim();
}
