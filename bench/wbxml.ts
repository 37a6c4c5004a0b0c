// WBXML codec throughput: `npm run bench:wbxml`. Prints a table; asserts nothing.
//
// Documents: a Sync response adding 100 contacts (typical Contacts fields plus an AirSyncBase body),
// and a SendMail request carrying a 1 MB MIME message as opaque data.

import { decode, el, encode, encodeStream, type WbxmlElement } from '../src/wbxml/index.ts';

const WARM_UP_MS = 300;
const MEASURE_MS = 1500;

function contact(i: number): WbxmlElement {
  const first = ['Ann', 'Bob', 'Chloé', 'Dmitri', 'Eun-ji'][i % 5]!;
  const last = `Example${i}`;
  return el('AirSync', 'Add', [
    el('AirSync', 'ServerId', `2:${i + 1}`),
    el('AirSync', 'ApplicationData', [
      el('AirSyncBase', 'Body', [
        el('AirSyncBase', 'Type', '1'),
        el('AirSyncBase', 'EstimatedDataSize', '180'),
        el(
          'AirSyncBase',
          'Data',
          `Met ${first} at the conference in 2019. Prefers e-mail; call only after 10:00. `.repeat(2),
        ),
      ]),
      el('Contacts', 'FileAs', `${last}, ${first}`),
      el('Contacts', 'FirstName', first),
      el('Contacts', 'LastName', last),
      el('Contacts', 'CompanyName', 'Contoso, Ltd.'),
      el('Contacts', 'JobTitle', 'Development Manager'),
      el('Contacts', 'Department', 'R&D'),
      el('Contacts', 'Email1Address', `"${first} ${last}" <${first.toLowerCase()}.${i}@example.org>`),
      el('Contacts', 'Email2Address', `${first.toLowerCase()}@home.example`),
      el('Contacts', 'MobilePhoneNumber', `+1 206 555 ${String(1000 + i)}`),
      el('Contacts', 'BusinessPhoneNumber', '+1 206 555 0100'),
      el('Contacts', 'HomePhoneNumber', `+1 425 555 ${String(2000 + i)}`),
      el('Contacts', 'BusinessAddressStreet', '234 Main St.'),
      el('Contacts', 'BusinessAddressCity', 'Redmond'),
      el('Contacts', 'BusinessAddressState', 'WA'),
      el('Contacts', 'BusinessAddressPostalCode', '98052'),
      el('Contacts', 'BusinessAddressCountry', 'United States of America'),
      el('Contacts', 'Birthday', '1980-04-12T00:00:00.000Z'),
      el('Contacts', 'WebPage', 'https://www.example.org/'),
      el('Contacts', 'Categories', [
        el('Contacts', 'Category', 'Business'),
        el('Contacts', 'Category', 'VIP'),
      ]),
      el('Contacts2', 'NickName', first.slice(0, 3)),
      el('AirSyncBase', 'NativeBodyType', '1'),
    ]),
  ]);
}

const syncResponse = el('AirSync', 'Sync', [
  el('AirSync', 'Collections', [
    el('AirSync', 'Collection', [
      el('AirSync', 'SyncKey', '{5c0b6f52-7c3e-4b41-9a0e-2f1d3c4b5a69}2'),
      el('AirSync', 'CollectionId', '2'),
      el('AirSync', 'Status', '1'),
      el(
        'AirSync',
        'Commands',
        Array.from({ length: 100 }, (_, i) => contact(i)),
      ),
    ]),
  ]),
]);

const mime = Buffer.alloc(1024 * 1024);
for (let i = 0; i < mime.length; i++) mime[i] = 0x20 + ((i * 7) % 0x5f);
const sendMail = el('ComposeMail', 'SendMail', [
  el('ComposeMail', 'ClientId', '1234567890'),
  el('ComposeMail', 'SaveInSentItems'),
  el('ComposeMail', 'Mime', mime),
]);

interface Rate {
  perSecond: number;
  mbPerSecond: number;
}

function measure(run: () => void, bytes: number): Rate {
  for (const end = performance.now() + WARM_UP_MS; performance.now() < end;) run();
  let iterations = 0;
  const start = performance.now();
  let elapsed: number;
  do {
    run();
    iterations++;
    elapsed = performance.now() - start;
  } while (elapsed < MEASURE_MS);
  const perSecond = (iterations * 1000) / elapsed;
  return { perSecond, mbPerSecond: (perSecond * bytes) / (1024 * 1024) };
}

const rows: string[][] = [];
for (const [name, tree] of [
  ['Sync response, 100 contacts', syncResponse],
  ['SendMail, 1 MB opaque MIME', sendMail],
] as const) {
  const bytes = encode(tree);
  const size = `${(bytes.length / 1024).toFixed(1)} KiB`;
  const operations: [string, () => void][] = [
    ['decode', () => decode(bytes)],
    ['encode', () => encode(tree)],
    [
      'encodeStream',
      () => {
        for (const chunk of encodeStream(tree)) void chunk;
      },
    ],
  ];
  for (const [operation, run] of operations) {
    const { perSecond, mbPerSecond } = measure(run, bytes.length);
    rows.push([name, size, operation, perSecond.toFixed(0), mbPerSecond.toFixed(1)]);
  }
}

const header = ['document', 'size', 'operation', 'docs/s', 'MB/s'];
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
const line = (cells: string[]): string =>
  cells.map((c, i) => (i >= 3 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ');
console.log(`Node ${process.version}, ${MEASURE_MS} ms per measurement after ${WARM_UP_MS} ms warm-up`);
console.log(line(header));
console.log(line(widths.map((w) => '-'.repeat(w))));
for (const row of rows) console.log(line(row));
console.log('decode keeps opaque data as a view into the input (no copy); encodeStream passes it through.');
