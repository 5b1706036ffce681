// Reads the command line before any flag is used: which command, help or version, and every flag checked against
// the command's own list. A mistake is one line naming the flag, with a likely correction and where the help is,
// instead of node:util's parser message (which suggests `--` and names no command).
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { suggestKey } from '../config/issues.js';
import { COMMANDS, COMMAND_NAMES, FLAGS, flagsOf } from './commands.js';

type Options = NonNullable<ParseArgsConfig['options']>;

export type CommandLine =
  /** No command: the overview, on stdout with --help (exit 0), else on stderr (exit 2). */
  | { kind: 'overview'; asked: boolean }
  | { kind: 'version' }
  | { kind: 'help'; command: string }
  /** The command and its arguments, every flag known to it and well-formed. */
  | { kind: 'run'; command: string }
  /** A usage mistake, one line; `command` when it is known. */
  | { kind: 'error'; command?: string; message: string };

const seeHelp = (command?: string): string =>
  command ? `run dynamic-env ${command} --help for its flags` : 'run dynamic-env --help for the commands';
/** `message; run ...`, or `did you mean x? Run ...`. */
const withHelp = (message: string, command?: string): string =>
  message.endsWith('?') ? `${message} R${seeHelp(command).slice(1)}` : `${message}; ${seeHelp(command)}`;


/** Classifies `argv` (without node and the script). `options` is the parser's catalogue of every flag. */
export function parseCommandLine(argv: string[], options: Options): CommandLine {
  const { tokens } = parseArgs({ args: argv, options, strict: false, allowPositionals: true, tokens: true });
  const flags = tokens.filter((t) => t.kind === 'option');
  const positionals = tokens.filter((t) => t.kind === 'positional').map((t) => t.value);
  const has = (name: string) => flags.some((t) => t.name === name);
  const command = positionals[0];

  if (has('version')) return { kind: 'version' };
  if (command === undefined || command === 'help') {
    const target = command === 'help' ? positionals[1] : undefined;
    if (target !== undefined) return COMMANDS[target] ? { kind: 'help', command: target } : unknownCommand(target);
    const stray = flags.find((t) => !options[t.name] && t.name !== 'help');
    if (stray) return { kind: 'error', message: withHelp(`unknown flag ${stray.rawName}`) };
    return { kind: 'overview', asked: command === 'help' || has('help') };
  }
  if (!COMMANDS[command]) return unknownCommand(command);
  // Help wins over everything else on the line, as with git and kubectl: `open --env x --help` shows open's help.
  if (has('help')) return { kind: 'help', command };

  const mine = flagsOf(command);
  for (const t of flags) {
    const error = (message: string): CommandLine => ({ kind: 'error', command, message: withHelp(message, command) });
    const option = options[t.name];
    if (!option) {
      const guess = suggestKey(t.name, mine);
      return error(`unknown flag ${t.rawName}${guess !== undefined ? `; did you mean --${guess}?` : ''}`);
    }
    if (!mine.includes(t.name)) {
      const takers = COMMAND_NAMES.filter((c) => flagsOf(c).includes(t.name));
      return error(`${t.rawName} is not a flag of ${command} (${takers.join(', ')} ${takers.length === 1 ? 'takes' : 'take'} it)`);
    }
    const form = `--${t.name}${FLAGS[t.name]?.arg ? ` ${FLAGS[t.name]!.arg}` : ''}`;
    if (option.type === 'string') {
      // Without a value the parser takes the next word, even another flag (`--timeout --wait`): that is a missing
      // value too. `-` alone is a value (stdout); a value that starts with "-" can be given as --flag=-value.
      const missing = t.value === undefined || (t.inlineValue !== true && t.value.startsWith('-') && t.value !== '-');
      if (missing) return error(`${t.rawName} needs a value (${form})`);
    } else if (t.inlineValue) {
      return error(`${t.rawName} takes no value`);
    }
  }
  if (positionals.length > 1) {
    return { kind: 'error', command, message: `unexpected argument "${positionals[1]}"; options take the form --name value` };
  }
  return { kind: 'run', command };
}

function unknownCommand(command: string): CommandLine {
  const guess = suggestKey(command, COMMAND_NAMES);
  return {
    kind: 'error',
    message: withHelp(`unknown command "${command}"${guess !== undefined ? `; did you mean "${guess}"?` : ''}`),
  };
}
