// Item versions are opaque strings of digits (ItemChange.version): longer is later, and among equal
// lengths the lexical order is the numeric one, so padded and unpadded counters both compare right.

export function compareVersions(a: string, b: string): number {
  if (a.length !== b.length) return a.length - b.length;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Whether the device, holding `held`, already has the change at `version` (or a later one). */
export function hasVersion(held: string | undefined, version: string): boolean {
  return held !== undefined && compareVersions(held, version) >= 0;
}
