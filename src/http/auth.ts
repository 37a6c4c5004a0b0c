// Basic authentication on every request. EAS clients send the password with each request, and an
// argon2 verification costs ~165 ms, so a verified user/password pair is remembered for a short
// while. Failed logins are throttled per user-and-address and per address; the user key includes the
// address so that a phone with a stale password, or an attacker elsewhere, cannot lock a user out of
// a phone that works.

import { createHmac, randomBytes } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';
import type { Config } from '../config.ts';
import type { User, UserDirectory } from '../state/users.ts';
import { HttpError } from './errors.ts';
import './request-state.ts'; // the request fields set here

export interface Credentials {
  /** The login as sent: `alice`, `DOMAIN\alice` or `alice@example.com`. */
  login: string;
  password: string;
}

/** The credentials of an `Authorization: Basic …` header; undefined when absent or malformed. */
export function parseBasicAuthorization(header: string | undefined): Credentials | undefined {
  const match = /^Basic\s+([A-Za-z0-9+/]+={0,2})\s*$/i.exec(header ?? '');
  if (match === null) return undefined;
  const decoded = Buffer.from(match[1] as string, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon <= 0) return undefined;
  return { login: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

/** The local account a login names: `DOMAIN\alice` and `alice@example.com` both name `alice`. */
export function accountName(login: string): string {
  const withoutDomain = login.slice(login.lastIndexOf('\\') + 1);
  const at = withoutDomain.lastIndexOf('@');
  return (at === -1 ? withoutDomain : withoutDomain.slice(0, at)).trim().normalize('NFC').toLowerCase();
}

export class Authenticator {
  private readonly verified: VerifiedCredentials;
  /** Password checks in progress, by cache key. */
  private readonly checking = new Map<string, Promise<User | undefined>>();
  private readonly throttle: LoginThrottle;

  constructor(
    private readonly directory: UserDirectory,
    settings: Config['auth'],
  ) {
    this.verified = new VerifiedCredentials(settings.cacheTtlSeconds * 1000, settings.cacheMaxEntries);
    this.throttle = new LoginThrottle(settings);
  }

  /** Authenticates a request by its Authorization header and records who it is (see request-state). */
  async authenticateRequest(request: FastifyRequest): Promise<User> {
    const credentials = parseBasicAuthorization(request.headers.authorization);
    request.loginName = credentials?.login ?? null;
    request.account = await this.authenticate(credentials, request.ip);
    return request.account;
  }

  /** The user these credentials belong to; throws HttpError 401 (wrong or none) or 503 (throttled). */
  async authenticate(credentials: Credentials | undefined, address: string): Promise<User> {
    if (credentials === undefined) throw new HttpError(401, 'no Basic credentials');
    const name = accountName(credentials.login);
    // The block comes first, cache or not: else a blocked guesser could still tell a right guess
    // (cached, 200) from a wrong one (503).
    const blockedMs = await this.throttle.blockedFor(name, address);
    if (blockedMs > 0) throw throttled(name, address, blockedMs);
    const cacheKey = this.verified.key(name, credentials.password);
    let user = this.verified.get(cacheKey);
    if (user === undefined) {
      user = await this.verifyOnce(cacheKey, name, credentials.password);
      if (user === undefined) {
        const nowBlockedMs = await this.throttle.recordFailure(name, address);
        if (nowBlockedMs > 0) throw throttled(name, address, nowBlockedMs);
        throw new HttpError(401, `wrong password or unknown user "${name}"`);
      }
      this.verified.set(cacheKey, user);
    }
    await this.throttle.recordSuccess(name, address);
    return user;
  }

  /**
   * One password hash check per credentials at a time: the devices of one user reconnecting
   * together (after a restart, say) share the check in progress instead of each running argon2.
   */
  private verifyOnce(cacheKey: string, name: string, password: string): Promise<User | undefined> {
    let check = this.checking.get(cacheKey);
    if (check === undefined) {
      check = this.directory.verify(name, password).finally(() => this.checking.delete(cacheKey));
      this.checking.set(cacheKey, check);
    }
    return check;
  }
}

function throttled(name: string, address: string, blockedMs: number): HttpError {
  const seconds = Math.max(1, Math.ceil(blockedMs / 1000));
  return new HttpError(503, `too many failed logins for "${name}" from ${address}; blocked ${seconds} s`, {
    'Retry-After': String(seconds),
  });
}

/**
 * Verified user/password pairs for a short TTL. Keys are HMACs under a per-process secret: the
 * cache holds no password, and its keys cannot be tested against guesses without that secret.
 * Bounded: when full, the oldest entry goes. A changed password stays valid here until its TTL ends.
 */
class VerifiedCredentials {
  private readonly secret = randomBytes(32);
  private readonly entries = new Map<string, { user: User; expiresAt: number }>();

  constructor(
    private readonly ttlMs: number,
    private readonly maxEntries: number,
  ) {}

  key(name: string, password: string): string {
    return createHmac('sha256', this.secret).update(name).update('\0').update(password).digest('base64');
  }

  get(key: string): User | undefined {
    const entry = this.entries.get(key);
    if (entry === undefined) return undefined;
    if (entry.expiresAt > Date.now()) return entry.user;
    this.entries.delete(key);
    return undefined;
  }

  set(key: string, user: User): void {
    if (this.ttlMs === 0) return;
    this.entries.delete(key);
    if (this.entries.size >= this.maxEntries) {
      const oldest = this.entries.keys().next();
      if (!oldest.done) this.entries.delete(oldest.value);
    }
    this.entries.set(key, { user, expiresAt: Date.now() + this.ttlMs });
  }
}

/** Counts failed logins in a window; past the limit a key is blocked for a while. In memory, per process. */
class LoginThrottle {
  private readonly byUser: RateLimiterMemory;
  private readonly byAddress: RateLimiterMemory;

  constructor(settings: Config['auth']) {
    const window = { duration: settings.failureWindowSeconds, blockDuration: settings.blockSeconds };
    this.byUser = new RateLimiterMemory({ points: settings.maxFailuresPerUser, ...window });
    this.byAddress = new RateLimiterMemory({ points: settings.maxFailuresPerAddress, ...window });
  }

  /** Milliseconds until this user may try again from this address; 0 when not blocked. */
  async blockedFor(name: string, address: string): Promise<number> {
    const blocks = await Promise.all([
      remainingBlock(this.byUser, userKey(name, address)),
      remainingBlock(this.byAddress, address),
    ]);
    return Math.max(...blocks);
  }

  /** Counts a failure; returns how long the user is now blocked, 0 when not (yet). */
  async recordFailure(name: string, address: string): Promise<number> {
    const outcomes = await Promise.allSettled([
      this.byUser.consume(userKey(name, address)),
      this.byAddress.consume(address),
    ]);
    let blockedMs = 0;
    for (const outcome of outcomes) {
      if (outcome.status === 'fulfilled') continue;
      // The limiter rejects with its state when the limit is exceeded, and with an Error when it fails.
      if (!(outcome.reason instanceof RateLimiterRes)) throw outcome.reason;
      blockedMs = Math.max(blockedMs, outcome.reason.msBeforeNext);
    }
    return blockedMs;
  }

  /** A success forgives this user's failures from this address only; the address's count stands. */
  async recordSuccess(name: string, address: string): Promise<void> {
    await this.byUser.delete(userKey(name, address));
  }
}

async function remainingBlock(limiter: RateLimiterMemory, key: string): Promise<number> {
  const state = await limiter.get(key);
  return state !== null && state.consumedPoints > limiter.points ? state.msBeforeNext : 0;
}

function userKey(name: string, address: string): string {
  return `${address} ${name}`;
}
