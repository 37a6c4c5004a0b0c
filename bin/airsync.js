#!/usr/bin/env node
// Runs the TypeScript sources directly through tsx: one code path for development and production.
import { register } from 'tsx/esm/api';

// `airsync device list | head` closes the pipe early: that is the reader's choice, not an error.
process.stdout.on('error', (error) => {
  if (error.code === 'EPIPE') process.exit(0);
  throw error;
});

register();
const { main } = await import('../src/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
