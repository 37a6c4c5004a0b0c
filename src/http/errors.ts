/**
 * Ends a request with an HTTP status. `reason` goes to the request's log line, never to the client:
 * EAS clients read statuses, not error bodies.
 */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly reason: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(reason);
    this.name = 'HttpError';
  }
}
