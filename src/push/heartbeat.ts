// The heartbeats a server accepts: configured bounds, and below a reverse proxy's read timeout, which
// would otherwise cut a waiting request before it is answered. Ping and a Sync's HeartbeatInterval
// count in seconds; a Sync's Wait (EAS 12.1) counts in minutes, 1 to 59.

/** Left between the longest heartbeat and the proxy's timeout, for the answer to reach the proxy. */
export const PROXY_MARGIN_SECONDS = 10;

/** Phones expect at least a minute, and a Wait counts in whole minutes. */
export const SHORTEST_MAXIMUM_SECONDS = 60;

export interface HeartbeatSettings {
  minHeartbeat: number;
  maxHeartbeat: number;
  /** The reverse proxy's read timeout in seconds, if the server runs behind one. */
  proxyTimeout?: number;
}

/** Bounds, both included. */
export interface Limits {
  min: number;
  max: number;
}

/** The heartbeats accepted, in seconds. */
export function heartbeatLimits(settings: HeartbeatSettings): Limits {
  const proxyBudget =
    settings.proxyTimeout === undefined ? Infinity : settings.proxyTimeout - PROXY_MARGIN_SECONDS;
  return { min: settings.minHeartbeat, max: Math.min(settings.maxHeartbeat, proxyBudget) };
}

/** The Wait values accepted, in minutes: within 1–59 and within the heartbeat limits as far as whole minutes allow. */
export function waitLimits(heartbeat: Limits): Limits {
  const max = Math.max(1, Math.min(59, Math.floor(heartbeat.max / 60)));
  const min = Math.min(max, Math.max(1, Math.ceil(heartbeat.min / 60)));
  return { min, max };
}

/** The bound a value lies beyond; undefined when it is within the limits. */
export function boundExceeded(value: number, limits: Limits): number | undefined {
  if (value < limits.min) return limits.min;
  if (value > limits.max) return limits.max;
  return undefined;
}
