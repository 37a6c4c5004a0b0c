// The `airsync` command: picks the command group and turns failures into exit codes
// (0 done, 1 failed with one line saying why, 2 the command line itself is wrong).
import { UsageError } from './options.ts';

const USAGE = `Usage: airsync <command> [options]

Commands:
  serve                          run the ActiveSync server
  user add|list|passwd|remove    manage the users who may sync
  device list|show|wipe|…        see and manage the devices that synced
  policy list|show|set|assign|…  manage the security policy sets devices apply
  collection list|add|sync|…     a user's calendars, address books, … and which of them phones sync
  probe URL --user NAME          check a server from a phone's side
  import USER FILE               import an .ics or .vcf file into a user's collections
  export USER COLLECTION         write a collection as .ics or .vcf to standard output

Run "airsync <command> --help" for the options of a command. Every command takes
--data DIR (default ./data) and --config FILE; AIRSYNC_* environment variables override the file.`;

type Command = (args: string[]) => Promise<number>;

// Loaded on demand, so that `airsync user` does not load the HTTP server, nor `probe` the database.
const COMMANDS = new Map<string, () => Promise<Command>>([
  ['serve', async () => (await import('./serve.ts')).serve],
  ['user', async () => (await import('./user.ts')).user],
  ['device', async () => (await import('./device.ts')).device],
  ['policy', async () => (await import('./policy.ts')).policy],
  ['collection', async () => (await import('./collection.ts')).collection],
  ['probe', async () => (await import('./probe.ts')).probe],
  ['import', async () => (await import('./import.ts')).importCommand],
  ['export', async () => (await import('./export.ts')).exportCommand],
]);

export async function main(argv: string[]): Promise<number> {
  const [name, ...args] = argv;
  try {
    if (name === '--help' || name === '-h' || name === 'help') {
      process.stdout.write(`${USAGE}\n`);
      return 0;
    }
    if (name === undefined) throw new UsageError('no command given', USAGE);
    const load = COMMANDS.get(name);
    if (load === undefined) throw new UsageError(`unknown command: ${name}`, USAGE);
    const command = await load();
    return await command(args);
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`airsync: ${error.message}\n\n${error.usage}\n`);
      return 2;
    }
    process.stderr.write(`airsync: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  }
}
