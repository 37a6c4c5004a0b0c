// Runs the real `airsync` command in child processes, as a person or a service manager would.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'airsync.js');
/** Generous: on a loaded two-core machine, starting Node with tsx alone takes a second or more. */
const PATIENCE_MS = 60_000;

/** Settings from the developer's shell must not leak into the commands under test. */
function cleanEnvironment(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([name]) => !name.startsWith('AIRSYNC_')),
  );
  return { ...env, ...extra };
}

export interface Finished {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `airsync ...args` to its end; `stdin` is written and closed (no stdin at all when omitted). */
export function airsync(
  args: string[],
  options: { stdin?: string; env?: Record<string, string> } = {},
): Promise<Finished> {
  const child = spawn(process.execPath, [BIN, ...args], {
    env: cleanEnvironment(options.env ?? {}),
    stdio: [options.stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
  });
  child.stdin?.end(options.stdin);
  const output = collect(child);
  const hung = setTimeout(() => child.kill('SIGKILL'), PATIENCE_MS);
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(hung);
      resolve({ code, ...output() });
    });
  });
}

export interface RunningServer {
  /** What `serve` printed as the address it listens on. */
  url: string;
  /** Everything the server wrote so far. */
  output(): { stdout: string; stderr: string };
  /** Waits until the server's output matches. */
  waitForOutput(pattern: RegExp): Promise<string>;
  /** SIGTERM (SIGKILL if that does not end it), then the exit code. */
  stop(): Promise<number | null>;
}

/** Starts `airsync serve ...args` and resolves once it prints the address it listens on. */
export async function startServe(args: string[]): Promise<RunningServer> {
  const child = spawn(process.execPath, [BIN, 'serve', ...args], {
    env: cleanEnvironment({}),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output = collect(child);
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));

  const waitForOutput = async (pattern: RegExp): Promise<string> => {
    for (const deadline = Date.now() + PATIENCE_MS; Date.now() < deadline;) {
      const { stdout, stderr } = output();
      const match = pattern.exec(stdout) ?? pattern.exec(stderr);
      if (match) return match[1] ?? match[0];
      if (child.exitCode !== null) break;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    const { stdout, stderr } = output();
    throw new Error(`server output never matched ${pattern}\nstdout: ${stdout}\nstderr: ${stderr}`);
  };

  const url = await waitForOutput(/listening on (\S+)/).catch((error: unknown) => {
    child.kill('SIGKILL');
    throw error;
  });
  return {
    url,
    output,
    waitForOutput,
    stop: async () => {
      if (child.exitCode !== null) return exited;
      child.kill('SIGTERM');
      const hung = setTimeout(() => child.kill('SIGKILL'), PATIENCE_MS);
      const code = await exited;
      clearTimeout(hung);
      return code;
    },
  };
}

function collect(child: ChildProcess): () => { stdout: string; stderr: string } {
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  return () => ({ stdout, stderr });
}

/** A fresh data directory holding the user alice (password "secret"), and `airsync serve` on it. */
export async function serveWithAlice(
  extraArgs: (dataDir: string) => string[] = () => [],
): Promise<{ data: TemporaryDirectory; server: RunningServer }> {
  const data = await temporaryDirectory();
  const added = await airsync(['user', 'add', 'alice', '--password', 'secret', '--data', data.dir]);
  if (added.code !== 0) throw new Error(`user add failed: ${added.stderr}`);
  const server = await startServe(['--listen', '127.0.0.1:0', '--data', data.dir, ...extraArgs(data.dir)]);
  return { data, server };
}

export interface TemporaryDirectory {
  dir: string;
  remove(): Promise<void>;
}

/** A fresh temporary directory, and the function that removes it. */
export async function temporaryDirectory(): Promise<TemporaryDirectory> {
  const dir = await mkdtemp(join(tmpdir(), 'airsync-e2e-'));
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}
