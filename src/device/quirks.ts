// Clients that do not do what the protocol says, and what the server does for them: one table,
// matched on the DeviceType and User-Agent of each request. An entry names the clients it is for and
// why; behaviour that every client needs belongs in the code, not here.

export interface DeviceQuirks {
  /**
   * Keeps sending the X-MS-PolicyKey it held before for a while after provisioning gave it a new one:
   * that one previous key is accepted too.
   */
  sendsPreviousPolicyKey: boolean;
  /**
   * Announces EAS 14.0 or later but starts provisioning only on HTTP 449, not on the command's Status
   * 140–144: it is answered 449, with the Status in the body as well.
   */
  needsHttp449: boolean;
}

interface QuirkEntry {
  /** Which clients, in words. */
  clients: string;
  deviceType?: RegExp;
  userAgent?: RegExp;
  quirks: Partial<DeviceQuirks>;
}

const NO_QUIRKS: DeviceQuirks = { sendsPreviousPolicyKey: false, needsHttp449: false };

const QUIRKS: readonly QuirkEntry[] = [
  {
    // iOS 4 (User-Agent builds 801 to 812, e.g. Apple-iPhone3C1/806.190) kept sending the old key
    // after receiving a new one and looped Provision → 449 → Provision.
    clients: 'iOS 4 Mail',
    deviceType: /^(?:iPhone|iPad|iPod)$/,
    userAgent: /^Apple-[^/]+\/8(?:0[1-9]|1[0-2])\./,
    quirks: { sendsPreviousPolicyKey: true },
  },
  {
    // Horde has answered every 14.0+ client with both since 2013 ("some clients won't accept only the
    // status codes, while some won't accept only the headers"), without naming them. Both answers are
    // standard, so a client listed here needlessly loses nothing while a missing one loops; listed are
    // the clients of that time that announced 14.x on their first EAS releases: the stock Android
    // Exchange app before Android 4.4 (Android/4.1.2-EAS-1.3) and Windows Phone 7 and 8 (MSFT-WP/8.0…).
    clients: 'Android 4.0–4.3 Exchange app, Windows Phone 7 and 8',
    userAgent: /^(?:Android\/4\.[0-3]\b.*-EAS-|MSFT-WP\/[78]\.)/,
    quirks: { needsHttp449: true },
  },
];

export function quirksOf(deviceType: string, userAgent: string | undefined): DeviceQuirks {
  let quirks = NO_QUIRKS;
  for (const entry of QUIRKS) {
    const matches =
      (entry.deviceType === undefined || entry.deviceType.test(deviceType)) &&
      (entry.userAgent === undefined || entry.userAgent.test(userAgent ?? ''));
    if (matches) quirks = { ...quirks, ...entry.quirks };
  }
  return quirks;
}
